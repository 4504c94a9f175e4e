/* viewer: one episode to DIR/data.js (format 1, docs/viewer.md) and the page DIR/index.html. viewer.h is the
 * manual. */
#include "viewer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The page, index.html, compiled in by embed.c so attn-play needs no file from the source tree. */
extern const unsigned char viewer_page[];
extern const size_t viewer_page_size;

/* ---- Errors ---------------------------------------------------------------------------------------- */

static _Thread_local char last_error[512];

const char *viewer_last_error(void) { return last_error; }

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static viewer_status fail(viewer_status status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return status;
}

/* ---- The writer ------------------------------------------------------------------------------------ */

enum {
    FORMAT_VERSION = 1,
    MAX_QUERIES = 64,
    MAX_ACTIONS = 255,
    MAX_SIDE = 4096,
    /* Step record: u32 frame bytes, u8 flags, u8 reserved, u16 action, f32 reward, f32 value (see docs). */
    STEP_HEAD_BYTES = 16,
    /* Per query: f32 entropy, f32 centre row, f32 centre column, f32 peak weight, u16 peak cell. */
    QUERY_HEAD_BYTES = 18,
    FLAG_KEYFRAME = 1
};

struct viewer {
    char *dir, *part_path; /* DIR and DIR/data.js.part */
    FILE *file;
    int H, W, C, gh, gw, N, A;
    size_t frame_bytes, cells, fixed_bytes;
    size_t frame_cap; /* room for one encoded frame after the fixed part of a record */
    uint8_t *prev;   /* [frame_bytes] the frame of the previous step: deltas are taken against it */
    uint8_t *record; /* [fixed_bytes + worst-case encoded frame] the step waiting for its reward */
    size_t record_bytes;
    bool pending;    /* a step is recorded and waits for viewer_reward */
    int steps;
    double episode_return;
    size_t payload_bytes, data_bytes;
    uint8_t carry[3]; /* base64 works in groups of 3 bytes: what is left of the last write */
    int carry_len;
    bool io_failed;
};

static void put_u16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* float32 little-endian whatever the host's byte order, as the page's DataView reads it. */
static void put_f32(uint8_t *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_u32(p, bits);
}

/* Writes bytes through fwrite, remembering a failure for viewer_finish to report (so the hot path needs no
 * check per call). */
static void write_raw(viewer *v, const void *bytes, size_t n)
{
    if (v->io_failed) return;
    if (fwrite(bytes, 1, n, v->file) != n) v->io_failed = true;
    v->data_bytes += n;
}

static void write_str(viewer *v, const char *s) { write_raw(v, s, strlen(s)); }

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void write_fmt(viewer *v, const char *format, ...)
{
    char buf[256];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(buf, sizeof buf, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof buf) {
        v->io_failed = true; /* only numbers go through here, so this cannot happen */
        return;
    }
    write_raw(v, buf, (size_t)n);
}

/* A JSON string: quotes, backslashes and control characters escaped; other bytes (UTF-8) pass through. */
static void write_json_string(viewer *v, const char *s)
{
    write_str(v, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            write_raw(v, esc, 2);
        } else if (*p < 0x20) {
            write_fmt(v, "\\u%04x", *p);
        } else if (*p == '<') {
            /* "</script>" inside a string would end a script element if this ever moved inline. */
            write_str(v, "\\u003c");
        } else {
            write_raw(v, p, 1);
        }
    }
    write_str(v, "\"");
}

static const char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Appends bytes to the one base64 string that holds the whole payload; a partial group waits in carry so the
 * string has padding only at its very end. */
static void write_payload(viewer *v, const uint8_t *bytes, size_t n)
{
    char out[4 * 1024];
    size_t used = 0;
    v->payload_bytes += n;
    for (size_t i = 0; i < n; i++) {
        v->carry[v->carry_len++] = bytes[i];
        if (v->carry_len < 3) continue;
        uint32_t g = (uint32_t)v->carry[0] << 16 | (uint32_t)v->carry[1] << 8 | v->carry[2];
        for (int k = 3; k >= 0; k--) out[used++] = base64_alphabet[(g >> (6 * k)) & 63];
        v->carry_len = 0;
        if (used == sizeof out) {
            write_raw(v, out, used);
            used = 0;
        }
    }
    write_raw(v, out, used);
}

