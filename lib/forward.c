#include <math.h>
#include <stdio.h>
#include <string.h>

#include "activations.h"
#include "attention.h"
#include "conv.h"
#include "errors.h"
#include "finite.h"
#include "linear.h"
#include "lstm_cell.h"
#include "model.h"
#include "step.h"

conv_shape layer_shape(const dims *d, int i, int B)
{
    if (i == d->nconv)
        return (conv_shape){B, d->gh, d->gw, d->F + d->L, 4 * d->L, 3, 1, 1, d->gh, d->gw};
    return (conv_shape){B, d->ih[i], d->iw[i], d->cin[i], d->cout[i], d->k[i], d->stride[i], d->pad[i], d->oh[i],
                        d->ow[i]};
}

size_t layer_weight_floats(const dims *d, int i)
{
    conv_shape cs = layer_shape(d, i, 1);
    return (size_t)cs.cout * (size_t)conv_cols(&cs);
}

void convlstm_concat(float *xin, const float *f, const float *h_prev, const dims *d, int B)
{
    const int F = d->F, L = d->L;
    for (long p = 0; p < (long)B * d->P; p++) {
        memcpy(xin + p * (F + L), f + p * F, sizeof(float) * (size_t)F);
        memcpy(xin + p * (F + L) + F, h_prev + p * L, sizeof(float) * (size_t)L);
    }
}

attn_shape attention_shape(const dims *d, int B) { return (attn_shape){B, d->P, d->L, d->ck, d->cs, d->N}; }

static attn_status validate(const attn_model *m, const attn_state *s, attn_forward_mode mode, const void *obs,
                            size_t obs_bytes, const float *prev_reward, const int32_t *prev_action)
{
    attn_status st = check_not_null(m, "model");
    if (st || (st = check_not_null(s, "state")) || (st = check_not_null(obs, "obs"))) return st;
    if (s->model != m) return fail(ATTN_ERR_INVALID, "the state was created for another model");
    if (mode != ATTN_FORWARD_ACT && mode != ATTN_FORWARD_RECORD)
        return fail(ATTN_ERR_INVALID, "unknown forward mode %d", (int)mode);
    const dims *d = &m->d;
    size_t pixels = (size_t)s->B * d->H * d->W * d->C;
    size_t want = pixels * obs_elem_size(m->cfg.obs_type);
    if (obs_bytes != want)
        return fail(ATTN_ERR_SIZE, "obs_bytes is %zu; %d environments of %d×%d×%d %s need %zu", obs_bytes, s->B, d->H,
                    d->W, d->C, m->cfg.obs_type == ATTN_OBS_F32 ? "float32" : "uint8", want);
    if (mode == ATTN_FORWARD_RECORD && s->recorded >= s->T)
        return fail(ATTN_ERR_SIZE, "the tape is full: %d steps recorded of at most %d (call attn_backward)",
                    s->recorded, s->T);
    if (mode == ATTN_FORWARD_ACT && s->recorded)
        return fail(ATTN_ERR_STATE, "an acting step would break the %d recorded steps; call attn_backward or "
                                    "attn_state_clear_tape first", s->recorded);
    size_t bad = obs_first_invalid(obs, m->cfg.obs_type, pixels);
    if (bad < pixels) {
        if (m->cfg.obs_type == ATTN_OBS_F32)
            return fail(ATTN_ERR_NONFINITE, "observation value %zu is not finite", bad);
        return fail(ATTN_ERR_INVALID, "observation byte %zu is %d; binary planes (ATTN_OBS_U8_BINARY) hold 0 or 1 "
                                      "(pixels 0..255 are ATTN_OBS_U8)", bad, ((const uint8_t *)obs)[bad]);
    }
    for (int b = 0; b < s->B; b++) {
        if (prev_reward && !isfinite(prev_reward[b]))
            return fail(ATTN_ERR_NONFINITE, "prev_reward[%d] is not finite", b);
        if (prev_action && (prev_action[b] < ATTN_NO_ACTION || prev_action[b] >= d->A))
            return fail(ATTN_ERR_INVALID, "prev_action[%d] = %d outside [0, %d) and not ATTN_NO_ACTION", b,
                        prev_action[b], d->A);
    }
    return ATTN_OK;
}

