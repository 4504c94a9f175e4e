/*
 * The losses (lib/losses.c) against numbers worked out by hand from the formulas, written out in each test's
 * comments: GAE(λ) at λ = 1 (Monte-Carlo returns) and λ = 0 (one-step TD), episode boundaries, reward
 * clipping, A2C, V-trace (IMPALA eq. 1 and its policy gradient) and PPO's clipped surrogate on two or three
 * steps of two actions; V-trace against n-step returns computed here when acting on-policy without
 * truncation; and every loss's gradients against central finite differences of the loss itself with its
 * targets frozen (the losses treat targets as constants). Float32 build. Hand values carry 6 decimals, so
 * they are compared to 1e-5.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "losses.h"
#include "test_util.h"

#define HAND_TOL 1e-5
#define LN2 0.6931472f
#define LN3 1.0986123f
#define LN4 1.3862944f

static void check_near(const char *what, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) fail_msg("%s: got %.7f, expected %.7f (tolerance %.0e)", what, got, want, tol);
}

static void check_array(const char *what, const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s[%d]", what, i);
        check_near(name, got[i], want[i], tol);
    }
}

static attn_loss_config config_of(attn_loss_kind kind)
{
    attn_loss_config cfg;
    assert_int_equal(attn_loss_config_init(&cfg, kind), ATTN_OK);
    return cfg;
}

/* ---- Configuration ----------------------------------------------------------------------------------- */

static void test_config_defaults(void **unused)
{
    (void)unused;
    const attn_loss_kind kinds[] = {ATTN_LOSS_A2C, ATTN_LOSS_VTRACE, ATTN_LOSS_PPO};
    for (int k = 0; k < 3; k++) {
        attn_loss_config c;
        memset(&c, 0xAB, sizeof c);
        assert_int_equal(attn_loss_config_init(&c, kinds[k]), ATTN_OK);
        assert_int_equal(c.version, ATTN_LOSS_CONFIG_VERSION);
        assert_int_equal(c.kind, kinds[k]);
        assert_true(c.discount == 0.99f);
        assert_true(c.gae_lambda == 0.95f);
        assert_true(c.entropy_cost == 0.01f);
        assert_true(c.baseline_cost == 0.5f);
        assert_true(c.rho_bar == 1.0f && c.c_bar == 1.0f);
        assert_true(c.clip_range == 0.2f);
        assert_true(c.reward_clip == 0.0f);
        assert_int_equal(c.ppo_epochs, 4);
        assert_int_equal(c.ppo_minibatches, 4);
        assert_int_equal(c.normalize_advantages, 1);
        assert_int_equal(loss_config_check(&c), ATTN_OK);
    }
    attn_loss_config c = config_of(ATTN_LOSS_A2C);
    assert_int_equal(attn_loss_config_init(&c, (attn_loss_kind)3), ATTN_ERR_INVALID);
    assert_non_null(strstr(attn_last_error(), "kind"));
    assert_int_equal(attn_loss_config_init(&c, (attn_loss_kind)-1), ATTN_ERR_INVALID);
    assert_int_equal(attn_loss_config_init(NULL, ATTN_LOSS_A2C), ATTN_ERR_NULL);

    /* The check names the field that is out of range. */
    struct { const char *field; attn_loss_config c; } bad[8];
    for (int i = 0; i < 8; i++) bad[i].c = config_of(ATTN_LOSS_PPO);
    bad[0].field = "version", bad[0].c.version = 0;
    bad[1].field = "discount", bad[1].c.discount = 1.5f;
    bad[2].field = "gae_lambda", bad[2].c.gae_lambda = NAN;
    bad[3].field = "entropy_cost", bad[3].c.entropy_cost = -0.1f;
    bad[4].field = "rho_bar", bad[4].c.rho_bar = INFINITY;
    bad[5].field = "clip_range", bad[5].c.clip_range = 0.0f;
    bad[6].field = "epochs", bad[6].c.ppo_epochs = 0;
    bad[7].field = "kind", bad[7].c.kind = (attn_loss_kind)7;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(loss_config_check(&bad[i].c), ATTN_ERR_INVALID);
        if (!strstr(attn_last_error(), bad[i].field))
            fail_msg("message \"%s\" lacks \"%s\"", attn_last_error(), bad[i].field);
    }
    assert_int_equal(loss_config_check(NULL), ATTN_ERR_NULL);
}

/* ---- GAE ------------------------------------------------------------------------------------------------ */

/* One environment, three steps, no episode end: V = (1, 2, 3), bootstrap 4, r = (1, 2, 3), γ = 0.9. */
static const float gae_values[3] = {1, 2, 3}, gae_rewards[3] = {1, 2, 3}, gae_bootstrap[1] = {4};
static const uint8_t no_flags[8] = {0};
static const float zeros[8] = {0};

static loss_inputs gae_inputs(void)
{
    return (loss_inputs){.T = 3, .B = 1, .A = 2, .values = gae_values, .bootstrap = gae_bootstrap,
                         .rewards = gae_rewards, .terminated = no_flags, .truncated = no_flags,
                         .truncation_values = zeros};
}

static void test_gae_lambda_one_is_monte_carlo(void **unused)
{
    (void)unused;
    /* Discounted returns bootstrapped from the value after the unroll:
     *   G_2 = 3 + 0.9·4    = 6.6
     *   G_1 = 2 + 0.9·6.6  = 7.94
     *   G_0 = 1 + 0.9·7.94 = 8.146
     * λ = 1: advantage = G − V = (7.146, 5.94, 3.6), λ-return = G. */
    loss_inputs in = gae_inputs();
    float adv[3], ret[3];
    loss_gae(adv, ret, &in, 0.9f, 1.0f, 0.0f);
    check_array("adv", adv, (const double[]){7.146, 5.94, 3.6}, 3, HAND_TOL);
    check_array("ret", ret, (const double[]){8.146, 7.94, 6.6}, 3, HAND_TOL);
}

