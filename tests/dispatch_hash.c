/*
 * Prints a hash of what the element-wise loops compiled twice (cpu_dispatch.h) compute: the LSTM cells forward
 * and backward, and every optimizer rule's check and commit, with and without clipping. The test
 * dispatch_bitwise (tests/check_dispatch_bitwise.sh) runs it with and without ATTN_PORTABLE=1 (and with
 * ATTN_ISA=avx2 on a CPU with AVX-512) and requires the same hash: the AVX2 and AVX-512 copies must change no
 * bit. (The FMA convolution kernels round differently by design and
 * are compared against the definition in test_kernels instead.)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_dispatch.h"
#include "lstm_cell.h"
#include "optim_update.h"
#include "test_util.h"

int main(void)
{
    test_rng r = {2026};
    uint64_t h = HASH_START;

    /* Cells: 37 rows of 45 units, so both the vector loops and their scalar remainders run. */
    enum { R = 37, N = 45 };
    float *gates = malloc(sizeof(float) * R * 4 * N), *c_prev = malloc(sizeof(float) * R * N);
    float *h_out = malloc(sizeof(float) * R * N), *c = malloc(sizeof(float) * R * N);
    float *dh = malloc(sizeof(float) * R * N), *dc = malloc(sizeof(float) * R * N);
    float *dgates = malloc(sizeof(float) * R * 4 * N), *dc_prev = malloc(sizeof(float) * R * N);
    fill_uniform(&r, gates, R * 4 * N, -6, 6);
    fill_uniform(&r, c_prev, R * N, -2, 2);
    fill_uniform(&r, dh, R * N, -1, 1);
    fill_uniform(&r, dc, R * N, -1, 1);
    lstm_cell_forward(h_out, c, gates, c_prev, R, N);
    lstm_cell_backward(dgates, dc_prev, dh, dc, gates, c, c_prev, R, N);
    h = hash_floats(h, h_out, R * N), h = hash_floats(h, c, R * N), h = hash_floats(h, gates, R * 4 * N);
    h = hash_floats(h, dgates, R * 4 * N), h = hash_floats(h, dc_prev, R * N);

    /* Optimizer rules: 1001 parameters, 20 steps each, unclipped and clipped. */
    enum { P = 1001 };
    float *theta = malloc(sizeof(float) * P), *g = malloc(sizeof(float) * P);
    float *s0 = malloc(sizeof(float) * P), *s1 = malloc(sizeof(float) * P);
    const update_kind kinds[] = {UPDATE_RMSPROP, UPDATE_ADAM, UPDATE_SGD};
    for (int k = 0; k < 3; k++)
        for (int clip = 0; clip < 2; clip++) {
            fill_uniform(&r, theta, P, -1, 1);
            for (int i = 0; i < P; i++) s0[i] = kinds[k] == UPDATE_RMSPROP ? 1.0f : 0.0f, s1[i] = 0.0f;
            for (int step = 1; step <= 20; step++) {
                fill_uniform(&r, g, P, -0.5f, 0.5f);
                update_rule u = {.kind = kinds[k], .lr = 1e-3, .factor = clip ? 0.37 : 1.0, .rho = 0.99,
                                 .mu = 0.5, .eps = 0.01, .b1 = 0.9, .b2 = 0.999, .wd = 0.01};
                u.c1 = 1.0 - pow(u.b1, step), u.c2 = 1.0 - pow(u.b2, step);
                if (!update_check(&u, theta, g, s0, kinds[k] == UPDATE_SGD ? NULL : s1, P)) {
                    fprintf(stderr, "a finite step was refused\n");
                    return 1;
                }
                update_commit(&u, theta, g, s0, kinds[k] == UPDATE_SGD ? NULL : s1, P);
            }
            h = hash_floats(h, theta, P), h = hash_floats(h, s0, P), h = hash_floats(h, s1, P);
            h = hash_floats(h, &(float){(float)update_sum_of_squares(g, P)}, 1);
        }
    printf("%016llx %s\n", (unsigned long long)h, cpu_use_avx2() ? cpu_kernels_name() : "baseline");
    free(gates), free(c_prev), free(h_out), free(c), free(dh), free(dc), free(dgates), free(dc_prev);
    free(theta), free(g), free(s0), free(s1);
    return 0;
}
