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
 *  - the command ends: what it left in the tree (a daemon in a session of its
 *    own too) gets SIGTERM, and SIGKILL if still there 2 s later; then the
 *    reaper ends the same way as the command (exit code, or the same signal),
 *    so the client sees the command's own status;
 *  - the client dies (SIGUSR1 with a new parent, or a new parent noticed on a
 *    1 s tick): it SIGKILLs its children until it has none left. Each killed
 *    child's children are re-parented to it and killed in the next round, so
 *    grandchildren in their own sessions die too.
 * Each signal goes to a child and to the process group it leads, if it leads
 * one. The SIGKILL rounds last KILL_LIMIT_MS at most: a child SIGKILL cannot
 * end (uninterruptible sleep, another user's) is named on stderr and left.
 * SIGTERM, SIGINT, SIGHUP and SIGQUIT are left to the command (the client
 * signals the whole group); the reaper waits for the command's end.
 *
 *     corral-reaper CLIENT_PID --serve
 *
 * The same reaper, kept for the client's life: it starts renders on request.
 * For each it fork()s (no exec) a child that does what the reaper above does
 * for one command: it leads a new session, is the subreaper of the render's
 * tree, watches its parent (the kept reaper) and runs the command with execvp,
 * ending the same way. One exec per render instead of two, and each render
 * keeps a reaper of its own: killing that reaper's tree kills all the render's
 * processes, even those that left its session. Its stdin is a SOCK_SEQPACKET
 * socket (renderclient/launcher.py speaks the other end); a request is "S",
 * the argument and environment counts (two uint32 in host order), then
 * NUL-ended strings: the folder (empty: keep ours), the arguments and the
 * environment, with the output descriptor attached (SCM_RIGHTS). Answers: "P"
 * and the render reaper's pid as soon as it is forked (a command that cannot
 * run, or a folder that cannot be entered, ends it with 127 and a line on the
 * output, as above), "E" and an errno for a bad request or a failed fork (one
 * of the two per request, in the requests' order), later "X", the pid and its
 * wait status. The client dying, or closing its
 * end, ends the reaper as above: every child killed. A render reaper that ends
 * by a signal (SIGKILLed, it could not end its tree) leaves orphans to us: when
 * one does, every child of ours that is no render reaper is killed.
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
#include <sys/uio.h>
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

/* Give every direct child (read from /proc) to `act`; returns how many it found. */
static int each_child(void (*act)(pid_t child, void *data), void *data) {
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
            act((pid_t)atoi(entry->d_name), data);
            found++;
        }
    }
    closedir(proc);
    return found;
}

/* Signal a child, and the process group it leads if it leads one (not ours): what it
 * started in its group goes at once, not a round later. The child is not reaped yet,
 * so neither its pid nor its group's id can have been taken by another process. */
static void signal_child(pid_t child, int sig) {
    if (getpgid(child) == child && child != getpgrp())
        kill(-child, sig);
    kill(child, sig);
}

static void send_kill(pid_t child, void *data) {
    (void)data;
    signal_child(child, SIGKILL);
}

static void print_pid(pid_t child, void *data) {
    (void)data;
    fprintf(stderr, " %d", (int)child);
}

static long ms_since(const struct timespec *began) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - began->tv_sec) * 1000 + (now.tv_nsec - began->tv_nsec) / 1000000;
}

/* A child SIGKILL cannot end (in uninterruptible sleep, or not ours to signal) must
 * not hold the render for ever: past this, it is named on our stderr and left. */
#define KILL_LIMIT_MS 5000

/* SIGKILL children until none is left: each killed child's children are re-parented
 * to us and killed in the next round. */
static void kill_all_children(void) {
    struct timespec pause = {0, 10 * 1000 * 1000}, began;
    clock_gettime(CLOCK_MONOTONIC, &began);
    for (;;) {
        each_child(send_kill, NULL);
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        }
        if (pid < 0 && errno == ECHILD)
            return;
        if (ms_since(&began) >= KILL_LIMIT_MS)
            break;
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "corral-reaper: still running %d ms after SIGKILL, left behind:",
            KILL_LIMIT_MS);
    each_child(print_pid, NULL);
    fputc('\n', stderr);
}

static void kill_everything_and_exit(void) {
    kill_all_children();
    _exit(137);
}

static void end_like(int status) {
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none); /* the command may have dumped core; we need not */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* (a "|" core pattern ignores RLIMIT_CORE) */
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(sig);
    _exit(128 + sig);
}

/* The children already sent SIGTERM (a few are enough: past the room, one is sent
 * SIGTERM again on each round, which the SIGKILL at the end of the grace settles). */
