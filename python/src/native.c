/* The C half of the Python package, loaded with ctypes as attnagent/_native.so.
 *
 * The library itself is linked in whole and reached through its public API only (attnagent.h). Besides it, two
 * pieces of attn-train are compiled in unchanged so that Python and attn-train cannot drift apart:
 *  - examples/minatar_env.c: the built-in games as an attn_env, stepped in C on the library's threads, exactly
 *    the environment attn-train trains on (same seeding, sticky actions, truncation, save/load);
 *  - examples/train_options.c: attn-train's options, their defaults and how they set the optimizer and the loss,
 *    so attnagent.train() reads its defaults from the one place attn-train does.
 * This file only turns their structs into handles and flat values that ctypes can hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minatar_env.h"
#include "train_options.h"

#define ATTNPY_API __attribute__((visibility("default")))

/* ---- the built-in games as an environment ---------------------------------------------------------- */

typedef struct attnpy_games {
    minatar_env games;
    attn_env env;
} attnpy_games;

ATTNPY_API int attnpy_games_create(attnpy_games **out, const char *game, int envs, float sticky, int max_steps,
                                   char *err, size_t err_size)
{
    *out = NULL;
    attnpy_games *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (minatar_env_create(&g->games, game, envs, sticky, max_steps, err, err_size)) {
        free(g);
        return -1;
    }
    g->env = minatar_env_callbacks(&g->games);
    *out = g;
    return 0;
}

ATTNPY_API void attnpy_games_destroy(attnpy_games *g)
{
    if (!g) return;
    minatar_env_destroy(&g->games);
    free(g);
}

ATTNPY_API const attn_env *attnpy_games_env(const attnpy_games *g) { return &g->env; }

ATTNPY_API void attnpy_games_shape(const attnpy_games *g, int *channels, int *actions, int *obs_type)
{
    *channels = g->games.channels;
    *actions = g->games.actions;
    *obs_type = MINATAR_ENV_OBS_TYPE;
}

/* ---- attn-train's options -------------------------------------------------------------------------- */

/* What Python reads of a parsed train_options; the strings point into the handle. */
typedef struct attnpy_option_values {
    int ale, preset, algo, optim, envs, unroll, threads, max_episode_steps;
    int64_t frames, checkpoint_every;
    uint64_t seed;
    float sticky;
    const char *env, *game, *out, *algo_name;
} attnpy_option_values;

typedef struct attnpy_options {
    train_options o;
    int argc;
    char **argv; /* train_options keeps pointers into its arguments: they live as long as the handle */
} attnpy_options;

ATTNPY_API void attnpy_options_destroy(attnpy_options *p)
{
    if (!p) return;
    for (int i = 0; i < p->argc; i++) free(p->argv[i]);
    free(p->argv);
    free(p);
}

/* Parses `argv` (argv[0] is the program name) as attn-train does. Returns 0 with *out set; 1 when the options
 * were refused or --help was asked for (train_options_parse has printed why), -1 when out of memory. */
ATTNPY_API int attnpy_options_parse(attnpy_options **out, int argc, const char *const *argv)
{
    *out = NULL;
    attnpy_options *p = calloc(1, sizeof *p);
    if (!p || !(p->argv = calloc((size_t)argc + 1, sizeof *p->argv))) {
        free(p);
        return -1;
    }
    for (; p->argc < argc; p->argc++) {
        if (!(p->argv[p->argc] = strdup(argv[p->argc]))) {
            attnpy_options_destroy(p);
            return -1;
        }
    }
    int rc = train_options_parse(&p->o, p->argc, p->argv);
    fflush(stdout);
    fflush(stderr);
    if (rc) {
        attnpy_options_destroy(p);
        return 1;
    }
    *out = p;
    return 0;
}

ATTNPY_API void attnpy_options_values(const attnpy_options *p, attnpy_option_values *v)
{
    const train_options *o = &p->o;
    *v = (attnpy_option_values){o->ale, (int)o->preset, (int)o->algo, (int)o->optim, o->envs, o->unroll,
                                o->threads, o->max_episode_steps, o->frames, o->checkpoint_every, o->seed,
                                o->sticky, o->env, o->game, o->out, train_algo_name(o->algo)};
}

ATTNPY_API attn_status attnpy_options_apply(const attnpy_options *p, attn_optimizer *opt, attn_loss_config *lc)
{
    return train_options_apply(&p->o, opt, lc);
}