/* Copies the state entering the step into the record for environments [b0, b0 + n), zeroing those that start
 * an episode, so the backward pass sees exactly what the forward used. */
static void enter_step(step_record *r, const attn_state *s, const dims *d, const float *prev_reward,
                       const int32_t *prev_action, const uint8_t *first, int b0, int n)
{
    const size_t vs = (size_t)d->P * d->L, ps = (size_t)d->Hp;
    for (int b = b0; b < b0 + n; b++) {
        int reset = first && first[b];
        r->first[b] = (uint8_t)reset;
        r->prev_reward[b] = reset || !prev_reward ? 0.0f : prev_reward[b];
        r->prev_action[b] = reset || !prev_action ? ATTN_NO_ACTION : prev_action[b];
        if (reset) {
            memset(r->vh_prev + b * vs, 0, vs * sizeof(float));
            memset(r->vc_prev + b * vs, 0, vs * sizeof(float));
            memset(r->ph_prev + b * ps, 0, ps * sizeof(float));
            memset(r->pc_prev + b * ps, 0, ps * sizeof(float));
        } else {
            memcpy(r->vh_prev + b * vs, s->vh + b * vs, vs * sizeof(float));
            memcpy(r->vc_prev + b * vs, s->vc + b * vs, vs * sizeof(float));
            memcpy(r->ph_prev + b * ps, s->ph + b * ps, ps * sizeof(float));
            memcpy(r->pc_prev + b * ps, s->pc + b * ps, ps * sizeof(float));
        }
    }
}

/* The first layer's input: pixels divided by 255, binary planes and floats as they are (docs/embedding.md). */
static void load_obs(float *x, const void *obs, int obs_type, size_t n)
{
    if (obs_type != ATTN_OBS_F32) {
        const uint8_t *o = obs;
        const float scale = obs_type == ATTN_OBS_U8 ? 1.0f / 255.0f : 1.0f;
        for (size_t i = 0; i < n; i++) x[i] = (float)o[i] * scale;
    } else {
        memcpy(x, obs, n * sizeof(float));
    }
}

/* MLP over a batch: layer j maps width[j] → width[j+1], ReLU after every layer but the last. Hidden
 * activations go to act[j]; the output to `out`. */
static void mlp_forward(float *out, float *const *act, const float *in, float *const *w, float *const *b,
                        const int *width, int layers, int B)
{
    const float *x = in;
    for (int j = 0; j < layers; j++) {
        float *y = j + 1 < layers ? act[j] : out;
        linear_forward(y, x, w[j], b[j], B, width[j], width[j + 1], 0);
        if (j + 1 < layers) relu_forward(y, (size_t)B * width[j + 1]);
        x = y;
    }
}

/* a_in [B][N·vd + N·kd + 1 + A] = [answers, queries, previous reward, one-hot previous action]. */
static void answer_input(float *a_in, const step_record *r, const dims *d, int B)
{
    const int na = d->N * d->vd, nq = d->N * d->kd;
    for (int b = 0; b < B; b++) {
        float *row = a_in + (long)b * d->a_in;
        memcpy(row, r->ans + (long)b * na, sizeof(float) * (size_t)na);
        memcpy(row + na, r->Q + (long)b * nq, sizeof(float) * (size_t)nq);
        row[na + nq] = r->prev_reward[b];
        float *onehot = row + na + nq + 1;
        memset(onehot, 0, sizeof(float) * (size_t)d->A);
        if (r->prev_action[b] != ATTN_NO_ACTION) onehot[r->prev_action[b]] = 1.0f;
    }
}

