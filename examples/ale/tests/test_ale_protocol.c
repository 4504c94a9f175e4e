/* The ALE bridge's wire format: every message type survives encode → decode unchanged, and the decoder refuses
 * every malformed variant (short, cut, padded, wrong magic/version/type/reserved bytes, sizes that disagree with
 * the session, out-of-range fields) without reading outside the buffer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ale_protocol.h"

enum { H = 6, W = 5, PIX = H * W * 3 };
static const ale_session SESSION = {3, 4, H, W};
static uint8_t buf[ALE_HEADER_SIZE + ALE_OBS_FIXED + PIX + 64];
static uint8_t pixels[PIX];

static size_t encode(const ale_msg *m)
{
    size_t n = 0;
    assert_int_equal(ale_encode(m, buf, sizeof buf, &n), ALE_PROTO_OK);
    return n;
}

static ale_msg hello_msg(void)
{
    ale_msg m = {.type = ALE_MSG_HELLO};
    m.u.hello.envs = 3;
    m.u.hello.seed = 0x0123456789abcdefULL;
    m.u.hello.frame_skip = 4;
    m.u.hello.noop_max = 30;
    m.u.hello.max_episode_frames = 108000;
    m.u.hello.sticky = 0.25f;
    m.u.hello.obs_h = H;
    m.u.hello.obs_w = W;
    m.u.hello.flags = ALE_HELLO_MAX_POOL;
    m.u.hello.game_len = 8;
    memcpy(m.u.hello.game, "breakout", 8);
    return m;
}

static ale_msg obs_msg(void)
{
    for (int i = 0; i < PIX; i++) pixels[i] = (uint8_t)(i * 7 + 1);
    ale_msg m = {.type = ALE_MSG_OBS};
    m.u.obs.env = 2;
    m.u.obs.reward = 7.0f;
    m.u.obs.lives = 3;
    m.u.obs.flags = ALE_OBS_LIFE_LOST | ALE_OBS_TRUNCATED;
    m.u.obs.pixels = pixels;
    m.u.obs.pixel_bytes = PIX;
    return m;
}

static void test_round_trip_every_type(void **unused)
{
    (void)unused;
    ale_msg m = hello_msg(), d;
    size_t n = encode(&m);
    assert_int_equal(n, ALE_HEADER_SIZE + 36 + 8);
    assert_int_equal(ale_decode(buf, n, NULL, &d), ALE_PROTO_OK);
    assert_int_equal(d.type, ALE_MSG_HELLO);
    assert_int_equal(d.u.hello.envs, 3);
    assert_true(d.u.hello.seed == 0x0123456789abcdefULL);
    assert_int_equal(d.u.hello.frame_skip, 4);
    assert_int_equal(d.u.hello.noop_max, 30);
    assert_int_equal(d.u.hello.max_episode_frames, 108000);
    assert_true(d.u.hello.sticky == 0.25f);
    assert_int_equal(d.u.hello.obs_h, H);
    assert_int_equal(d.u.hello.obs_w, W);
    assert_int_equal(d.u.hello.flags, ALE_HELLO_MAX_POOL);
    assert_string_equal(d.u.hello.game, "breakout");

    m = (ale_msg){.type = ALE_MSG_READY};
    m.u.ready.envs = 3, m.u.ready.actions = 4, m.u.ready.obs_h = H, m.u.ready.obs_w = W, m.u.ready.obs_c = 3;
    n = encode(&m);
    ale_session before = {3, 0, H, W};
    assert_int_equal(ale_decode(buf, n, &before, &d), ALE_PROTO_OK);
    assert_int_equal(d.u.ready.envs, 3);
    assert_int_equal(d.u.ready.actions, 4);
    assert_int_equal(d.u.ready.obs_h, H);
    assert_int_equal(d.u.ready.obs_w, W);

    m = (ale_msg){.type = ALE_MSG_RESET};
    m.u.reset.env = 1, m.u.reset.flags = ALE_RESET_SOFT, m.u.reset.seed = 99;
    n = encode(&m);
    assert_int_equal(ale_decode(buf, n, &SESSION, &d), ALE_PROTO_OK);
    assert_int_equal(d.u.reset.env, 1);
    assert_int_equal(d.u.reset.flags, ALE_RESET_SOFT);
    assert_true(d.u.reset.seed == 99);

    m = (ale_msg){.type = ALE_MSG_STEP};
    m.u.step.env = 2, m.u.step.action = 3;
    n = encode(&m);
    assert_int_equal(ale_decode(buf, n, &SESSION, &d), ALE_PROTO_OK);
    assert_int_equal(d.u.step.env, 2);
    assert_int_equal(d.u.step.action, 3);

    m = obs_msg();
    n = encode(&m);
    assert_int_equal(n, ALE_HEADER_SIZE + ALE_OBS_FIXED + PIX);
    assert_int_equal(ale_decode(buf, n, &SESSION, &d), ALE_PROTO_OK);
    assert_int_equal(d.u.obs.env, 2);
    assert_true(d.u.obs.reward == 7.0f);
    assert_int_equal(d.u.obs.lives, 3);
    assert_int_equal(d.u.obs.flags, ALE_OBS_LIFE_LOST | ALE_OBS_TRUNCATED);
    assert_int_equal(d.u.obs.pixel_bytes, PIX);
    assert_memory_equal(d.u.obs.pixels, pixels, PIX);

    m = (ale_msg){.type = ALE_MSG_ERROR};
    m.u.error.code = ALE_ERR_NO_ALE, m.u.error.text = "no ale_py", m.u.error.text_len = 9;
    n = encode(&m);
    assert_int_equal(ale_decode(buf, n, NULL, &d), ALE_PROTO_OK);
    assert_int_equal(d.u.error.code, ALE_ERR_NO_ALE);
    assert_int_equal(d.u.error.text_len, 9);
    assert_memory_equal(d.u.error.text, "no ale_py", 9);

    m = (ale_msg){.type = ALE_MSG_BYE};
    n = encode(&m);
    assert_int_equal(n, ALE_HEADER_SIZE);
    assert_int_equal(ale_decode(buf, n, NULL, &d), ALE_PROTO_OK);
    assert_int_equal(d.type, ALE_MSG_BYE);
}

/* Every strict prefix of a valid message is refused as short (or, for prefixes shorter than a header, as
 * such), and so is the message with one byte too many. */
