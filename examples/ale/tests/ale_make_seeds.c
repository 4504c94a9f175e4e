/* Writes the seed corpus of fuzz/fuzz_ale_decoder.c: one valid message of every type, encoded by the real
 * encoder, sized for the sessions the fuzz target decodes against (3 environments of 6×5 pixels, 4 actions; and
 * 1 environment of 84×84, 18 actions).   ale_make_seeds DIR   (the committed copy is fuzz/corpus/ale_decoder/) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ale_protocol.h"

static int write_seed(const char *dir, const char *name, const ale_msg *m)
{
    static uint8_t buf[ALE_HEADER_SIZE + ALE_OBS_FIXED + 84 * 84 * 3];
    size_t n;
    ale_proto_status st = ale_encode(m, buf, sizeof buf, &n);
    if (st) {
        fprintf(stderr, "ale_make_seeds: %s: %s\n", name, ale_proto_status_str(st));
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "ale_make_seeds: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ale_make_seeds DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    static uint8_t pixels[84 * 84 * 3];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)(i * 31);
    int bad = 0;
    ale_msg m = {.type = ALE_MSG_HELLO};
    m.u.hello.envs = 3, m.u.hello.seed = 42, m.u.hello.frame_skip = 4, m.u.hello.noop_max = 30;
    m.u.hello.max_episode_frames = 108000, m.u.hello.sticky = 0.25f, m.u.hello.obs_h = 84, m.u.hello.obs_w = 84;
    m.u.hello.flags = ALE_HELLO_MAX_POOL, m.u.hello.game_len = 8;
    memcpy(m.u.hello.game, "breakout", 8);
    bad |= write_seed(dir, "hello", &m);
    m = (ale_msg){.type = ALE_MSG_READY};
    m.u.ready.envs = 3, m.u.ready.actions = 4, m.u.ready.obs_h = 6, m.u.ready.obs_w = 5, m.u.ready.obs_c = 3;
    bad |= write_seed(dir, "ready", &m);
    m = (ale_msg){.type = ALE_MSG_RESET};
    m.u.reset.env = 2, m.u.reset.flags = ALE_RESET_SOFT, m.u.reset.seed = 7;
    bad |= write_seed(dir, "reset", &m);
    m = (ale_msg){.type = ALE_MSG_STEP};
    m.u.step.env = 1, m.u.step.action = 3;
    bad |= write_seed(dir, "step", &m);
    m = (ale_msg){.type = ALE_MSG_OBS};
    m.u.obs.env = 2, m.u.obs.reward = 4.0f, m.u.obs.lives = 5, m.u.obs.flags = ALE_OBS_LIFE_LOST;
    m.u.obs.pixels = pixels, m.u.obs.pixel_bytes = 6 * 5 * 3;
    bad |= write_seed(dir, "obs_6x5", &m);
    m.u.obs.env = 0, m.u.obs.flags = ALE_OBS_GAME_OVER, m.u.obs.pixel_bytes = 84 * 84 * 3;
    bad |= write_seed(dir, "obs_84x84", &m);
    m = (ale_msg){.type = ALE_MSG_ERROR};
    m.u.error.code = ALE_ERR_NO_ALE, m.u.error.text = "ModuleNotFoundError: No module named 'ale_py'";
    m.u.error.text_len = (uint32_t)strlen(m.u.error.text);
    bad |= write_seed(dir, "error", &m);
    m = (ale_msg){.type = ALE_MSG_BYE};
    bad |= write_seed(dir, "bye", &m);
    return bad;
}
