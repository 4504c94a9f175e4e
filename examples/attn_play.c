/* attn-play: loads a checkpoint, plays episodes of a built-in game or a real Atari game (ale:GAME, through the
 * ALE bridge), prints the returns (raw game scores for ALE), and draws where the agent looked: PNG panels for
 * chosen steps (the frame, then each query's map over it) and an animated GIF of the first episode with the
 * overlays; --html DIR also writes an interactive page of the first episode (examples/viewer/, docs/viewer.md).
 *
 *   attn-play [--run DIR | --checkpoint FILE] [--env minatar:breakout|ale:breakout] [--episodes K] [--sample] ...
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ale_env.h"
#include "attnagent/attnagent.h"
#include "attnagent/training.h"
#include "make_dirs.h"
#include "minatar.h"
#include "minatar_env.h"
#include "option_numbers.h"
#include "render.h"
#include "viewer.h"

#define PROG "attn-play"

typedef struct play_options {
    const char *run, *checkpoint, *env, *gif, *png_dir, *png_steps, *html;
    int episodes, sample, scale, gif_steps, delay_cs, max_steps;
    uint64_t seed;
    /* ale: the preprocessing the agent was trained with (attn-train's defaults) */
    int ale, frame_skip, noop_max, max_pool, full_action_set;
    float sticky;
    int env_given;  /* --env was on the command line: it must match the checkpoint's own "env" key */
    char env_buf[256];
} play_options;

static void usage(void)
{
    printf("usage: attn-play [options]\n"
           "  --run DIR            a training run's directory (default runs/breakout)\n"
           "  --checkpoint FILE    the checkpoint (default DIR/checkpoint.safetensors)\n"
           "  --env minatar:GAME   the game (default: the checkpoint's own, as attn-train saved it; else\n"
           "                       minatar:breakout); a game other than the checkpoint's is refused\n"
           "  --env ale:GAME       a real Atari game through ale-py (docs/atari.md)\n"
           "  --episodes K         episodes to play (default 5)\n"
           "  --sample             sample actions from the policy (default: greedy)\n"
           "  --seed S             game and sampling seed (default 1)\n"
           "  --gif FILE           GIF of the first episode (default DIR/attention.gif)\n"
           "  --gif-steps N        at most N steps in the GIF (default 300)\n"
           "  --png-steps LIST     steps of the first episode drawn as PNG, e.g. 0,10,50 (default 0,10,25,50)\n"
           "  --png-dir DIR        where the PNGs go, made if missing (default the run directory)\n"
           "  --html DIR           an interactive page of the first episode: DIR/index.html, opens from disk\n"
           "  --scale S            pixels per observation pixel (default 24; ale: 3 for 84x84, 2 for 210x160)\n"
           "  --delay CS           GIF frame time in hundredths of a second (default 12; ale: 5)\n"
           "  --max-steps N        end an episode after N steps (default 100000; ale: 27000 = 108000 frames)\n"
           "  ale: only, as the agent was trained (attn-train's defaults):\n"
           "  --frame-skip N (4)  --sticky P (0.25)  --noop-max N (0)  --no-max-pool\n"
           "  (the full 18-action set is used when the checkpoint has 18 actions)\n");
}

/* The numeric options: each parsed whole and range-checked before it is converted (option_numbers.h). */
static int numeric(play_options *o, const char *a, const char *v)
{
    double x;
    if (!strcmp(a, "--episodes")) return option_int(PROG, a, v, 1, 1000000, &o->episodes);
    if (!strcmp(a, "--gif-steps")) return option_int(PROG, a, v, 0, 1000000, &o->gif_steps);
    if (!strcmp(a, "--scale")) return option_int(PROG, a, v, 1, 64, &o->scale);
    if (!strcmp(a, "--delay")) return option_int(PROG, a, v, 0, 65535, &o->delay_cs); /* GIF: 16 bits */
    if (!strcmp(a, "--seed")) return option_uint64(PROG, a, v, &o->seed);
    /* At most attn-train's --max-episode-steps, so that the ALE frame budget (× --frame-skip) fits an int. */
    if (!strcmp(a, "--max-steps")) return option_int(PROG, a, v, 1, 10000000, &o->max_steps);
    if (!strcmp(a, "--frame-skip")) return option_int(PROG, a, v, 1, 64, &o->frame_skip);
    if (!strcmp(a, "--noop-max")) return option_int(PROG, a, v, 0, 100000, &o->noop_max);
    if (!strcmp(a, "--sticky")) {
        if (option_double(PROG, a, v, 0.0, 1.0, &x)) return -1;
        o->sticky = (float)x;
        return 0;
    }
    fprintf(stderr, PROG ": unknown option %s (see --help)\n", a);
    return -1;
}