static void flush_payload(viewer *v)
{
    if (!v->carry_len) return;
    uint32_t g = (uint32_t)v->carry[0] << 16 | (v->carry_len > 1 ? (uint32_t)v->carry[1] << 8 : 0);
    char out[4] = {base64_alphabet[g >> 18 & 63], base64_alphabet[g >> 12 & 63],
                   v->carry_len > 1 ? base64_alphabet[g >> 6 & 63] : '=', '='};
    write_raw(v, out, 4);
    v->carry_len = 0;
}

static void free_viewer(viewer *v)
{
    if (!v) return;
    if (v->file) fclose(v->file);
    free(v->dir), free(v->part_path), free(v->prev), free(v->record), free(v);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* mkdir -p: each missing component of `dir` in turn. */
static viewer_status make_dirs(const char *dir)
{
    char *path = malloc(strlen(dir) + 1);
    if (!path) return fail(VIEWER_ERR_NOMEM, "viewer: out of memory");
    strcpy(path, dir);
    for (char *p = path + 1;; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end) continue;
        *p = '\0';
        struct stat st;
        if (mkdir(path, 0777) && errno != EEXIST) {
            viewer_status s = fail(VIEWER_ERR_IO, "viewer: cannot create the directory %s: %s", path,
                                   strerror(errno));
            free(path);
            return s;
        }
        if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
            viewer_status s = fail(VIEWER_ERR_IO, "viewer: %s is not a directory", path);
            free(path);
            return s;
        }
        if (end) break;
        *p = '/';
    }
    free(path);
    return VIEWER_OK;
}

static bool side_ok(int n) { return n >= 1 && n <= MAX_SIDE; }

static void write_name_list(viewer *v, const char *const *names, int n)
{
    write_str(v, "[");
    for (int i = 0; i < n; i++) {
        if (i) write_str(v, ", ");
        if (names && names[i]) {
            write_json_string(v, names[i]);
        } else {
            write_fmt(v, "\"%d\"", i);
        }
    }
    write_str(v, "]");
}