static void test_gae_lambda_zero_is_td(void **unused)
{
    (void)unused;
    /* λ = 0: advantage = δ_t = r_t + γ·V_{t+1} − V_t
     *   δ_0 = 1 + 0.9·2 − 1 = 1.8,  δ_1 = 2 + 0.9·3 − 2 = 2.7,  δ_2 = 3 + 0.9·4 − 3 = 3.6
     * λ-return = δ + V = (2.8, 4.7, 6.6). */
    loss_inputs in = gae_inputs();
    float adv[3], ret[3];
    loss_gae(adv, ret, &in, 0.9f, 0.0f, 0.0f);
    check_array("adv", adv, (const double[]){1.8, 2.7, 3.6}, 3, HAND_TOL);
    check_array("ret", ret, (const double[]){2.8, 4.7, 6.6}, 3, HAND_TOL);
}

static void test_gae_truncation_bootstraps_termination_does_not(void **unused)
{
    (void)unused;
    /* Two environments with the same V = (1, 2, 3), bootstrap 4, r = (1, 2, 3); γ = 0.9, λ = 0.5, γλ = 0.45.
     * Environment 0 terminates at t = 1 (its truncation value 99 must be ignored); environment 1 is truncated
     * at t = 1 with V(final observation) = 10. Neither recursion may carry t = 2 back into t = 1.
     *   both, t = 2: δ = 3 + 0.9·4 − 3 = 3.6            Â = 3.6                ret = 6.6
     *   env 0, t = 1: δ = 2 + 0.9·0 − 2 = 0              Â = 0 (not 0 + 0.45·3.6) ret = 2
     *   env 0, t = 0: δ = 1 + 0.9·2 − 1 = 1.8            Â = 1.8 + 0.45·0 = 1.8   ret = 2.8
     *   env 1, t = 1: δ = 2 + 0.9·10 − 2 = 9             Â = 9                  ret = 11
     *   env 1, t = 0: δ = 1.8                            Â = 1.8 + 0.45·9 = 5.85  ret = 6.85
     * Layout [t][b]. */
    const float values[6] = {1, 1, 2, 2, 3, 3}, rewards[6] = {1, 1, 2, 2, 3, 3}, bootstrap[2] = {4, 4};
    const uint8_t terminated[6] = {0, 0, 1, 0, 0, 0}, truncated[6] = {0, 0, 0, 1, 0, 0};
    const float truncation_values[6] = {0, 0, 99, 10, 0, 0};
    loss_inputs in = {.T = 3, .B = 2, .A = 2, .values = values, .bootstrap = bootstrap, .rewards = rewards,
                      .terminated = terminated, .truncated = truncated, .truncation_values = truncation_values};
    float adv[6], ret[6];
    loss_gae(adv, ret, &in, 0.9f, 0.5f, 0.0f);
    check_array("adv", adv, (const double[]){1.8, 5.85, 0, 9, 3.6, 3.6}, 6, HAND_TOL);
    check_array("ret", ret, (const double[]){2.8, 6.85, 2, 11, 6.6, 6.6}, 6, HAND_TOL);
}

/* ---- A2C ------------------------------------------------------------------------------------------------ */

static void test_a2c_by_hand(void **unused)
{
    (void)unused;
    /*
     * T = 2, B = 1, A = 2; γ = 0.9, λ = 0.5, baseline_cost 0.5, entropy_cost 0.01.
     * logits t0 (0, 0) → π = (.5, .5); t1 (ln 3, 0) → π = (.75, .25). Actions (0, 1). V = (1, 2), bootstrap 3,
     * r = (1, 2). Behaviour logits (0, 0) at both steps.
     * GAE:  δ_1 = 2 + 0.9·3 − 2 = 2.7   Â_1 = 2.7                        ret_1 = 4.7
     *       δ_0 = 1 + 0.9·2 − 1 = 1.8   Â_0 = 1.8 + 0.9·0.5·2.7 = 3.015  ret_0 = 4.015
     * policy  = ½(−Â_0·ln .5 − Â_1·ln .25) = ½(3.015·0.693147 + 2.7·1.386294) = ½(2.089839 + 3.742995) = 2.916417
     * value   = ½·½(3.015² + 2.7²) = ¼(9.090225 + 7.29) = 4.095056
     * H(.5, .5) = ln 2 = 0.693147; H(.75, .25) = −.75 ln .75 − .25 ln .25 = 0.215762 + 0.346574 = 0.562335
     * entropy = ½(0.693147 + 0.562335) = 0.627741
     * total   = 2.916417 + 0.5·4.095056 − 0.01·0.627741 = 4.957667
     * approx_kl = ½[(ln .5 − ln .5) + (ln .5 − ln .25)] = ½ ln 2 = 0.346574
     * dlogits = (1/2)·[Â·(π − onehot(a)) + 0.01·π·(ln π + H)]:
     *   t0: entropy part 0 (ln π + H = 0 at uniform): ½·3.015·(−.5, .5) = (−0.75375, 0.75375)
     *   t1: .75·(ln .75 + H) = .75·(−0.287682 + 0.562335) = 0.205990, .25·(ln .25 + H) = −0.205990
     *       ½[2.7·(.75, −.75) + 0.01·(0.205990, −0.205990)] = ½(2.027060, −2.027060) = (1.013530, −1.013530)
     * dvalues = (1/2)·0.5·(V − ret) = .25·(1 − 4.015), .25·(2 − 4.7) = (−0.75375, −0.675)
     */
    const float logits[4] = {0, 0, LN3, 0}, behaviour[4] = {0, 0, 0, 0};
    const float values[2] = {1, 2}, bootstrap[1] = {3}, rewards[2] = {1, 2};
    const int32_t actions[2] = {0, 1};
    loss_inputs in = {.T = 2, .B = 1, .A = 2, .logits = logits, .values = values, .bootstrap = bootstrap,
                      .behaviour_logits = behaviour, .actions = actions, .rewards = rewards,
                      .terminated = no_flags, .truncated = no_flags, .truncation_values = zeros};
    attn_loss_config cfg = config_of(ATTN_LOSS_A2C);
    cfg.discount = 0.9f, cfg.gae_lambda = 0.5f;
    float dlogits[4], dvalues[2], ws[4];
    assert_int_equal(loss_workspace_floats(2, 1, 2), 4);
    attn_loss_stats st;
    assert_int_equal(loss_a2c(&cfg, &in, dlogits, dvalues, &st, ws), ATTN_OK);
    check_near("policy_loss", st.policy_loss, 2.916417, HAND_TOL);
    check_near("value_loss", st.value_loss, 4.095056, HAND_TOL);
    check_near("entropy", st.entropy, 0.627741, HAND_TOL);
    check_near("total", st.total, 4.957667, HAND_TOL);
    check_near("approx_kl", st.approx_kl, 0.346574, HAND_TOL);
    check_near("clip_fraction", st.clip_fraction, 0.0, 0.0);
    check_array("dlogits", dlogits, (const double[]){-0.75375, 0.75375, 1.013530, -1.013530}, 4, HAND_TOL);
    check_array("dvalues", dvalues, (const double[]){-0.75375, -0.675}, 2, HAND_TOL);
}

