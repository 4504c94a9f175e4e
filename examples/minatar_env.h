/* The built-in MinAtar-style games as an attn_env: B independent game handles behind the step-callback
 * interface, safe to step in parallel (one handle per index). */
#ifndef MINATAR_ENV_H
#define MINATAR_ENV_H

#include "attnagent/attnagent.h"
#include "minatar.h"

/* attn_minatar_observe draws one 0/1 byte per cell and object kind: binary planes, not pixels. */
#define MINATAR_ENV_OBS_TYPE ATTN_OBS_U8_BINARY

typedef struct minatar_env {
    int B;
    int channels, actions;
    int max_steps;        /* an episode longer than this is truncated (0: never) */
    attn_minatar **games; /* [B] */
    int32_t *steps;       /* [B] steps in the current episode */
    char (*error)[128];   /* [B] last failure */
} minatar_env;

/* Creates B handles of `game` with sticky-action probability `sticky` (negative: the game's default). Returns 0,
 * or -1 with a message in `err`. */
int minatar_env_create(minatar_env *e, const char *game, int B, float sticky, int max_steps, char *err,
                       size_t err_size);
void minatar_env_destroy(minatar_env *e);

/* The callbacks, with ctx = e; save/load make attn-train's checkpoints resume exactly. */
attn_env minatar_env_callbacks(minatar_env *e);

#endif