viewer_status viewer_open(viewer **out, const char *dir, const viewer_info *info)
{
    if (!out || !dir || !info) return fail(VIEWER_ERR_INVALID, "viewer_open: out, dir and info must not be NULL");
    *out = NULL;
    if (!*dir) return fail(VIEWER_ERR_INVALID, "viewer_open: the directory name is empty");
    if (!side_ok(info->obs_h) || !side_ok(info->obs_w) || info->obs_c < 1 || info->obs_c > 64 ||
        !side_ok(info->grid_h) || !side_ok(info->grid_w))
        return fail(VIEWER_ERR_INVALID, "viewer_open: an observation of %d x %d x %d with %d x %d maps is out of range",
                    info->obs_h, info->obs_w, info->obs_c, info->grid_h, info->grid_w);
    if (info->obs_kind != VIEWER_OBS_PLANES && !(info->obs_kind == VIEWER_OBS_RGB && info->obs_c == 3))
        return fail(VIEWER_ERR_INVALID, "viewer_open: RGB observations need 3 channels, not %d", info->obs_c);
    if (info->queries < 1 || info->queries > MAX_QUERIES || info->actions < 1 || info->actions > MAX_ACTIONS)
        return fail(VIEWER_ERR_INVALID, "viewer_open: %d queries and %d actions: need 1..%d and 1..%d", info->queries,
                    info->actions, MAX_QUERIES, MAX_ACTIONS);
    viewer_status st = make_dirs(dir);
    if (st) return st;

    viewer *v = calloc(1, sizeof *v);
    if (!v) return fail(VIEWER_ERR_NOMEM, "viewer_open: out of memory");
    v->H = info->obs_h, v->W = info->obs_w, v->C = info->obs_c;
    v->gh = info->grid_h, v->gw = info->grid_w, v->N = info->queries, v->A = info->actions;
    v->frame_bytes = (size_t)v->H * v->W * v->C;
    v->cells = (size_t)v->gh * v->gw;
    v->fixed_bytes = STEP_HEAD_BYTES + 4 * (size_t)v->A + (size_t)v->N * (QUERY_HEAD_BYTES + v->cells);
    /* The frame code's worst case: a token after the first starts with at least two zeros, whose varint is
     * at least a byte shorter than they are, which pays for the literal count's first byte; a count of 128 or
     * more literals costs one byte per 128 more. The first and last tokens add a few bytes. */
    size_t worst_frame = v->frame_bytes + v->frame_bytes / 64 + 32;
    v->dir = malloc(strlen(dir) + 1);
    v->part_path = join(dir, "data.js.part");
    v->prev = malloc(v->frame_bytes);
    v->frame_cap = worst_frame;
    v->record = malloc(v->fixed_bytes + worst_frame);
    if (!v->dir || !v->part_path || !v->prev || !v->record) {
        free_viewer(v);
        return fail(VIEWER_ERR_NOMEM, "viewer_open: out of memory");
    }
    strcpy(v->dir, dir);
    if (!(v->file = fopen(v->part_path, "wb"))) {
        st = fail(VIEWER_ERR_IO, "viewer: cannot create %s: %s", v->part_path, strerror(errno));
        free_viewer(v);
        return st;
    }

    /* One part per line (docs/viewer.md): line 3 the header, line 4 the steps, line 5 the trailer. */
    write_str(v, "/* libattnagent attention viewer data, format 1 (docs/viewer.md) */\nattnViewerData(\n{");
    write_fmt(v, "\"format\": \"libattnagent-viewer\", \"version\": %d, ", FORMAT_VERSION);
    write_str(v, "\"env\": ");
    write_json_string(v, info->env ? info->env : "");
    write_str(v, ", \"checkpoint\": ");
    write_json_string(v, info->checkpoint ? info->checkpoint : "");
    write_str(v, ", \"policy\": ");
    write_json_string(v, info->policy ? info->policy : "");
    write_fmt(v, ", \"seed\": %llu, ", (unsigned long long)info->seed);
    write_fmt(v, "\"obs\": {\"height\": %d, \"width\": %d, \"channels\": %d, \"kind\": \"%s\", \"channel_names\": ",
              v->H, v->W, v->C, info->obs_kind == VIEWER_OBS_RGB ? "rgb" : "planes");
    write_name_list(v, info->channel_names, v->C);
    write_fmt(v, "}, \"grid\": {\"height\": %d, \"width\": %d}, \"queries\": %d, \"actions\": %d, \"action_names\": ",
              v->gh, v->gw, v->N, v->A);
    write_name_list(v, info->action_names, v->A);
    write_fmt(v, ", \"keyframe_interval\": %d, \"step_fixed_bytes\": %zu},\n\"", VIEWER_KEYFRAME_INTERVAL,
              v->fixed_bytes);
    *out = v;
    return VIEWER_OK;
}

/* LEB128: 7 bits per byte, low bits first, the top bit set on all but the last byte. */
static size_t put_varint(uint8_t *p, size_t value)
{
    size_t n = 0;
    do {
        uint8_t b = value & 127;
        value >>= 7;
        p[n++] = (uint8_t)(b | (value ? 128 : 0));
    } while (value);
    return n;
}

/*
 * The frame code. Each byte is XORed with a prediction of it — on a key frame the same channel of the pixel to
 * its left in raster order (0 for the first pixel), otherwise the same byte of the previous step's frame — so
 * what does not change, and flat areas of a key frame, become zeros. The residuals are then written as
 * tokens (varint count of zeros, varint count n of literals, n literal bytes) until the frame is full.
 * Returns the encoded size, or SIZE_MAX if it would exceed `cap`.
 */
/* Byte j of the frame XORed with its prediction (see encode_frame). */
static uint8_t residual(const uint8_t *frame, const uint8_t *prev, size_t j, size_t channels, bool key)
{
    uint8_t predicted = key ? (j >= channels ? frame[j - channels] : 0) : prev[j];
    return (uint8_t)(frame[j] ^ predicted);
}