typedef struct gates_job {
    const conv_shape *s;
    const conv_plan *plan;
    const float *xin, *w, *b, *c_prev;
    float *gates, *cols, *h, *c;
    float *scratch;      /* part k's kernel scratch is scratch + k·scratch_floats */
    long scratch_floats;
    int L, parts;
} gates_job;

/* Part k of `parts` of the ConvLSTM: the gate convolution and the cell for a contiguous block of grid cells. */
static void gates_part(void *ctx, int k)
{
    const gates_job *g = ctx;
    long r0, n;
    conv_plan_part(g->plan, g->s, k, g->parts, &r0, &n);
    float *scratch = g->scratch ? g->scratch + k * g->scratch_floats : NULL;
    conv_plan_forward_rows(g->gates, g->cols, scratch, g->xin, g->w, g->plan, g->b, g->s, r0, n);
    lstm_cell_forward(g->h + r0 * g->L, g->c + r0 * g->L, g->gates + r0 * 4 * g->L, g->c_prev + r0 * g->L, (int)n,
                      g->L);
}

typedef struct core_job {
    const float *z, *ph_prev, *wih, *whh, *b;
    float *gates;
    int hp, parts;
} core_job;

/* Part k of `parts` of the policy LSTM's gate products for ONE environment: a block of gate columns, which
 * for a single row is a contiguous piece of the output. */
static void core_part(void *ctx, int k)
{
    const core_job *c = ctx;
    const int c0 = 4 * c->hp * k / c->parts, n = 4 * c->hp * (k + 1) / c->parts - c0;
    linear_forward(c->gates + c0, c->z, c->wih + (long)c0 * c->hp, c->b + c0, 1, c->hp, n, 0);
    linear_forward(c->gates + c0, c->ph_prev, c->whh + (long)c0 * c->hp, NULL, 1, c->hp, n, 1);
}

/* One step for the B environments of the record and scratch slices given. `split`, when not NULL, is an idle
 * pool whose threads share the ConvLSTM (by far the largest GEMM) in fixed blocks of grid cells and, for a
 * single environment, the policy LSTM's gate products in fixed blocks of columns; fixed blocks keep a thread
 * count's results bitwise repeatable. kscratch: the convolution kernels' scratch, kscratch_floats per thread
 * (this thread's own, or with `split` the first of the pool's). */
static void step_forward(const attn_model *m, step_record *r, scratch *x, const conv_plan *plans, pool *split,
                         float *kscratch, long kscratch_floats, int B, float *logits, float *values)
{
    const dims *d = &m->d;
    const weights *w = &m->w;

    /* Vision: conv stack, then the ConvLSTM over [f, h_prev]. */
    const float *in = r->x;
    for (int i = 0; i < d->nconv; i++) {
        conv_shape cs = layer_shape(d, i, B);
        conv_plan_forward_rows(r->conv[i], x->cols, kscratch, in, w->conv_w[i], &plans[i], w->conv_b[i], &cs, 0,
                               conv_rows(&cs));
        relu_forward(r->conv[i], (size_t)conv_rows(&cs) * cs.cout);
        in = r->conv[i];
    }
    conv_shape ls = layer_shape(d, d->nconv, B);
    convlstm_concat(x->xin, in, r->vh_prev, d, B);
    gates_job gj = {.s = &ls, .xin = x->xin, .w = w->clstm_w, .plan = &plans[d->nconv], .b = w->clstm_b,
                    .c_prev = r->vc_prev, .gates = r->vgates, .cols = x->cols, .h = r->vh, .c = r->vc,
                    .scratch = kscratch, .scratch_floats = kscratch_floats, .L = d->L, .parts = 1};
    if (split) {
        gj.parts = pool_threads(split);
        pool_run(split, gj.parts, gates_part, &gj);
    } else {
        gates_part(&gj, 0);
    }

    /* Top-down queries from the previous policy state, attention over keys and values. */
    mlp_forward(r->Q, r->q_act, r->ph_prev, w->q_w, w->q_b, d->q_width, d->q_layers, B);
    attn_shape as = attention_shape(d, B);
    attention_forward(r->maps, r->ans, r->vh, m->basis, r->Q, &as);

    /* Policy core and heads. */
    answer_input(r->a_in, r, d, B);
    mlp_forward(r->z, r->a_act, r->a_in, w->a_w, w->a_b, d->a_width, d->a_layers, B);
    if (split && B == 1) {
        core_job cj = {r->z, r->ph_prev, w->core_wih, w->core_whh, w->core_b, r->pgates, d->Hp, pool_threads(split)};
        pool_run(split, cj.parts, core_part, &cj);
    } else {
        linear_forward(r->pgates, r->z, w->core_wih, w->core_b, B, d->Hp, 4 * d->Hp, 0);
        linear_forward(r->pgates, r->ph_prev, w->core_whh, NULL, B, d->Hp, 4 * d->Hp, 1);
    }
    lstm_cell_forward(r->ph, r->pc, r->pgates, r->pc_prev, B, d->Hp);
    if (logits) linear_forward(logits, r->ph, w->pol_w, w->pol_b, B, d->Hp, d->A, 0);
    if (values) linear_forward(values, r->ph, w->val_w, w->val_b, B, d->Hp, 1, 0);
}

