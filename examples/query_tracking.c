/* What do the queries track? Plays greedy episodes of a built-in game with a trained checkpoint and, for each
 * query and each object channel of the game, measures over the steps where that channel has an object:
 *   near   the share of steps whose attention peak lies within one cell (Chebyshev) of such an object, beside
 *          the share a peak drawn uniformly at random would have (the same frames);
 *   corr   the correlation between the map's centre of mass column and the objects' mean column.
 * docs/results.md quotes its output ("What the queries look at").
 *
 *   query_tracking CHECKPOINT GAME [EPISODES]   (GAME as in minatar:GAME; EPISODES default 20, seed 7)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "minatar.h"

enum { SIDE = ATTN_MINATAR_SIZE, CELLS = SIDE * SIDE, MAX_C = 16, MAX_N = 16, MAX_A = 18, MAX_STEPS = 10000 };

/* Whether cell p lies within one cell of an object in channel c of obs. */
static int near_object(const uint8_t *obs, int C, int c, int p)
{
    const int y = p / SIDE, x = p % SIDE;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            const int yy = y + dy, xx = x + dx;
            if (yy >= 0 && yy < SIDE && xx >= 0 && xx < SIDE && obs[(yy * SIDE + xx) * C + c]) return 1;
        }
    return 0;
}

typedef struct tally {
    long steps, near[MAX_N];
    double chance;                       /* summed share of cells near an object, for the random baseline */
    double sx[MAX_N], sy, sxx[MAX_N], syy, sxy[MAX_N];
} tally;

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: query_tracking CHECKPOINT GAME [EPISODES]\n");
        return 2;
    }
    const int episodes = argc > 3 ? atoi(argv[3]) : 20;
    attn_model *m = NULL;
    attn_minatar *g = NULL;
    attn_state *st = NULL;
    int status = 1, C = 0, A = 0, N = 0, H = 0, W = 0;
    if (attn_model_load(&m, argv[1])) {
        fprintf(stderr, "query_tracking: %s\n", attn_last_error());
        goto done;
    }
    const attn_config *cfg = attn_model_config(m);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &C);
    attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &A);
    attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &N);
    attn_config_get(cfg, ATTN_CFG_GRID_H, &H);
    attn_config_get(cfg, ATTN_CFG_GRID_W, &W);
    int gc = 0;
    if (attn_minatar_create(&g, argv[2], NULL, 7) || attn_minatar_channels(g, &gc) || gc != C || H != SIDE ||
        W != SIDE || C > MAX_C || N > MAX_N || A > MAX_A || episodes < 1) {
        fprintf(stderr, "query_tracking: the checkpoint does not fit minatar:%s (or bad arguments)\n", argv[2]);
        goto done;
    }
    if (attn_state_create(&st, m, 1, 0)) goto done;
    static tally t[MAX_C];
    uint8_t obs[CELLS * MAX_C];
    float logits[MAX_A], maps[MAX_N * CELLS];
    long steps = 0;
    for (int ep = 0; ep < episodes; ep++) {
        if (ep) attn_minatar_restart(g);
        attn_minatar_observe(g, obs, (size_t)CELLS * C);
        uint8_t first = 1;
        int32_t prev_action = ATTN_NO_ACTION;
        float prev_reward = 0.0f;
        for (int done_ep = 0, n = 0; !done_ep && n < MAX_STEPS; n++, steps++) {
            if (attn_forward(m, st, ATTN_FORWARD_ACT, obs, (size_t)CELLS * C, &prev_reward, &prev_action, &first,
                             logits, NULL) ||
                attn_get_maps(st, maps, (size_t)N * CELLS))
                goto done;
            first = 0;
            for (int c = 0; c < C; c++) {
                double ox = 0.0, count = 0.0, chance = 0.0;
                for (int p = 0; p < CELLS; p++) {
                    if (obs[p * C + c]) ox += p % SIDE, count++;
                    chance += near_object(obs, C, c, p);
                }
                if (!count) continue;
                tally *tc = &t[c];
                ox /= count;
                tc->steps++;
                tc->chance += chance / CELLS;
                tc->sy += ox, tc->syy += ox * ox;
                for (int q = 0; q < N; q++) {
                    const float *mq = maps + q * CELLS;
                    int peak = 0;
                    double cx = 0.0;
                    for (int p = 0; p < CELLS; p++) {
                        cx += mq[p] * (p % SIDE);
                        if (mq[p] > mq[peak]) peak = p;
                    }
                    tc->near[q] += near_object(obs, C, c, peak);
                    tc->sx[q] += cx, tc->sxx[q] += cx * cx, tc->sxy[q] += cx * ox;
                }
            }
            int a = 0;
            for (int k = 1; k < A; k++)
                if (logits[k] > logits[a]) a = k;
            int terminated = 0;
            attn_minatar_step(g, a, &prev_reward, &terminated);
            done_ep = terminated;
            prev_action = a;
            attn_minatar_observe(g, obs, (size_t)CELLS * C);
        }
    }
    printf("minatar:%s, %ld greedy steps over %d episodes (seed 7)\n", argv[2], steps, episodes);
    printf("per channel: share of steps with the query's peak within one cell of an object (uniform peak in "
           "brackets); correlation of the map's centre column with the objects' column\n");
    for (int c = 0; c < C; c++) {
        const tally *tc = &t[c];
        if (!tc->steps) continue;
        const double n = (double)tc->steps;
        const char *name = "?";
        attn_minatar_channel_name(g, c, &name);
        printf("  %-16s near:", name);
        for (int q = 0; q < N; q++) printf(" q%d %.2f", q, tc->near[q] / n);
        printf(" [%.2f]  corr:", tc->chance / n);
        for (int q = 0; q < N; q++) {
            const double cov = tc->sxy[q] / n - tc->sx[q] / n * tc->sy / n;
            const double vx = tc->sxx[q] / n - pow(tc->sx[q] / n, 2), vy = tc->syy / n - pow(tc->sy / n, 2);
            printf(" q%d %+.2f", q, vx > 1e-12 && vy > 1e-12 ? cov / sqrt(vx * vy) : 0.0);
        }
        printf("\n");
    }
    status = 0;
done:
    attn_state_destroy(st);
    attn_minatar_destroy(g);
    attn_model_destroy(m);
    return status;
}