static size_t encode_frame(uint8_t *out, size_t cap, const uint8_t *frame, const uint8_t *prev, size_t bytes,
                           int channels, bool key)
{
    const size_t C = (size_t)channels;
    size_t n = 0, i = 0;
    while (i < bytes) {
        size_t zeros = 0;
        while (i + zeros < bytes && residual(frame, prev, i + zeros, C, key) == 0) zeros++;
        i += zeros;
        /* A literal run ends at the first pair of zeros: a lone zero costs less as a literal than as a token. */
        size_t lit = 0;
        while (i + lit < bytes && !(residual(frame, prev, i + lit, C, key) == 0 &&
                                    (i + lit + 1 >= bytes || residual(frame, prev, i + lit + 1, C, key) == 0)))
            lit++;
        if (n + 2 * 10 + lit > cap) return SIZE_MAX; /* cannot happen within viewer_open's bound; kept honest */
        n += put_varint(out + n, zeros);
        n += put_varint(out + n, lit);
        for (size_t k = 0; k < lit; k++) out[n++] = residual(frame, prev, i + k, C, key);
        i += lit;
    }
    return n;
}

viewer_status viewer_record(viewer *v, const uint8_t *obs, const float *maps, const float *logits, float value,
                            int action)
{
    if (!v || !obs || !maps || !logits) return fail(VIEWER_ERR_INVALID, "viewer_record: a pointer argument is NULL");
    if (v->pending) return fail(VIEWER_ERR_INVALID, "viewer_record: the previous step has no reward yet");
    if (v->steps >= VIEWER_MAX_STEPS)
        return fail(VIEWER_ERR_INVALID, "viewer_record: an episode of more than %d steps", VIEWER_MAX_STEPS);
    if (action < 0 || action >= v->A)
        return fail(VIEWER_ERR_INVALID, "viewer_record: action %d is outside 0..%d", action, v->A - 1);
    if (!isfinite(value)) return fail(VIEWER_ERR_INVALID, "viewer_record: the value is not finite");
    for (int a = 0; a < v->A; a++)
        if (!isfinite(logits[a])) return fail(VIEWER_ERR_INVALID, "viewer_record: logit %d is not finite", a);

    uint8_t *r = v->record;
    memset(r, 0, STEP_HEAD_BYTES);
    put_u16(r + 6, (unsigned)action);
    put_f32(r + 12, value);
    /* Probabilities in double so a large logit cannot overflow. */
    double top = logits[0], total = 0.0;
    for (int a = 1; a < v->A; a++) top = logits[a] > top ? logits[a] : top;
    for (int a = 0; a < v->A; a++) total += exp((double)logits[a] - top);
    for (int a = 0; a < v->A; a++) put_f32(r + STEP_HEAD_BYTES + 4 * (size_t)a, (float)(exp((double)logits[a] - top) / total));

    uint8_t *q = r + STEP_HEAD_BYTES + 4 * (size_t)v->A;
    for (int n = 0; n < v->N; n++, q += QUERY_HEAD_BYTES + v->cells) {
        const float *m = maps + (size_t)n * v->cells;
        double sum = 0.0, row = 0.0, col = 0.0, entropy = 0.0;
        size_t peak = 0;
        for (size_t c = 0; c < v->cells; c++) {
            if (!isfinite(m[c]) || m[c] < 0.0f)
                return fail(VIEWER_ERR_INVALID, "viewer_record: map %d holds %g at cell %zu", n, (double)m[c], c);
            sum += m[c];
            row += (double)m[c] * (double)(c / (size_t)v->gw);
            col += (double)m[c] * (double)(c % (size_t)v->gw);
            if (m[c] > 0.0f) entropy -= (double)m[c] * log((double)m[c]);
            if (m[c] > m[peak]) peak = c;
        }
        if (!(sum > 0.0)) return fail(VIEWER_ERR_INVALID, "viewer_record: map %d is all zero", n);
        /* The maps sum to 1 up to rounding; dividing by the sum keeps the entropy and centre exact anyway. */
        put_f32(q, (float)(entropy / sum + log(sum)));
        put_f32(q + 4, (float)(row / sum));
        put_f32(q + 8, (float)(col / sum));
        put_f32(q + 12, m[peak]);
        put_u16(q + 16, (unsigned)peak);
        /* Relative to the map's own peak, so every map uses all 255 levels however flat it is. */
        for (size_t c = 0; c < v->cells; c++)
            q[QUERY_HEAD_BYTES + c] = (uint8_t)lround(255.0 * (double)m[c] / (double)m[peak]);
    }

    bool key = v->steps % VIEWER_KEYFRAME_INTERVAL == 0;
    size_t encoded = encode_frame(r + v->fixed_bytes, v->frame_cap, obs, v->prev, v->frame_bytes, v->C, key);
    if (encoded == SIZE_MAX) return fail(VIEWER_ERR_INVALID, "viewer_record: the frame code overflowed its buffer");
    put_u32(r, (uint32_t)encoded);
    r[4] = key ? FLAG_KEYFRAME : 0;
    memcpy(v->prev, obs, v->frame_bytes);
    v->record_bytes = v->fixed_bytes + encoded;
    v->pending = true;
    return VIEWER_OK;
}

