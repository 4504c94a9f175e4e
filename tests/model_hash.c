/*
 * Prints a hash of everything a few models compute through the public API — logits, values and maps of every
 * recorded step, then every parameter's gradient after attn_backward — and the kernels this process ran
 * (attn_cpu_kernels). tests/check_dispatch_bitwise.sh runs it with and without ATTN_ISA=avx2 on a CPU with
 * AVX-512 and requires the same hash: the AVX-512 kernels must give the AVX2 + FMA kernels' bits, so a run is
 * reproducible across those machines. The models cover each way the AVX-512 Winograd code can go: the minatar
 * preset (48 input channels, 8 weight panels: products two panels at a time), an odd number of panels (the last
 * one alone), input channels not a multiple of 16 (the AVX2 input transform), and atari84 (weights past the
 * level-2 cache: blocks of eight, and the weight gradient by GEMMs), with two threads splitting the work.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "test_util.h"

static void check(attn_status st, const char *what)
{
    if (st == ATTN_OK) return;
    fprintf(stderr, "%s: %s\n", what, attn_last_error());
    exit(1);
}

/* conv_out: the single conv layer's channels (0 keeps the preset's); lstm: ConvLSTM channels (0 keeps). */
static uint64_t run(uint64_t h, attn_preset preset, int conv_out, int lstm, int B, int T)
{
    attn_config *cfg;
    check(attn_config_create(&cfg, preset), "config");
    if (preset == ATTN_PRESET_MINATAR) check(attn_config_set(cfg, ATTN_CFG_OBS_C, 4), "channels");
    if (conv_out) check(attn_config_set_conv(cfg, 0, conv_out, 3, 1, 1), "conv");
    if (lstm) {
        check(attn_config_set(cfg, ATTN_CFG_LSTM_CHANNELS, lstm), "lstm");
        check(attn_config_set(cfg, ATTN_CFG_KEY_CHANNELS, lstm / 4), "keys");
    }
    check(attn_config_set(cfg, ATTN_CFG_THREADS, 2), "threads");
    int H, W, C, A, gh, gw, N;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &H), attn_config_get(cfg, ATTN_CFG_OBS_W, &W);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &C), attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &A);
    attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &N);
    attn_model *m;
    check(attn_model_create(&m, cfg, 7), "model");
    attn_config_get(attn_model_config(m), ATTN_CFG_GRID_H, &gh), attn_config_get(attn_model_config(m), ATTN_CFG_GRID_W, &gw);
    randomize_params(m, 11, 1.0f);
    attn_state *s;
    check(attn_state_create(&s, m, B, T), "state");
    test_rng r = {99};
    const size_t obs_n = (size_t)B * H * W * C, maps_n = (size_t)B * N * gh * gw;
    uint8_t *obs = malloc(obs_n);
    float *logits = malloc(sizeof(float) * (size_t)T * B * A), *values = malloc(sizeof(float) * (size_t)T * B);
    float *maps = malloc(sizeof(float) * maps_n), *rew = malloc(sizeof(float) * B);
    int32_t *act = malloc(sizeof(int32_t) * B);
    for (int t = 0; t < T; t++) {
        for (size_t i = 0; i < obs_n; i++) obs[i] = (uint8_t)trng_int(&r, 256);
        for (int b = 0; b < B; b++) rew[b] = trng_range(&r, -1, 1), act[b] = trng_int(&r, A);
        check(attn_forward(m, s, ATTN_FORWARD_RECORD, obs, obs_n, rew, t ? act : NULL, NULL, logits + (size_t)t * B * A,
                           values + (size_t)t * B),
              "forward");
        check(attn_get_maps(s, maps, maps_n), "maps");
        h = hash_floats(h, maps, maps_n);
    }
    h = hash_floats(h, logits, (size_t)T * B * A), h = hash_floats(h, values, (size_t)T * B);
    /* The outputs' gradients: random, so every path back carries something. */
    fill_uniform(&r, logits, (size_t)T * B * A, -1, 1);
    fill_uniform(&r, values, (size_t)T * B, -1, 1);
    check(attn_model_zero_grad(m), "zero");
    check(attn_backward(m, s, logits, values), "backward");
    h = hash_floats(h, attn_model_grads(m), attn_model_param_count(m));
    free(obs), free(logits), free(values), free(maps), free(rew), free(act);
    attn_state_destroy(s);
    attn_model_destroy(m);
    attn_config_destroy(cfg);
    return h;
}

int main(void)
{
    uint64_t h = HASH_START;
    h = run(h, ATTN_PRESET_MINATAR, 0, 0, 5, 3);   /* the preset: 16 + 32 = 48 in, 128 out (8 panels) */
    h = run(h, ATTN_PRESET_MINATAR, 20, 12, 4, 2); /* 32 in, 48 out: three panels, the last alone */
    h = run(h, ATTN_PRESET_MINATAR, 8, 16, 3, 2);  /* 24 in: not a multiple of 16 */
    h = run(h, ATTN_PRESET_ATARI84, 0, 0, 2, 2);   /* 64 + 128 in, 512 out: blocks of eight, GEMM sums */
    printf("%016llx %s\n", (unsigned long long)h, attn_cpu_kernels());
    return 0;
}
