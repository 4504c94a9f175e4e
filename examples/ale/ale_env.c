/* ale_env: the ALE servers as child processes behind attn_env callbacks (ale_env.h is the manual). */
#include "ale_env.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ale_child.h"
#include "ale_protocol.h"

#ifndef ALE_SERVER_DEFAULT
#define ALE_SERVER_DEFAULT "ale_server.py"
#endif

typedef struct server {
    ale_child child;
    ale_session session;  /* what this server agreed to */
    uint8_t *rx;          /* one whole message of the largest agreed size */
    size_t rx_cap;
    pthread_mutex_t lock; /* one request/reply exchange at a time */
} server;

struct ale_env {
    ale_env_options opt;
    const char *python, *script;
    int B, K, actions;
    size_t obs_bytes;       /* H × W × 3 */
    server *servers;        /* [K] */
    double *score;          /* [B] raw score of the game in progress */
    uint8_t *real_reset;    /* [B] the next reset starts a new game (not just a new life) */
    pthread_mutex_t lock;   /* guards failed/err and the finished scores */
    int failed;
    char err[768];
    float *finished;        /* ring of finished game scores */
    int finished_cap, finished_count; /* finished_count since the last take; the ring keeps the newest */
};

/* ---- Errors ----------------------------------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(ale_env *e, const char *format, ...)
{
    pthread_mutex_lock(&e->lock);
    if (!e->failed) { /* the first failure is the cause; later ones are its echoes */
        va_list args;
        va_start(args, format);
        vsnprintf(e->err, sizeof e->err, format, args);
        va_end(args);
        e->failed = 1;
    }
    pthread_mutex_unlock(&e->lock);
    return -1;
}

const char *ale_env_error(const ale_env *e) { return e ? e->err : ""; }

/* Read under the lock: another thread's server may be failing right now. */
static int has_failed(ale_env *e)
{
    pthread_mutex_lock(&e->lock);
    int failed = e->failed;
    pthread_mutex_unlock(&e->lock);
    return failed;
}

/* A server failed: records why (naming the server and how it ended), stops it, and returns -1. A server that
 * closed its end is given a moment to exit so the message can say how it ended; one still running (hung, or
 * out of step with the protocol) is killed at once. The sentence is kept short, the cause first: the library
 * quotes it in a bounded buffer. */
static int server_failed(ale_env *e, server *s, const char *what, int closed)
{
    char how[96];
    int k = (int)(s - e->servers);
    pid_t pid = s->child.pid;
    if (!closed && pid) kill(pid, SIGKILL);
    if (ale_child_reap(&s->child, closed ? 1.0 : 5.0, how, sizeof how) && closed)
        fail(e, "ALE server %d/%d (pid %d) %s", k, e->K, (int)pid, how); /* how it ended is the news */
    else
        fail(e, "ALE server %d/%d (pid %d) %s and was stopped", k, e->K, (int)pid, what);
    ale_child_stop(&s->child);
    return -1;
}

/* An I/O outcome other than ALE_IO_OK as the server's failure. */
static int io_failed(ale_env *e, server *s, ale_io io, double timeout)
{
    char what[96];
    if (io == ALE_IO_CLOSED) return server_failed(e, s, "closed its connection", 1);
    if (io == ALE_IO_TIMEOUT) snprintf(what, sizeof what, "did not answer within %.1f s (hung?)", timeout);
    else snprintf(what, sizeof what, "could not be polled (%s)", strerror(errno));
    return server_failed(e, s, what, 0);
}

static int send_msg(ale_env *e, server *s, const ale_msg *m)
{
    uint8_t buf[ALE_HEADER_SIZE + 64 + ALE_MAX_GAME];
    size_t n;
    ale_proto_status st = ale_encode(m, buf, sizeof buf, &n);
    if (st) return fail(e, "cannot encode a request for the ALE server: %s", ale_proto_status_str(st));
    ale_io io = ale_child_send(&s->child, buf, n, ale_now() + e->opt.timeout);
    return io ? io_failed(e, s, io, e->opt.timeout) : 0;
}

