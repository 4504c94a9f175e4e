#include "optim_update.h"

#include <math.h>

#include "cpu_dispatch.h"

/* A zero denominator only arises with ε = 0 and a zero gradient history, where the step is zero as well. */
static inline double ratio(double num, double den) { return den > 0.0 ? num / den : 0.0; }

/* isfinite as arithmetic, which vectorises: x − x is 0 for a finite x and NaN for an infinite or NaN one. */
static inline int finite_float(float x) { return x - x == 0.0f; }

/* Every rule over [0, n): with commit 0 it only reports whether all new values are finite floats; with commit 1
 * it stores them. Both copies below inline it with commit constant, so neither loop tests it. The pointers
 * never overlap (restrict: the slots and parameters are separate allocations). */
CPU_INLINE int run(const update_rule *u, float *restrict theta, const float *restrict g,
                   float *restrict s0, float *restrict s1, size_t n, int commit)
{
    const double lr = u->lr, factor = u->factor;
    int ok = 1;
    switch (u->kind) {
    case UPDATE_RMSPROP: { /* ms ← ρ·ms + (1−ρ)·g²;  mom ← μ·mom + lr·g/√(ms + ε);  θ ← θ − mom */
        const double rho = u->rho, mu = u->mu, eps = u->eps;
        for (size_t i = 0; i < n; i++) {
            const double gi = (float)(g[i] * factor); /* exactly g[i] when factor is 1 */
            const double msi = rho * s0[i] + (1.0 - rho) * gi * gi;
            const double momi = mu * s1[i] + ratio(lr * gi, sqrt(msi + eps));
            const float ms_new = (float)msi, mom_new = (float)momi, th_new = (float)(theta[i] - momi);
            ok &= finite_float(ms_new) & finite_float(mom_new) & finite_float(th_new);
            if (commit) s0[i] = ms_new, s1[i] = mom_new, theta[i] = th_new;
        }
        break;
    }
    case UPDATE_ADAM: { /* θ ← θ − lr·wd·θ; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; θ ← θ − lr·m̂/(√v̂ + ε) */
        const double b1 = u->b1, b2 = u->b2, c1 = u->c1, c2 = u->c2, eps = u->eps, wd = u->wd;
        for (size_t i = 0; i < n; i++) {
            const double gi = (float)(g[i] * factor);
            const double mi = b1 * s0[i] + (1.0 - b1) * gi;
            const double vi = b2 * s1[i] + (1.0 - b2) * gi * gi;
            double th = theta[i];
            th -= lr * wd * th;
            th -= ratio(lr * (mi / c1), sqrt(vi / c2) + eps);
            const float m_new = (float)mi, v_new = (float)vi, th_new = (float)th;
            ok &= finite_float(m_new) & finite_float(v_new) & finite_float(th_new);
            if (commit) s0[i] = m_new, s1[i] = v_new, theta[i] = th_new;
        }
        break;
    }
    case UPDATE_SGD: { /* mom ← μ·mom + g;  θ ← θ − lr·mom */
        const double mu = u->mu;
        for (size_t i = 0; i < n; i++) {
            const double momi = mu * s0[i] + (double)(float)(g[i] * factor);
            const float mom_new = (float)momi, th_new = (float)(theta[i] - lr * momi);
            ok &= finite_float(mom_new) & finite_float(th_new);
            if (commit) s0[i] = mom_new, theta[i] = th_new;
        }
        break;
    }
    }
    return ok;
}

static int check_baseline(const update_rule *u, float *theta, const float *g, float *s0, float *s1,
                                       size_t n)
{
    return run(u, theta, g, s0, s1, n, 0);
}

static void commit_baseline(const update_rule *u, float *theta, const float *g, float *s0, float *s1,
                                         size_t n)
{
    run(u, theta, g, s0, s1, n, 1);
}

CPU_AVX2_TARGET static int check_avx2(const update_rule *u, float *theta, const float *g, float *s0,
                                                   float *s1, size_t n)
{
    return run(u, theta, g, s0, s1, n, 0);
}

CPU_AVX2_TARGET static void commit_avx2(const update_rule *u, float *theta, const float *g,
                                                     float *s0, float *s1, size_t n)
{
    run(u, theta, g, s0, s1, n, 1);
}

CPU_AVX512_TARGET static int check_avx512(const update_rule *u, float *theta, const float *g, float *s0, float *s1,
                                          size_t n)
{
    return run(u, theta, g, s0, s1, n, 0);
}

CPU_AVX512_TARGET static void commit_avx512(const update_rule *u, float *theta, const float *g, float *s0,
                                            float *s1, size_t n)
{
    run(u, theta, g, s0, s1, n, 1);
}

int update_check(const update_rule *u, const float *theta, const float *g, const float *s0, const float *s1,
                 size_t n)
{
    /* run writes nothing when commit is 0, so the casts only satisfy its signature. */
    float *t = (float *)theta, *a = (float *)s0, *b = (float *)s1;
    if (!s1) b = a; /* SGD's single slot: never read as s1 */
    if (cpu_use_avx512()) return check_avx512(u, t, g, a, b, n);
    return cpu_use_avx2() ? check_avx2(u, t, g, a, b, n) : check_baseline(u, t, g, a, b, n);
}

void update_commit(const update_rule *u, float *theta, const float *g, float *s0, float *s1, size_t n)
{
    if (!s1) s1 = s0;
    if (cpu_use_avx512())
        commit_avx512(u, theta, g, s0, s1, n);
    else if (cpu_use_avx2())
        commit_avx2(u, theta, g, s0, s1, n);
    else
        commit_baseline(u, theta, g, s0, s1, n);
}

double update_sum_of_squares(const float *g, size_t n)
{
    double part[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) part[j] += (double)g[i + j] * (double)g[i + j];
    for (int j = 0; i < n; i++, j++) part[j] += (double)g[i] * (double)g[i];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}
