#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "carve.h"
#include "errors.h"
#include "model.h"

static long max_l(long a, long b) { return a > b ? a : b; }

static void layout_record(carver *c, step_record *r, const dims *d, long B)
{
    r->first = take(c, (size_t)B, sizeof(uint8_t));
    r->prev_reward = TAKE_F(c, B);
    r->prev_action = take(c, (size_t)B, sizeof(int32_t));
    r->x = TAKE_F(c, B * d->H * d->W * d->C);
    for (int i = 0; i < d->nconv; i++) r->conv[i] = TAKE_F(c, B * d->oh[i] * d->ow[i] * d->cout[i]);
    long vs = B * d->P * d->L;
    r->vh_prev = TAKE_F(c, vs);
    r->vc_prev = TAKE_F(c, vs);
    r->vgates = TAKE_F(c, 4 * vs);
    r->vc = TAKE_F(c, vs);
    r->vh = TAKE_F(c, vs);
    r->ph_prev = TAKE_F(c, B * d->Hp);
    r->pc_prev = TAKE_F(c, B * d->Hp);
    for (int j = 0; j + 1 < d->q_layers; j++) r->q_act[j] = TAKE_F(c, B * d->q_width[j + 1]);
    r->Q = TAKE_F(c, B * d->N * d->kd);
    r->maps = TAKE_F(c, B * d->N * d->P);
    r->ans = TAKE_F(c, B * d->N * d->vd);
    r->a_in = TAKE_F(c, B * d->a_in);
    for (int j = 0; j + 1 < d->a_layers; j++) r->a_act[j] = TAKE_F(c, B * d->a_width[j + 1]);
    r->z = TAKE_F(c, B * d->Hp);
    r->pgates = TAKE_F(c, B * 4 * d->Hp);
    r->pc = TAKE_F(c, B * d->Hp);
    r->ph = TAKE_F(c, B * d->Hp);
}

static void layout_scratch(carver *c, scratch *s, const dims *d, long B)
{
    long cols = B * d->P * (d->F + d->L) * 9; /* the ConvLSTM's unfolded input */
    long act = B * d->H * d->W * d->C;         /* largest activation a gradient may flow through */
    for (int i = 0; i < d->nconv; i++) {
        cols = max_l(cols, B * d->oh[i] * d->ow[i] * d->cin[i] * d->k[i] * d->k[i]);
        act = max_l(act, B * d->oh[i] * d->ow[i] * d->cout[i]);
    }
    for (int j = 0; j <= d->q_layers; j++) act = max_l(act, B * d->q_width[j]);
    for (int j = 0; j <= d->a_layers; j++) act = max_l(act, B * d->a_width[j]);
    long vs = B * d->P * d->L;
    s->cols = TAKE_F(c, cols);
    s->dcols = TAKE_F(c, cols);
    s->xin = TAKE_F(c, B * d->P * (d->F + d->L));
    s->dxin = TAKE_F(c, B * d->P * (d->F + d->L));
    s->dact_a = TAKE_F(c, act);
    s->dact_b = TAKE_F(c, act);
    s->dvh = TAKE_F(c, vs);
    s->dvc = TAKE_F(c, vs);
    s->dvgates = TAKE_F(c, 4 * vs);
    s->dph = TAKE_F(c, B * d->Hp);
    s->dpc = TAKE_F(c, B * d->Hp);
    s->dph_prev = TAKE_F(c, B * d->Hp);
    s->dpgates = TAKE_F(c, B * 4 * d->Hp);
    s->da_in = TAKE_F(c, B * d->a_in);
    s->dQ = TAKE_F(c, B * d->N * d->kd);
    s->attn_tmp = TAKE_F(c, (long)d->N * d->P);
}

static void layout_state(carver *c, attn_state *st, const dims *d)
{
    long B = st->B;
    st->vh = TAKE_F(c, B * d->P * d->L);
    st->vc = TAKE_F(c, B * d->P * d->L);
    st->ph = TAKE_F(c, B * d->Hp);
    st->pc = TAKE_F(c, B * d->Hp);
    st->maps = TAKE_F(c, B * d->N * d->P);
    int records = st->T > 0 ? st->T : 1;
    for (int t = 0; t < records; t++) layout_record(c, &st->tape[t], d, B);
    layout_scratch(c, &st->s, d, B);
}

#define MAX_BATCH 1048576
#define MAX_UNROLL 65536

attn_status attn_state_create(attn_state **out, const attn_model *model, int batch, int max_unroll)
{
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    if ((st = check_not_null(model, "model"))) return st;
    if (batch < 1 || batch > MAX_BATCH) return fail(ATTN_ERR_SIZE, "batch %d outside [1, %d]", batch, MAX_BATCH);
    if (max_unroll < 0 || max_unroll > MAX_UNROLL)
        return fail(ATTN_ERR_SIZE, "max_unroll %d outside [0, %d]", max_unroll, MAX_UNROLL);
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
    carver c = {NULL, 0};
    layout_state(&c, s, &model->d);
    s->memory = calloc(1, c.used + 63);
    if (!s->memory) {
        size_t bytes = c.used;
        attn_state_destroy(s);
        return fail(ATTN_ERR_NOMEM, "cannot allocate %zu bytes for %d environments and %d steps", bytes, batch,
                    max_unroll);
    }
    c = (carver){carve_align(s->memory), 0};
    layout_state(&c, s, &model->d);
    *out = s;
    return ATTN_OK;
}

void attn_state_destroy(attn_state *state)
{
    if (!state) return;
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
