/*
 * The wire protocol between the ALE bridge (ale_env.c, in the trainer) and its Python servers (ale_server.py).
 *
 * One byte stream per server, a Unix stream socket. Every message is a 12-byte header and a payload, all
 * integers little-endian, floats IEEE-754 binary32:
 *
 *   header   magic "ATNL" (4 bytes), version u8 (= 1), type u8, reserved u16 (= 0), payload length u32
 *
 *   HELLO  bridge → server   envs u32, seed u64, frame_skip u32, noop_max u32, max_episode_frames u32,
 *                            sticky f32, obs_h u16, obs_w u16, flags u8 (bit 0 full action set, bit 1 max-pool
 *                            of the last two frames), game_len u8, reserved u16 (= 0), game [game_len]
 *                            (lower-case letters, digits and '_')
 *   READY  server → bridge   envs u32, actions u32, obs_h u16, obs_w u16, obs_c u16 (= 3), reserved u16 (= 0)
 *   RESET  bridge → server   env u32, flags u32 (bit 0 soft: continue after a lost life), seed u64
 *   STEP   bridge → server   env u32, action u32
 *   OBS    server → bridge   env u32, reward f32 (raw game reward), lives u32, flags u32 (bit 0 game over,
 *                            bit 1 truncated by the frame limit, bit 2 a life was lost), then obs_h × obs_w × 3
 *                            RGB bytes
 *   ERROR  server → bridge   code u32 (an ale_error_code), text_len u32, text [text_len] (no NUL bytes)
 *   BYE    bridge → server   empty: the server exits
 *
 * The server answers HELLO with READY or ERROR, and each RESET or STEP with one OBS (or ERROR), in order.
 *
 * The decoder is a pure function over a byte buffer, checks every length and field before trusting it, and
 * never reads outside the buffer: it is fuzzed (fuzz/fuzz_ale_decoder.c). This file depends on nothing but
 * <stddef.h>, <stdint.h> and <string.h>.
 */
#ifndef ATTN_EXAMPLES_ALE_PROTOCOL_H
#define ATTN_EXAMPLES_ALE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define ALE_PROTO_VERSION 1
#define ALE_HEADER_SIZE 12
#define ALE_MAX_ENVS 4096
#define ALE_MAX_ACTIONS 18     /* ALE's full action set */
#define ALE_MAX_SIDE 512       /* largest observation side a server may be asked for */
#define ALE_MAX_GAME 64        /* longest game id */
#define ALE_MAX_TEXT 1024      /* longest ERROR text */
#define ALE_MAX_FRAME_SKIP 64
#define ALE_MAX_NOOPS 100000
#define ALE_OBS_FIXED 16       /* OBS payload bytes before the pixels */
#define ALE_MAX_PAYLOAD (ALE_OBS_FIXED + ALE_MAX_SIDE * ALE_MAX_SIDE * 3)

typedef enum ale_msg_type {
    ALE_MSG_HELLO = 1,
    ALE_MSG_READY = 2,
    ALE_MSG_RESET = 3,
    ALE_MSG_STEP = 4,
    ALE_MSG_OBS = 5,
    ALE_MSG_ERROR = 6,
    ALE_MSG_BYE = 7
} ale_msg_type;

/* What an ERROR message says went wrong in the server. */
typedef enum ale_error_code {
    ALE_ERR_NO_ALE = 1,      /* `import ale_py` failed: ale-py is not installed for this Python */
    ALE_ERR_BAD_GAME = 2,    /* no such game, or its ROM is missing */
    ALE_ERR_BAD_REQUEST = 3, /* the server could not understand a request */
    ALE_ERR_INTERNAL = 4     /* anything else (a Python exception) */
} ale_error_code;

#define ALE_HELLO_FULL_ACTIONS 1u
#define ALE_HELLO_MAX_POOL 2u
#define ALE_RESET_SOFT 1u
#define ALE_OBS_GAME_OVER 1u
#define ALE_OBS_TRUNCATED 2u
#define ALE_OBS_LIFE_LOST 4u

typedef enum ale_proto_status {
    ALE_PROTO_OK = 0,
    ALE_PROTO_SHORT = -1,      /* fewer bytes than the header says (or than a header) */
    ALE_PROTO_BAD_MAGIC = -2,
    ALE_PROTO_BAD_VERSION = -3,
    ALE_PROTO_BAD_TYPE = -4,   /* unknown type, or a type not expected in this direction or state */
    ALE_PROTO_BAD_SIZE = -5,   /* payload length wrong for the type, or over the limits */
    ALE_PROTO_BAD_FIELD = -6,  /* a field out of range (see ale_msg.why) */
    ALE_PROTO_NO_ROOM = -7     /* encode: the buffer is too small */
} ale_proto_status;

/* What a session has agreed so far; the decoder checks messages against it. Zero fields mean "not yet agreed"
 * (before READY): READY is then checked against the requested envs and sides, and OBS is refused. */
typedef struct ale_session {
    uint32_t envs;    /* environments this server owns */
    uint32_t actions; /* 0 until READY */
    uint32_t obs_h, obs_w;
} ale_session;

typedef struct ale_msg {
    ale_msg_type type;
    union {
        struct {
            uint32_t envs, frame_skip, noop_max, max_episode_frames;
            uint64_t seed;
            float sticky;
            uint16_t obs_h, obs_w;
            uint8_t flags;
            uint8_t game_len;
            char game[ALE_MAX_GAME + 1]; /* NUL-terminated copy */
        } hello;
        struct {
            uint32_t envs, actions;
            uint16_t obs_h, obs_w, obs_c;
        } ready;
        struct {
            uint32_t env, flags;
            uint64_t seed;
        } reset;
        struct {
            uint32_t env, action;
        } step;
        struct {
            uint32_t env, lives, flags;
            float reward;
            const uint8_t *pixels; /* decode: points into the decoded buffer; encode: obs_h·obs_w·3 bytes */
            size_t pixel_bytes;
        } obs;
        struct {
            uint32_t code;
            uint32_t text_len;
            const char *text; /* decode: points into the buffer, not NUL-terminated; encode: text_len bytes */
        } error;
    } u;
    const char *why; /* decode failures: a constant sentence naming the bad field ("" when OK) */
} ale_msg;

/* Parses and checks a header: magic, version, reserved bytes, a known type, payload length <= ALE_MAX_PAYLOAD.
 * Needs only ALE_HEADER_SIZE bytes; *type and *payload_len are set on success. */
ale_proto_status ale_decode_header(const uint8_t *buf, size_t len, ale_msg_type *type, uint32_t *payload_len);

/* Decodes exactly one whole message (header and payload, `len` bytes, no trailing bytes) and validates every
 * field: sizes against `session` (OBS pixels must be exactly obs_h·obs_w·3, env below envs; STEP actions below
 * actions once agreed), flag bits, finite rewards and sticky probabilities, game ids, text lengths. `session`
 * may be NULL for the messages that need none (HELLO, ERROR, BYE, RESET, and READY without a request to match).
 * On failure out->why says what was wrong and the status says how. */
ale_proto_status ale_decode(const uint8_t *buf, size_t len, const ale_session *session, ale_msg *out);

/* Encodes `msg` into buf (capacity cap), setting *len. Refuses (ALE_PROTO_BAD_FIELD) what the decoder would
 * refuse for the fields it can check without a session, so both sides agree on what is valid. */
ale_proto_status ale_encode(const ale_msg *msg, uint8_t *buf, size_t cap, size_t *len);

/* A short constant name for a status. */
const char *ale_proto_status_str(ale_proto_status status);

#endif
