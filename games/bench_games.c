/*
 * attn-bench-games: environment steps per second of each game on one core, under a uniformly random policy
 * with the default options (sticky actions 0.1, ramping on, all six actions). One JSON line per game:
 *   steps_per_s         attn_minatar_step + attn_minatar_observe per step (what a trainer pays)
 *   steps_per_s_no_obs  attn_minatar_step alone
 *   mean_return         the random policy's mean episode return (a sanity check against MinAtar's own)
 *
 * usage: attn-bench-games [steps per game, default 5000000] [game]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minatar.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The policy's own generator (xorshift64*), so the game's random stream is left alone. */
static uint64_t policy_state = 0x2545f4914f6cdd1du;

static int random_action(int count)
{
    policy_state ^= policy_state >> 12;
    policy_state ^= policy_state << 25;
    policy_state ^= policy_state >> 27;
    return (int)(((policy_state * 0x2545f4914f6cdd1du) >> 32) % (uint64_t)count);
}

typedef struct run_result {
    double seconds;
    long episodes;
    double total_return;
    unsigned checksum; /* keeps the observations from being optimised away */
} run_result;

static int run(const char *name, long steps, int with_obs, run_result *out)
{
    attn_minatar *game;
    int status = attn_minatar_create(&game, name, NULL, 1);
    if (status != ATTN_MINATAR_OK)
        return status;
    int actions;
    attn_minatar_num_actions(game, &actions);
    uint8_t obs[ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * ATTN_MINATAR_MAX_CHANNELS];
    memset(out, 0, sizeof *out);
    double episode_return = 0.0;
    double start = now_seconds();
    for (long t = 0; t < steps; t++) {
        float reward;
        int done;
        attn_minatar_step(game, random_action(actions), &reward, &done);
        episode_return += reward;
        if (with_obs) {
            attn_minatar_observe(game, obs, sizeof obs);
            out->checksum += obs[(t * 7) % 100];
        }
        if (done) {
            out->episodes++;
            out->total_return += episode_return;
            episode_return = 0.0;
            attn_minatar_restart(game);
        }
    }
    out->seconds = now_seconds() - start;
    attn_minatar_destroy(game);
    return ATTN_MINATAR_OK;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? strtol(argv[1], NULL, 10) : 5000000L;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (steps <= 0) {
        fprintf(stderr, "usage: %s [steps per game > 0] [game]\n", argv[0]);
        return 2;
    }
    int ran = 0;
    for (int i = 0; i < ATTN_MINATAR_NUM_GAMES; i++) {
        const char *name;
        attn_minatar_game_name(i, &name);
        if (only && strcmp(only, name) != 0)
            continue;
        run_result with, without;
        if (run(name, steps, 1, &with) != ATTN_MINATAR_OK || run(name, steps, 0, &without) != ATTN_MINATAR_OK) {
            fprintf(stderr, "%s: cannot create the game\n", name);
            return 1;
        }
        printf("{\"game\":\"%s\",\"steps\":%ld,\"steps_per_s\":%.0f,\"steps_per_s_no_obs\":%.0f,"
               "\"episodes\":%ld,\"mean_return\":%.4f,\"checksum\":%u}\n",
               name, steps, (double)steps / with.seconds, (double)steps / without.seconds, with.episodes,
               with.episodes ? with.total_return / (double)with.episodes : 0.0, with.checksum);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "unknown game %s\n", only);
        return 2;
    }
    return 0;
}
