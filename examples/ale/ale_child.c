/* Child processes behind sockets, with deadlines (ale_child.h). */
#include "ale_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double ale_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ale_child_spawn(ale_child *c, const char *program, const char *script)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return errno;
    /* Both ends close-on-exec and numbered above 3, so the dup onto fd 3 below always clears the flag. */
    int ours = fcntl(sv[0], F_DUPFD_CLOEXEC, 10), theirs = fcntl(sv[1], F_DUPFD_CLOEXEC, 10), err = errno;
    close(sv[0]);
    close(sv[1]);
    if (ours < 0 || theirs < 0) {
        if (ours >= 0) close(ours);
        if (theirs >= 0) close(theirs);
        return err;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, theirs, 3);
    posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    /* The child gets default SIGPIPE handling even if its parent ignores it. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)program, (char *)script, "--fd", "3", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, program, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(theirs);
    if (rc) {
        close(ours);
        return rc;
    }
    c->pid = pid;
    c->fd = ours;
    return 0;
}

/* Ready, timed out or failed; a hang-up or error counts as ready, and the read or write then says which. */
static ale_io wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - ale_now();
        if (left <= 0) return ALE_IO_TIMEOUT;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (r > 0) return ALE_IO_OK;
        if (r < 0 && errno != EINTR) return ALE_IO_ERROR;
    }
}

ale_io ale_child_send(ale_child *c, const void *buf, size_t n, double deadline)
{
    const char *p = buf;
    if (c->fd < 0) return ALE_IO_CLOSED;
    while (n) {
        ale_io io = wait_fd(c->fd, POLLOUT, deadline);
        if (io) return io;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return ALE_IO_CLOSED;
        }
        p += w;
        n -= (size_t)w;
    }
    return ALE_IO_OK;
}

ale_io ale_child_recv(ale_child *c, void *buf, size_t n, double deadline)
{
    char *p = buf;
    if (c->fd < 0) return ALE_IO_CLOSED;
    while (n) {
        ale_io io = wait_fd(c->fd, POLLIN, deadline);
        if (io) return io;
        ssize_t r = recv(c->fd, p, n, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (r <= 0) return ALE_IO_CLOSED;
        p += r;
        n -= (size_t)r;
    }
    return ALE_IO_OK;
}

int ale_child_reap(ale_child *c, double seconds, char *how, size_t n)
{
    snprintf(how, n, "is still running");
    if (!c->pid) {
        snprintf(how, n, "had already ended");
        return 1;
    }
    const double until = ale_now() + seconds;
    for (;;) {
        int status;
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid) {
            if (WIFSIGNALED(status))
                snprintf(how, n, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
            else
                snprintf(how, n, "exited with status %d", WEXITSTATUS(status));
            c->pid = 0;
            return 1;
        }
        if (r < 0 || ale_now() >= until) return 0;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
}

void ale_child_stop(ale_child *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (c->pid) {
        kill(c->pid, SIGKILL);
        char how[96];
        ale_child_reap(c, 5.0, how, sizeof how);
    }
}
