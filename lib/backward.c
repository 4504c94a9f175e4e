#include <math.h>
#include <string.h>

#include "activations.h"
#include "conv_direct.h"
#include "errors.h"
#include "finite.h"
#include "linear.h"
#include "lstm_cell.h"
#include "step.h"

/* Backward through an MLP whose forward was mlp_forward: dout is the gradient of the output; parameter
 * gradients are accumulated; dx_out receives the gradient of the input (added to it with `accumulate`).
 * buf_a and buf_b are ping-pong scratch for the hidden layers; dout may be one of them. */
static void mlp_backward(float *dx_out, int accumulate, const float *dout, const float *in, float *const *act,
                         float *const *w, float *const *gw, float *const *gb, const int *width, int layers, int B,
                         float *buf_a, float *buf_b)
{
    const float *dy = dout;
    for (int j = layers - 1; j >= 0; j--) {
        const float *x = j ? act[j - 1] : in;
        float *dx = j ? (dy == buf_a ? buf_b : buf_a) : dx_out;
        linear_backward(dx, gw[j], gb[j], dy, x, w[j], B, width[j], width[j + 1], j ? 0 : accumulate);
        if (j) relu_backward(dx, act[j - 1], (size_t)B * width[j]);
        dy = dx;
    }
}

/* Zeroes the rows of environments whose step began an episode: their entering state was a constant zero, so
 * no gradient flows into the step before. */
static void cut_at_resets(float *g, const uint8_t *first, int B, size_t row)
{
    for (int b = 0; b < B; b++)
        if (first[b]) memset(g + b * row, 0, row * sizeof(float));
}

static attn_status check_finite(const float *x, size_t n, const char *what)
{
    if (x)
        for (size_t i = 0; i < n; i++)
            if (!isfinite(x[i])) return fail(ATTN_ERR_NONFINITE, "%s[%zu] is not finite", what, i);
    return ATTN_OK;
}

/* One step backward for the B environments of the record and scratch slices given, accumulating parameter
 * gradients into `g` and leaving in the scratch's carries the gradient reaching the state that entered it.
 * dx_plan: how the ConvLSTM's input gradient is computed (conv_plan_input_grad; CONV_UNFOLD: by
 * conv2d_backward's unfold-and-GEMM path). dwp[i]: the accumulator where layer i's weight gradient sums by
 * conv_wgrad_choose's method (the caller finishes it into g after the last step), or NULL to add it to g by
 * unfolding; dws: the accumulators' scratch; kscratch: this thread's convolution-kernel scratch. */
