/* corral-reaper: runs one render command so that none of its processes
 * outlives the render client that started it.
 *
 *     corral-reaper CLIENT_PID -- COMMAND [ARGUMENT...]
 *
 * The render client starts this in place of the command, as the leader of a
 * new session. It makes itself the subreaper of everything the command starts
 * (orphans are re-parented to it, not to init, even after setsid) and asks
 * Linux for SIGUSR1 when its parent dies. Then it forks and execs the command
 * and waits:
 *  - the command ends: the reaper ends the same way (exit code, or the same
 *    signal), so the client sees the command's own status;
 *  - the client dies (SIGUSR1 with a new parent, or a new parent noticed on a
 *    1 s tick): it SIGKILLs its children until it has none left. Each killed
 *    child's children are re-parented to it and killed in the next round, so
 *    grandchildren in their own sessions die too.
 * SIGTERM, SIGINT, SIGHUP and SIGQUIT are left to the command (the client
 * signals the whole group); the reaper waits for the command's end.
 *
 *     corral-reaper CLIENT_PID --serve
 *
 * The same reaper, kept for the client's life: it starts commands on request
 * (one exec per render instead of two), each command the leader of a new
 * session. Its stdin is a SOCK_SEQPACKET socket (renderclient/launcher.py
 * speaks the other end); a request is "S", the argument and environment counts
 * (two uint32 in host order), then NUL-ended strings: the folder (empty: keep
 * ours), the arguments and the environment, with the output descriptor
 * attached (SCM_RIGHTS). Answers: "P" and the pid, "E" and an errno when it
 * cannot start, later "X", the pid and its wait status. The client dying, or
 * closing its end, ends the reaper as above: every child killed.
 * renderclient/reaper.py builds this file and holds the same logic in Python
 * for hosts without a C compiler.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER 36
#endif

static pid_t self;

/* Close every descriptor above stderr (the command inherits only 0, 1 and 2). */
static void close_extra_fds(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
#endif
    int found[1024];
    size_t count;
    do { /* a listing at a time, until one finds fewer than it can hold */
        DIR *fds = opendir("/proc/self/fd");
        if (fds == NULL)
            return;
        int own = dirfd(fds);
        count = 0;
        struct dirent *entry;
        while ((entry = readdir(fds)) != NULL && count < sizeof found / sizeof found[0]) {
            int fd = atoi(entry->d_name);
            if (fd > 2 && fd != own)
                found[count++] = fd;
        }
        closedir(fds);
        for (size_t i = 0; i < count; i++)
            close(found[i]);
    } while (count == sizeof found / sizeof found[0]);
}

/* SIGKILL every direct child (read from /proc); returns how many it found. */
static int kill_children(void) {
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
            continue;
        char path[300], text[512];
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        FILE *file = fopen(path, "r");
        if (file == NULL)
            continue;
        size_t length = fread(text, 1, sizeof text - 1, file);
        fclose(file);
        text[length] = '\0';
        char *name_end = strrchr(text, ')');
        char state;
        int ppid;
        if (name_end == NULL || sscanf(name_end + 1, " %c %d", &state, &ppid) != 2)
            continue;
        if (ppid == self) {
            kill((pid_t)atoi(entry->d_name), SIGKILL);
            found++;
        }
    }
    closedir(proc);
    return found;
}

static void kill_everything_and_exit(void) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (;;) {
        kill_children();
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        }
        if (pid < 0 && errno == ECHILD)
            _exit(137);
        nanosleep(&pause, NULL);
    }
}

static void end_like(int status) {
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none); /* the command may have dumped core; we need not */
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(sig);
    _exit(128 + sig);
}

/* -- serve mode ------------------------------------------------------------ */
#define REQUEST_BYTES (1 << 20)

static pid_t *started; /* the commands we started and have not yet reported */
static size_t started_count, started_room;

