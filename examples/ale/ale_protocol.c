/* The ALE bridge's wire format: encoder and fully validating decoder (ale_protocol.h is the specification). */
#include "ale_protocol.h"

#include <string.h>

static const uint8_t MAGIC[4] = {'A', 'T', 'N', 'L'};

/* ---- Little-endian fields -------------------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static float getf(const uint8_t *p)
{
    uint32_t bits = get32(p);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}
static void putf(uint8_t *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put32(p, bits);
}

/* Finite without <math.h>: an all-ones exponent is an infinity or a NaN. */
static int finite32(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return (bits & 0x7f800000u) != 0x7f800000u;
}

static int game_id_ok(const char *game, size_t len)
{
    if (len < 1 || len > ALE_MAX_GAME) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = game[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

/* ---- Field rules shared by the encoder and the decoder ------------------------------------------------ */

#define HELLO_FIXED 36
#define READY_SIZE 16
#define RESET_SIZE 16
#define STEP_SIZE 8
#define ERROR_FIXED 8

static const char *hello_problem(uint32_t envs, uint32_t frame_skip, uint32_t noop_max, float sticky,
                                 uint32_t obs_h, uint32_t obs_w, uint32_t flags)
{
    if (envs < 1 || envs > ALE_MAX_ENVS) return "HELLO envs is outside 1..ALE_MAX_ENVS";
    if (frame_skip < 1 || frame_skip > ALE_MAX_FRAME_SKIP) return "HELLO frame_skip is outside 1..64";
    if (noop_max > ALE_MAX_NOOPS) return "HELLO noop_max is too large";
    if (!finite32(sticky) || !(sticky >= 0.0f && sticky <= 1.0f)) return "HELLO sticky is outside [0, 1]";
    if (obs_h < 1 || obs_h > ALE_MAX_SIDE || obs_w < 1 || obs_w > ALE_MAX_SIDE)
        return "HELLO observation side is outside 1..ALE_MAX_SIDE";
    if (flags & ~(ALE_HELLO_FULL_ACTIONS | ALE_HELLO_MAX_POOL)) return "HELLO has unknown flag bits";
    return NULL;
}

static const char *error_problem(uint32_t code, uint32_t text_len, const char *text)
{
    if (code < ALE_ERR_NO_ALE || code > ALE_ERR_INTERNAL) return "ERROR code is unknown";
    if (text_len > ALE_MAX_TEXT) return "ERROR text is longer than ALE_MAX_TEXT";
    if (text_len && memchr(text, 0, text_len)) return "ERROR text contains a NUL byte";
    return NULL;
}

/* ---- Decoding ------------------------------------------------------------------------------------------ */

ale_proto_status ale_decode_header(const uint8_t *buf, size_t len, ale_msg_type *type, uint32_t *payload_len)
{
    if (!buf || len < ALE_HEADER_SIZE) return ALE_PROTO_SHORT;
    if (memcmp(buf, MAGIC, sizeof MAGIC)) return ALE_PROTO_BAD_MAGIC;
    if (buf[4] != ALE_PROTO_VERSION) return ALE_PROTO_BAD_VERSION;
    if (buf[5] < ALE_MSG_HELLO || buf[5] > ALE_MSG_BYE || get16(buf + 6) != 0) return ALE_PROTO_BAD_TYPE;
    uint32_t n = get32(buf + 8);
    if (n > ALE_MAX_PAYLOAD) return ALE_PROTO_BAD_SIZE;
    if (type) *type = (ale_msg_type)buf[5];
    if (payload_len) *payload_len = n;
    return ALE_PROTO_OK;
}

static ale_proto_status bad(ale_msg *out, ale_proto_status status, const char *why)
{
    out->why = why;
    return status;
}

static ale_proto_status decode_hello(const uint8_t *p, uint32_t n, ale_msg *out)
{
    if (n < HELLO_FIXED) return bad(out, ALE_PROTO_BAD_SIZE, "HELLO is shorter than its fixed part");
    uint32_t envs = get32(p), frame_skip = get32(p + 12), noop_max = get32(p + 16);
    float sticky = getf(p + 24);
    uint16_t h = get16(p + 28), w = get16(p + 30);
    uint8_t flags = p[32], game_len = p[33];
    if (get16(p + 34)) return bad(out, ALE_PROTO_BAD_FIELD, "HELLO reserved bytes are not zero");
    if (n != HELLO_FIXED + (uint32_t)game_len) return bad(out, ALE_PROTO_BAD_SIZE, "HELLO length disagrees with game_len");
    const char *why = hello_problem(envs, frame_skip, noop_max, sticky, h, w, flags);
    if (why) return bad(out, ALE_PROTO_BAD_FIELD, why);
    if (!game_id_ok((const char *)p + HELLO_FIXED, game_len))
        return bad(out, ALE_PROTO_BAD_FIELD, "HELLO game id is empty, too long or has characters outside [a-z0-9_]");
    out->u.hello.envs = envs;
    out->u.hello.seed = get64(p + 4);
    out->u.hello.frame_skip = frame_skip;
    out->u.hello.noop_max = noop_max;
    out->u.hello.max_episode_frames = get32(p + 20);
    out->u.hello.sticky = sticky;
    out->u.hello.obs_h = h;
    out->u.hello.obs_w = w;
    out->u.hello.flags = flags;
    out->u.hello.game_len = game_len;
    memcpy(out->u.hello.game, p + HELLO_FIXED, game_len);
    out->u.hello.game[game_len] = 0;
    return ALE_PROTO_OK;
}

static ale_proto_status decode_ready(const uint8_t *p, uint32_t n, const ale_session *s, ale_msg *out)
{
    if (n != READY_SIZE) return bad(out, ALE_PROTO_BAD_SIZE, "READY is not 16 bytes");
    uint32_t envs = get32(p), actions = get32(p + 4);
    uint16_t h = get16(p + 8), w = get16(p + 10), c = get16(p + 12);
    if (get16(p + 14)) return bad(out, ALE_PROTO_BAD_FIELD, "READY reserved bytes are not zero");
    if (envs < 1 || envs > ALE_MAX_ENVS) return bad(out, ALE_PROTO_BAD_FIELD, "READY envs is outside 1..ALE_MAX_ENVS");
    if (actions < 1 || actions > ALE_MAX_ACTIONS) return bad(out, ALE_PROTO_BAD_FIELD, "READY actions is outside 1..18");
    if (h < 1 || h > ALE_MAX_SIDE || w < 1 || w > ALE_MAX_SIDE) return bad(out, ALE_PROTO_BAD_FIELD, "READY side is outside 1..ALE_MAX_SIDE");
    if (c != 3) return bad(out, ALE_PROTO_BAD_FIELD, "READY channels is not 3 (RGB)");
    if (s && s->envs && envs != s->envs) return bad(out, ALE_PROTO_BAD_FIELD, "READY envs differs from the request");
    if (s && s->obs_h && (h != s->obs_h || w != s->obs_w))
        return bad(out, ALE_PROTO_BAD_FIELD, "READY observation size differs from the request");
    out->u.ready.envs = envs;
    out->u.ready.actions = actions;
    out->u.ready.obs_h = h;
    out->u.ready.obs_w = w;
    out->u.ready.obs_c = c;
    return ALE_PROTO_OK;
}

static ale_proto_status decode_obs(const uint8_t *p, uint32_t n, const ale_session *s, ale_msg *out)
{
    if (!s || !s->actions || !s->obs_h || !s->obs_w)
        return bad(out, ALE_PROTO_BAD_TYPE, "OBS before the session was agreed (READY)");
    if (s->obs_h > ALE_MAX_SIDE || s->obs_w > ALE_MAX_SIDE)
        return bad(out, ALE_PROTO_BAD_SIZE, "the session's observation is larger than ALE_MAX_SIDE");
    size_t pixels = (size_t)s->obs_h * s->obs_w * 3;
    if (n != ALE_OBS_FIXED + pixels) return bad(out, ALE_PROTO_BAD_SIZE, "OBS pixel count differs from the agreed size");
    uint32_t env = get32(p), lives = get32(p + 8), flags = get32(p + 12);
    float reward = getf(p + 4);
    if (env >= s->envs) return bad(out, ALE_PROTO_BAD_FIELD, "OBS env is not one of this server's environments");
    if (!finite32(reward)) return bad(out, ALE_PROTO_BAD_FIELD, "OBS reward is not finite");
    if (flags & ~(ALE_OBS_GAME_OVER | ALE_OBS_TRUNCATED | ALE_OBS_LIFE_LOST))
        return bad(out, ALE_PROTO_BAD_FIELD, "OBS has unknown flag bits");
    out->u.obs.env = env;
    out->u.obs.reward = reward;
    out->u.obs.lives = lives;
    out->u.obs.flags = flags;
    out->u.obs.pixels = p + ALE_OBS_FIXED;
    out->u.obs.pixel_bytes = pixels;
    return ALE_PROTO_OK;
}

ale_proto_status ale_decode(const uint8_t *buf, size_t len, const ale_session *s, ale_msg *out)
{
    ale_msg scratch;
    if (!out) out = &scratch;
    memset(out, 0, sizeof *out);
    out->why = "";
    ale_msg_type type;
    uint32_t n;
    ale_proto_status st = ale_decode_header(buf, len, &type, &n);
    if (st) return bad(out, st, "the header is short, or its magic, version, type or length is wrong");
    if (len - ALE_HEADER_SIZE < n) return bad(out, ALE_PROTO_SHORT, "the payload is shorter than the header says");
    if (len - ALE_HEADER_SIZE > n) return bad(out, ALE_PROTO_BAD_SIZE, "bytes follow the payload the header announced");
    const uint8_t *p = buf + ALE_HEADER_SIZE;
    out->type = type;
    switch (type) {
    case ALE_MSG_HELLO: return decode_hello(p, n, out);
    case ALE_MSG_READY: return decode_ready(p, n, s, out);
    case ALE_MSG_RESET:
        if (n != RESET_SIZE) return bad(out, ALE_PROTO_BAD_SIZE, "RESET is not 16 bytes");
        out->u.reset.env = get32(p);
        out->u.reset.flags = get32(p + 4);
        out->u.reset.seed = get64(p + 8);
        if (out->u.reset.flags & ~ALE_RESET_SOFT) return bad(out, ALE_PROTO_BAD_FIELD, "RESET has unknown flag bits");
        if (s && s->envs && out->u.reset.env >= s->envs) return bad(out, ALE_PROTO_BAD_FIELD, "RESET env is out of range");
        return ALE_PROTO_OK;
    case ALE_MSG_STEP:
        if (n != STEP_SIZE) return bad(out, ALE_PROTO_BAD_SIZE, "STEP is not 8 bytes");
        out->u.step.env = get32(p);
        out->u.step.action = get32(p + 4);
        if (s && s->envs && out->u.step.env >= s->envs) return bad(out, ALE_PROTO_BAD_FIELD, "STEP env is out of range");
        if (out->u.step.action >= (s && s->actions ? s->actions : ALE_MAX_ACTIONS))
            return bad(out, ALE_PROTO_BAD_FIELD, "STEP action is out of range");
        return ALE_PROTO_OK;
    case ALE_MSG_OBS: return decode_obs(p, n, s, out);
    case ALE_MSG_ERROR: {
        if (n < ERROR_FIXED) return bad(out, ALE_PROTO_BAD_SIZE, "ERROR is shorter than its fixed part");
        uint32_t code = get32(p), text_len = get32(p + 4);
        if (text_len != n - ERROR_FIXED) return bad(out, ALE_PROTO_BAD_SIZE, "ERROR length disagrees with text_len");
        const char *why = error_problem(code, text_len, (const char *)p + ERROR_FIXED);
        if (why) return bad(out, ALE_PROTO_BAD_FIELD, why);
        out->u.error.code = code;
        out->u.error.text_len = text_len;
        out->u.error.text = (const char *)p + ERROR_FIXED;
        return ALE_PROTO_OK;
    }
    case ALE_MSG_BYE:
        return n ? bad(out, ALE_PROTO_BAD_SIZE, "BYE has a payload") : ALE_PROTO_OK;
    }
    return bad(out, ALE_PROTO_BAD_TYPE, "unknown message type");
}

/* ---- Encoding ------------------------------------------------------------------------------------------ */

ale_proto_status ale_encode(const ale_msg *m, uint8_t *buf, size_t cap, size_t *len)
{
    if (!m || !buf || !len) return ALE_PROTO_BAD_FIELD;
    size_t n;
    switch (m->type) {
    case ALE_MSG_HELLO: n = HELLO_FIXED + (size_t)m->u.hello.game_len; break;
    case ALE_MSG_READY: n = READY_SIZE; break;
    case ALE_MSG_RESET: n = RESET_SIZE; break;
    case ALE_MSG_STEP: n = STEP_SIZE; break;
    case ALE_MSG_OBS: n = ALE_OBS_FIXED + m->u.obs.pixel_bytes; break;
    case ALE_MSG_ERROR: n = ERROR_FIXED + (size_t)m->u.error.text_len; break;
    case ALE_MSG_BYE: n = 0; break;
    default: return ALE_PROTO_BAD_TYPE;
    }
    if (n > ALE_MAX_PAYLOAD) return ALE_PROTO_BAD_SIZE;
    if (cap < ALE_HEADER_SIZE + n) return ALE_PROTO_NO_ROOM;
    memcpy(buf, MAGIC, sizeof MAGIC);
    buf[4] = ALE_PROTO_VERSION;
    buf[5] = (uint8_t)m->type;
    put16(buf + 6, 0);
    put32(buf + 8, (uint32_t)n);
    uint8_t *p = buf + ALE_HEADER_SIZE;
    switch (m->type) {
    case ALE_MSG_HELLO:
        if (hello_problem(m->u.hello.envs, m->u.hello.frame_skip, m->u.hello.noop_max, m->u.hello.sticky,
                          m->u.hello.obs_h, m->u.hello.obs_w, m->u.hello.flags) ||
            !game_id_ok(m->u.hello.game, m->u.hello.game_len))
            return ALE_PROTO_BAD_FIELD;
        put32(p, m->u.hello.envs);
        put64(p + 4, m->u.hello.seed);
        put32(p + 12, m->u.hello.frame_skip);
        put32(p + 16, m->u.hello.noop_max);
        put32(p + 20, m->u.hello.max_episode_frames);
        putf(p + 24, m->u.hello.sticky);
        put16(p + 28, m->u.hello.obs_h);
        put16(p + 30, m->u.hello.obs_w);
        p[32] = m->u.hello.flags;
        p[33] = m->u.hello.game_len;
        put16(p + 34, 0);
        memcpy(p + HELLO_FIXED, m->u.hello.game, m->u.hello.game_len);
        break;
    case ALE_MSG_READY:
        if (m->u.ready.actions < 1 || m->u.ready.actions > ALE_MAX_ACTIONS || m->u.ready.obs_c != 3)
            return ALE_PROTO_BAD_FIELD;
        put32(p, m->u.ready.envs);
        put32(p + 4, m->u.ready.actions);
        put16(p + 8, m->u.ready.obs_h);
        put16(p + 10, m->u.ready.obs_w);
        put16(p + 12, m->u.ready.obs_c);
        put16(p + 14, 0);
        break;
    case ALE_MSG_RESET:
        if (m->u.reset.flags & ~ALE_RESET_SOFT) return ALE_PROTO_BAD_FIELD;
        put32(p, m->u.reset.env);
        put32(p + 4, m->u.reset.flags);
        put64(p + 8, m->u.reset.seed);
        break;
    case ALE_MSG_STEP:
        if (m->u.step.action >= ALE_MAX_ACTIONS) return ALE_PROTO_BAD_FIELD;
        put32(p, m->u.step.env);
        put32(p + 4, m->u.step.action);
        break;
    case ALE_MSG_OBS:
        if (!finite32(m->u.obs.reward) || (m->u.obs.flags & ~(ALE_OBS_GAME_OVER | ALE_OBS_TRUNCATED | ALE_OBS_LIFE_LOST)) ||
            (m->u.obs.pixel_bytes && !m->u.obs.pixels))
            return ALE_PROTO_BAD_FIELD;
        put32(p, m->u.obs.env);
        putf(p + 4, m->u.obs.reward);
        put32(p + 8, m->u.obs.lives);
        put32(p + 12, m->u.obs.flags);
        if (m->u.obs.pixel_bytes) memcpy(p + ALE_OBS_FIXED, m->u.obs.pixels, m->u.obs.pixel_bytes);
        break;
    case ALE_MSG_ERROR:
        if ((m->u.error.text_len && !m->u.error.text) ||
            error_problem(m->u.error.code, m->u.error.text_len, m->u.error.text))
            return ALE_PROTO_BAD_FIELD;
        put32(p, m->u.error.code);
        put32(p + 4, m->u.error.text_len);
        if (m->u.error.text_len) memcpy(p + ERROR_FIXED, m->u.error.text, m->u.error.text_len);
        break;
    case ALE_MSG_BYE: break;
    }
    *len = ALE_HEADER_SIZE + n;
    return ALE_PROTO_OK;
}

const char *ale_proto_status_str(ale_proto_status status)
{
    switch (status) {
    case ALE_PROTO_OK: return "ok";
    case ALE_PROTO_SHORT: return "message too short";
    case ALE_PROTO_BAD_MAGIC: return "bad magic (not an ALE bridge message)";
    case ALE_PROTO_BAD_VERSION: return "unsupported protocol version";
    case ALE_PROTO_BAD_TYPE: return "unexpected message type";
    case ALE_PROTO_BAD_SIZE: return "wrong message size";
    case ALE_PROTO_BAD_FIELD: return "field out of range";
    case ALE_PROTO_NO_ROOM: return "buffer too small";
    }
    return "unknown protocol status";
}