struct termed {
    pid_t pids[256];
    size_t count;
};

static void send_term_once(pid_t child, void *data) {
    struct termed *termed = data;
    for (size_t i = 0; i < termed->count; i++) {
        if (termed->pids[i] == child)
            return;
    }
    signal_child(child, SIGTERM);
    if (termed->count < sizeof termed->pids / sizeof termed->pids[0])
        termed->pids[termed->count++] = child;
}

#define END_GRACE_MS 2000 /* as the render client gives a render's group (TERM_GRACE_S) */

/* The command ended with `status`: end what it left in our tree (daemons in sessions
 * of their own too, re-parented to us), SIGTERM first and SIGKILL after END_GRACE_MS,
 * then end like the command. With nothing left, the usual case, at once. */
static void end_tree_like(pid_t watched_parent, int status, sigset_t *watched) {
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
    }
    if (pid < 0 && errno == ECHILD)
        end_like(status);
    struct termed termed = {{0}, 0};
    struct timespec began, tick = {0, 100 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &began);
    for (;;) {
        each_child(send_term_once, &termed); /* orphans of the ones that ended too */
        sigtimedwait(watched, NULL, &tick);
        if (getppid() != watched_parent)
            kill_everything_and_exit();
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        }
        if (pid < 0 && errno == ECHILD)
            end_like(status);
        if (ms_since(&began) >= END_GRACE_MS)
            break;
    }
    kill_all_children();
    end_like(status);
}

/* The one-shot reaper's watch, from the moment its command runs: at the command's end,
 * end what is left of the tree and then mirror the command's end; or kill everything
 * when the parent `watched_parent` is gone. */
static void watch_command(pid_t watched_parent, pid_t child, sigset_t *watched) {
    struct timespec tick = {1, 0};
    for (;;) {
        int sig = sigtimedwait(watched, NULL, &tick);
        if (getppid() != watched_parent)
            kill_everything_and_exit();
        if (sig == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == child)
                    end_tree_like(watched_parent, status, watched);
            }
        }
    }
}

/* -- serve mode ------------------------------------------------------------ */
#define REQUEST_BYTES (1 << 20)

static pid_t *started; /* the render reapers we started and have not yet reported */
static size_t started_count, started_room;

/* An answer to the client; a failed send (the client gone or its end broken) ends us
 * and everything we run: a lost exit report would leave a render waiting. */
static void answer(int sock, char kind, int32_t a, int32_t b) {
    char out[9];
    out[0] = kind;
    memcpy(out + 1, &a, 4);
    memcpy(out + 5, &b, 4);
    while (send(sock, out, sizeof out, MSG_NOSIGNAL) < 0) {
        if (errno == ENOMEM || errno == ENOBUFS) {
            struct timespec pause = {0, 10 * 1000 * 1000}; /* short of memory: again soon */
            nanosleep(&pause, NULL);
        } else if (errno != EINTR) {
            kill_everything_and_exit();
        }
    }
}

/* In the fork()ed child of the kept reaper: become the render's own reaper, as the
 * one-shot reaper does (session leader, subreaper, parent-death signal and parent
 * check), then run the command with execvp (PATH and the /bin/sh fallback for a
 * script without "#!") and end like it. Never returns. */
static void become_render_reaper(pid_t kept, char *folder, char **argv, char **envp,
                                 int output, int ready, sigset_t *watched) {
    extern char **environ;
    self = getpid();
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
    close(ready); /* the kept reaper answers now: our pid is the render's group */
    if (getppid() != kept)
        _exit(137);
    if (output <= 2) /* dup2 onto itself would keep its close-on-exec flag */
        output = fcntl(output, F_DUPFD, 3);
    int null = open("/dev/null", O_RDONLY);
    if (output < 0 || null < 0 || dup2(null, 0) < 0 || dup2(output, 1) < 0 ||
        dup2(output, 2) < 0)
        _exit(127);
    close_extra_fds(); /* the kept reaper's socket and signal descriptor too */
    if (folder[0] != '\0' && chdir(folder) < 0) {
        fprintf(stderr, "corral-reaper: cannot enter %s: %s\n", folder, strerror(errno));
        _exit(127);
    }
    environ = envp;
    sigset_t none;
    sigemptyset(&none);
    /* vfork: nothing of ours copied; the child only makes system calls, then execs */
    pid_t child = vfork();
    if (child < 0) {
        fprintf(stderr, "corral-reaper: cannot fork: %s\n", strerror(errno));
        _exit(127);
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        execvp(argv[0], argv);
        const char *reason = strerror(errno);
        struct iovec parts[5] = {
            {"corral-reaper: cannot run ", 26}, {argv[0], strlen(argv[0])}, {": ", 2},
            {(char *)reason, strlen(reason)}, {"\n", 1}};
        writev(2, parts, 5);
        _exit(127);
    }
    watch_command(kept, child, watched);
}