static int parse(play_options *o, int argc, char **argv)
{
    *o = (play_options){.run = NULL, .env = "minatar:breakout", .png_steps = "0,10,25,50",
                        .episodes = 5, .scale = 0, .gif_steps = 300, .delay_cs = -1, .max_steps = 0, .seed = 1,
                        .frame_skip = 4, .noop_max = 0, .max_pool = 1, .sticky = 0.25f};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 1;
        }
        if (!strcmp(a, "--sample")) {
            o->sample = 1;
            continue;
        }
        if (!strcmp(a, "--no-max-pool")) {
            o->max_pool = 0;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, PROG ": %s needs a value (or is unknown; see --help)\n", a);
            return 1;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--run")) o->run = v;
        else if (!strcmp(a, "--checkpoint")) o->checkpoint = v;
        else if (!strcmp(a, "--env")) o->env = v, o->env_given = 1;
        else if (!strcmp(a, "--gif")) o->gif = v;
        else if (!strcmp(a, "--png-steps")) o->png_steps = v;
        else if (!strcmp(a, "--png-dir")) o->png_dir = v;
        else if (!strcmp(a, "--html")) o->html = v;
        else if (numeric(o, a, v)) return 1;
    }
    if (o->env_given && strncmp(o->env, "minatar:", 8) && !(!strncmp(o->env, "ale:", 4) && o->env[4])) {
        fprintf(stderr, PROG ": --env must be minatar:GAME or ale:GAME, not \"%s\"\n", o->env);
        return 1;
    }
    static char run_default[256];
    if (!o->run && o->env_given && !strncmp(o->env, "ale:", 4)) {
        snprintf(run_default, sizeof run_default, "runs/ale_%s", o->env + 4); /* attn-train's default */
        o->run = run_default;
    } else if (!o->run) {
        o->run = "runs/breakout";
    }
    return 0;
}

/* The game to play: the one the checkpoint was trained on, from the "env" key attn-train saves in it, which an
 * --env must agree with; a checkpoint without one (attn_model_save's) plays --env or minatar:breakout. Then the
 * defaults that depend on the game. Returns 0, or the exit status: 2 for an --env the checkpoint contradicts, 1
 * for a checkpoint that cannot be read. */
static int resolve_env(play_options *o, const char *ckpt)
{
    size_t len = 0;
    const attn_status st = attn_checkpoint_meta(ckpt, "env", o->env_buf, sizeof o->env_buf, &len);
    if (st == ATTN_OK) {
        if (o->env_given && strcmp(o->env, o->env_buf)) {
            fprintf(stderr, PROG ": --env %s: %s was trained on %s (its \"env\" key); leave --env out to play "
                            "that\n", o->env, ckpt, o->env_buf);
            return 2;
        }
        o->env = o->env_buf;
    } else if (st != ATTN_ERR_INVALID) { /* no such key is fine; an unreadable file is not */
        fprintf(stderr, PROG ": reading %s: %s\n  %s\n", ckpt, attn_status_str(st), attn_last_error());
        return 1;
    }
    o->ale = !strncmp(o->env, "ale:", 4) && o->env[4];
    if (strncmp(o->env, "minatar:", 8) && !o->ale) {
        fprintf(stderr, PROG ": %s names the game \"%s\": not minatar:GAME or ale:GAME\n", ckpt, o->env);
        return 1;
    }
    if (o->delay_cs < 0) o->delay_cs = o->ale ? 5 : 12;
    if (!o->max_steps) o->max_steps = o->ale ? 27000 : 100000;
    return 0;
}

