/* Tests of the viewer's writer (viewer.h) without a browser: the calls it refuses and what they leave on disk,
 * and data.js read back by a decoder written from docs/viewer.md — every frame byte for byte, through the
 * frame code's worst cases (noise, the alternating pattern that costs most, key frames) at Atari size.
 *
 *   test_viewer [scratch directory]   (default: the current directory)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "viewer.h"

static const char *scratch = ".";

static void path_in(char *path, size_t size, const char *dir, const char *name)
{
    snprintf(path, size, "%s/%s%s%s", scratch, dir, *name ? "/" : "", name);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static viewer_info small_info(void)
{
    viewer_info info = VIEWER_INFO_INIT;
    info.env = "test \"quoted\" <env>\n";
    info.obs_h = 2, info.obs_w = 3, info.obs_c = 2;
    info.grid_h = 2, info.grid_w = 2, info.queries = 1, info.actions = 3;
    return info;
}

static void refuses_bad_calls(void **unused)
{
    (void)unused;
    char dir[512], part[600];
    path_in(dir, sizeof dir, "viewer_refuses", "");
    path_in(part, sizeof part, "viewer_refuses", "data.js.part");
    viewer_info info = small_info();
    viewer *v = NULL;
    assert_int_equal(viewer_open(NULL, dir, &info), VIEWER_ERR_INVALID);
    info.obs_kind = VIEWER_OBS_RGB; /* RGB needs 3 channels */
    assert_int_equal(viewer_open(&v, dir, &info), VIEWER_ERR_INVALID);
    assert_non_null(strstr(viewer_last_error(), "3 channels"));
    info = small_info();
    info.queries = 0;
    assert_int_equal(viewer_open(&v, dir, &info), VIEWER_ERR_INVALID);
    info = small_info();

    assert_int_equal(viewer_open(&v, dir, &info), VIEWER_OK);
    assert_true(exists(part));
    const uint8_t obs[12] = {0};
    const float map[4] = {0.25f, 0.25f, 0.25f, 0.25f}, logits[3] = {0, 1, 2};
    float bad_map[4] = {0.5f, NAN, 0.25f, 0.25f}, zero_map[4] = {0};
    assert_int_equal(viewer_reward(v, 1.0f), VIEWER_ERR_INVALID); /* no step recorded yet */
    assert_int_equal(viewer_record(v, obs, bad_map, logits, 0.0f, 0), VIEWER_ERR_INVALID);
    assert_non_null(strstr(viewer_last_error(), "map 0"));
    assert_int_equal(viewer_record(v, obs, zero_map, logits, 0.0f, 0), VIEWER_ERR_INVALID);
    assert_int_equal(viewer_record(v, obs, map, logits, 0.0f, 3), VIEWER_ERR_INVALID); /* action out of range */
    assert_int_equal(viewer_record(v, obs, map, logits, INFINITY, 0), VIEWER_ERR_INVALID);
    assert_int_equal(viewer_record(v, obs, map, logits, 0.5f, 2), VIEWER_OK);
    assert_int_equal(viewer_record(v, obs, map, logits, 0.5f, 2), VIEWER_ERR_INVALID); /* reward missing */
    assert_non_null(strstr(viewer_last_error(), "no reward"));
    assert_int_equal(viewer_reward(v, NAN), VIEWER_ERR_INVALID);
    viewer_abandon(v);
    assert_false(exists(part));

    /* Finishing without a complete step writes nothing and frees. */
    assert_int_equal(viewer_open(&v, dir, &info), VIEWER_OK);
    assert_int_equal(viewer_finish(v, NULL), VIEWER_ERR_INVALID);
    assert_false(exists(part));
    viewer_abandon(NULL);

    /* A path through a regular file is refused with its name. */
    char file[600], inside[700];
    path_in(file, sizeof file, "viewer_refuses", "a_file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(inside, sizeof inside, "%s/sub", file);
    assert_int_equal(viewer_open(&v, inside, &info), VIEWER_ERR_IO);
    assert_non_null(strstr(viewer_last_error(), "not a directory"));
}

/* ---- data.js read back, as docs/viewer.md describes it --------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = '\0';
    if (s) s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static int base64_value(char c)
{
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(alphabet, c);
    return c && p ? (int)(p - alphabet) : -1;
}

/* The payload: line 4 of data.js, a quoted base64 string. */
static uint8_t *payload_of(const char *text, size_t *len)
{
    const char *line = text;
    for (int i = 0; i < 3 && line; i++) line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL;
    assert_non_null(line);
    assert_int_equal(line[0], '"');
    const char *end = strchr(line + 1, '"');
    assert_non_null(end);
    size_t chars = (size_t)(end - line - 1);
    assert_int_equal(chars % 4, 0);
    uint8_t *out = malloc(chars / 4 * 3 + 1);
    assert_non_null(out);
    size_t n = 0;
    for (size_t i = 0; i < chars; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = line[1 + i + k] == '=' ? 0 : base64_value(line[1 + i + k]);
        for (int k = 0; k < 4; k++) assert_true(v[k] >= 0);
        uint32_t g = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[n++] = (uint8_t)(g >> 16);
        if (line[1 + i + 2] != '=') out[n++] = (uint8_t)(g >> 8);
        if (line[1 + i + 3] != '=') out[n++] = (uint8_t)g;
    }
    *len = n;
    return out;
}