/* The state after the step, for environments [b0, b0 + n): the record's outputs become the state's, and the
 * logits and values the caller's. */
static void leave_step(attn_state *s, const step_record *r, const dims *d, int b0, int n, float *logits,
                       float *values)
{
    const size_t vs = (size_t)d->P * d->L, ps = (size_t)d->Hp, ms = (size_t)d->N * d->P;
    memcpy(s->vh + b0 * vs, r->vh + b0 * vs, n * vs * sizeof(float));
    memcpy(s->vc + b0 * vs, r->vc + b0 * vs, n * vs * sizeof(float));
    memcpy(s->ph + b0 * ps, r->ph + b0 * ps, n * ps * sizeof(float));
    memcpy(s->pc + b0 * ps, r->pc + b0 * ps, n * ps * sizeof(float));
    memcpy(s->maps + b0 * ms, r->maps + b0 * ms, n * ms * sizeof(float));
    if (logits)
        memcpy(logits + (size_t)b0 * d->A, s->out_logits + (size_t)b0 * d->A, (size_t)n * d->A * sizeof(float));
    if (values) memcpy(values + b0, s->out_values + b0, (size_t)n * sizeof(float));
}

/* Whether environment b's step left anything non-finite that it would hand on: its recurrent state, its maps,
 * and the logits and values the caller asked for. */
static int env_finite(const attn_state *s, const step_record *r, const dims *d, int b, int logits, int values)
{
    const size_t vs = (size_t)d->P * d->L, ps = (size_t)d->Hp, ms = (size_t)d->N * d->P;
    return all_finite(r->vh + b * vs, vs) && all_finite(r->vc + b * vs, vs) && all_finite(r->ph + b * ps, ps) &&
           all_finite(r->pc + b * ps, ps) && all_finite(r->maps + b * ms, ms) &&
           (!logits || all_finite(s->out_logits + (size_t)b * d->A, (size_t)d->A)) &&
           (!values || all_finite(s->out_values + b, 1));
}

typedef struct forward_job {
    const attn_model *m;
    attn_state *s;
    step_record *r;
    const void *obs;
    const float *prev_reward;
    const int32_t *prev_action;
    const uint8_t *first;
    conv_plan plans[ATTN_MAX_CONV_LAYERS + 1]; /* conv layers, then the ConvLSTM */
    float *logits, *values;
} forward_job;

/* Thread k's share: its contiguous slice of the environments, through the whole network, from copying the
 * state in to checking what came out (on the thread that computes with it, and in parallel: at B = 16 those
 * copies are 800 KB a step). The slice's first environment with a non-finite result goes to slice_bad[k]. */