static void test_cut_and_padded_messages(void **unused)
{
    (void)unused;
    ale_msg m = obs_msg(), d;
    size_t n = encode(&m);
    for (size_t cut = 0; cut < n; cut++) {
        ale_proto_status st = ale_decode(buf, cut, &SESSION, &d);
        assert_int_equal(st, ALE_PROTO_SHORT);
        assert_true(d.why[0] != 0);
    }
    buf[n] = 0;
    assert_int_equal(ale_decode(buf, n + 1, &SESSION, &d), ALE_PROTO_BAD_SIZE);
    assert_int_equal(ale_decode(NULL, 0, &SESSION, &d), ALE_PROTO_SHORT);
}

static void test_bad_headers(void **unused)
{
    (void)unused;
    ale_msg m = hello_msg(), d;
    size_t n = encode(&m);
    uint8_t copy[sizeof buf];
    memcpy(copy, buf, n);
    struct {
        size_t at;
        uint8_t value;
        ale_proto_status expect;
    } cases[] = {
        {0, 'X', ALE_PROTO_BAD_MAGIC},  {3, 'M', ALE_PROTO_BAD_MAGIC}, {4, 2, ALE_PROTO_BAD_VERSION},
        {4, 0, ALE_PROTO_BAD_VERSION},  {5, 0, ALE_PROTO_BAD_TYPE},    {5, 8, ALE_PROTO_BAD_TYPE},
        {6, 1, ALE_PROTO_BAD_TYPE},     {7, 1, ALE_PROTO_BAD_TYPE},    {11, 0x7f, ALE_PROTO_BAD_SIZE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf, copy, n);
        buf[cases[i].at] = cases[i].value;
        assert_int_equal(ale_decode(buf, n, NULL, &d), cases[i].expect);
        ale_msg_type type;
        uint32_t len;
        assert_int_equal(ale_decode_header(buf, n, &type, &len), cases[i].expect);
    }
    /* A header announcing one byte less than follows is "padded"; one more is "short". */
    memcpy(buf, copy, n);
    buf[8]--;
    assert_int_equal(ale_decode(buf, n, NULL, &d), ALE_PROTO_BAD_SIZE);
    buf[8] += 2;
    assert_int_equal(ale_decode(buf, n, NULL, &d), ALE_PROTO_SHORT);
}

