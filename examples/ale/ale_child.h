/* A child process on the other end of a Unix socket, with deadlines on every byte: the plumbing under the ALE
 * bridge (ale_env.c), knowing nothing of the protocol. */
#ifndef ATTN_EXAMPLES_ALE_CHILD_H
#define ATTN_EXAMPLES_ALE_CHILD_H

#include <stddef.h>
#include <sys/types.h>

typedef struct ale_child {
    pid_t pid; /* 0 once reaped */
    int fd;    /* our end of the socket; -1 when closed */
} ale_child;

#define ALE_CHILD_INIT {0, -1}

typedef enum ale_io {
    ALE_IO_OK = 0,
    ALE_IO_TIMEOUT = 1, /* the deadline passed first */
    ALE_IO_CLOSED = 2,  /* the child closed its end (or died) */
    ALE_IO_ERROR = 3    /* poll itself failed */
} ale_io;

/* Monotonic seconds, for deadlines. */
double ale_now(void);

/* Runs `program script --fd 3` (program looked up on PATH) with one end of a new socket as its fd 3, stdin
 * from /dev/null and stdout sent to stderr (so nothing stray reaches the socket). The socket is close-on-exec
 * here, so no later child inherits it and hides this one's death. Returns 0, or an errno value (e.g. ENOENT
 * when the program does not exist). */
int ale_child_spawn(ale_child *c, const char *program, const char *script);

/* Whole buffers or nothing, before `deadline` (ale_now() seconds). Interrupting signals do not cut the wait
 * short; writing never raises SIGPIPE. */
ale_io ale_child_send(ale_child *c, const void *buf, size_t n, double deadline);
ale_io ale_child_recv(ale_child *c, void *buf, size_t n, double deadline);

/* Waits up to `seconds` for the child to end and reaps it; `how` gets "exited with status N", "was killed by
 * signal N (name)", or "is still running". Returns 1 if it has been reaped. */
int ale_child_reap(ale_child *c, double seconds, char *how, size_t n);

/* Closes the socket, kills the child if it still runs, and reaps it. */
void ale_child_stop(ale_child *c);

#endif
