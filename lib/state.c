#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "carve.h"
#include "conv_direct.h"
#include "conv_planner.h"
#include "errors.h"
#include "model.h"
#include "sizes.h"
#include "step.h"


/* Every batch-sized buffer is declared once, here, with its size per environment: the same list lays the
 * buffers out in memory (B environments each) and cuts them into per-thread slices (environments b0..). */
typedef void (*field_fn)(void *ctx, void **ptr, size_t per_env, size_t elem);
#define FIELD(p, n)                                                                                            \
    do {                                                                                                       \
        void *v_ = (void *)(p);                                                                                \
        f(ctx, &v_, (size_t)(n), sizeof *(p));                                                                 \
        (p) = v_;                                                                                              \
    } while (0)

/* Sizes per environment: config_dims bounded every one of them (and every partial product, all factors being at
 * least 1) by INT_MAX elements, so they are exact in size_t; only the products with the batch and the tape can
 * leave that range, and those go through size_mul (layout_field, carve.h). */
static void record_fields(step_record *r, const dims *d, field_fn f, void *ctx)
{
    const size_t vs = (size_t)d->P * d->L;
    FIELD(r->first, 1);
    FIELD(r->prev_reward, 1);
    FIELD(r->prev_action, 1);
    FIELD(r->x, (size_t)d->H * d->W * d->C);
    for (int i = 0; i < d->nconv; i++) FIELD(r->conv[i], (size_t)d->oh[i] * d->ow[i] * d->cout[i]);
    FIELD(r->vh_prev, vs);
    FIELD(r->vc_prev, vs);
    FIELD(r->vgates, 4 * vs);
    FIELD(r->vc, vs);
    FIELD(r->vh, vs);
    FIELD(r->ph_prev, d->Hp);
    FIELD(r->pc_prev, d->Hp);
    for (int j = 0; j + 1 < d->q_layers; j++) FIELD(r->q_act[j], d->q_width[j + 1]);
    FIELD(r->Q, (size_t)d->N * d->kd);
    FIELD(r->maps, (size_t)d->N * d->P);
    FIELD(r->ans, (size_t)d->N * d->vd);
    FIELD(r->a_in, d->a_in);
    for (int j = 0; j + 1 < d->a_layers; j++) FIELD(r->a_act[j], d->a_width[j + 1]);
    FIELD(r->z, d->Hp);
    FIELD(r->pgates, 4 * d->Hp);
    FIELD(r->pc, d->Hp);
    FIELD(r->ph, d->Hp);
}

static void scratch_fields(scratch *s, const dims *d, field_fn f, void *ctx)
{
    long cols = (long)d->P * (d->F + d->L) * 9; /* the ConvLSTM's unfolded input */
    long act = (long)d->H * d->W * d->C;         /* largest activation a gradient may flow through */
    for (int i = 0; i < d->nconv; i++) {
        cols = max_l(cols, (long)d->oh[i] * d->ow[i] * d->cin[i] * d->k[i] * d->k[i]);
        act = max_l(act, (long)d->oh[i] * d->ow[i] * d->cout[i]);
    }
    for (int j = 0; j <= d->q_layers; j++) act = max_l(act, d->q_width[j]);
    for (int j = 0; j <= d->a_layers; j++) act = max_l(act, d->a_width[j]);
    const size_t vs = (size_t)d->P * d->L;
    FIELD(s->cols, cols);
    FIELD(s->dcols, cols);
    FIELD(s->xin, (size_t)d->P * (d->F + d->L));
    FIELD(s->dxin, (size_t)d->P * (d->F + d->L));
    FIELD(s->dact_a, act);
    FIELD(s->dact_b, act);
    FIELD(s->dvh, vs);
    FIELD(s->dvc, vs);
    FIELD(s->dvgates, 4 * vs);
    FIELD(s->dph, d->Hp);
    FIELD(s->dpc, d->Hp);
    FIELD(s->dph_prev, d->Hp);
    FIELD(s->dpgates, 4 * d->Hp);
    FIELD(s->da_in, d->a_in);
    FIELD(s->dQ, (size_t)d->N * d->kd);
    FIELD(s->attn_tmp, (size_t)d->N * d->P); /* one per environment, so slices never share it */
}