static void forward_slice(void *ctx, int k)
{
    const forward_job *j = ctx;
    const dims *d = &j->m->d;
    int b0, n;
    thread_range(j->s->B, j->s->threads, k, &b0, &n);
    enter_step(j->r, j->s, d, j->prev_reward, j->prev_action, j->first, b0, n);
    const size_t pixels = (size_t)d->H * d->W * d->C;
    const size_t obs_size = obs_elem_size(j->m->cfg.obs_type);
    load_obs(j->r->x + b0 * pixels, (const char *)j->obs + b0 * pixels * obs_size, j->m->cfg.obs_type, n * pixels);
    step_record r;
    scratch x;
    record_slice(&r, j->r, d, b0);
    scratch_slice(&x, &j->s->s, d, b0);
    pool *split = j->s->threads == 1 ? j->s->workers : NULL; /* one slice, idle threads: share its ConvLSTM */
    const long ks = j->s->kscratch_floats;
    float *kscratch = j->s->kscratch ? j->s->kscratch + (size_t)k * ks : NULL;
    step_forward(j->m, &r, &x, j->plans, split, kscratch, ks, n,
                 j->logits ? j->s->out_logits + (size_t)b0 * d->A : NULL, j->values ? j->s->out_values + b0 : NULL);
    j->s->slice_bad[k] = -1;
    for (int b = b0; b < b0 + n; b++)
        if (!env_finite(j->s, j->r, d, b, j->logits != NULL, j->values != NULL)) {
            j->s->slice_bad[k] = b;
            break;
        }
}

static void leave_slice(void *ctx, int k)
{
    const forward_job *j = ctx;
    int b0, n;
    thread_range(j->s->B, j->s->threads, k, &b0, &n);
    leave_step(j->s, j->r, &j->m->d, b0, n, j->logits, j->values);
}

/* One stage of the network, for the diagnosis of a non-finite step: what it wrote (up to two arrays), the
 * largest magnitudes of what it read and of its weights, and the earlier stage of the same step that wrote its
 * input (-1: the observation, the state carried in, the reward). */
typedef struct stage {
    const char *name, *input;
    const float *out[2];
    size_t n[2];
    double in_max, w_max;
    int fed_by;
} stage;

/* The largest weight magnitude of the parameter tensors whose names start with `prefix`. */
static double weights_max(const attn_model *m, const char *prefix)
{
    double most = 0.0;
    for (int i = 0; i < m->ntensors; i++)
        if (!strncmp(m->tensors[i].name, prefix, strlen(prefix))) {
            const double t = max_abs(m->params + m->tensors[i].offset, m->tensors[i].numel);
            if (t > most || t != t) most = t;
        }
    return most;
}

static double larger(double a, double b) { return a > b || a != a ? a : b; }

/* Whether the stage's input, not its weights, is the larger factor (a NaN input always is). */
static int input_to_blame(const stage *s) { return s->in_max >= s->w_max || s->in_max != s->in_max; }

/* Environment b's step went non-finite: ATTN_ERR_NONFINITE with a message naming the cause. The first stage
 * whose output is not finite is found (the record holds every intermediate of the step, in ACT mode too); its
 * input or its weights, whichever is larger in magnitude, is to blame, and an input written by an earlier stage
 * is followed back as long as that stage's input was the larger factor too. So an observation of 1e38 against
 * weights below 1 is named as the observation even where the overflow surfaces in the ConvLSTM, and weights
 * grown to 1e20 against inputs in [0, 1] are named as the weights. */
