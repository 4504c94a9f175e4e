/* The optimizers' element-wise rules over the flat parameter vector, kept apart from the bookkeeping in optim.c
 * so that they can be compiled for vectors (cpu_dispatch.h): each rule runs in double precision, as documented
 * in docs/training.md, and the vector copies perform the same IEEE operations in the same order. */
#ifndef ATTN_OPTIM_UPDATE_H
#define ATTN_OPTIM_UPDATE_H

#include <stddef.h>

typedef enum update_kind { UPDATE_RMSPROP, UPDATE_ADAM, UPDATE_SGD } update_kind;

/* One step's constants. `factor` is the clipping scale (1: none): the gradient entry used is exactly the float
 * that scaling g in place would store. */
typedef struct update_rule {
    update_kind kind;
    double lr, factor;
    double rho, mu, eps;       /* RMSProp: decay, momentum, epsilon (SGD: mu) */
    double b1, b2, c1, c2, wd; /* Adam: betas, bias corrections 1 − β^t, decoupled weight decay (0: plain) */
} update_rule;

/* Σ g² in double, in a fixed order (eight interleaved partial sums, added pairwise), so the result depends on
 * nothing but the gradients. It is finite exactly when every gradient is. */
double update_sum_of_squares(const float *g, size_t n);

/* Non-zero when applying the rule to every element would leave every parameter and slot value finite as a
 * float; writes nothing. A step checks first and commits only if so, so it happens whole or not at all. */
int update_check(const update_rule *u, const float *theta, const float *g, const float *s0, const float *s1,
                 size_t n);
/* Applies the rule: theta and the slots s0, s1 (s1 unused by SGD) take their new values. */
void update_commit(const update_rule *u, float *theta, const float *g, float *s0, float *s1, size_t n);

#endif