/* ---- V-trace -------------------------------------------------------------------------------------------- */

static void test_vtrace_by_hand(void **unused)
{
    (void)unused;
    /*
     * T = 2, B = 1, A = 2; γ = 0.9, ρ̄ = c̄ = 1 (defaults), baseline_cost 0.5, entropy_cost 0.01.
     *   t0: π logits (ln 3, 0) → π = (.75, .25); μ logits (0, 0) → μ = (.5, .5); a = 1: π/μ = .25/.5 = 0.5,
     *       ρ_0 = c_0 = 0.5
     *   t1: π logits (0, 0) → (.5, .5); μ logits (0, ln 4) → μ = (.2, .8); a = 0: π/μ = .5/.2 = 2.5 > ρ̄,
     *       ρ_1 = c_1 = 1 (truncated: clip_fraction = 1/2)
     * V = (1, 2), bootstrap 3, r = (1, 2).
     * targets (backwards):
     *   δ_1 = ρ_1(r_1 + γ·3 − V_1) = 1·(2 + 2.7 − 2) = 2.7               v_1 = 2 + 2.7 = 4.7
     *   δ_0 = ρ_0(r_0 + γ·V_1 − V_0) = 0.5·(1 + 1.8 − 1) = 0.9
     *   v_0 = V_0 + δ_0 + γ·c_0·(v_1 − V_1) = 1 + 0.9 + 0.9·0.5·2.7 = 3.115
     * policy-gradient weights:
     *   w_0 = ρ_0(r_0 + γ·v_1 − V_0) = 0.5·(1 + 4.23 − 1) = 2.115
     *   w_1 = ρ_1(r_1 + γ·3 − V_1) = 2.7
     * policy  = ½(−2.115·ln .25 − 2.7·ln .5) = ½(2.932012 + 1.871497) = 2.401755
     * value   = ½·½(2.115² + 2.7²) = ¼(4.473225 + 7.29) = 2.940806
     * entropy = ½(H(.75, .25) + ln 2) = ½(0.562335 + 0.693147) = 0.627741
     * total   = 2.401755 + 0.5·2.940806 − 0.01·0.627741 = 3.865881
     * approx_kl = ½[(ln .5 − ln .25) + (ln .2 − ln .5)] = ½(0.693147 − 0.916291) = −0.111572
     * dlogits = ½[w·(π − onehot(a)) + 0.01·π·(ln π + H)]:
     *   t0: ½[2.115·(.75, −.75) + 0.01·(0.205990, −0.205990)] = ½(1.588310, −1.588310) = (0.794155, −0.794155)
     *   t1: ½[2.7·(−.5, .5) + 0] = (−0.675, 0.675)
     * dvalues = ½·0.5·(V − v) = .25·(1 − 3.115), .25·(2 − 4.7) = (−0.52875, −0.675)
     */
    const float logits[4] = {LN3, 0, 0, 0}, behaviour[4] = {0, 0, 0, LN4};
    const float values[2] = {1, 2}, bootstrap[1] = {3}, rewards[2] = {1, 2};
    const int32_t actions[2] = {1, 0};
    loss_inputs in = {.T = 2, .B = 1, .A = 2, .logits = logits, .values = values, .bootstrap = bootstrap,
                      .behaviour_logits = behaviour, .actions = actions, .rewards = rewards,
                      .terminated = no_flags, .truncated = no_flags, .truncation_values = zeros};
    attn_loss_config cfg = config_of(ATTN_LOSS_VTRACE);
    cfg.discount = 0.9f;

    float vs[2], w[2];
    assert_int_equal(loss_vtrace_targets(vs, w, &in, 0.9f, 1.0f, 1.0f, 0.0f), 1);
    check_array("v_s", vs, (const double[]){3.115, 4.7}, 2, HAND_TOL);
    check_array("pg weight", w, (const double[]){2.115, 2.7}, 2, HAND_TOL);
    /* ρ̄ = 2, c̄ = 0.4: ρ = (0.5, 2), c = (0.4, 0.4); only 2.5 > ρ̄.
     *   δ_1 = 2·2.7 = 5.4, v_1 = 7.4;  δ_0 = 0.5·1.8 = 0.9, v_0 = 1 + 0.9 + 0.9·0.4·5.4 = 3.844
     *   w_0 = 0.5·(1 + 0.9·7.4 − 1) = 3.33, w_1 = 5.4 */
    assert_int_equal(loss_vtrace_targets(vs, w, &in, 0.9f, 2.0f, 0.4f, 0.0f), 1);
    check_array("v_s (rho_bar 2, c_bar 0.4)", vs, (const double[]){3.844, 7.4}, 2, HAND_TOL);
    check_array("pg weight (rho_bar 2, c_bar 0.4)", w, (const double[]){3.33, 5.4}, 2, HAND_TOL);
    /* ρ̄ = c̄ = 0, no truncation: ρ = c = (0.5, 2.5), nothing counted.
     *   δ_1 = 2.5·2.7 = 6.75, v_1 = 8.75;  v_0 = 1 + 0.9 + 0.9·0.5·6.75 = 4.9375
     *   w_0 = 0.5·(1 + 0.9·8.75 − 1) = 3.9375, w_1 = 6.75 */
    assert_int_equal(loss_vtrace_targets(vs, w, &in, 0.9f, 0.0f, 0.0f, 0.0f), 0);
    check_array("v_s (untruncated)", vs, (const double[]){4.9375, 8.75}, 2, HAND_TOL);
    check_array("pg weight (untruncated)", w, (const double[]){3.9375, 6.75}, 2, HAND_TOL);

    float dlogits[4], dvalues[2], ws[4];
    attn_loss_stats st;
    assert_int_equal(loss_vtrace(&cfg, &in, dlogits, dvalues, &st, ws), ATTN_OK);
    check_near("policy_loss", st.policy_loss, 2.401755, HAND_TOL);
    check_near("value_loss", st.value_loss, 2.940806, HAND_TOL);
    check_near("entropy", st.entropy, 0.627741, HAND_TOL);
    check_near("total", st.total, 3.865881, HAND_TOL);
    check_near("approx_kl", st.approx_kl, -0.111572, HAND_TOL);
    check_near("clip_fraction", st.clip_fraction, 0.5, 0.0);
    check_array("dlogits", dlogits, (const double[]){0.794155, -0.794155, -0.675, 0.675}, 4, HAND_TOL);
    check_array("dvalues", dvalues, (const double[]){-0.52875, -0.675}, 2, HAND_TOL);
}