typedef struct layout_ctx {
    carver *c;
    long B;
} layout_ctx;

static void layout_field(void *ctx, void **ptr, size_t per_env, size_t elem)
{
    layout_ctx *l = ctx;
    *ptr = take(l->c, size_mul((size_t)l->B, per_env), elem);
}

static void slice_field(void *ctx, void **ptr, size_t per_env, size_t elem)
{
    *ptr = (char *)*ptr + *(const long *)ctx * per_env * elem;
}

void record_slice(step_record *out, const step_record *r, const dims *d, long b0)
{
    *out = *r;
    record_fields(out, d, slice_field, &b0);
}

void scratch_slice(scratch *out, const scratch *s, const dims *d, long b0)
{
    *out = *s;
    scratch_fields(out, d, slice_field, &b0);
}

/* Floats of one thread's attn_state.kscratch: the most any conv layer's forward plan or the ConvLSTM's input
 * gradient plan asks for. */
static long kernel_scratch_floats(const dims *d, int B)
{
    long most = 0;
    for (int i = 0; i <= d->nconv; i++) {
        conv_shape cs = layer_shape(d, i, B);
        most = max_l(most, conv_plan_scratch_floats(&cs));
    }
    conv_shape gates = layer_shape(d, d->nconv, B), dx = conv_direct_input_grad_shape(&gates);
    return max_l(most, conv_plan_scratch_floats(&dx));
}

/* Floats of attn_state.packed: every conv layer's weights as the forward pass packs them for B environments
 * (the method can depend on B), or the ConvLSTM's as the backward pass packs them for its input gradient,
 * whichever is larger (the passes never overlap). */
static long packed_floats(const dims *d, int B)
{
    long forward = 0;
    for (int i = 0; i <= d->nconv; i++) {
        conv_shape cs = layer_shape(d, i, B);
        forward += conv_plan_floats(&cs);
    }
    conv_shape gates = layer_shape(d, d->nconv, B);
    return max_l(forward, conv_plan_input_grad_floats(&gates));
}

/* Floats of attn_state.packed_from: every conv layer's weights and the ConvLSTM's. */
static size_t conv_weight_floats(const dims *d)
{
    size_t n = 0;
    for (int i = 0; i <= d->nconv; i++) n += layer_weight_floats(d, i);
    return n;
}

static void layout_state(carver *c, attn_state *st, const dims *d, size_t nparams)
{
    long B = st->B;
    layout_ctx l = {c, B};
    st->vh = TAKE_F(c, size_mul((size_t)B, (size_t)d->P * d->L));
    st->vc = TAKE_F(c, size_mul((size_t)B, (size_t)d->P * d->L));
    st->ph = TAKE_F(c, size_mul((size_t)B, (size_t)d->Hp));
    st->pc = TAKE_F(c, size_mul((size_t)B, (size_t)d->Hp));
    st->maps = TAKE_F(c, size_mul((size_t)B, (size_t)d->N * d->P));
    st->out_logits = TAKE_F(c, size_mul((size_t)B, (size_t)d->A));
    st->out_values = TAKE_F(c, (size_t)B);
    st->slice_bad = take(c, (size_t)st->threads, sizeof(int));
    int records = st->T > 0 ? st->T : 1;
    for (int t = 0; t < records; t++) record_fields(&st->tape[t], d, layout_field, &l);
    scratch_fields(&st->s, d, layout_field, &l);
    /* Every thread accumulates parameter gradients privately; attn_backward checks them and adds them up. */
    st->thread_grads = st->T > 0 ? TAKE_F(c, size_mul((size_t)st->threads, nparams)) : NULL;
    st->packed = TAKE_F(c, packed_floats(d, st->B));
    st->packed_from = TAKE_F(c, conv_weight_floats(d));
    long at[ATTN_MAX_CONV_LAYERS + 1];
    long scratch_at;
    st->kscratch_floats = kernel_scratch_floats(d, (int)B);
    st->kscratch = st->kscratch_floats ? TAKE_F(c, (size_t)st->model->threads * st->kscratch_floats) : NULL;
    st->wgrad_packed_floats = wgrad_packed_layout(d, at, &scratch_at);
    st->wgrad_packed =
        st->T > 0 && st->wgrad_packed_floats ? TAKE_F(c, (size_t)st->threads * st->wgrad_packed_floats) : NULL;
}

