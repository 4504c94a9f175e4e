/* libFuzzer target: the ALE bridge's message decoder (examples/ale/ale_protocol.c) on arbitrary bytes, against
 * no session, a session before READY, and agreed sessions of two sizes. A message it accepts is walked
 * completely (every pixel and text byte read) and its promises are checked, so a pointer or length that reaches
 * outside the buffer shows under AddressSanitizer and a broken promise traps.
 * Build: clang -fsanitize=fuzzer,address,undefined -I examples/ale fuzz/fuzz_ale_decoder.c
 *        examples/ale/ale_protocol.c   (seeds: fuzz/corpus/ale_decoder/) */
#include <stdint.h>
#include <string.h>

#include "ale_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const uint8_t *data, size_t size, const ale_session *s, const ale_msg *m)
{
    volatile size_t sink = 0;
    switch (m->type) {
    case ALE_MSG_OBS:
        if (!s || m->u.obs.env >= s->envs || m->u.obs.flags > 7) __builtin_trap();
        if (m->u.obs.pixel_bytes != (size_t)s->obs_h * s->obs_w * 3) __builtin_trap();
        if (m->u.obs.pixels < data || m->u.obs.pixels + m->u.obs.pixel_bytes > data + size) __builtin_trap();
        for (size_t i = 0; i < m->u.obs.pixel_bytes; i++) sink += m->u.obs.pixels[i];
        break;
    case ALE_MSG_ERROR:
        if (m->u.error.text_len > ALE_MAX_TEXT || memchr(m->u.error.text, 0, m->u.error.text_len)) __builtin_trap();
        break;
    case ALE_MSG_HELLO:
        if (strlen(m->u.hello.game) != m->u.hello.game_len || m->u.hello.obs_h > ALE_MAX_SIDE) __builtin_trap();
        break;
    case ALE_MSG_READY:
        if (m->u.ready.actions < 1 || m->u.ready.actions > ALE_MAX_ACTIONS) __builtin_trap();
        break;
    default: break;
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ale_session sessions[] = {{3, 0, 6, 5}, {3, 4, 6, 5}, {1, 18, 84, 84}};
    ale_msg m;
    if (ale_decode(data, size, NULL, &m) == ALE_PROTO_OK) walk(data, size, NULL, &m);
    for (size_t i = 0; i < sizeof sessions / sizeof sessions[0]; i++)
        if (ale_decode(data, size, &sessions[i], &m) == ALE_PROTO_OK) walk(data, size, &sessions[i], &m);
    ale_msg_type type;
    uint32_t n;
    if (ale_decode_header(data, size, &type, &n) == ALE_PROTO_OK && n > ALE_MAX_PAYLOAD) __builtin_trap();
    return 0;
}
