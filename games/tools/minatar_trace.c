/*
 * attn-minatar-trace: prints one line per step of a game (step, reward, terminated, indices of the observation's
 * 1s) under a fixed pseudo-random policy, for a step-by-step comparison with MinAtar itself through
 * minatar_trace.py, which drives the unchanged Python MinAtar with the same random stream (docs/games.md,
 * "Cross-check against MinAtar").
 *
 * usage: attn-minatar-trace GAME STEPS SEED STICKY [heuristic]
 * "heuristic" swaps in a simple observation-based policy for seaquest and space_invaders that survives longer,
 * to reach surfacing, ramping and cleared waves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minatar.h"

static void print_ones(const attn_minatar *g, int channels)
{
    uint8_t obs[ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * ATTN_MINATAR_MAX_CHANNELS];
    attn_minatar_observe(g, obs, sizeof obs);
    const char *sep = "";
    for (int i = 0; i < 100 * channels; i++)
        if (obs[i]) {
            printf("%s%d", sep, i);
            sep = " ";
        }
    printf("\n");
}

/* The same rules as minatar_trace.py's heuristic(). */
static int heuristic(const char *game, const attn_minatar *g, int action, uint64_t policy)
{
    uint8_t o[ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * ATTN_MINATAR_MAX_CHANNELS];
    attn_minatar_observe(g, o, sizeof o);
    if (strcmp(game, "space_invaders") == 0) {
        const int c = 6;
        int x = 0, danger = 0;
        while (!o[(90 + x) * c])
            x++;
        for (int y = 5; y <= 8; y++)
            danger |= o[(y * 10 + x) * c + 5];
        if (danger)
            return x > 0 ? ATTN_MINATAR_LEFT : ATTN_MINATAR_RIGHT;
        return (policy >> 40) % 4 ? ATTN_MINATAR_FIRE : action;
    }
    if (strcmp(game, "seaquest") == 0) {
        const int c = 10;
        int y = 0, oxygen = 0, divers = 0;
        for (int i = 0; i < 100; i++)
            if (o[i * c])
                y = i / 10;
        for (int x = 0; x < 10; x++) {
            oxygen += o[(90 + x) * c + 7];
            divers += o[(90 + x) * c + 8];
        }
        if ((oxygen < 3 || divers >= 6) && divers > 0)
            return ATTN_MINATAR_UP;
        if (action == ATTN_MINATAR_UP && y <= 1 && divers == 0)
            return ATTN_MINATAR_DOWN;
    }
    return action;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s GAME STEPS SEED STICKY [heuristic]\n", argv[0]);
        return 2;
    }
    attn_minatar_options opts = ATTN_MINATAR_OPTIONS_INIT;
    opts.sticky_action_prob = (float)atof(argv[4]);
    attn_minatar *g;
    if (attn_minatar_create(&g, argv[1], &opts, strtoull(argv[3], NULL, 10)) != ATTN_MINATAR_OK) {
        fprintf(stderr, "cannot create %s\n", argv[1]);
        return 1;
    }
    int channels;
    attn_minatar_channels(g, &channels);
    long steps = atol(argv[2]);
    uint64_t policy = 12345;
    printf("obs ");
    print_ones(g, channels);
    for (long t = 0; t < steps; t++) {
        policy = policy * 6364136223846793005u + 1442695040888963407u;
        int action = (int)((policy >> 33) % 6);
        if (argc > 5)
            action = heuristic(argv[1], g, action, policy);
        float reward;
        int done;
        attn_minatar_step(g, action, &reward, &done);
        printf("%ld %g %d ", t, (double)reward, done);
        print_ones(g, channels);
        if (done) {
            attn_minatar_restart(g);
            printf("obs ");
            print_ones(g, channels);
        }
    }
    attn_minatar_destroy(g);
    return 0;
}