long wgrad_packed_layout(const dims *d, long at[ATTN_MAX_CONV_LAYERS + 1], long *scratch_at)
{
    long total = 0, scratch = 0;
    for (int i = 0; i <= d->nconv; i++) {
        conv_shape cs = layer_shape(d, i, 1);
        at[i] = conv_wgrad_choose(&cs) != WGRAD_UNFOLD ? total : -1;
        total += conv_wgrad_floats(&cs);
        scratch = max_l(scratch, conv_wgrad_scratch_floats(&cs));
    }
    *scratch_at = total;
    return total + scratch;
}

attn_status attn_state_create(attn_state **out, const attn_model *model, int batch, int max_unroll)
{
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    if ((st = check_not_null(model, "model"))) return st;
    if (batch < 1 || batch > ATTN_MAX_BATCH)
        return fail(ATTN_ERR_SIZE, "batch %d outside [1, %d]", batch, ATTN_MAX_BATCH);
    if (max_unroll < 0 || max_unroll > ATTN_MAX_UNROLL)
        return fail(ATTN_ERR_SIZE, "max_unroll %d outside [0, %d]", max_unroll, ATTN_MAX_UNROLL);
    /* Each layer hands BLAS, and the cell loops, the rows of all B environments at once as an int. */
    const dims *d = &model->d;
    for (int i = 0; i <= d->nconv; i++) {
        const conv_shape cs = layer_shape(d, i, 1);
        const size_t rows = size_mul((size_t)batch, (size_t)cs.oh * cs.ow);
        if (rows > INT_MAX)
            return fail(ATTN_ERR_SIZE, "batch %d is too large for this network: %s of %d×%d cells per environment "
                        "would give %zu rows, over %d", batch, i < d->nconv ? "a conv layer" : "the ConvLSTM", cs.oh,
                        cs.ow, rows, INT_MAX);
    }
    attn_state *s = calloc(1, sizeof *s);
    if (!s) return fail(ATTN_ERR_NOMEM, "cannot allocate a state");
    s->model = model;
    s->B = batch;
    s->T = max_unroll;
    s->tape = calloc((size_t)(max_unroll > 0 ? max_unroll : 1), sizeof *s->tape);
    if (!s->tape) {
        free(s);
        return fail(ATTN_ERR_NOMEM, "cannot allocate a tape of %d steps", max_unroll);
    }
    s->threads = model->threads < batch ? model->threads : batch;
    carver c = {NULL, 0};
    layout_state(&c, s, &model->d, model->nparams);
    s->memory = carve_alloc(&c);
    if (!s->memory) {
        size_t bytes = c.used;
        attn_state_destroy(s);
        return fail(ATTN_ERR_NOMEM, "cannot allocate %zu bytes for %d environments and %d steps", bytes, batch,
                    max_unroll);
    }
    c = (carver){carve_align(s->memory), 0};
    layout_state(&c, s, &model->d, model->nparams);
    /* Fewer environments than threads: the pool gets every thread anyway, and attn_forward splits each
     * environment's ConvLSTM gate convolution over it. */
    if (model->threads > 1 && !(s->workers = pool_create(model->threads))) {
        attn_state_destroy(s);
        return fail(ATTN_ERR_NOMEM, "cannot start %d worker threads", model->threads);
    }
    /* The environment names a plan for tools that cannot call attn_state_set_conv_plan. */
    const char *plan = getenv("ATTN_CONV_PLAN");
    attn_status planned = conv_plan_choose(s->conv_methods, model, batch, s->threads, plan && *plan ? plan : "rule",
                                           "ATTN_CONV_PLAN");
    if (planned) {
        attn_state_destroy(s);
        return planned;
    }
    conv_plan_text(s->conv_plan, s->conv_methods, model->d.nconv);
    *out = s;
    return ATTN_OK;
}