static void test_vtrace_episode_boundaries(void **unused)
{
    (void)unused;
    /*
     * On-policy (π = μ, so ρ = c = 1), T = 3, B = 2, γ = 0.9. Both environments: V = (1, 2, 3), bootstrap 4,
     * r = (1, 1, 1). Environment 0 terminates at t = 1 (truncation value 99 must be ignored); environment 1 is
     * truncated at t = 1 with V(final observation) = 5. The recursion must not cross t = 1 → t = 2.
     *   both, t = 2:  v_2 = 3 + (1 + 0.9·4 − 3) = 4.6                     w_2 = 1 + 3.6 − 3 = 1.6
     *   env 0, t = 1: v_1 = 2 + (1 + 0 − 2) = 1 (not 1 + 0.9·1.6 = 2.44)   w_1 = 1 − 2 = −1
     *   env 0, t = 0: v_0 = 1 + (1 + 0.9·2 − 1) + 0.9·(v_1 − V_1) = 2.8 − 0.9 = 1.9 (= 1 + 0.9·1, the n-step return)
     *                                                                    w_0 = 1 + 0.9·1 − 1 = 0.9
     *   env 1, t = 1: v_1 = 2 + (1 + 0.9·5 − 2) = 5.5                      w_1 = 1 + 4.5 − 2 = 3.5
     *   env 1, t = 0: v_0 = 1 + 1.8 + 0.9·(5.5 − 2) = 5.95 (= 1 + 0.9·5.5) w_0 = 1 + 0.9·5.5 − 1 = 4.95
     * Layout [t][b].
     */
    const float logits[12] = {0.3f, -0.2f, 1, 0, 0, 0, 0.5f, 0.5f, -1, 2, 0, 0.1f};
    const float values[6] = {1, 1, 2, 2, 3, 3}, rewards[6] = {1, 1, 1, 1, 1, 1}, bootstrap[2] = {4, 4};
    const uint8_t terminated[6] = {0, 0, 1, 0, 0, 0}, truncated[6] = {0, 0, 0, 1, 0, 0};
    const float truncation_values[6] = {0, 0, 99, 5, 0, 0};
    const int32_t actions[6] = {0, 1, 1, 0, 1, 1};
    loss_inputs in = {.T = 3, .B = 2, .A = 2, .logits = logits, .values = values, .bootstrap = bootstrap,
                      .behaviour_logits = logits, .actions = actions, .rewards = rewards,
                      .terminated = terminated, .truncated = truncated, .truncation_values = truncation_values};
    float vs[6], w[6];
    assert_int_equal(loss_vtrace_targets(vs, w, &in, 0.9f, 1.0f, 1.0f, 0.0f), 0);
    check_array("v_s", vs, (const double[]){1.9, 5.95, 1, 5.5, 4.6, 4.6}, 6, HAND_TOL);
    check_array("pg weight", w, (const double[]){0.9, 4.95, -1, 3.5, 1.6, 1.6}, 6, HAND_TOL);
}

/* ---- Random inputs for the structural and finite-difference tests -------------------------------------- */

enum { RT = 5, RB = 3, RA = 3, RN = RT * RB };