static void step_backward(const attn_model *m, const weights *g, scratch *x, const step_record *r, int B,
                          const conv_plan *dx_plan, float *kscratch, float *const *dwp, float *dws,
                          const float *dlogits, const float *dvalues)
{
    const dims *d = &m->d;
    const weights *w = &m->w;

    /* Heads: add their gradient to the one reaching h^p_t from the next step. */
    if (dlogits) linear_backward(x->dph, g->pol_w, g->pol_b, dlogits, r->ph, w->pol_w, B, d->Hp, d->A, 1);
    if (dvalues) linear_backward(x->dph, g->val_w, g->val_b, dvalues, r->ph, w->val_w, B, d->Hp, 1, 1);

    /* Policy LSTM (in place on dpc: each element is read before it is overwritten). */
    lstm_cell_backward(x->dpgates, x->dpc, x->dph, x->dpc, r->pgates, r->pc, r->pc_prev, B, d->Hp);
    float *dz = x->dact_a;
    linear_backward(dz, g->core_wih, g->core_b, x->dpgates, r->z, w->core_wih, B, d->Hp, 4 * d->Hp, 0);
    linear_backward(x->dph_prev, g->core_whh, NULL, x->dpgates, r->ph_prev, w->core_whh, B, d->Hp, 4 * d->Hp, 0);

    /* MLP_a, then split its input gradient into answers and queries. */
    mlp_backward(x->da_in, 0, dz, r->a_in, r->a_act, w->a_w, g->a_w, g->a_b, d->a_width, d->a_layers, B, x->dact_a,
                 x->dact_b);
    const int na = d->N * d->vd, nq = d->N * d->kd;
    float *dans = x->dact_a;
    for (int b = 0; b < B; b++)
        memcpy(dans + (long)b * na, x->da_in + (long)b * d->a_in, sizeof(float) * (size_t)na);

    /* Attention: gradient to the queries and to the ConvLSTM output (added to the carry from the next step). */
    attn_shape as = attention_shape(d, B);
    attention_backward(x->dQ, x->dvh, x->attn_tmp, dans, r->maps, r->vh, m->basis, r->Q, &as);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < nq; k++) x->dQ[(long)b * nq + k] += x->da_in[(long)b * d->a_in + na + k];

    /* MLP_q: the queries came from the previous policy state. */
    mlp_backward(x->dph_prev, 1, x->dQ, r->ph_prev, r->q_act, w->q_w, g->q_w, g->q_b, d->q_width, d->q_layers, B,
                 x->dact_a, x->dact_b);

    /* ConvLSTM: cell, then the gate convolution over [f, h_prev] (in place on dvc as above). */
    const long cells = (long)B * d->P;
    lstm_cell_backward(x->dvgates, x->dvc, x->dvh, x->dvc, r->vgates, r->vc, r->vc_prev, (int)cells, d->L);
    conv_shape ls = layer_shape(d, d->nconv, B);
    const float *f = r->conv[d->nconv - 1];
    convlstm_concat(x->xin, f, r->vh_prev, d, B);
    memset(x->dxin, 0, sizeof(float) * (size_t)(cells * (d->F + d->L)));
    if (dx_plan->method != CONV_UNFOLD) {
        conv2d_backward(NULL, g->clstm_w, dwp[d->nconv], dws, g->clstm_b, x->cols, x->dcols, x->xin, w->clstm_w,
                        x->dvgates, &ls);
        conv_shape ts = conv_direct_input_grad_shape(&ls);
        conv_plan_forward_rows(x->dxin, NULL, kscratch, x->dvgates, NULL, dx_plan, NULL, &ts, 0, conv_rows(&ts));
    } else {
        conv2d_backward(x->dxin, g->clstm_w, dwp[d->nconv], dws, g->clstm_b, x->cols, x->dcols, x->xin,
                        w->clstm_w, x->dvgates, &ls);
    }
    float *df = x->dact_a;
    for (long p = 0; p < cells; p++) {
        memcpy(df + p * d->F, x->dxin + p * (d->F + d->L), sizeof(float) * (size_t)d->F);
        memcpy(x->dvh + p * d->L, x->dxin + p * (d->F + d->L) + d->F, sizeof(float) * (size_t)d->L);
    }

    /* Conv stack, top to bottom; the observation itself needs no gradient. */
    float *dout = df, *other = x->dact_b;
    for (int i = d->nconv - 1; i >= 0; i--) {
        conv_shape cs = layer_shape(d, i, B);
        relu_backward(dout, r->conv[i], (size_t)conv_rows(&cs) * cs.cout);
        float *din = NULL;
        if (i) {
            din = other;
            memset(din, 0, sizeof(float) * (size_t)((long)B * cs.ih * cs.iw * cs.cin));
        }
        conv2d_backward(din, g->conv_w[i], dwp[i], dws, g->conv_b[i], x->cols, x->dcols,
                        i ? r->conv[i - 1] : r->x, w->conv_w[i], dout, &cs);
        other = dout;
        dout = din;
    }

    /* What flows into the step before: nothing where this step reset the state. */
    memcpy(x->dph, x->dph_prev, sizeof(float) * (size_t)B * d->Hp);
    cut_at_resets(x->dph, r->first, B, (size_t)d->Hp);
    cut_at_resets(x->dpc, r->first, B, (size_t)d->Hp);
    cut_at_resets(x->dvh, r->first, B, (size_t)d->P * d->L);
    cut_at_resets(x->dvc, r->first, B, (size_t)d->P * d->L);
}

typedef struct backward_job {
    const attn_model *m;
    attn_state *s;
    conv_plan dx_plan;
    const float *dlogits, *dvalues;
} backward_job;

/* Thread k's share: its slice of environments through every recorded step, newest first, adding into its own
 * private gradients (zeroed by attn_backward). */