static void start_command(int sock, char *request, size_t length, int output,
                          sigset_t *watched) {
    uint32_t counts[2];
    if (length < 9 || output < 0) {
        answer(sock, 'E', EINVAL, 0);
        return;
    }
    memcpy(counts, request + 1, sizeof counts);
    /* each string takes one byte at least (its NUL): more than the bytes is a lie */
    size_t strings_count = 1 + (size_t)counts[0] + counts[1];
    if (counts[0] == 0 || strings_count > length - 9) {
        answer(sock, 'E', EINVAL, 0);
        return;
    }
    size_t wanted = strings_count + 1; /* folder, argv, env, two NULLs */
    char **strings = calloc(wanted + 1, sizeof *strings);
    if (strings == NULL) {
        answer(sock, 'E', ENOMEM, 0);
        return;
    }
    char *at = request + 9, *end = request + length;
    size_t filled = 0;
    for (size_t i = 0; i < strings_count; i++) {
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
    /* fork, no exec: the answer waits for the child's setsid(), never for the
     * command's exec or folder */
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) {
        int failed = errno;
        free(strings);
        answer(sock, 'E', failed, 0);
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        close(ready[0]);
        become_render_reaper(self, folder, argv, envp, output, ready[1], watched);
    }
    int failed = errno;
    free(strings);
    close(ready[1]);
    if (child < 0) {
        close(ready[0]);
        answer(sock, 'E', failed, 0);
        return;
    }
    char byte;
    while (read(ready[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(ready[0]);
    started[started_count++] = child;
    answer(sock, 'P', child, 0);
}

/* A child that is no render reaper of ours: an orphan of a render whose reaper died
 * before it could end its tree (SIGKILLed), re-parented to us. */
static void kill_orphan(pid_t child, void *data) {
    (void)data;
    for (size_t i = 0; i < started_count; i++) {
        if (started[i] == child)
            return;
    }
    signal_child(child, SIGKILL);
}

static void reap_and_report(int sock) {
    int status, orphans = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int reported = 0;
        for (size_t i = 0; i < started_count; i++) {
            if (started[i] == pid) { /* an orphan of a render is reaped without a word */
                started[i] = started[--started_count];
                answer(sock, 'X', pid, status);
                reported = 1;
                break;
            }
        }
        /* A render reaper that exits has ended its tree; one killed by a signal may
         * not have (its orphans come to us), nor may an orphan that ended. */
        if (!reported || WIFSIGNALED(status))
            orphans = 1;
    }
    if (orphans)
        each_child(kill_orphan, NULL);
}

/* Descriptors 1 and 2 closed in the client: hold them with /dev/null, so that no
 * descriptor we receive lands there. */
static void hold_standard_fds(void) {
    for (int fd = 1; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0 && null != fd) {
                dup2(null, fd);
                close(null);
            }
        }
    }
}

static int serve(pid_t client, sigset_t *watched) {
    int sock = 0;
    signal(SIGPIPE, SIG_DFL); /* the commands inherit these; our sends use MSG_NOSIGNAL */
    signal(SIGXFSZ, SIG_DFL);
    hold_standard_fds();
    int signals = signalfd(-1, watched, SFD_CLOEXEC | SFD_NONBLOCK);
    char *request = malloc(REQUEST_BYTES);
    if (signals < 0 || request == NULL)
        return 127;
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    int flags = fcntl(sock, F_GETFL); /* blocking sends: an answer is never dropped */
    if (flags < 0 || fcntl(sock, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return 127;
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
        if (length < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (length < 0 && (errno == ENOMEM || errno == ENOBUFS)) {
            struct timespec pause = {0, 10 * 1000 * 1000}; /* short of memory: again soon */
            nanosleep(&pause, NULL);
            continue;
        }
        if (length <= 0) /* 0 or ECONNRESET: the client closed its end, or it is gone; */
            kill_everything_and_exit(); /* any other error: the socket is unusable */
        int output = -1;
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        if (header != NULL && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
            /* One descriptor is asked for; any more sent along are closed at once. */
            size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t at = 0; at < count; at++) {
                int fd;
                memcpy(&fd, CMSG_DATA(header) + at * sizeof(int), sizeof fd);
                if (at == 0)
                    output = fd;
                else
                    close(fd);
            }
        }
        if (request[0] == 'S' && !(message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
            start_command(sock, request, (size_t)length, output, watched);
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
    watch_command(client, child, &watched);
}
