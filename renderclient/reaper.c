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
#include <sys/resource.h>
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

int main(int argc, char **argv) {
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