/* Receives one whole message into s->rx within `timeout` seconds and decodes it against the session; an ERROR
 * message becomes the failure it reports. Returns 0 with *out filled (pointing into s->rx), or -1. */
static int recv_msg(ale_env *e, server *s, ale_msg *out, double timeout)
{
    const double deadline = ale_now() + timeout;
    ale_io io = ale_child_recv(&s->child, s->rx, ALE_HEADER_SIZE, deadline);
    if (io) return io_failed(e, s, io, timeout);
    ale_msg_type type;
    uint32_t n;
    ale_proto_status st = ale_decode_header(s->rx, ALE_HEADER_SIZE, &type, &n);
    char what[256];
    if (!st && ALE_HEADER_SIZE + (size_t)n > s->rx_cap) st = ALE_PROTO_BAD_SIZE;
    if (st) {
        snprintf(what, sizeof what, "sent a malformed message (%s)", ale_proto_status_str(st));
        return server_failed(e, s, what, 0);
    }
    if ((io = ale_child_recv(&s->child, s->rx + ALE_HEADER_SIZE, n, deadline))) return io_failed(e, s, io, timeout);
    if ((st = ale_decode(s->rx, ALE_HEADER_SIZE + (size_t)n, &s->session, out))) {
        snprintf(what, sizeof what, "sent a malformed message (%s: %s)", ale_proto_status_str(st), out->why);
        return server_failed(e, s, what, 0);
    }
    if (out->type != ALE_MSG_ERROR) return 0;
    int len = (int)out->u.error.text_len;
    const char *text = out->u.error.text;
    if (out->u.error.code == ALE_ERR_NO_ALE)
        fail(e,
             "ale-py is not installed for the Python \"%s\" (%.*s). Install it with:  %s -m pip install ale-py  "
             "(it brings the Atari ROMs), or set ATTN_PYTHON to a Python that has it",
             e->python, len, text, e->python);
    else if (out->u.error.code == ALE_ERR_BAD_GAME)
        fail(e, "unknown ALE game: %.*s", len, text);
    else
        fail(e, "the ALE server %d failed: %.*s", (int)(s - e->servers), len, text);
    ale_child_stop(&s->child);
    return -1;
}

/* ---- Creation ----------------------------------------------------------------------------------------- */

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

