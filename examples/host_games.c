/*
 * host_games: a host's own games trained with the library's defaults, as docs/embedding.md ("Your own game")
 * tells a newcomer to do. Built against the installed headers only:
 *
 *     cc -std=c11 -O2 host_games.c $(pkg-config --cflags --libs attnagent) -lm -o host_games
 *
 * Two games, each on a side × side board of two binary planes, three actions (left, stay, right):
 *
 *   catch (--game catch, 12×12 by default): a ball (channel 0) falls from a random column of the top row, one
 *         row per step; a paddle three cells wide (channel 1) moves along the bottom row. When the ball reaches
 *         the bottom row the player gets +1 if the paddle is under it and −1 if not, and the next ball starts;
 *         an episode is ten balls (110 steps on 12×12). A random player scores about −4.8 on 12×12 and about 0
 *         on 6×6. With --flash K the ball is shown only in its first K rows.
 *   cue (--game cue): the first frame shows one cell lit anywhere on the board (channel 0), then come --delay
 *         blank frames (default 3), then a "go" frame (channel 1 all lit). On the go frame the player must press
 *         towards the half of the board the cue was in: +1 if right, −1 if not, and the episode ends. Before it,
 *         "stay" is free and every other action costs 0.1. To score, the agent must see the cue, find where it
 *         is (the position is only in the image: the attention and its spatial basis), and remember it over
 *         the blank frames. A random player scores about −0.5.
 *
 * With --pixels the same 0/1 bytes are declared as pixels (ATTN_OBS_U8), the mistake docs/embedding.md warns
 * about: the network then sees every object at 1/255.
 *
 * The agent: the minatar preset with the game's shape, PPO and Adam with every knob at its default. Nothing is
 * tuned for these games; that is the point.
 *
 *     host_games [--game catch|cue] [--frames N] [--seed S] [--side N] [--envs B] [--unroll T] [--flash K]
 *                [--delay K] [--threads N] [--pixels] [--expect R] [--expect-below R]
 *
 * Prints a progress line every 20 updates (frames, mean return of the last 100 episodes, policy entropy), the
 * library's warnings when learning looks stuck, then the greedy policy's mean return over 100 fresh episodes.
 * With --expect R the exit status is 1 when that mean is below R, with --expect-below R when it is not below R
 * (the suite's learning regression test, tests/learn_host.sh).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attnagent/attnagent.h>

enum { CHANNELS = 2, ACTIONS = 3, LEFT = 0, STAY = 1, RIGHT = 2, BALLS = 10, PADDLE_HALF = 1, MAX_ENVS = 256,
       MAX_SIDE = 16 };

/* The cue game's price of moving while it waits: without one, the agent could carry the cue in its own
 * previous action (an input of the network) instead of its memory. */
static const float FIDGET = 0.1f;

typedef enum game_kind { GAME_CATCH = 0, GAME_CUE = 1 } game_kind;

/* ---- The games: one slot per environment, no state shared between them ---- */

typedef struct game_slot {
    uint64_t rng;
    int ball_x, ball_y; /* catch: the falling ball; cue: where the cue was shown */
    int paddle_x, balls;
    int t;              /* cue: steps into the episode */
} game_slot;

typedef struct game_world {
    game_slot slot[MAX_ENVS];
    game_kind kind;
    int side;  /* the board is side × side */
    int flash; /* catch: rows in which the ball is visible (side: always) */
    int delay; /* cue: blank frames between the cue and the go frame */
} game_world;

static uint64_t next_random(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int random_below(game_slot *s, int n) { return (int)(next_random(&s->rng) % (uint64_t)n); }

/* Binary planes, as the model is configured (ATTN_OBS_U8_BINARY): 1 where an object is, 0 elsewhere. */
static void draw(const game_world *g, const game_slot *s, uint8_t *obs)
{
    const int n = g->side;
    memset(obs, 0, (size_t)n * n * CHANNELS);
    if (g->kind == GAME_CATCH) {
        if (s->ball_y < g->flash) obs[(s->ball_y * n + s->ball_x) * CHANNELS + 0] = 1;
        for (int dx = -PADDLE_HALF; dx <= PADDLE_HALF; dx++)
            obs[((n - 1) * n + s->paddle_x + dx) * CHANNELS + 1] = 1;
    } else if (s->t == 0) {
        obs[(s->ball_y * n + s->ball_x) * CHANNELS + 0] = 1; /* the cue, anywhere on the board */
    } else if (s->t == g->delay + 1) {
        for (int c = 0; c < n * n; c++) obs[c * CHANNELS + 1] = 1; /* "go": answer now */
    }
}

static int game_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    game_world *g = ctx;
    game_slot *s = &g->slot[index];
    s->rng = seed;
    s->paddle_x = g->side / 2;
    s->balls = 0;
    s->t = 0;
    s->ball_x = random_below(s, g->side);
    s->ball_y = g->kind == GAME_CATCH ? 0 : random_below(s, g->side);
    draw(g, s, obs);
    return 0;
}