static void answer(int sock, char kind, int32_t a, int32_t b) {
    char out[9];
    out[0] = kind;
    memcpy(out + 1, &a, 4);
    memcpy(out + 5, &b, 4);
    while (send(sock, out, sizeof out, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

/* Runs in the vfork()ed child (memory shared with the reaper): only system calls. */
static volatile int child_errno;

static void exec_in_path(char **argv, char **envp) {
    if (strchr(argv[0], '/') != NULL) {
        execve(argv[0], argv, envp);
        child_errno = errno;
        return;
    }
    const char *path = "/bin:/usr/bin";
    for (char **entry = envp; *entry != NULL; entry++)
        if (strncmp(*entry, "PATH=", 5) == 0)
            path = *entry + 5;
    int found = ENOENT;
    char full[4096];
    for (const char *dir = path;; dir++) {
        const char *end = strchr(dir, ':');
        size_t length = end == NULL ? strlen(dir) : (size_t)(end - dir);
        size_t name = strlen(argv[0]);
        if (length + name + 2 <= sizeof full) {
            memcpy(full, dir, length);
            size_t at = length;
            if (length > 0)
                full[at++] = '/';
            memcpy(full + at, argv[0], name + 1);
            execve(full, argv, envp);
            if (errno != ENOENT && errno != ENOTDIR && found == ENOENT)
                found = errno; /* as Python's subprocess: the first other error wins */
        }
        if (end == NULL)
            break;
        dir = end;
    }
    child_errno = found;
}

static void start_command(int sock, char *request, size_t length, int output) {
    uint32_t counts[2];
    if (length < 9 || output < 0) {
        answer(sock, 'E', EINVAL, 0);
        return;
    }
    memcpy(counts, request + 1, sizeof counts);
    size_t wanted = 1 + (size_t)counts[0] + counts[1] + 1; /* folder, argv, env, two NULLs */
    char **strings = calloc(wanted + 1, sizeof *strings);
    if (strings == NULL || counts[0] == 0) {
        free(strings);
        answer(sock, 'E', counts[0] == 0 ? EINVAL : ENOMEM, 0);
        return;
    }
    char *at = request + 9, *end = request + length;
    size_t filled = 0;
    for (size_t i = 0; i < 1 + (size_t)counts[0] + counts[1]; i++) {
        char *nul = at < end ? memchr(at, '\0', (size_t)(end - at)) : NULL;
        if (nul == NULL)
            break;
        strings[filled++] = at;
        if (i == counts[0]) /* after the folder and argv: argv's NULL, then env */
            strings[filled++] = NULL;
        at = nul + 1;
    }
    if (filled != wanted) {
        free(strings);
        answer(sock, 'E', EINVAL, 0);
        return;
    }
    strings[filled] = NULL;
    char *folder = strings[0], **argv = strings + 1, **envp = strings + 2 + counts[0];
    if (started_count == started_room) {
        size_t room = started_room ? 2 * started_room : 16;
        pid_t *grown = realloc(started, room * sizeof *grown);
        if (grown == NULL) {
            free(strings);
            answer(sock, 'E', ENOMEM, 0);
            return;
        }
        started = grown, started_room = room;
    }
    child_errno = 0;
    pid_t child = vfork();
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        setsid();
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(output, 1) < 0 || dup2(output, 2) < 0) {
            child_errno = errno;
            _exit(127);
        }
        if (folder[0] != '\0' && chdir(folder) < 0) {
            child_errno = errno;
            _exit(127);
        }
        sigprocmask(SIG_SETMASK, &none, NULL);
        exec_in_path(argv, envp);
        _exit(127);
    }
    int failed = child < 0 ? errno : child_errno;
    free(strings);
    if (failed != 0) {
        if (child > 0)
            while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
            }
        answer(sock, 'E', failed, 0);
        return;
    }
    started[started_count++] = child;
    answer(sock, 'P', child, 0);
}

static void reap_and_report(int sock) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < started_count; i++) {
            if (started[i] == pid) { /* an orphan of a render is reaped without a word */
                started[i] = started[--started_count];
                answer(sock, 'X', pid, status);
                break;
            }
        }
    }
}

static int serve(pid_t client, sigset_t *watched) {
    int sock = 0;
    signal(SIGPIPE, SIG_DFL); /* the commands inherit these; our sends use MSG_NOSIGNAL */
    signal(SIGXFSZ, SIG_DFL);
    int signals = signalfd(-1, watched, SFD_CLOEXEC | SFD_NONBLOCK);
    char *request = malloc(REQUEST_BYTES);
    if (signals < 0 || request == NULL)
        return 127;
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    for (;;) {
        struct pollfd ready[2] = {{sock, POLLIN, 0}, {signals, POLLIN, 0}};
        int count = poll(ready, 2, 1000);
        if (getppid() != client)
            kill_everything_and_exit();
        if (count <= 0)
            continue;
        if (ready[1].revents) {
            struct signalfd_siginfo info;
            while (read(signals, &info, sizeof info) == sizeof info) {
            }
            reap_and_report(sock);
        }
        if (!ready[0].revents)
            continue;
        union {
            struct cmsghdr header;
            char room[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec part = {request, REQUEST_BYTES};
        struct msghdr message = {0};
        message.msg_iov = &part;
        message.msg_iovlen = 1;
        message.msg_control = control.room;
        message.msg_controllen = sizeof control.room;
        ssize_t length = recvmsg(sock, &message, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (length < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (length <= 0)
            kill_everything_and_exit(); /* the client closed its end, or it is gone */
        int output = -1;
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        if (header != NULL && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
            memcpy(&output, CMSG_DATA(header), sizeof output);
        if (request[0] == 'S' && !(message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
            start_command(sock, request, (size_t)length, output);
        else
            answer(sock, 'E', EINVAL, 0);
        if (output >= 0)
            close(output);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[2], "--serve") == 0) {
        pid_t client = (pid_t)atoi(argv[1]);
        self = getpid();
        sigset_t watched;
        sigemptyset(&watched);
        int signals[] = {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
        for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
            sigaddset(&watched, signals[i]);
        sigprocmask(SIG_BLOCK, &watched, NULL);
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
        if (getppid() != client)
            return 137;
        close_extra_fds();
        return serve(client, &watched);
    }
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: corral-reaper CLIENT_PID -- COMMAND [ARGUMENT...]\n");
        return 2;
    }
    pid_t client = (pid_t)atoi(argv[1]);
    self = getpid();
    sigset_t watched, previous;
    sigemptyset(&watched);
    int signals[] = {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        sigaddset(&watched, signals[i]);
    sigprocmask(SIG_BLOCK, &watched, &previous);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
    if (getppid() != client)
        return 137; /* the client died before we could watch it: run nothing */

    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "corral-reaper: cannot fork: %s\n", strerror(errno));
        return 127;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &previous, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        close_extra_fds();
        /* a command gets the default actions a shell would give it (a Python client
           ignores these two) */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGXFSZ, SIG_DFL);
        execvp(argv[3], argv + 3);
        fprintf(stderr, "corral-reaper: cannot run %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    struct timespec tick = {1, 0};
    for (;;) {
        int sig = sigtimedwait(&watched, NULL, &tick);
        if (getppid() != client)
            kill_everything_and_exit();
        if (sig == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == child)
                    end_like(status);
            }
        }
    }
}