typedef struct random_case {
    float logits[RN * RA], behaviour[RN * RA], values[RN], bootstrap[RB], rewards[RN], truncation_values[RN];
    float adv[RN], ret[RN]; /* PPO's advantages and returns, as given */
    int32_t actions[RN];
    uint8_t terminated[RN], truncated[RN];
    loss_inputs in;
} random_case;

/* Logits in ±2, the behaviour policy `spread` away from them, values and rewards in ±1. With `boundaries`,
 * environment 0 terminates at t = 2 and environment 1 is truncated at t = 1. */
static void random_case_fill(random_case *c, uint64_t seed, float spread, int boundaries)
{
    test_rng r = {seed};
    memset(c, 0, sizeof *c);
    fill_uniform(&r, c->logits, RN * RA, -2, 2);
    for (int i = 0; i < RN * RA; i++) c->behaviour[i] = c->logits[i] + trng_range(&r, -spread, spread);
    fill_uniform(&r, c->values, RN, -1, 1);
    fill_uniform(&r, c->bootstrap, RB, -1, 1);
    fill_uniform(&r, c->rewards, RN, -1, 1);
    fill_uniform(&r, c->adv, RN, -1, 1);
    fill_uniform(&r, c->ret, RN, -1, 1);
    for (int i = 0; i < RN; i++) c->actions[i] = trng_int(&r, RA);
    if (boundaries) {
        c->terminated[2 * RB + 0] = 1;
        c->truncated[1 * RB + 1] = 1;
        c->truncation_values[1 * RB + 1] = 0.7f;
    }
    c->in = (loss_inputs){.T = RT, .B = RB, .A = RA, .logits = c->logits, .values = c->values,
                          .bootstrap = c->bootstrap, .behaviour_logits = c->behaviour, .actions = c->actions,
                          .rewards = c->rewards, .terminated = c->terminated, .truncated = c->truncated,
                          .truncation_values = c->truncation_values};
}

static void test_vtrace_on_policy_is_n_step_returns(void **unused)
{
    (void)unused;
    /* With π = μ every ratio is 1, so with ρ̄ = c̄ = ∞ (0 in the configuration) — and equally with ρ̄ = c̄ = 1 —
     * the corrections telescope and v_s = Σ_{k=s}^{T−1} γ^{k−s} r_k + γ^{T−s}·bootstrap, the n-step return to
     * the end of the unroll, computed here by the forward sum; the policy-gradient weight is then
     * r_s + γ·v_{s+1} − V(x_s) = v_s − V(x_s). */
    random_case c;
    random_case_fill(&c, 7, 0.0f, 0);
    const double gamma = 0.9;
    for (int truncate = 0; truncate < 2; truncate++) {
        float vs[RN], w[RN];
        float bar = truncate ? 1.0f : 0.0f;
        assert_int_equal(loss_vtrace_targets(vs, w, &c.in, (float)gamma, bar, bar, 0.0f), 0);
        for (int b = 0; b < RB; b++)
            for (int s = 0; s < RT; s++) {
                double g = 0.0, discount = 1.0;
                for (int k = s; k < RT; k++) g += discount * c.rewards[k * RB + b], discount *= gamma;
                g += discount * c.bootstrap[b];
                check_near("v_s", vs[s * RB + b], g, 1e-5);
                check_near("pg weight", w[s * RB + b], g - c.values[s * RB + b], 1e-5);
            }
    }
}

/* ---- Reward clipping ------------------------------------------------------------------------------------- */

static void test_reward_clipping(void **unused)
{
    (void)unused;
    /* GAE with λ = 1, γ = 0.9, V = 0, bootstrap 0, raw r = (5, −3, 0.5) clipped to ±1 → (1, −1, 0.5):
     *   G_2 = 0.5, G_1 = −1 + 0.9·0.5 = −0.55, G_0 = 1 + 0.9·(−0.55) = 0.505. */
    const float raw[3] = {5, -3, 0.5f};
    loss_inputs in = {.T = 3, .B = 1, .A = 2, .values = zeros, .bootstrap = zeros, .rewards = raw,
                      .terminated = no_flags, .truncated = no_flags, .truncation_values = zeros};
    float adv[3], ret[3];
    loss_gae(adv, ret, &in, 0.9f, 1.0f, 1.0f);
    check_array("clipped adv", adv, (const double[]){0.505, -0.55, 0.5}, 3, HAND_TOL);

    /* A2C and V-trace: rewards of ±3 clipped to ±1 give exactly the loss of rewards ±1 unclipped, and not the
     * loss of the raw rewards. */
    random_case big, unit;
    random_case_fill(&big, 11, 0.5f, 1);
    random_case_fill(&unit, 11, 0.5f, 1);
    for (int i = 0; i < RN; i++) big.rewards[i] = i % 2 ? 3.0f : -3.0f, unit.rewards[i] = i % 2 ? 1.0f : -1.0f;
    typedef attn_status (*loss_fn_t)(const attn_loss_config *, const loss_inputs *, float *, float *,
                                     attn_loss_stats *, float *);
    const loss_fn_t losses[2] = {loss_a2c, loss_vtrace};
    for (int k = 0; k < 2; k++) {
        attn_loss_config cfg = config_of(k ? ATTN_LOSS_VTRACE : ATTN_LOSS_A2C);
        float dl[3][RN * RA], dv[3][RN], ws[2 * RN];
        attn_loss_stats st[3];
        assert_int_equal(losses[k](&cfg, &unit.in, dl[0], dv[0], &st[0], ws), ATTN_OK);
        assert_int_equal(losses[k](&cfg, &big.in, dl[2], dv[2], &st[2], ws), ATTN_OK);
        cfg.reward_clip = 1.0f;
        assert_int_equal(losses[k](&cfg, &big.in, dl[1], dv[1], &st[1], ws), ATTN_OK);
        assert_memory_equal(dl[0], dl[1], sizeof dl[0]);
        assert_memory_equal(dv[0], dv[1], sizeof dv[0]);
        assert_true(st[0].total == st[1].total);
        assert_true(st[2].total != st[1].total);
    }
}