/* Catch: move the paddle, drop the ball a row, score it on the bottom row. */
static void catch_move(const game_world *g, game_slot *s, int action, float *reward, int *terminated)
{
    s->paddle_x += action - STAY;
    if (s->paddle_x < PADDLE_HALF) s->paddle_x = PADDLE_HALF;
    if (s->paddle_x > g->side - 1 - PADDLE_HALF) s->paddle_x = g->side - 1 - PADDLE_HALF;
    if (++s->ball_y < g->side - 1) return;
    *reward = abs(s->ball_x - s->paddle_x) <= PADDLE_HALF ? 1.0f : -1.0f;
    if (++s->balls == BALLS) *terminated = 1;
    s->ball_x = random_below(s, g->side);
    s->ball_y = 0;
}

/* Cue: wait (STAY is free) until the go frame, then press towards the side of the board the cue was on. */
static void cue_move(const game_world *g, game_slot *s, int action, float *reward, int *terminated)
{
    if (s->t++ <= g->delay) {
        *reward = action == STAY ? 0.0f : -FIDGET;
        return;
    }
    const int side = s->ball_x < g->side / 2 ? LEFT : RIGHT;
    *reward = action == side ? 1.0f : -1.0f;
    *terminated = 1;
}

static int game_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    game_world *g = ctx;
    game_slot *s = &g->slot[index];
    *reward = 0.0f;
    *terminated = 0;
    *truncated = 0;
    if (g->kind == GAME_CATCH) catch_move(g, s, action, reward, terminated);
    else cue_move(g, s, action, reward, terminated);
    draw(g, s, obs);
    return 0;
}

/* ---- The host program ---- */

#define CHECK(call)                                                                                              \
    do {                                                                                                         \
        attn_status st_ = (call);                                                                                \
        if (st_ != ATTN_OK) {                                                                                    \
            fprintf(stderr, "host_games: %s failed: %s (%s)\n", #call, attn_status_str(st_), attn_last_error()); \
            goto done;                                                                                           \
        }                                                                                                        \
    } while (0)

typedef struct options {
    game_kind game;
    long long frames;
    unsigned long long seed;
    int side, envs, unroll, flash, delay, threads, pixels;
    double expect, expect_below; /* NAN: no threshold */
} options;

static int parse(options *o, int argc, char **argv)
{
    *o = (options){.game = GAME_CATCH, .frames = 300000, .seed = 1, .side = 12, .envs = 16, .unroll = 32,
                   .flash = 0, .delay = 3, .threads = 0, .expect = NAN, .expect_below = NAN};
    int unroll_set = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--pixels")) {
            o->pixels = 1;
            continue;
        }
        if (i + 1 >= argc) goto bad;
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--game")) {
            if (!strcmp(v, "catch")) o->game = GAME_CATCH;
            else if (!strcmp(v, "cue")) o->game = GAME_CUE;
            else goto bad;
            continue;
        }
        double x = strtod(v, &end);
        if (!*v || *end) goto bad;
        if (!strcmp(a, "--frames") && x >= 1 && x <= 1e12) o->frames = (long long)x;
        else if (!strcmp(a, "--seed") && x >= 0 && x <= 1e15) o->seed = (unsigned long long)x;
        else if (!strcmp(a, "--envs") && x >= 1 && x <= MAX_ENVS) o->envs = (int)x;
        else if (!strcmp(a, "--unroll") && x >= 1 && x <= 1000) o->unroll = (int)x, unroll_set = 1;
        else if (!strcmp(a, "--side") && x >= 4 && x <= MAX_SIDE) o->side = (int)x;
        else if (!strcmp(a, "--flash") && x >= 1 && x <= MAX_SIDE) o->flash = (int)x;
        else if (!strcmp(a, "--delay") && x >= 0 && x <= 100) o->delay = (int)x;
        else if (!strcmp(a, "--threads") && x >= 0 && x <= 1024) o->threads = (int)x;
        else if (!strcmp(a, "--expect") && isfinite(x)) o->expect = x;
        else if (!strcmp(a, "--expect-below") && isfinite(x)) o->expect_below = x;
        else goto bad;
        continue;
    bad:
        fprintf(stderr, "host_games: bad option %s (usage: see the top of host_games.c)\n", argv[i]);
        return 1;
    }
    if (!o->flash || o->flash > o->side) o->flash = o->side;
    /* The cue's episodes are delay + 2 steps and all start together: an unroll of four of them keeps every cue
     * and its go frame in one unroll, so backpropagation through time reaches from the answer to the cue. */
    if (o->game == GAME_CUE && !unroll_set) o->unroll = 4 * (o->delay + 2);
    return 0;
}

static attn_env world_env(game_world *g)
{
    attn_env env = ATTN_ENV_INIT;
    env.ctx = g;
    env.reset = game_reset;
    env.step = game_step;
    env.thread_safe = 1; /* each index touches only its own slot */
    return env;
}