viewer_status viewer_reward(viewer *v, float reward)
{
    if (!v) return fail(VIEWER_ERR_INVALID, "viewer_reward: v is NULL");
    if (!v->pending) return fail(VIEWER_ERR_INVALID, "viewer_reward: no step is waiting for its reward");
    if (!isfinite(reward)) return fail(VIEWER_ERR_INVALID, "viewer_reward: the reward is not finite");
    put_f32(v->record + 8, reward);
    write_payload(v, v->record, v->record_bytes);
    v->pending = false;
    v->steps++;
    v->episode_return += reward;
    if (v->io_failed) return fail(VIEWER_ERR_IO, "viewer: writing %s failed: %s", v->part_path, strerror(errno));
    return VIEWER_OK;
}

/* Writes `bytes` to DIR/name through DIR/name.part and a rename, so a reader never sees half a file. */
static viewer_status write_whole(const char *dir, const char *name, const unsigned char *bytes, size_t n)
{
    char *path = join(dir, name), *part = malloc(strlen(dir) + strlen(name) + 8);
    if (!path || !part) {
        free(path), free(part);
        return fail(VIEWER_ERR_NOMEM, "viewer: out of memory");
    }
    sprintf(part, "%s/%s.part", dir, name);
    viewer_status st = VIEWER_OK;
    FILE *f = fopen(part, "wb");
    if (!f) {
        st = fail(VIEWER_ERR_IO, "viewer: cannot create %s: %s", part, strerror(errno));
    } else {
        bool ok = fwrite(bytes, 1, n, f) == n;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(part, path)) {
            st = fail(VIEWER_ERR_IO, "viewer: cannot write %s: %s", path, strerror(errno));
            remove(part);
        }
    }
    free(path), free(part);
    return st;
}

viewer_status viewer_finish(viewer *v, viewer_summary *summary)
{
    if (!v) return fail(VIEWER_ERR_INVALID, "viewer_finish: v is NULL");
    if (v->steps == 0) {
        viewer_abandon(v);
        return fail(VIEWER_ERR_INVALID, "viewer_finish: no step was recorded");
    }
    flush_payload(v);
    /* %.9g gives back the float32 sum of the rewards exactly enough for display; the page sums them itself. */
    write_fmt(v, "\",\n{\"steps\": %d, \"return\": %.9g, \"payload_bytes\": %zu});\n", v->steps, v->episode_return,
              v->payload_bytes);
    int errno_write = errno;
    bool ok = !v->io_failed;
    ok = (fclose(v->file) == 0) && ok;
    v->file = NULL;
    char *data_path = join(v->dir, "data.js");
    viewer_status st = VIEWER_OK;
    if (!data_path) {
        st = fail(VIEWER_ERR_NOMEM, "viewer: out of memory");
    } else if (!ok) {
        st = fail(VIEWER_ERR_IO, "viewer: writing %s failed: %s", v->part_path, strerror(errno_write ? errno_write : errno));
    } else if (rename(v->part_path, data_path)) {
        st = fail(VIEWER_ERR_IO, "viewer: cannot rename %s to %s: %s", v->part_path, data_path, strerror(errno));
    }
    free(data_path);
    if (st) remove(v->part_path);
    if (!st) st = write_whole(v->dir, "index.html", viewer_page, viewer_page_size);
    if (!st && summary)
        *summary = (viewer_summary){v->steps, v->episode_return, v->payload_bytes, v->data_bytes};
    free_viewer(v);
    return st;
}

void viewer_abandon(viewer *v)
{
    if (!v) return;
    if (v->file) fclose(v->file);
    v->file = NULL;
    remove(v->part_path);
    free_viewer(v);
}