static size_t get_varint(const uint8_t *p, size_t *at, size_t end)
{
    size_t v = 0;
    for (int shift = 0;; shift += 7) {
        assert_true(*at < end);
        uint8_t b = p[(*at)++];
        v |= (size_t)(b & 127) << shift;
        if (!(b & 128)) return v;
    }
}

static uint32_t get_u32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* The frame of `pattern` at step t: noise, the costliest pattern (a literal after every two zeros), a flat
 * frame with a moving object, and a frame equal to the one before. */
static void make_frame(uint8_t *f, size_t bytes, int t, uint32_t *rng)
{
    switch (t % 4) {
    case 0:
        for (size_t i = 0; i < bytes; i++) {
            *rng = *rng * 1664525u + 1013904223u;
            f[i] = (uint8_t)(*rng >> 24);
        }
        break;
    case 1:
        for (size_t i = 0; i < bytes; i++) f[i] ^= i % 3 == 2 ? (uint8_t)(1 + t) : 0;
        break;
    case 2:
        memset(f, 40, bytes);
        for (size_t i = (size_t)t * 301 % bytes, k = 0; k < 90 && i + k < bytes; k++) f[i + k] = 200;
        break;
    default:
        break; /* unchanged */
    }
}

static void frames_survive_the_code(void **unused)
{
    (void)unused;
    enum { H = 210, W = 160, C = 3, GH = 3, GW = 2, STEPS = 70 }; /* three key frames: 0, 32, 64 */
    char dir[512], data[600];
    path_in(dir, sizeof dir, "viewer_frames", "");
    path_in(data, sizeof data, "viewer_frames", "data.js");
    viewer_info info = VIEWER_INFO_INIT;
    info.obs_h = H, info.obs_w = W, info.obs_c = C, info.obs_kind = VIEWER_OBS_RGB;
    info.grid_h = GH, info.grid_w = GW, info.queries = 2, info.actions = 2;
    const size_t bytes = (size_t)H * W * C;
    uint8_t *frames = calloc(STEPS, bytes);
    assert_non_null(frames);
    uint32_t rng = 12345;
    viewer *v;
    assert_int_equal(viewer_open(&v, dir, &info), VIEWER_OK);
    const float logits[2] = {0.0f, 1.0f};
    for (int t = 0; t < STEPS; t++) {
        uint8_t *f = frames + (size_t)t * bytes;
        if (t) memcpy(f, f - bytes, bytes);
        make_frame(f, bytes, t, &rng);
        float maps[2 * GH * GW];
        for (int c = 0; c < 2 * GH * GW; c++) maps[c] = (float)(1 + (c * 7 + t) % 5);
        assert_int_equal(viewer_record(v, f, maps, logits, (float)t, t % 2), VIEWER_OK);
        assert_int_equal(viewer_reward(v, t % 3 ? 0.0f : 1.0f), VIEWER_OK);
    }
    viewer_summary sum;
    assert_int_equal(viewer_finish(v, &sum), VIEWER_OK);
    assert_int_equal(sum.steps, STEPS);
    assert_true(fabs(sum.episode_return - 24.0) < 1e-9);

    size_t text_len, n;
    char *text = slurp(data, &text_len);
    assert_non_null(text);
    assert_int_equal(text_len, sum.data_bytes);
    uint8_t *p = payload_of(text, &n);
    assert_int_equal(n, sum.payload_bytes);
    const size_t fixed = 16 + 4 * 2 + 2 * (18 + GH * GW);
    uint8_t *frame = calloc(1, bytes);
    assert_non_null(frame);
    size_t off = 0;
    for (int t = 0; t < STEPS; t++) {
        assert_true(off + fixed <= n);
        size_t frame_bytes = get_u32(p + off), at = off + fixed, end = at + frame_bytes;
        int key = p[off + 4] & 1;
        assert_int_equal(key, t % VIEWER_KEYFRAME_INTERVAL == 0);
        assert_int_equal(p[off + 6], t % 2);
        /* The worst case stays within the bound viewer_open reserves: the frame plus 1/64 plus 32 bytes. */
        assert_true(frame_bytes <= bytes + bytes / 64 + 32);
        for (size_t i = 0; i < bytes;) {
            size_t zeros = get_varint(p, &at, end), lit = get_varint(p, &at, end);
            assert_true(i + zeros + lit <= bytes && at + lit <= end);
            for (size_t k = 0; k < zeros + lit; k++, i++) {
                uint8_t r = k >= zeros ? p[at + k - zeros] : 0;
                frame[i] = (uint8_t)(r ^ (key ? (i >= C ? frame[i - C] : 0) : frame[i]));
            }
            at += lit;
        }
        assert_int_equal(at, end);
        assert_memory_equal(frame, frames + (size_t)t * bytes, bytes);
        off = end;
    }
    assert_int_equal(off, n);
    free(frame), free(p), free(text), free(frames);
}

int main(int argc, char **argv)
{
    if (argc > 1) scratch = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_bad_calls),
        cmocka_unit_test(frames_survive_the_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
