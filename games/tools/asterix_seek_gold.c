/* attn-asterix-seek-gold: how much asterix pays a player that uses what it sees, as a yardstick for agents.
 *
 *   attn-asterix-seek-gold [STEPS]    (default 200000; seed 3; sticky actions 0.1 as attn-train plays)
 *
 * Three fixed players over the same number of steps: uniform random actions, always no-op, and a rule that
 * walks toward the nearest gold (rows weigh three times columns, since gold moves along its row) without
 * looking at enemies. Prints each one's episodes and mean return per episode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "minatar.h"

enum { PLAYER = 0, GOLD = 3, GRID_CELLS = 100 };

/* The seek-gold rule's action for observation `obs` (channels-last, `c` channels). */
static int seek_gold(const uint8_t *obs, int c)
{
    int player = -1, best = -1, best_distance = 1 << 30;
    for (int i = 0; i < GRID_CELLS; i++)
        if (obs[i * c + PLAYER]) player = i;
    if (player < 0) return ATTN_MINATAR_NOOP;
    for (int i = 0; i < GRID_CELLS; i++) {
        if (!obs[i * c + GOLD]) continue;
        int d = 3 * abs(i / 10 - player / 10) + abs(i % 10 - player % 10);
        if (d < best_distance) best_distance = d, best = i;
    }
    if (best < 0) return ATTN_MINATAR_NOOP;
    if (best / 10 != player / 10) return best / 10 < player / 10 ? ATTN_MINATAR_UP : ATTN_MINATAR_DOWN;
    if (best % 10 != player % 10) return best % 10 < player % 10 ? ATTN_MINATAR_LEFT : ATTN_MINATAR_RIGHT;
    return ATTN_MINATAR_NOOP;
}

int main(int argc, char **argv)
{
    const long steps = argc > 1 ? atol(argv[1]) : 200000;
    const char *names[] = {"random", "no-op", "seek gold"};
    for (int player = 0; player < 3; player++) {
        attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
        attn_minatar *g;
        int c, actions;
        if (attn_minatar_create(&g, "asterix", &o, 3) || attn_minatar_channels(g, &c) ||
            attn_minatar_num_actions(g, &actions)) {
            fprintf(stderr, "attn-asterix-seek-gold: cannot create the game\n");
            return 1;
        }
        uint8_t obs[GRID_CELLS * 16];
        double total = 0.0;
        long episodes = 0;
        srand(3);
        for (long t = 0; t < steps; t++) {
            float r;
            int done, st = attn_minatar_observe(g, obs, (size_t)GRID_CELLS * c);
            int a = player == 0 ? rand() % actions : player == 1 ? ATTN_MINATAR_NOOP : seek_gold(obs, c);
            if (!st) st = attn_minatar_step(g, a, &r, &done);
            if (!st && done) episodes++, st = attn_minatar_restart(g);
            if (st) {
                fprintf(stderr, "attn-asterix-seek-gold: %s\n", attn_minatar_status_str(st));
                return 1;
            }
            total += r;
        }
        printf("%-10s %6ld episodes  mean return %.2f\n", names[player], episodes, episodes ? total / episodes : 0.0);
        attn_minatar_destroy(g);
    }
    return 0;
}
