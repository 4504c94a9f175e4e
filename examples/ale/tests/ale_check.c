/* Checks what the ALE tests produce:
 *   ale_check ckpt FILE H W C A    the checkpoint loads and its model sees H×W×C frames with A actions
 *   ale_check gif FILE MIN_FRAMES  the file is a GIF (read back with giflib) with at least MIN_FRAMES frames
 * Exit 0 when it holds, 1 with the reason otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "attnagent/attnagent.h"

static int check_ckpt(const char *path, const int want[4])
{
    attn_model *m;
    attn_status st = attn_model_load(&m, path);
    if (st) {
        fprintf(stderr, "ale_check: %s does not load: %s: %s\n", path, attn_status_str(st), attn_last_error());
        return 1;
    }
    const attn_config_key keys[4] = {ATTN_CFG_OBS_H, ATTN_CFG_OBS_W, ATTN_CFG_OBS_C, ATTN_CFG_NUM_ACTIONS};
    const char *names[4] = {"height", "width", "channels", "actions"};
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        int v = 0;
        attn_config_get(attn_model_config(m), keys[i], &v);
        if (v != want[i]) {
            fprintf(stderr, "ale_check: %s has %s %d, expected %d\n", path, names[i], v, want[i]);
            bad = 1;
        }
    }
    attn_model_destroy(m);
    if (!bad) printf("ale_check: %s loads: %d×%d×%d, %d actions\n", path, want[0], want[1], want[2], want[3]);
    return bad;
}

static int check_gif(const char *path, int min_frames)
{
    int error = 0;
    GifFileType *g = DGifOpenFileName(path, &error);
    if (!g) {
        fprintf(stderr, "ale_check: %s is not a readable GIF: %s\n", path, GifErrorString(error));
        return 1;
    }
    int rc = DGifSlurp(g), frames = g->ImageCount, w = g->SWidth, h = g->SHeight;
    DGifCloseFile(g, &error);
    if (rc != GIF_OK) {
        fprintf(stderr, "ale_check: %s: the GIF is damaged\n", path);
        return 1;
    }
    if (frames < min_frames) {
        fprintf(stderr, "ale_check: %s has %d frames, expected at least %d\n", path, frames, min_frames);
        return 1;
    }
    printf("ale_check: %s is a %d×%d GIF with %d frames\n", path, w, h, frames);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "ckpt")) {
        int want[4];
        for (int i = 0; i < 4; i++) want[i] = atoi(argv[3 + i]);
        return check_ckpt(argv[2], want);
    }
    if (argc == 4 && !strcmp(argv[1], "gif")) return check_gif(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: ale_check ckpt FILE H W C A | ale_check gif FILE MIN_FRAMES\n");
    return 2;
}