static attn_status nonfinite_step(const attn_model *m, const attn_state *s, const step_record *r, int b,
                                  const float *prev_reward, int logits, int values)
{
    const dims *d = &m->d;
    const size_t B = (size_t)b, vs = (size_t)d->P * d->L, ps = (size_t)d->Hp;
    stage stages[ATTN_MAX_CONV_LAYERS + 6];
    int n = 0;
    char names[ATTN_MAX_CONV_LAYERS][48], inputs[ATTN_MAX_CONV_LAYERS][48];
    const float *in = r->x + B * d->H * d->W * d->C;
    size_t in_n = (size_t)d->H * d->W * d->C;
    for (int i = 0; i < d->nconv; i++) {
        const size_t out_n = (size_t)d->oh[i] * d->ow[i] * d->cout[i];
        char prefix[32];
        snprintf(prefix, sizeof prefix, "vision.conv%d.", i);
        snprintf(names[i], sizeof names[i], "conv layer %d", i);
        if (i) snprintf(inputs[i], sizeof inputs[i], "conv layer %d's output", i - 1);
        else snprintf(inputs[i], sizeof inputs[i], "the observation");
        stages[n++] = (stage){names[i], inputs[i], {r->conv[i] + B * out_n, NULL}, {out_n, 0}, max_abs(in, in_n),
                              weights_max(m, prefix), i - 1};
        in = r->conv[i] + B * out_n;
        in_n = out_n;
    }
    const int convlstm = n;
    stages[n++] = (stage){"the ConvLSTM", "its input (the conv features and the ConvLSTM state carried in)",
                          {r->vc + B * vs, r->vh + B * vs}, {vs, vs},
                          larger(max_abs(in, in_n), larger(max_abs(r->vh_prev + B * vs, vs),
                                                           max_abs(r->vc_prev + B * vs, vs))),
                          weights_max(m, "vision.convlstm."), convlstm - 1};
    const size_t nq = (size_t)d->N * d->kd, nm = (size_t)d->N * d->P, na = (size_t)d->N * d->vd;
    stages[n++] = (stage){"the query MLP", "the policy LSTM state carried in", {r->Q + B * nq, NULL}, {nq, 0},
                          max_abs(r->ph_prev + B * ps, ps), weights_max(m, "query."), -1};
    stages[n++] = (stage){"the attention", "the queries times the keys", {r->maps + B * nm, r->ans + B * na}, {nm, na},
                          max_abs(r->Q + B * nq, nq) * max_abs(r->vh + B * vs, vs), 0.0, -1};
    const float *a_in = r->a_in + B * d->a_in;
    const double a_max = max_abs(a_in, (size_t)d->a_in);
    const int reward_largest = prev_reward && fabs((double)a_in[na + nq]) >= a_max;
    const int answer = n;
    stages[n++] = (stage){"the answer MLP", reward_largest ? "the previous reward" : "its input (the answers and queries)",
                          {r->z + B * ps, NULL}, {ps, 0}, a_max, weights_max(m, "answer."), -1};
    stages[n++] = (stage){"the policy LSTM", "its input (the answer MLP's output and the state carried in)",
                          {r->pc + B * ps, r->ph + B * ps}, {ps, ps},
                          larger(max_abs(r->z + B * ps, ps), larger(max_abs(r->ph_prev + B * ps, ps),
                                                                    max_abs(r->pc_prev + B * ps, ps))),
                          weights_max(m, "core."), answer};
    stages[n++] = (stage){"the policy and value heads", "the policy LSTM's output",
                          {logits ? s->out_logits + B * d->A : NULL, values ? s->out_values + B : NULL},
                          {logits ? (size_t)d->A : 0, values ? 1 : 0}, max_abs(r->ph + B * ps, ps),
                          larger(weights_max(m, "policy."), weights_max(m, "value.")), answer + 1};
    int at = n - 1;
    for (int k = 0; k < n; k++)
        if ((stages[k].out[0] && !all_finite(stages[k].out[0], stages[k].n[0])) ||
            (stages[k].out[1] && !all_finite(stages[k].out[1], stages[k].n[1]))) {
            at = k;
            break;
        }
    while (input_to_blame(&stages[at]) && stages[at].fed_by >= 0) {
        const int earlier = stages[at].fed_by;
        at = earlier;
        if (!input_to_blame(&stages[earlier])) break;
    }
    const stage *bad = &stages[at];
    if (!input_to_blame(bad))
        return fail(ATTN_ERR_NONFINITE, "environment %d: the step overflowed to a non-finite value: the weights of %s "
                    "reach %g in magnitude against an input of %g (have the weights diverged?); nothing was changed",
                    b, bad->name, bad->w_max, bad->in_max);
    const char *advice = at == 0 ? "; float observations must stay far enough inside the float range for the "
                                   "network's sums: scale them"
                         : at == answer && reward_largest ? "; scale or clip the rewards"
                                                          : "";
    return fail(ATTN_ERR_NONFINITE, "environment %d: the step overflowed to a non-finite value: %s reaches %g in "
                "magnitude in %s (its weights %g)%s; nothing was changed", b, bad->input, bad->in_max, bad->name,
                bad->w_max, advice);
}