/* A byte of the encoded message at `offset` set to `value` must make the decoder answer `expect`. */
static void expect_patched(const ale_msg *m, const ale_session *s, size_t offset, uint8_t value,
                           ale_proto_status expect)
{
    size_t n = encode(m);
    assert_true(offset < n);
    buf[offset] = value;
    ale_msg d;
    assert_int_equal(ale_decode(buf, n, s, &d), expect);
    assert_true(d.why[0] != 0);
}

static void test_bad_fields(void **unused)
{
    (void)unused;
    const size_t P = ALE_HEADER_SIZE;
    ale_msg hello = hello_msg();
    expect_patched(&hello, NULL, P + 0, 0, ALE_PROTO_BAD_FIELD);                         /* envs 0 */
    expect_patched(&hello, NULL, P + 12, 0, ALE_PROTO_BAD_FIELD);                         /* frame_skip 0 */
    expect_patched(&hello, NULL, P + 12, 65, ALE_PROTO_BAD_FIELD);                        /* frame_skip 65 */
    expect_patched(&hello, NULL, P + 27, 0x7f, ALE_PROTO_BAD_FIELD);                      /* sticky NaN/huge */
    expect_patched(&hello, NULL, P + 27, 0xbf, ALE_PROTO_BAD_FIELD);                      /* sticky negative */
    expect_patched(&hello, NULL, P + 29, 0x10, ALE_PROTO_BAD_FIELD);                      /* obs_h 4096+ */
    expect_patched(&hello, NULL, P + 32, 0x80, ALE_PROTO_BAD_FIELD);                      /* unknown flag */
    expect_patched(&hello, NULL, P + 34, 1, ALE_PROTO_BAD_FIELD);                         /* reserved */
    expect_patched(&hello, NULL, P + 33, 7, ALE_PROTO_BAD_SIZE);                          /* game_len vs size */
    expect_patched(&hello, NULL, P + 36, 'B', ALE_PROTO_BAD_FIELD);                       /* upper case */
    expect_patched(&hello, NULL, P + 36, '/', ALE_PROTO_BAD_FIELD);                       /* path character */

    ale_msg ready = {.type = ALE_MSG_READY};
    ready.u.ready.envs = 3, ready.u.ready.actions = 4, ready.u.ready.obs_h = H, ready.u.ready.obs_w = W,
    ready.u.ready.obs_c = 3;
    ale_session asked = {3, 0, H, W};
    expect_patched(&ready, &asked, P + 0, 2, ALE_PROTO_BAD_FIELD);  /* envs differs from the request */
    expect_patched(&ready, &asked, P + 4, 19, ALE_PROTO_BAD_FIELD); /* 19 actions */
    expect_patched(&ready, &asked, P + 4, 0, ALE_PROTO_BAD_FIELD);  /* 0 actions */
    expect_patched(&ready, &asked, P + 8, H + 1, ALE_PROTO_BAD_FIELD);
    expect_patched(&ready, &asked, P + 12, 1, ALE_PROTO_BAD_FIELD); /* grey frames */
    expect_patched(&ready, &asked, P + 14, 1, ALE_PROTO_BAD_FIELD);

    ale_msg obs = obs_msg();
    expect_patched(&obs, &SESSION, P + 0, 3, ALE_PROTO_BAD_FIELD);     /* env 3 of 3 */
    expect_patched(&obs, &SESSION, P + 7, 0x7f, ALE_PROTO_BAD_FIELD);  /* reward: exponent all ones */
    expect_patched(&obs, &SESSION, P + 7, 0xff, ALE_PROTO_BAD_FIELD);
    expect_patched(&obs, &SESSION, P + 12, 8, ALE_PROTO_BAD_FIELD);    /* unknown flag bit */
    expect_patched(&obs, &SESSION, P + 15, 0x80, ALE_PROTO_BAD_FIELD);

    /* OBS is refused before READY, and when its pixels do not match the agreed size. */
    size_t n = encode(&obs);
    ale_msg d;
    const ale_session unagreed = {3, 0, H, W}, other_size = {3, 4, H, W + 1};
    assert_int_equal(ale_decode(buf, n, &unagreed, &d), ALE_PROTO_BAD_TYPE);
    assert_int_equal(ale_decode(buf, n, NULL, &d), ALE_PROTO_BAD_TYPE);
    assert_int_equal(ale_decode(buf, n, &other_size, &d), ALE_PROTO_BAD_SIZE);

    ale_msg step = {.type = ALE_MSG_STEP};
    step.u.step.env = 1, step.u.step.action = 2;
    expect_patched(&step, &SESSION, P + 4, 4, ALE_PROTO_BAD_FIELD); /* action 4 of 4 */
    expect_patched(&step, &SESSION, P + 0, 9, ALE_PROTO_BAD_FIELD); /* env 9 */

    ale_msg reset = {.type = ALE_MSG_RESET};
    expect_patched(&reset, &SESSION, P + 4, 2, ALE_PROTO_BAD_FIELD); /* unknown reset flag */
    expect_patched(&reset, &SESSION, P + 0, 3, ALE_PROTO_BAD_FIELD);

    ale_msg err = {.type = ALE_MSG_ERROR};
    err.u.error.code = ALE_ERR_INTERNAL, err.u.error.text = "boom", err.u.error.text_len = 4;
    expect_patched(&err, NULL, P + 0, 9, ALE_PROTO_BAD_FIELD);    /* unknown code */
    expect_patched(&err, NULL, P + 9, 0, ALE_PROTO_BAD_FIELD);    /* NUL inside the text */
    expect_patched(&err, NULL, P + 4, 5, ALE_PROTO_BAD_SIZE);     /* text_len vs size */
}