attn_status attn_state_set_conv_plan(attn_state *state, const char *plan)
{
    attn_status st = check_not_null(state, "state");
    if (st || (st = check_not_null(plan, "plan"))) return st;
    if ((st = conv_plan_choose(state->conv_methods, state->model, state->B, state->threads, plan, "plan")))
        return st;
    conv_plan_text(state->conv_plan, state->conv_methods, state->model->d.nconv);
    state->packed_fresh = 0; /* packed for the old methods */
    return ATTN_OK;
}

const char *attn_state_conv_plan(const attn_state *state) { return state ? state->conv_plan : ""; }

void attn_state_destroy(attn_state *state)
{
    if (!state) return;
    pool_destroy(state->workers);
    free(state->memory);
    free(state->tape);
    free(state);
}

int attn_state_batch(const attn_state *state) { return state ? state->B : 0; }
int attn_state_max_unroll(const attn_state *state) { return state ? state->T : 0; }
int attn_state_recorded(const attn_state *state) { return state ? state->recorded : 0; }

attn_status attn_state_reset(attn_state *state)
{
    attn_status st = check_not_null(state, "state");
    if (st) return st;
    const dims *d = &state->model->d;
    size_t vs = (size_t)state->B * d->P * d->L, ps = (size_t)state->B * d->Hp;
    memset(state->vh, 0, vs * sizeof(float));
    memset(state->vc, 0, vs * sizeof(float));
    memset(state->ph, 0, ps * sizeof(float));
    memset(state->pc, 0, ps * sizeof(float));
    state->recorded = 0;
    return ATTN_OK;
}

attn_status attn_state_clear_tape(attn_state *state)
{
    attn_status st = check_not_null(state, "state");
    if (st) return st;
    state->recorded = 0;
    return ATTN_OK;
}

static float *part_ptr(const attn_state *s, attn_state_part part)
{
    switch (part) {
    case ATTN_STATE_VISION_H: return s->vh;
    case ATTN_STATE_VISION_C: return s->vc;
    case ATTN_STATE_CORE_H: return s->ph;
    case ATTN_STATE_CORE_C: return s->pc;
    }
    return NULL;
}

size_t attn_state_part_size(const attn_state *state, attn_state_part part)
{
    if (!state || !part_ptr(state, part)) return 0;
    const dims *d = &state->model->d;
    if (part == ATTN_STATE_VISION_H || part == ATTN_STATE_VISION_C) return (size_t)state->B * d->P * d->L;
    return (size_t)state->B * d->Hp;
}

static attn_status check_part(const attn_state *state, attn_state_part part, const void *buf, size_t count)
{
    attn_status st = check_not_null(state, "state");
    if (st || (st = check_not_null(buf, "buffer"))) return st;
    if (!part_ptr(state, part)) return fail(ATTN_ERR_INVALID, "unknown state part %d", (int)part);
    size_t want = attn_state_part_size(state, part);
    if (count != want) return fail(ATTN_ERR_SIZE, "state part %d holds %zu floats, not %zu", (int)part, want, count);
    return ATTN_OK;
}

attn_status attn_state_get(const attn_state *state, attn_state_part part, float *dst, size_t count)
{
    attn_status st = check_part(state, part, dst, count);
    if (st) return st;
    memcpy(dst, part_ptr(state, part), count * sizeof(float));
    return ATTN_OK;
}

attn_status attn_state_set(attn_state *state, attn_state_part part, const float *src, size_t count)
{
    attn_status st = check_part(state, part, src, count);
    if (st) return st;
    if (state->recorded)
        return fail(ATTN_ERR_STATE, "cannot set the state while %d recorded steps wait for attn_backward",
                    state->recorded);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(src[i])) return fail(ATTN_ERR_NONFINITE, "state value %zu is not finite", i);
    memcpy(part_ptr(state, part), src, count * sizeof(float));
    return ATTN_OK;
}