/* ---- PPO ------------------------------------------------------------------------------------------------ */

static void test_ppo_clipped_surrogate_by_hand(void **unused)
{
    (void)unused;
    /*
     * T = 2, B = 2, A = 2, ε = 0.2, no advantage normalisation, baseline_cost 0.5, entropy_cost 0.01.
     * Every current policy is uniform (logits 0, 0), so its entropy gradient π·(ln π + H) is 0 and H = ln 2.
     * [t][b]  μ          a   r = π(a)/μ(a)   Â     r·Â     clip(r)·Â   −min        gradient of the policy term
     * [0][0]  (.4, .6)   1   .5/.6 = 5/6    +2    1.6667  1.6667     −1.666667   inside: −Â·∇r
     * [0][1]  (.4, .6)   0   .5/.4 = 1.25   +1    1.25    1.2        −1.2        above 1+ε with Â > 0: 0
     * [1][0]  (.4, .6)   0   1.25           −1    −1.25   −1.2       +1.25       above 1+ε but Â < 0: −Â·∇r
     * [1][1]  (.2, .8)   1   .5/.8 = .625   −2    −1.25   −1.6       +1.6        below 1−ε with Â < 0: 0
     * (μ logits: (0, ln 1.5) gives (.4, .6); (0, ln 4) gives (.2, .8).)
     * ∇_z r = r·(onehot(a) − π), so −Â·∇r / N = Â·r·(π − onehot(a)) / 4:
     *   [0][0]: 2·(5/6)·(.5, −.5)/4  = (0.208333, −0.208333)
     *   [1][0]: −1·1.25·(−.5, .5)/4  = (0.15625, −0.15625)
     * policy = (−1.666667 − 1.2 + 1.25 + 1.6)/4 = −0.004167
     * clip_fraction: |r − 1| > ε for 1.25, 1.25, .625 → 3/4
     * V = (1, 2, 3, 4), ret = (2, 2, 1, 5): value = ½·(1 + 0 + 4 + 1)/4 = 0.75,
     *   dvalues = 0.5·(V − ret)/4 = (−0.125, 0, 0.25, −0.125)
     * total = −0.004167 + 0.5·0.75 − 0.01·0.693147 = 0.363902
     * approx_kl = mean(ln μ(a) − ln π(a)) = (ln 1.2 + ln .8 + ln .8 + ln 1.6)/4
     *           = (0.182322 − 0.223144 − 0.223144 + 0.470004)/4 = 0.051510
     */
    const float LN1_5 = 0.4054651f;
    const float logits[8] = {0}, behaviour[8] = {0, LN1_5, 0, LN1_5, 0, LN1_5, 0, LN4};
    const int32_t actions[4] = {1, 0, 0, 1};
    const float values[4] = {1, 2, 3, 4}, adv[4] = {2, 1, -1, -2}, ret[4] = {2, 2, 1, 5};
    loss_inputs in = {.T = 2, .B = 2, .A = 2, .logits = logits, .values = values, .behaviour_logits = behaviour,
                      .actions = actions};
    attn_loss_config cfg = config_of(ATTN_LOSS_PPO);
    cfg.normalize_advantages = 0;
    float dlogits[8], dvalues[4], ws[8];
    attn_loss_stats st;
    assert_int_equal(loss_ppo(&cfg, &in, adv, ret, dlogits, dvalues, &st, ws), ATTN_OK);
    check_near("policy_loss", st.policy_loss, -0.004167, HAND_TOL);
    check_near("value_loss", st.value_loss, 0.75, HAND_TOL);
    check_near("entropy", st.entropy, 0.693147, HAND_TOL);
    check_near("total", st.total, 0.363902, HAND_TOL);
    check_near("approx_kl", st.approx_kl, 0.051510, HAND_TOL);
    check_near("clip_fraction", st.clip_fraction, 0.75, 0.0);
    check_array("dlogits", dlogits, (const double[]){0.208333, -0.208333, 0, 0, 0.15625, -0.15625, 0, 0}, 8,
                HAND_TOL);
    check_array("dvalues", dvalues, (const double[]){-0.125, 0, 0.25, -0.125}, 4, HAND_TOL);
}

static void test_ppo_normalizes_advantages(void **unused)
{
    (void)unused;
    /*
     * π = μ (ratio 1 everywhere, nothing clipped), uniform over A = 2, actions all 0, entropy_cost 0.
     * Â = (1, 2, 3, 6): mean 3, population variance (4 + 1 + 0 + 9)/4 = 3.5, std 1.870829;
     * normalised (−1.069045, −0.534522, 0, 1.603567), which sums to 0 so the policy loss −mean(Â') is 0.
     * dlogits = Â'·(π − onehot(0))/4 = Â'·(−.5, .5)/4 = Â'·(−0.125, 0.125):
     *   (0.133631, −0.133631), (0.066815, −0.066815), (0, 0), (−0.200446, 0.200446)
     */
    const float logits[8] = {0}, values[4] = {0}, adv[4] = {1, 2, 3, 6};
    const int32_t actions[4] = {0, 0, 0, 0};
    loss_inputs in = {.T = 4, .B = 1, .A = 2, .logits = logits, .values = values, .behaviour_logits = logits,
                      .actions = actions};
    attn_loss_config cfg = config_of(ATTN_LOSS_PPO);
    cfg.entropy_cost = 0.0f;
    float dlogits[8], dvalues[4], ws[8];
    attn_loss_stats st;
    assert_int_equal(loss_ppo(&cfg, &in, adv, values, dlogits, dvalues, &st, ws), ATTN_OK);
    check_near("policy_loss", st.policy_loss, 0.0, HAND_TOL);
    check_near("clip_fraction", st.clip_fraction, 0.0, 0.0);
    check_array("dlogits", dlogits,
                (const double[]){0.133631, -0.133631, 0.066815, -0.066815, 0, 0, -0.200446, 0.200446}, 8,
                HAND_TOL);
}

