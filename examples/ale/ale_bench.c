/* ale-bench: how fast the ALE servers emulate, without any learning: B games stepped all at once through the
 * bridge with uniformly random actions. Prints one JSON line: agent steps/s and emulator frames/s (steps × frame
 * skip). docs/atari.md records the numbers.
 *
 *   ale-bench [--game breakout] [--envs 16] [--procs 0] [--preset atari84|atari] [--steps 200] [--frame-skip 4]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ale_env.h"
#include "ale_protocol.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    ale_env_options o = ALE_ENV_OPTIONS_INIT;
    o.envs = 16;
    int steps = 200;
    const char *preset = "atari84";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--game")) o.game = v;
        else if (!strcmp(a, "--envs")) o.envs = atoi(v);
        else if (!strcmp(a, "--procs")) o.procs = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--frame-skip")) o.frame_skip = atoi(v);
        else if (!strcmp(a, "--preset")) preset = v;
        else {
            fprintf(stderr, "ale-bench: unknown option %s\n", a);
            return 2;
        }
    }
    if (!strcmp(preset, "atari")) o.height = 210, o.width = 160;
    else if (strcmp(preset, "atari84")) {
        fprintf(stderr, "ale-bench: --preset atari84 or atari\n");
        return 2;
    }
    if (steps < 1 || o.envs < 1) {
        fprintf(stderr, "ale-bench: --steps and --envs must be positive\n");
        return 2;
    }
    char err[1024];
    ale_env *e;
    double t0 = now();
    if (ale_env_create(&e, &o, err, sizeof err)) {
        fprintf(stderr, "ale-bench: %s\n", err);
        return 1;
    }
    const double startup = now() - t0;
    const size_t frame = (size_t)o.height * o.width * 3;
    uint8_t *obs = malloc(frame * (size_t)o.envs);
    float *rewards = malloc(sizeof(float) * (size_t)o.envs);
    uint32_t *flags = malloc(sizeof(uint32_t) * (size_t)o.envs);
    int *actions = malloc(sizeof(int) * (size_t)o.envs);
    if (!obs || !rewards || !flags || !actions) {
        fprintf(stderr, "ale-bench: out of memory\n");
        return 1;
    }
    attn_env env = ale_env_callbacks(e);
    int rc = 0;
    for (int b = 0; b < o.envs && !rc; b++) rc = env.reset(env.ctx, b, (uint64_t)b, obs);
    uint64_t rng = 12345;
    const int A = ale_env_num_actions(e);
    t0 = now();
    for (int t = 0; t < steps && !rc; t++) {
        for (int b = 0; b < o.envs; b++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            actions[b] = (int)((rng >> 33) % (uint64_t)A);
        }
        rc = ale_env_step_all(e, actions, obs, rewards, flags);
        for (int b = 0; b < o.envs && !rc; b++)
            if (flags[b] & (ALE_OBS_GAME_OVER | ALE_OBS_TRUNCATED)) rc = env.reset(env.ctx, b, (uint64_t)t, obs);
    }
    const double dt = now() - t0;
    if (rc) {
        fprintf(stderr, "ale-bench: %s\n", ale_env_error(e));
        ale_env_destroy(e);
        return 1;
    }
    const double sps = (double)steps * o.envs / dt;
    printf("{\"game\": \"%s\", \"preset\": \"%s\", \"envs\": %d, \"procs\": %d, \"frame_skip\": %d, "
           "\"startup_s\": %.2f, \"agent_steps_per_s\": %.1f, \"emulator_frames_per_s\": %.1f}\n",
           o.game, preset, o.envs, o.procs, o.frame_skip, startup, sps, sps * o.frame_skip);
    ale_env_destroy(e);
    free(obs), free(rewards), free(flags), free(actions);
    return 0;
}