/* Is `step` in the comma-separated list? */
static int listed(const char *list, int step)
{
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return 0;
        if (v == step) return 1;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

static int choose(const float *logits, int A, int sample, uint64_t *rng)
{
    int best = 0;
    for (int a = 1; a < A; a++)
        if (logits[a] > logits[best]) best = a;
    if (!sample) return best;
    double total = 0.0, p[64];
    for (int a = 0; a < A && a < 64; a++) total += p[a] = exp((double)logits[a] - logits[best]);
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = (double)(*rng >> 11) * (1.0 / 9007199254740992.0) * total;
    for (int a = 0; a < A; a++)
        if ((u -= p[a]) < 0.0) return a;
    return A - 1;
}

/* In main: a failed call reports and goes to the clean-up that every exit shares. */
#define CHECK(what, call)                                                                                         \
    do {                                                                                                         \
        attn_status st_ = (call);                                                                                \
        if (st_) {                                                                                               \
            fprintf(stderr, "attn-play: %s: %s\n  %s\n", what, attn_status_str(st_), attn_last_error());         \
            status = 1;                                                                                          \
            goto done;                                                                                           \
        }                                                                                                        \
    } while (0)

/* The game being played: a built-in one, or one ALE environment behind the bridge. */
typedef struct world {
    attn_minatar *game;
    ale_env *atari;
    attn_env env;
    uint8_t *obs; /* the current observation, H × W × C */
} world;

static const char *obs_type_words(int type)
{
    return type == ATTN_OBS_U8          ? "uint8 pixels (divided by 255)"
           : type == ATTN_OBS_U8_BINARY ? "binary planes (bytes 0 and 1)"
                                        : "float32 values";
}

static int world_create(world *w, const play_options *o, int H, int W, int C, int A, int type)
{
    memset(w, 0, sizeof *w);
    /* The checkpoint's input convention must be the game's: a model trained on pixels would see binary planes
     * 255 times too faint, one trained on planes would see pixels 255 times too bright. */
    const int game_type = o->ale ? ALE_ENV_OBS_TYPE : MINATAR_ENV_OBS_TYPE;
    if (type != game_type) {
        fprintf(stderr, "attn-play: the checkpoint reads its observations as %s, but %s gives %s; it was trained "
                        "for another input convention (checkpoints of minatar: games from before version 0.2 read "
                        "the planes as pixels): train it again\n", obs_type_words(type), o->env,
                obs_type_words(game_type));
        return -1;
    }
    if (!(w->obs = malloc((size_t)H * W * C))) return -1;
    if (o->ale) {
        if (C != 3) {
            fprintf(stderr, "attn-play: the checkpoint (%d×%d×%d) was not trained on RGB frames; is it from a "
                            "minatar: game?\n", H, W, C);
            return -1;
        }
        ale_env_options a = ALE_ENV_OPTIONS_INIT;
        a.game = o->env + 4;
        a.height = H, a.width = W;
        a.frame_skip = o->frame_skip;
        a.max_pool = o->max_pool;
        a.sticky = o->sticky;
        a.noop_max = o->noop_max;
        a.full_action_set = A == 18;
        a.max_episode_frames = o->max_steps * o->frame_skip;
        a.seed = o->seed;
        char err[1024];
        if (ale_env_create(&w->atari, &a, err, sizeof err)) {
            fprintf(stderr, "attn-play: %s\n", err);
            return -1;
        }
        if (ale_env_num_actions(w->atari) != A) {
            fprintf(stderr, "attn-play: the checkpoint has %d actions, %s has %d\n", A, o->env,
                    ale_env_num_actions(w->atari));
            return -1;
        }
        w->env = ale_env_callbacks(w->atari);
        return 0;
    }
    int st = attn_minatar_create(&w->game, o->env + 8, NULL, o->seed);
    int game_c = 0, game_a = 0;
    if (!st) attn_minatar_channels(w->game, &game_c);
    if (!st) attn_minatar_num_actions(w->game, &game_a);
    if (st || game_c != C || game_a != A || H != ATTN_MINATAR_SIZE || W != ATTN_MINATAR_SIZE) {
        fprintf(stderr, "attn-play: the checkpoint (%d×%d×%d, %d actions) does not fit %s%s%s%s\n", H, W, C, A, o->env,
                st ? ": " : "", st ? attn_minatar_status_str(st) : "",
                C == 3 && H > ATTN_MINATAR_SIZE ? " (an Atari checkpoint needs --env ale:GAME)" : "");
        return -1;
    }
    return 0;
}

static void world_destroy(world *w)
{
    attn_minatar_destroy(w->game);
    ale_env_destroy(w->atari);
    free(w->obs);
}

/* Starts episode `ep` and observes its first frame. */
static int world_start(world *w, int ep, uint64_t seed, size_t obs_bytes)
{
    if (w->atari) {
        if (w->env.reset(w->env.ctx, 0, seed + (uint64_t)ep, w->obs)) {
            fprintf(stderr, "attn-play: %s\n", ale_env_error(w->atari));
            return -1;
        }
        return 0;
    }
    if (ep) attn_minatar_restart(w->game);
    attn_minatar_observe(w->game, w->obs, obs_bytes);
    return 0;
}

/* One step: the reward, whether the episode is over, and the next frame in w->obs. */
static int world_step(world *w, int action, float *reward, int *done, size_t obs_bytes)
{
    int term = 0, trunc = 0;
    if (w->atari) {
        if (w->env.step(w->env.ctx, 0, action, w->obs, reward, &term, &trunc)) {
            fprintf(stderr, "attn-play: %s\n", ale_env_error(w->atari));
            return -1;
        }
    } else {
        int st = attn_minatar_step(w->game, action, reward, &term);
        if (st) {
            fprintf(stderr, "attn-play: game step: %s\n", attn_minatar_status_str(st));
            return -1;
        }
        attn_minatar_observe(w->game, w->obs, obs_bytes);
    }
    *done = term || trunc;
    return 0;
}

/* Starts the page of the first episode: the shapes from the checkpoint, the names from the game. */
static viewer *open_viewer(const play_options *o, const world *w, const char *ckpt, const attn_config *cfg)
{
    static const char *const full_action_names[ATTN_MINATAR_NUM_FULL_ACTIONS] = {"noop", "left", "up",
                                                                                  "right", "down", "fire"};
    const char *actions[255] = {0}, *channels[64] = {0};
    viewer_info info = VIEWER_INFO_INIT;
    info.env = o->env, info.checkpoint = ckpt, info.policy = o->sample ? "sampled" : "greedy", info.seed = o->seed;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &info.obs_h);
    attn_config_get(cfg, ATTN_CFG_OBS_W, &info.obs_w);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &info.obs_c);
    attn_config_get(cfg, ATTN_CFG_GRID_H, &info.grid_h);
    attn_config_get(cfg, ATTN_CFG_GRID_W, &info.grid_w);
    attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &info.queries);
    attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &info.actions);
    info.obs_kind = o->ale ? VIEWER_OBS_RGB : VIEWER_OBS_PLANES;
    if (w->game) { /* ALE's action sets carry no names over the bridge: the page shows their indices */
        for (int a = 0, full; a < info.actions && a < 255; a++)
            if (!attn_minatar_action_meaning(w->game, a, &full) && full >= 0 && full < ATTN_MINATAR_NUM_FULL_ACTIONS)
                actions[a] = full_action_names[full];
        for (int k = 0; k < info.obs_c && k < 64; k++) attn_minatar_channel_name(w->game, k, &channels[k]);
        info.action_names = actions, info.channel_names = channels;
    }
    viewer *v;
    if (viewer_open(&v, o->html, &info)) {
        fprintf(stderr, "attn-play: --html %s: %s\n", o->html, viewer_last_error());
        return NULL;
    }
    return v;
}