/* ---- Finite differences against the loss with frozen targets -------------------------------------------- */

/* Central differences of stats.total in float32 with h = 1e-2: rounding of the total (~1e-7) over 2h and the
 * h² truncation term both stay near 1e-4 of the gradients' size; a wrong term is off by order 1. */
#define FD_H 1e-2f
#define FD_TOL 2e-3

typedef struct fd_ctx {
    const attn_loss_config *cfg;
    random_case *c;
    int ppo;                     /* differentiate loss_ppo itself (its targets are inputs already) */
    const float *weights, *targets; /* else loss_fixed_targets with these */
} fd_ctx;

static double fd_total(void *p)
{
    fd_ctx *f = p;
    float dl[RN * RA], dv[RN], ws[2 * RN];
    attn_loss_stats st;
    attn_status s = f->ppo ? loss_ppo(f->cfg, &f->c->in, f->c->adv, f->c->ret, dl, dv, &st, ws)
                           : loss_fixed_targets(f->cfg, &f->c->in, LOSS_POLICY_LOG_PROB, f->weights, f->targets, dl,
                                                dv, &st);
    assert_int_equal(s, ATTN_OK);
    return st.total;
}

static void check_gradients(fd_ctx *f, const float *dlogits, const float *dvalues, const char *what)
{
    double el = gradient_error(fd_total, f, f->c->logits, dlogits, RN * RA, RN * RA, FD_H, 1e-6);
    double ev = gradient_error(fd_total, f, f->c->values, dvalues, RN, RN, FD_H, 1e-6);
    printf("  %-8s dlogits error %.2e, dvalues error %.2e (bound %.0e)\n", what, el, ev, FD_TOL);
    assert_true(el <= FD_TOL);
    assert_true(ev <= FD_TOL);
}

/* Runs one loss with a workspace of exactly loss_workspace_floats plus a sentinel that must survive. */
static void run_with_sentinel(int kind, const attn_loss_config *cfg, random_case *c, float *dl, float *dv,
                              attn_loss_stats *st)
{
    size_t n = loss_workspace_floats(RT, RB, RA);
    float *ws = malloc(sizeof(float) * (n + 1));
    ws[n] = 12345.0f;
    attn_status s = kind == ATTN_LOSS_A2C      ? loss_a2c(cfg, &c->in, dl, dv, st, ws)
                    : kind == ATTN_LOSS_VTRACE ? loss_vtrace(cfg, &c->in, dl, dv, st, ws)
                                               : loss_ppo(cfg, &c->in, c->adv, c->ret, dl, dv, st, ws);
    assert_int_equal(s, ATTN_OK);
    assert_true(ws[n] == 12345.0f);
    free(ws);
}

static attn_loss_config fd_config(attn_loss_kind kind)
{
    attn_loss_config cfg = config_of(kind);
    cfg.discount = 0.9f, cfg.gae_lambda = 0.8f, cfg.entropy_cost = 0.2f, cfg.baseline_cost = 0.7f;
    return cfg;
}

static void test_a2c_gradients_match_finite_differences(void **unused)
{
    (void)unused;
    random_case c;
    random_case_fill(&c, 3, 0.5f, 1);
    attn_loss_config cfg = fd_config(ATTN_LOSS_A2C);
    float dl[RN * RA], dv[RN], adv[RN], ret[RN];
    attn_loss_stats st;
    run_with_sentinel(ATTN_LOSS_A2C, &cfg, &c, dl, dv, &st);
    /* Frozen targets: the GAE advantages and λ-returns at the unperturbed values. */
    loss_gae(adv, ret, &c.in, cfg.discount, cfg.gae_lambda, cfg.reward_clip);
    fd_ctx f = {&cfg, &c, 0, adv, ret};
    assert_true(fd_total(&f) == st.total);
    check_gradients(&f, dl, dv, "a2c");
}

static void test_vtrace_gradients_match_finite_differences(void **unused)
{
    (void)unused;
    random_case c;
    random_case_fill(&c, 4, 1.0f, 1);
    attn_loss_config cfg = fd_config(ATTN_LOSS_VTRACE);
    float dl[RN * RA], dv[RN], vs[RN], w[RN];
    attn_loss_stats st;
    run_with_sentinel(ATTN_LOSS_VTRACE, &cfg, &c, dl, dv, &st);
    /* Frozen targets: v_s and the ρ-weighted advantages at the unperturbed logits and values. Some ratios
     * exceed ρ̄ here, so the truncation is exercised too. */
    int over = loss_vtrace_targets(vs, w, &c.in, cfg.discount, cfg.rho_bar, cfg.c_bar, cfg.reward_clip);
    assert_true(over > 0 && over < RN);
    check_near("clip_fraction", st.clip_fraction, (double)over / RN, 1e-7);
    fd_ctx f = {&cfg, &c, 0, w, vs};
    assert_true(fd_total(&f) == st.total);
    check_gradients(&f, dl, dv, "v-trace");
}

static double test_log_prob(const float *z, int a)
{
    double m = fmax(fmax(z[0], z[1]), z[2]), s = 0.0;
    for (int j = 0; j < RA; j++) s += exp(z[j] - m);
    return z[a] - m - log(s);
}