static const char *check_options(const ale_env_options *o)
{
    if (!o->game || !*o->game) return "no game given";
    if (strspn(o->game, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(o->game))
        return "ALE game ids are lower-case letters, digits and '_' (e.g. breakout, space_invaders)";
    if (o->envs < 1 || o->envs > ALE_MAX_ENVS) return "envs must be 1..4096";
    if (o->procs < 0) return "procs must be >= 0";
    if (o->height < 1 || o->height > ALE_MAX_SIDE || o->width < 1 || o->width > ALE_MAX_SIDE)
        return "the observation size must be 1..512 per side";
    if (o->frame_skip < 1 || o->frame_skip > ALE_MAX_FRAME_SKIP) return "frame skip must be 1..64";
    if (!(o->sticky >= 0.0f && o->sticky <= 1.0f)) return "sticky-action probability must be in [0, 1]";
    if (o->noop_max < 0 || o->noop_max > ALE_MAX_NOOPS) return "noop-max must be 0..100000";
    if (o->max_episode_frames < 0) return "the episode frame limit must be >= 0";
    if (!(o->timeout > 0.0 && o->timeout < 1e6) || !(o->startup_timeout > 0.0 && o->startup_timeout < 1e6))
        return "the timeouts must be positive";
    return NULL;
}

int ale_env_create(ale_env **out, const ale_env_options *opt, char *err, size_t err_size)
{
    *out = NULL;
    const char *problem = check_options(opt);
    if (problem) {
        snprintf(err, err_size, "ALE options: %s", problem);
        return -1;
    }
    size_t game_len = strlen(opt->game);
    ale_msg hello = {.type = ALE_MSG_HELLO};
    if (game_len > ALE_MAX_GAME) {
        snprintf(err, err_size, "ALE game id \"%s\" is too long", opt->game);
        return -1;
    }
    ale_env *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    e->opt = *opt;
    pthread_mutex_init(&e->lock, NULL);
    const char *py = getenv("ATTN_PYTHON"), *script = getenv("ATTN_ALE_SERVER");
    e->python = opt->python ? opt->python : py && *py ? py : "python3";
    e->script = opt->server ? opt->server : script && *script ? script : ALE_SERVER_DEFAULT;
    e->B = opt->envs;
    e->K = opt->procs ? opt->procs : online_cpus();
    if (e->K > e->B) e->K = e->B;
    e->obs_bytes = (size_t)opt->height * opt->width * 3;
    e->servers = calloc((size_t)e->K, sizeof *e->servers);
    e->score = calloc((size_t)e->B, sizeof *e->score);
    e->real_reset = malloc((size_t)e->B);
    e->finished_cap = 4096;
    e->finished = calloc((size_t)e->finished_cap, sizeof *e->finished);
    if (!e->servers || !e->score || !e->real_reset || !e->finished) {
        snprintf(err, err_size, "out of memory");
        ale_env_destroy(e);
        return -1;
    }
    memset(e->real_reset, 1, (size_t)e->B);
    for (int k = 0; k < e->K; k++) {
        e->servers[k].child = (ale_child)ALE_CHILD_INIT;
        pthread_mutex_init(&e->servers[k].lock, NULL);
    }
    if (access(e->script, R_OK)) {
        snprintf(err, err_size, "the ALE server script %s cannot be read: %s (set ATTN_ALE_SERVER to its path)",
                 e->script, strerror(errno));
        ale_env_destroy(e);
        return -1;
    }
    for (int k = 0; k < e->K; k++) {
        server *s = &e->servers[k];
        s->rx_cap = ALE_HEADER_SIZE + ALE_OBS_FIXED + e->obs_bytes;
        if (s->rx_cap < ALE_HEADER_SIZE + 8 + ALE_MAX_TEXT) s->rx_cap = ALE_HEADER_SIZE + 8 + ALE_MAX_TEXT;
        if (!(s->rx = malloc(s->rx_cap))) {
            snprintf(err, err_size, "out of memory");
            ale_env_destroy(e);
            return -1;
        }
        int rc = ale_child_spawn(&s->child, e->python, e->script);
        if (rc) {
            snprintf(err, err_size,
                     "cannot start the ALE server with the Python \"%s\": %s. The ALE bridge needs Python 3 with "
                     "ale-py: install Python 3, then `python3 -m pip install ale-py`, or set ATTN_PYTHON to a "
                     "Python that has it",
                     e->python, strerror(rc));
            ale_env_destroy(e);
            return -1;
        }
    }
    /* Every server starts (imports, loads its ROMs) at the same time; then each answers READY or ERROR. */
    hello.u.hello.frame_skip = (uint32_t)opt->frame_skip;
    hello.u.hello.noop_max = (uint32_t)opt->noop_max;
    hello.u.hello.max_episode_frames = (uint32_t)opt->max_episode_frames;
    hello.u.hello.sticky = opt->sticky;
    hello.u.hello.obs_h = (uint16_t)opt->height;
    hello.u.hello.obs_w = (uint16_t)opt->width;
    hello.u.hello.flags = (uint8_t)((opt->full_action_set ? ALE_HELLO_FULL_ACTIONS : 0) |
                                    (opt->max_pool ? ALE_HELLO_MAX_POOL : 0));
    hello.u.hello.game_len = (uint8_t)game_len;
    memcpy(hello.u.hello.game, opt->game, game_len);
    int rc = 0;
    for (int k = 0; k < e->K && !rc; k++) {
        server *s = &e->servers[k];
        hello.u.hello.envs = (uint32_t)((e->B - k + e->K - 1) / e->K); /* b = k, k + K, k + 2K, ... */
        hello.u.hello.seed = opt->seed * 1000003u + (uint64_t)k * 7919u;
        s->session = (ale_session){hello.u.hello.envs, 0, (uint32_t)opt->height, (uint32_t)opt->width};
        rc = send_msg(e, s, &hello);
    }
    for (int k = 0; k < e->K && !rc; k++) {
        server *s = &e->servers[k];
        ale_msg m;
        if ((rc = recv_msg(e, s, &m, opt->startup_timeout))) break;
        if (m.type != ALE_MSG_READY) {
            rc = server_failed(e, s, "answered HELLO with something other than READY", 0);
            break;
        }
        if (k && (int)m.u.ready.actions != e->actions) {
            rc = server_failed(e, s, "disagrees with server 0 about the number of actions", 0);
            break;
        }
        e->actions = (int)m.u.ready.actions;
        s->session.actions = m.u.ready.actions;
    }
    if (rc) {
        if (has_failed(e) && !strncmp(e->err, "ALE server", 10)) /* say what was started, for the person debugging it */
            snprintf(err, err_size, "%s (started as: %s %s --fd 3)", e->err, e->python, e->script);
        else
            snprintf(err, err_size, "%s", e->err);
        ale_env_destroy(e);
        return -1;
    }
    *out = e;
    return 0;
}

void ale_env_destroy(ale_env *e)
{
    if (!e) return;
    if (e->servers) {
        const ale_msg bye = {.type = ALE_MSG_BYE};
        uint8_t buf[ALE_HEADER_SIZE];
        size_t n;
        ale_encode(&bye, buf, sizeof buf, &n);
        for (int k = 0; k < e->K; k++) /* a goodbye that cannot be sent at once is not waited for */
            ale_child_send(&e->servers[k].child, buf, n, ale_now() + 0.1);
        for (int k = 0; k < e->K; k++) {
            server *s = &e->servers[k];
            char how[96];
            ale_child_reap(&s->child, 2.0, how, sizeof how);
            ale_child_stop(&s->child);
            free(s->rx);
            pthread_mutex_destroy(&s->lock);
        }
    }
    free(e->servers);
    free(e->score);
    free(e->real_reset);
    free(e->finished);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

int ale_env_num_actions(const ale_env *e) { return e->actions; }

/* ---- Callbacks ------------------------------------------------------------------------------------------ */

static void game_finished(ale_env *e, int b)
{
    pthread_mutex_lock(&e->lock);
    e->finished[e->finished_count % e->finished_cap] = (float)e->score[b];
    e->finished_count++;
    pthread_mutex_unlock(&e->lock);
    e->score[b] = 0.0;
}

int ale_env_take_scores(ale_env *e, float *scores, int cap)
{
    pthread_mutex_lock(&e->lock);
    int n = e->finished_count, kept = n < e->finished_cap ? n : e->finished_cap;
    for (int i = 0; i < kept && i < cap; i++) scores[i] = e->finished[(n - kept + i) % e->finished_cap];
    e->finished_count = 0;
    pthread_mutex_unlock(&e->lock);
    return n;
}

/* One request to environment b's server and its OBS reply, copied to obs. */
static int exchange(ale_env *e, int b, const ale_msg *request, void *obs, float *reward, uint32_t *flags)
{
    server *s = &e->servers[b % e->K];
    pthread_mutex_lock(&s->lock);
    int rc = -1;
    ale_msg m;
    if (has_failed(e) || s->child.fd < 0)
        rc = fail(e, "the ALE bridge has already failed");
    else if (!send_msg(e, s, request) && !recv_msg(e, s, &m, e->opt.timeout)) {
        if (m.type != ALE_MSG_OBS || m.u.obs.env != (uint32_t)(b / e->K))
            rc = server_failed(e, s, "answered with a message for another request", 0);
        else {
            memcpy(obs, m.u.obs.pixels, e->obs_bytes);
            *reward = m.u.obs.reward;
            *flags = m.u.obs.flags;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int env_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    ale_env *e = ctx;
    if (index < 0 || index >= e->B) return fail(e, "reset of environment %d of %d", index, e->B);
    const int soft = !e->real_reset[index];
    ale_msg m = {.type = ALE_MSG_RESET};
    m.u.reset.env = (uint32_t)(index / e->K);
    m.u.reset.flags = soft ? ALE_RESET_SOFT : 0;
    m.u.reset.seed = seed;
    float reward;
    uint32_t flags;
    if (exchange(e, index, &m, obs, &reward, &flags)) return -1;
    if (!soft) {
        e->score[index] = 0.0;
    } else {
        e->score[index] += reward;
        if (flags & ALE_OBS_GAME_OVER) game_finished(e, index); /* the no-op that continued it ended the game */
    }
    e->real_reset[index] = 1;
    return 0;
}

static int env_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    ale_env *e = ctx;
    if (index < 0 || index >= e->B) return fail(e, "step of environment %d of %d", index, e->B);
    if (action < 0 || action >= e->actions) return fail(e, "action %d is outside 0..%d", action, e->actions - 1);
    ale_msg m = {.type = ALE_MSG_STEP};
    m.u.step.env = (uint32_t)(index / e->K);
    m.u.step.action = (uint32_t)action;
    uint32_t flags;
    if (exchange(e, index, &m, obs, reward, &flags)) return -1;
    e->score[index] += *reward;
    const int over = (flags & (ALE_OBS_GAME_OVER | ALE_OBS_TRUNCATED)) != 0;
    *terminated = (flags & ALE_OBS_GAME_OVER) || (e->opt.life_loss_terminal && (flags & ALE_OBS_LIFE_LOST));
    *truncated = (flags & ALE_OBS_TRUNCATED) != 0;
    if (over) game_finished(e, index);
    else if (*terminated) e->real_reset[index] = 0; /* a life ended the training episode, not the game */
    return 0;
}

static const char *env_error(void *ctx, int index)
{
    (void)index;
    return ((ale_env *)ctx)->err;
}

attn_env ale_env_callbacks(ale_env *e)
{
    attn_env env = ATTN_ENV_INIT;
    env.ctx = e;
    env.reset = env_reset;
    env.step = env_step;
    env.error = env_error;
    env.thread_safe = 1;
    return env;
}

int ale_env_step_all(ale_env *e, const int *actions, uint8_t *obs, float *rewards, uint32_t *flags)
{
    for (int k = 0; k < e->K; k++) pthread_mutex_lock(&e->servers[k].lock);
    int rc = has_failed(e) ? fail(e, "the ALE bridge has already failed") : 0;
    for (int b = 0; b < e->B && !rc; b++) {
        if (actions[b] < 0 || actions[b] >= e->actions) {
            rc = fail(e, "action %d is outside 0..%d", actions[b], e->actions - 1);
            break;
        }
        ale_msg m = {.type = ALE_MSG_STEP};
        m.u.step.env = (uint32_t)(b / e->K);
        m.u.step.action = (uint32_t)actions[b];
        rc = send_msg(e, &e->servers[b % e->K], &m);
    }
    /* Replies per server come in request order; reading server by server lets the others keep emulating. */
    for (int k = 0; k < e->K && !rc; k++)
        for (int b = k; b < e->B && !rc; b += e->K) {
            ale_msg m;
            server *s = &e->servers[k];
            if ((rc = recv_msg(e, s, &m, e->opt.timeout))) break;
            if (m.type != ALE_MSG_OBS || m.u.obs.env != (uint32_t)(b / e->K)) {
                rc = server_failed(e, s, "answered with a message for another request", 0);
                break;
            }
            memcpy(obs + (size_t)b * e->obs_bytes, m.u.obs.pixels, e->obs_bytes);
            rewards[b] = m.u.obs.reward;
            flags[b] = m.u.obs.flags;
            e->score[b] += m.u.obs.reward;
        }
    for (int k = 0; k < e->K; k++) pthread_mutex_unlock(&e->servers[k].lock);
    return rc;
}