static void backward_slice(void *ctx, int k)
{
    const backward_job *j = ctx;
    const attn_model *m = j->m;
    attn_state *s = j->s;
    const dims *d = &m->d;
    int b0, n;
    thread_range(s->B, s->threads, k, &b0, &n);
    weights g;
    weights_map(m, s->thread_grads + (size_t)k * m->nparams, &g);
    scratch x;
    scratch_slice(&x, &s->s, d, b0);
    const size_t vs = (size_t)n * d->P * d->L, ps = (size_t)n * d->Hp;
    memset(x.dvh, 0, sizeof(float) * vs);
    memset(x.dvc, 0, sizeof(float) * vs);
    memset(x.dph, 0, sizeof(float) * ps);
    memset(x.dpc, 0, sizeof(float) * ps);
    /* Weight gradients on Winograd or the direct kernel sum over every step into this thread's own
     * accumulators, turned into g's layout once at the end. */
    long at[ATTN_MAX_CONV_LAYERS + 1], scratch_at;
    float *dwp[ATTN_MAX_CONV_LAYERS + 1];
    wgrad_packed_layout(d, at, &scratch_at);
    float *mine = s->wgrad_packed ? s->wgrad_packed + (size_t)k * s->wgrad_packed_floats : NULL;
    if (mine) memset(mine, 0, sizeof(float) * (size_t)scratch_at);
    for (int i = 0; i <= d->nconv; i++) dwp[i] = mine && at[i] >= 0 ? mine + at[i] : NULL;
    float *dws = mine ? mine + scratch_at : NULL;
    float *kscratch = s->kscratch ? s->kscratch + (size_t)k * s->kscratch_floats : NULL;
    for (int t = s->recorded - 1; t >= 0; t--) {
        step_record r;
        record_slice(&r, &s->tape[t], d, b0);
        const size_t row = (size_t)t * s->B + (size_t)b0;
        step_backward(m, &g, &x, &r, n, &j->dx_plan, kscratch, dwp, dws, j->dlogits ? j->dlogits + row * d->A : NULL,
                      j->dvalues ? j->dvalues + row : NULL);
    }
    for (int i = 0; i <= d->nconv; i++) {
        if (!dwp[i]) continue;
        conv_shape cs = layer_shape(d, i, n);
        conv_wgrad_finish(i < d->nconv ? g.conv_w[i] : g.clstm_w, dwp[i], &cs);
    }
}

attn_status attn_backward(attn_model *model, attn_state *state, const float *dlogits, const float *dvalues)
{
    attn_status st = check_not_null(model, "model");
    if (st || (st = check_not_null(state, "state"))) return st;
    if (state->model != model) return fail(ATTN_ERR_INVALID, "the state was created for another model");
    if (!state->recorded)
        return fail(ATTN_ERR_STATE, "nothing recorded: run attn_forward with ATTN_FORWARD_RECORD first");
    const dims *d = &model->d;
    const int T = state->recorded, B = state->B;
    if ((st = check_finite(dlogits, (size_t)T * B * d->A, "dlogits")) ||
        (st = check_finite(dvalues, (size_t)T * B, "dvalues")))
        return st;
    const size_t np = model->nparams;
    memset(state->thread_grads, 0, sizeof(float) * (size_t)state->threads * np);
    backward_job job = {.m = model, .s = state, .dlogits = dlogits, .dvalues = dvalues};
    conv_shape ls = layer_shape(d, d->nconv, B);
    state->packed_fresh = 0; /* the forward's packing is overwritten here */
    conv_plan_input_grad(&job.dx_plan, state->packed, model->w.clstm_w, &ls); /* once for every thread and step */
    if (state->threads > 1)
        pool_run(state->workers, state->threads, backward_slice, &job);
    else
        backward_slice(&job, 0);
    /* The model's gradients plus every thread's, added in a fixed order (so a thread count gives one bitwise
     * result; into gradients that start at zero, exactly what accumulating in place gave), into thread 0's
     * buffer: only a wholly finite sum replaces the model's gradients. Huge but finite dlogits or dvalues, or
     * weights large enough, overflow here though every input was finite. */
    float *total = state->thread_grads;
    for (size_t i = 0; i < np; i++) total[i] = model->grads[i] + total[i];
    for (int k = 1; k < state->threads; k++) {
        const float *tg = state->thread_grads + (size_t)k * np;
        for (size_t i = 0; i < np; i++) total[i] += tg[i];
    }
    if (!all_finite(total, np)) {
        size_t i = 0;
        while (all_finite(total + i, 1)) i++;
        int t = 0;
        while (t + 1 < model->ntensors && model->tensors[t + 1].offset <= i) t++;
        return fail(ATTN_ERR_NONFINITE, "the gradient of %s (element %zu) would not be finite; the gradients and the "
                    "tape are unchanged (are dlogits or dvalues, or the weights, too large?)", model->tensors[t].name,
                    i - model->tensors[t].offset);
    }
    memcpy(model->grads, total, sizeof(float) * np);
    state->recorded = 0;
    return ATTN_OK;
}