int main(int argc, char **argv)
{
    play_options o;
    if (parse(&o, argc, argv)) return 2;
    char ckpt[1024], gif_path[1024];
    snprintf(ckpt, sizeof ckpt, "%s", o.checkpoint ? o.checkpoint : "");
    if (!o.checkpoint) snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", o.run);
    snprintf(gif_path, sizeof gif_path, "%s", o.gif ? o.gif : "");
    if (!o.gif) snprintf(gif_path, sizeof gif_path, "%s/attention.gif", o.run);
    const char *png_dir = o.png_dir ? o.png_dir : o.run;
    const int resolved = resolve_env(&o, ckpt);
    if (resolved) return resolved;
    if (o.png_dir && make_dirs(o.png_dir)) { /* a directory of its own for the PNGs is made, as --out is */
        fprintf(stderr, "attn-play: --png-dir %s: cannot create it: %s\n", o.png_dir, strerror(errno));
        return 1;
    }

    /* Everything built below starts empty, and every exit after this point goes through `done`, which frees
     * whatever was built (LeakSanitizer finds nothing on any path, tests/check_program_options.sh). */
    attn_model *model = NULL;
    attn_state *state = NULL;
    viewer *page = NULL;
    world w;
    memset(&w, 0, sizeof w);
    float *logits = NULL, *maps = NULL, *pix = NULL, value;
    render_image frame = RENDER_IMAGE_INIT, panel = RENDER_IMAGE_INIT;
    render_gif *gif = NULL;
    int status = 0;
    CHECK("loading the checkpoint", attn_model_load(&model, ckpt));
    const attn_config *cfg = attn_model_config(model);
    int H, W, C, A, N, gh, gw, type;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &H);
    attn_config_get(cfg, ATTN_CFG_OBS_W, &W);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &C);
    attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &A);
    attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &N);
    attn_config_get(cfg, ATTN_CFG_GRID_H, &gh);
    attn_config_get(cfg, ATTN_CFG_GRID_W, &gw);
    attn_config_get(cfg, ATTN_CFG_OBS_TYPE, &type);
    if (!o.scale) o.scale = !o.ale ? 24 : H > 100 ? 2 : 3;

    if (world_create(&w, &o, H, W, C, A, type)) {
        status = 1;
        goto done;
    }
    CHECK("state", attn_state_create(&state, model, 1, 0));
    if (o.html && !(page = open_viewer(&o, &w, ckpt, cfg))) {
        status = 1;
        goto done;
    }
    viewer_summary page_summary = {0};

    const size_t obs_bytes = (size_t)H * W * C;
    logits = malloc(sizeof(float) * (size_t)A);
    maps = malloc(sizeof(float) * (size_t)N * gh * gw);
    pix = malloc(sizeof(float) * (size_t)N * H * W);
    if (!logits || !maps || !pix) {
        fprintf(stderr, "attn-play: out of memory\n");
        status = 1;
        goto done;
    }
    uint64_t rng = o.seed;
    double total = 0.0;
    int pngs = 0, gif_frames = 0;
    printf("attn-play: %s, %s, %s policy, %d episodes\n", ckpt, o.env, o.sample ? "sampled" : "greedy", o.episodes);
    for (int ep = 0; ep < o.episodes && !status; ep++) {
        if (world_start(&w, ep, o.seed, obs_bytes)) {
            status = 1;
            break;
        }
        float reward = 0.0f, ret = 0.0f;
        int32_t prev_action = ATTN_NO_ACTION;
        int done = 0, steps = 0;
        while (!done) {
            uint8_t first = steps == 0;
            CHECK("step", attn_forward(model, state, ATTN_FORWARD_ACT, w.obs, obs_bytes, &reward, &prev_action,
                                       &first, logits, &value));
            int action = choose(logits, A, o.sample, &rng);
            int draw_png = ep == 0 && listed(o.png_steps, steps), draw_gif = ep == 0 && steps < o.gif_steps;
            if (page && ep == 0) {
                CHECK("maps", attn_get_maps(state, maps, (size_t)N * gh * gw));
                if (viewer_record(page, w.obs, maps, logits, value, action)) {
                    fprintf(stderr, "attn-play: --html %s: %s\n", o.html, viewer_last_error());
                    status = 1;
                    break;
                }
            }
            if (draw_png || draw_gif) {
                CHECK("maps", attn_get_maps(state, maps, (size_t)N * gh * gw));
                for (int n = 0; n < N; n++)
                    CHECK("maps", attn_map_to_pixels(model, maps + (size_t)n * gh * gw, pix + (size_t)n * H * W,
                                                     (size_t)H * W));
                char title[64];
                snprintf(title, sizeof title, "STEP %d %s %.0f", steps, o.ale ? "SCORE" : "R", ret);
                render_panel_options po = {0.75f, 8, title};
                render_status drawn = o.ale ? render_frame_rgb(&frame, w.obs, H, W, o.scale)
                                            : render_frame_minatar(&frame, w.obs, H, W, C, o.scale);
                if (drawn || render_panel(&panel, &frame, pix, N, H, W, &po)) {
                    fprintf(stderr, "attn-play: drawing: %s\n", render_last_error());
                    status = 1;
                    break;
                }
                if (draw_gif) {
                    if ((!gif && render_gif_open(&gif, gif_path, panel.width, panel.height, o.delay_cs)) ||
                        render_gif_add(gif, &panel)) {
                        fprintf(stderr, "attn-play: %s: %s\n", gif_path, render_last_error());
                        status = 1;
                        break;
                    }
                    gif_frames++;
                }
                if (draw_png) {
                    char path[1100];
                    snprintf(path, sizeof path, "%s/step_%04d.png", png_dir, steps);
                    if (render_write_png(path, &panel)) {
                        fprintf(stderr, "attn-play: %s: %s\n", path, render_last_error());
                        status = 1;
                        break;
                    }
                    pngs++;
                }
            }
            if (world_step(&w, action, &reward, &done, obs_bytes)) {
                status = 1;
                break;
            }
            if (page && ep == 0 && viewer_reward(page, reward)) {
                fprintf(stderr, "attn-play: --html %s: %s\n", o.html, viewer_last_error());
                status = 1;
                break;
            }
            prev_action = action;
            ret += reward;
            steps++;
            done = done || steps >= o.max_steps;
        }
        if (status) break;
        if (page && ep == 0) {
            viewer *done_page = page;
            page = NULL;
            if (viewer_finish(done_page, &page_summary)) {
                fprintf(stderr, "attn-play: --html %s: %s\n", o.html, viewer_last_error());
                status = 1;
                break;
            }
        }
        printf("episode %d: %s %.0f in %d steps\n", ep, o.ale ? "score" : "return", ret, steps);
        total += ret;
    }
    if (!status) printf("mean %s %.2f over %d episodes\n", o.ale ? "score" : "return", total / o.episodes, o.episodes);
    if (gif_frames) printf("attention GIF: %s (%d steps)\n", gif_path, gif_frames);
    if (pngs) printf("attention PNGs: %s/step_*.png (%d)\n", png_dir, pngs);
    if (page_summary.steps)
        printf("attention viewer: %s/index.html (%d steps, data.js %zu bytes: %zu per step)\n", o.html,
               page_summary.steps, page_summary.data_bytes, page_summary.data_bytes / (size_t)page_summary.steps);
done:
    viewer_abandon(page); /* still open only after a failure part-way through the first episode */
    if (gif && render_gif_close(gif)) {
        fprintf(stderr, "attn-play: %s: %s\n", gif_path, render_last_error());
        status = 1;
    }
    render_image_free(&frame);
    render_image_free(&panel);
    free(logits), free(maps), free(pix);
    attn_state_destroy(state);
    attn_model_destroy(model);
    world_destroy(&w);
    return status;
}