/* The greedy policy's mean return over `episodes` fresh episodes (seeds the training never used). */
static double evaluate(attn_model *model, game_world *g, int episodes, attn_status *st)
{
    attn_env env = world_env(g);
    enum { B = 20, CAP = 400 };
    attn_rollout *ro = NULL;
    double sum = 0.0;
    int done = 0;
    float returns[CAP];
    if ((*st = attn_rollout_create(&ro, model, B, 20, 0xe7a1)) != ATTN_OK) return NAN;
    while (done < episodes) {
        int finished = 0;
        if ((*st = attn_rollout_collect(ro, model, &env, ATTN_ACT_GREEDY)) != ATTN_OK) break;
        attn_rollout_finished(ro, returns, NULL, CAP, &finished);
        for (int i = 0; i < finished && i < CAP && done < episodes; i++, done++) sum += returns[i];
    }
    attn_rollout_destroy(ro);
    return done ? sum / done : NAN;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(&o, argc, argv)) return 2;
    static game_world world; /* MAX_ENVS slots, too large for some hosts' stacks */
    world.kind = o.game;
    world.side = o.side;
    world.flash = o.flash;
    world.delay = o.delay;
    attn_env env = world_env(&world);

    attn_config *cfg = NULL;
    attn_model *model = NULL;
    attn_rollout *ro = NULL;
    attn_learner *learner = NULL;
    attn_optimizer *opt = NULL;
    int status = 1;
    CHECK(attn_config_create(&cfg, ATTN_PRESET_MINATAR));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_H, o.side));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_W, o.side));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_C, CHANNELS));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, o.pixels ? ATTN_OBS_U8 : ATTN_OBS_U8_BINARY));
    CHECK(attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, ACTIONS));
    CHECK(attn_config_set(cfg, ATTN_CFG_THREADS, o.threads));
    CHECK(attn_model_create(&model, cfg, o.seed));
    CHECK(attn_rollout_create(&ro, model, o.envs, o.unroll, o.seed + 1));
    attn_loss_config lc;
    CHECK(attn_loss_config_init(&lc, ATTN_LOSS_PPO));
    CHECK(attn_learner_create(&learner, model, &lc, o.envs, o.unroll));
    CHECK(attn_optimizer_create(&opt, model, ATTN_OPTIM_ADAM));

    if (o.game == GAME_CATCH)
        printf("host_games: %d×%d catch, %d balls per episode, the ball visible in its first %d rows", o.side, o.side,
               BALLS, o.flash);
    else
        printf("host_games: %d×%d cue, shown once, answered after %d blank frames", o.side, o.side, o.delay);
    printf("; planes declared as %s; PPO + Adam at the library's defaults, %d environments × %d steps, %lld "
           "frames\n", o.pixels ? "pixels (wrongly)" : "binary planes", o.envs, o.unroll, o.frames);
    float recent[100] = {0}, returns[MAX_ENVS * 8];
    int n_recent = 0, next = 0;
    unsigned warned = 0;
    for (long long update = 1; attn_rollout_frames(ro) < o.frames; update++) {
        CHECK(attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE));
        int finished = 0;
        attn_rollout_finished(ro, returns, NULL, MAX_ENVS * 8, &finished);
        for (int i = 0; i < finished && i < MAX_ENVS * 8; i++) {
            recent[next] = returns[i];
            next = (next + 1) % 100;
            n_recent += n_recent < 100;
        }
        attn_loss_stats stats;
        CHECK(attn_learner_update(learner, opt, ro, &stats));
        if (update % 20 == 0) {
            double mean = 0.0;
            for (int i = 0; i < n_recent; i++) mean += recent[i];
            printf("frames %8lld  return(100) %+6.2f  entropy %.3f\n", (long long)attn_rollout_frames(ro),
                   n_recent ? mean / n_recent : 0.0, (double)stats.entropy);
            fflush(stdout);
            attn_learner_health health;
            CHECK(attn_learner_health_get(learner, &health));
            const unsigned fresh = health.flags & ~warned;
            if (fresh & ATTN_HEALTH_UNIFORM_POLICY)
                printf("host_games: warning: the policy is still uniform after %lld updates\n",
                       (long long)health.updates);
            if (fresh & ATTN_HEALTH_FROZEN_WEIGHTS)
                printf("host_games: warning: the weights have barely moved (%.2g) after %lld updates\n",
                       (double)health.weight_change, (long long)health.updates);
            warned |= fresh;
        }
    }
    attn_status st = ATTN_OK;
    const double greedy = evaluate(model, &world, 100, &st);
    CHECK(st);
    printf("greedy mean return over 100 episodes: %+.2f\n", greedy);
    status = 0;
    if (!isnan(o.expect) && !(greedy >= o.expect)) {
        printf("host_games: below the expected %+.2f\n", o.expect);
        status = 1;
    }
    if (!isnan(o.expect_below) && !(greedy < o.expect_below)) {
        printf("host_games: not below %+.2f, as this run must be\n", o.expect_below);
        status = 1;
    }
done:
    attn_optimizer_destroy(opt);
    attn_learner_destroy(learner);
    attn_rollout_destroy(ro);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    return status;
}