/* Conv layer i's weights (i = nconv: the ConvLSTM's). */
static const float *conv_weights(const attn_model *m, int i) { return i < m->d.nconv ? m->w.conv_w[i] : m->w.clstm_w; }

/* Whether state->packed is the packing of the model's conv weights as they are now. Compared bit for bit
 * (memcmp), not by a version number: a host may write the weights through attn_model_params at any time, and
 * equal bits pack to equal bits, so reuse can never change a result. */
static int packing_is_current(const attn_model *m, const attn_state *s)
{
    if (!s->packed_fresh) return 0;
    const float *from = s->packed_from;
    for (int i = 0; i <= m->d.nconv; i++) {
        const size_t n = layer_weight_floats(&m->d, i);
        if (memcmp(from, conv_weights(m, i), sizeof(float) * n)) return 0;
        from += n;
    }
    return 1;
}

static void remember_packing(const attn_model *m, attn_state *s)
{
    float *to = s->packed_from;
    for (int i = 0; i <= m->d.nconv; i++) {
        const size_t n = layer_weight_floats(&m->d, i);
        memcpy(to, conv_weights(m, i), sizeof(float) * n);
        to += n;
    }
    s->packed_fresh = 1;
}

attn_status attn_forward(attn_model *model, attn_state *state, attn_forward_mode mode, const void *obs,
                         size_t obs_bytes, const float *prev_reward, const int32_t *prev_action,
                         const uint8_t *first, float *logits, float *values)
{
    attn_status st = validate(model, state, mode, obs, obs_bytes, prev_reward, prev_action);
    if (st) return st;
    const dims *d = &model->d;
    step_record *r = &state->tape[mode == ATTN_FORWARD_RECORD ? state->recorded : 0];
    forward_job job = {.m = model, .s = state, .r = r, .obs = obs, .prev_reward = prev_reward,
                       .prev_action = prev_action, .first = first, .logits = logits, .values = values};
    /* Packed once here for every thread and every slice of environments, and only when the weights changed
     * since the last packing: over an unroll or a rollout they do not, and repacking (the Winograd transform
     * above all) was the same work on every step. */
    const int fresh = packing_is_current(model, state);
    float *wp = state->packed;
    for (int i = 0; i <= d->nconv; i++) {
        conv_shape cs = layer_shape(d, i, state->B);
        const conv_method method = (conv_method)state->conv_methods[i];
        wp += fresh ? conv_plan_attach(&job.plans[i], wp, &cs, method)
                    : conv_plan_prepare_method(&job.plans[i], wp, conv_weights(model, i), &cs, method);
    }
    if (!fresh) remember_packing(model, state);
    /* Computed and checked first, handed on after: a non-finite result must reach neither the state (nor the
     * maps and the tape) nor the caller's buffers. */
    if (state->threads > 1)
        pool_run(state->workers, state->threads, forward_slice, &job);
    else
        forward_slice(&job, 0);
    for (int k = 0; k < state->threads; k++)
        if (state->slice_bad[k] >= 0)
            return nonfinite_step(model, state, r, state->slice_bad[k], prev_reward, logits != NULL, values != NULL);
    if (state->threads > 1)
        pool_run(state->workers, state->threads, leave_slice, &job);
    else
        leave_slice(&job, 0);
    state->stepped = 1;
    if (mode == ATTN_FORWARD_RECORD) state->recorded++;
    return ATTN_OK;
}