/* The encoder refuses what the decoder would, so neither side can produce a message the other rejects. */
static void test_encoder_refuses_invalid(void **unused)
{
    (void)unused;
    size_t n;
    ale_msg m = hello_msg();
    m.u.hello.sticky = NAN;
    assert_int_equal(ale_encode(&m, buf, sizeof buf, &n), ALE_PROTO_BAD_FIELD);
    m = hello_msg();
    m.u.hello.game_len = 0;
    assert_int_equal(ale_encode(&m, buf, sizeof buf, &n), ALE_PROTO_BAD_FIELD);
    m = hello_msg();
    m.u.hello.game_len = ALE_MAX_GAME + 1;
    assert_int_equal(ale_encode(&m, buf, sizeof buf, &n), ALE_PROTO_BAD_FIELD);
    m = obs_msg();
    m.u.obs.reward = INFINITY;
    assert_int_equal(ale_encode(&m, buf, sizeof buf, &n), ALE_PROTO_BAD_FIELD);
    m = obs_msg();
    assert_int_equal(ale_encode(&m, buf, ALE_HEADER_SIZE + 10, &n), ALE_PROTO_NO_ROOM);
    m = (ale_msg){.type = ALE_MSG_STEP};
    m.u.step.action = ALE_MAX_ACTIONS;
    assert_int_equal(ale_encode(&m, buf, sizeof buf, &n), ALE_PROTO_BAD_FIELD);
    m = (ale_msg){.type = (ale_msg_type)99};
    assert_int_equal(ale_encode(&m, buf, sizeof buf, &n), ALE_PROTO_BAD_TYPE);
}

/* Every single-byte change of a valid OBS message either decodes to a message within the session's limits or
 * is refused; the decoder never reports success with fields it promised to check out of range. */
static void test_every_byte_flip(void **unused)
{
    (void)unused;
    ale_msg m = obs_msg();
    size_t n = encode(&m);
    uint8_t copy[sizeof buf];
    memcpy(copy, buf, n);
    for (size_t i = 0; i < ALE_HEADER_SIZE + ALE_OBS_FIXED; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, copy, n);
            buf[i] ^= (uint8_t)(1 << bit);
            ale_msg d;
            if (ale_decode(buf, n, &SESSION, &d) != ALE_PROTO_OK) continue;
            assert_int_equal(d.type, ALE_MSG_OBS);
            assert_true(d.u.obs.env < SESSION.envs);
            assert_true(isfinite(d.u.obs.reward));
            assert_int_equal(d.u.obs.flags & ~7u, 0);
            assert_int_equal(d.u.obs.pixel_bytes, PIX);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type), cmocka_unit_test(test_cut_and_padded_messages),
        cmocka_unit_test(test_bad_headers),           cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_encoder_refuses_invalid), cmocka_unit_test(test_every_byte_flip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