static void test_ppo_gradients_match_finite_differences(void **unused)
{
    (void)unused;
    random_case c;
    random_case_fill(&c, 5, 0.0f, 0);
    attn_loss_config cfg = fd_config(ATTN_LOSS_PPO);
    /* Behaviour policies whose ratios keep 0.05 away from the kinks at 1 ± ε, so no finite-difference step
     * crosses one; both the flat (clipped) and the sloped branch must occur. */
    test_rng r = {99};
    int flat = 0, sloped = 0;
    for (int i = 0; i < RN; i++) {
        double ratio;
        do {
            for (int j = 0; j < RA; j++) c.behaviour[i * RA + j] = c.logits[i * RA + j] + trng_range(&r, -0.6f, 0.6f);
            ratio = exp(test_log_prob(c.logits + i * RA, c.actions[i]) -
                        test_log_prob(c.behaviour + i * RA, c.actions[i]));
        } while (fabs(ratio - 0.8) < 0.05 || fabs(ratio - 1.2) < 0.05);
        if ((c.adv[i] > 0 && ratio > 1.2) || (c.adv[i] < 0 && ratio < 0.8)) flat++;
        else sloped++;
    }
    assert_true(flat > 0 && sloped > 0);
    float dl[RN * RA], dv[RN];
    attn_loss_stats st;
    run_with_sentinel(ATTN_LOSS_PPO, &cfg, &c, dl, dv, &st);
    fd_ctx f = {&cfg, &c, 1, NULL, NULL};
    check_gradients(&f, dl, dv, "ppo");
}

/* ---- Bad arguments ---------------------------------------------------------------------------------------- */

static void test_bad_arguments(void **unused)
{
    (void)unused;
    random_case c;
    random_case_fill(&c, 8, 0.5f, 1);
    attn_loss_config cfg = config_of(ATTN_LOSS_A2C);
    float dl[RN * RA], dv[RN], ws[2 * RN];
    attn_loss_stats st;

    c.actions[4] = RA;
    assert_int_equal(loss_a2c(&cfg, &c.in, dl, dv, &st, ws), ATTN_ERR_INVALID);
    assert_non_null(strstr(attn_last_error(), "action"));
    assert_int_equal(loss_vtrace(&cfg, &c.in, dl, dv, &st, ws), ATTN_ERR_INVALID);
    assert_int_equal(loss_ppo(&cfg, &c.in, c.adv, c.ret, dl, dv, &st, ws), ATTN_ERR_INVALID);
    c.actions[4] = -1;
    assert_int_equal(loss_a2c(&cfg, &c.in, dl, dv, &st, ws), ATTN_ERR_INVALID);
    c.actions[4] = 0;
    assert_int_equal(loss_a2c(&cfg, &c.in, dl, dv, &st, ws), ATTN_OK);

    assert_int_equal(loss_a2c(&cfg, NULL, dl, dv, &st, ws), ATTN_ERR_NULL);
    assert_int_equal(loss_a2c(NULL, &c.in, dl, dv, &st, ws), ATTN_ERR_NULL);
    assert_int_equal(loss_a2c(&cfg, &c.in, dl, dv, &st, NULL), ATTN_ERR_NULL);
    assert_int_equal(loss_ppo(&cfg, &c.in, NULL, c.ret, dl, dv, &st, ws), ATTN_ERR_NULL);
    loss_inputs no_rewards = c.in;
    no_rewards.rewards = NULL;
    assert_int_equal(loss_vtrace(&cfg, &no_rewards, dl, dv, &st, ws), ATTN_ERR_NULL);
    assert_non_null(strstr(attn_last_error(), "rewards"));
    /* PPO never reads the trajectory: it works without it. */
    assert_int_equal(loss_ppo(&cfg, &no_rewards, c.adv, c.ret, dl, dv, &st, ws), ATTN_OK);

    loss_inputs empty = c.in;
    empty.T = 0;
    assert_int_equal(loss_a2c(&cfg, &empty, dl, dv, &st, ws), ATTN_ERR_SIZE);

    attn_loss_config bad = cfg;
    bad.discount = -0.5f;
    assert_int_equal(loss_vtrace(&bad, &c.in, dl, dv, &st, ws), ATTN_ERR_INVALID);

    c.rewards[3] = NAN;
    assert_int_equal(loss_a2c(&cfg, &c.in, dl, dv, &st, ws), ATTN_ERR_NONFINITE);
    assert_int_equal(loss_vtrace(&cfg, &c.in, dl, dv, &st, ws), ATTN_ERR_NONFINITE);
    c.rewards[3] = 0.0f;
    c.logits[7] = INFINITY;
    assert_int_equal(loss_ppo(&cfg, &c.in, c.adv, c.ret, dl, dv, &st, ws), ATTN_ERR_NONFINITE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_gae_lambda_one_is_monte_carlo),
        cmocka_unit_test(test_gae_lambda_zero_is_td),
        cmocka_unit_test(test_gae_truncation_bootstraps_termination_does_not),
        cmocka_unit_test(test_a2c_by_hand),
        cmocka_unit_test(test_vtrace_by_hand),
        cmocka_unit_test(test_vtrace_episode_boundaries),
        cmocka_unit_test(test_vtrace_on_policy_is_n_step_returns),
        cmocka_unit_test(test_reward_clipping),
        cmocka_unit_test(test_ppo_clipped_surrogate_by_hand),
        cmocka_unit_test(test_ppo_normalizes_advantages),
        cmocka_unit_test(test_a2c_gradients_match_finite_differences),
        cmocka_unit_test(test_vtrace_gradients_match_finite_differences),
        cmocka_unit_test(test_ppo_gradients_match_finite_differences),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
