#include "model.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "errors.h"
#include "rng.h"
#include "threads.h"

static void add_tensor(attn_model *m, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    tensor_desc *t = &m->tensors[m->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->shape[3] = d3;
    t->numel = (size_t)(d0 * d1 * d2 * d3);
    t->offset = m->nparams;
    t->fan_in = ndim > 1 ? (long)(d1 * d2 * d3) : 0;
    m->nparams += t->numel;
}

/* A weight [out][in] (ndim 2) or [out][in][k][k] (ndim 4), then its bias [out]. */
static void add_layer(attn_model *m, const char *prefix, int ndim, int64_t out, int64_t in, int64_t k)
{
    char name[TENSOR_NAME_LEN];
    snprintf(name, sizeof name, "%.30s.weight", prefix);
    add_tensor(m, name, ndim, out, in, k, k);
    snprintf(name, sizeof name, "%.30s.bias", prefix);
    add_tensor(m, name, 1, out, 1, 1, 1);
}

/* The tensor table, in the order and with the names and shapes of the checkpoint specification. */
static void build_table(attn_model *m)
{
    const dims *d = &m->d;
    char name[TENSOR_NAME_LEN];
    for (int i = 0; i < d->nconv; i++) {
        snprintf(name, sizeof name, "vision.conv%d", i);
        add_layer(m, name, 4, d->cout[i], d->cin[i], d->k[i]);
    }
    add_layer(m, "vision.convlstm", 4, 4 * d->L, d->F + d->L, 3);
    for (int j = 0; j < d->q_layers; j++) {
        snprintf(name, sizeof name, "query.fc%d", j);
        add_layer(m, name, 2, d->q_width[j + 1], d->q_width[j], 1);
    }
    for (int j = 0; j < d->a_layers; j++) {
        snprintf(name, sizeof name, "answer.fc%d", j);
        add_layer(m, name, 2, d->a_width[j + 1], d->a_width[j], 1);
    }
    add_tensor(m, "core.weight_ih", 2, 4 * d->Hp, d->Hp, 1, 1);
    add_tensor(m, "core.weight_hh", 2, 4 * d->Hp, d->Hp, 1, 1);
    add_tensor(m, "core.bias", 1, 4 * d->Hp, 1, 1, 1);
    add_layer(m, "policy", 2, d->A, d->Hp, 1);
    add_layer(m, "value", 2, 1, d->Hp, 1);
}

void weights_map(const attn_model *m, float *base, weights *w)
{
    const dims *d = &m->d;
    const tensor_desc *t = m->tensors;
    memset(w, 0, sizeof *w);
    for (int i = 0; i < d->nconv; i++) {
        w->conv_w[i] = base + (t++)->offset;
        w->conv_b[i] = base + (t++)->offset;
    }
    w->clstm_w = base + (t++)->offset;
    w->clstm_b = base + (t++)->offset;
    for (int j = 0; j < d->q_layers; j++) {
        w->q_w[j] = base + (t++)->offset;
        w->q_b[j] = base + (t++)->offset;
    }
    for (int j = 0; j < d->a_layers; j++) {
        w->a_w[j] = base + (t++)->offset;
        w->a_b[j] = base + (t++)->offset;
    }
    w->core_wih = base + (t++)->offset;
    w->core_whh = base + (t++)->offset;
    w->core_b = base + (t++)->offset;
    w->pol_w = base + (t++)->offset;
    w->pol_b = base + (t++)->offset;
    w->val_w = base + (t++)->offset;
    w->val_b = base + (t++)->offset;
}

/* Parameters drawn tensor by tensor in table order from one generator (docs/architecture.md, "Initialisation",
 * has the measurements behind each choice).
 *  - The vision weights (conv stack and ConvLSTM) are He-uniform, ±sqrt(6/fan_in): with ±1/sqrt(fan_in) every
 *    layer cut the signal's variance to a sixth, an object reached the keys as a contrast of about 0.01, the
 *    query·basis part of the attention logits dwarfed the query·key part, and the maps settled on fixed cells
 *    (the corners, where the basis is largest) before they could learn to find objects.
 *  - Every other weight is uniform in ±1/sqrt(fan_in), the policy head's scaled by 0.01 so the untrained policy
 *    is close to uniform.
 *  - Biases are uniform in ±1/sqrt(fan_in) of their layer, as PyTorch initialises them, except the two heads'
 *    (zero: a uniform first policy, a zero first value). With zero biases the queries of an episode's first step
 *    are exactly zero, every map starts exactly uniform and the query MLP's hidden units are all off, and the
 *    attention took many times longer to start following objects. */
static void initialise(attn_model *m, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->ntensors; i++) {
        const tensor_desc *t = &m->tensors[i];
        float *p = m->params + t->offset;
        if (t->ndim == 1) {
            /* A bias follows its layer's weight in the table (the policy LSTM's follows weight_hh, whose
             * fan-in is H_p, PyTorch's bound for an LSTM). */
            if (!strcmp(t->name, "policy.bias") || !strcmp(t->name, "value.bias")) {
                memset(p, 0, t->numel * sizeof *p);
                continue;
            }
            const float bound = 1.0f / sqrtf((float)t[-1].fan_in);
            for (size_t k = 0; k < t->numel; k++) p[k] = rng_range(&r, -bound, bound);
            continue;
        }
        const float gain = strncmp(t->name, "vision.", 7) ? 1.0f : sqrtf(6.0f);
        float bound = gain / sqrtf((float)t->fan_in);
        if (!strcmp(t->name, "policy.weight")) bound *= 0.01f;
        for (size_t k = 0; k < t->numel; k++) p[k] = rng_range(&r, -bound, bound);
    }
}

attn_status model_describe(attn_model *m, const attn_config *cfg)
{
    memset(m, 0, sizeof *m);
    attn_status st = config_dims(cfg, &m->d);
    if (st) return st;
    m->cfg = *cfg;
    build_table(m);
    return ATTN_OK;
}

attn_status attn_model_create(attn_model **out, const attn_config *cfg, uint64_t seed)
{
    /* Identities are never reused within a process, so an optimizer can tell its model from a later one that
     * happens to live at the same address. */
    static atomic_uint_fast64_t last_id;
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    if ((st = check_not_null(cfg, "cfg"))) return st;
    attn_model *m = calloc(1, sizeof *m);
    if (!m) return fail(ATTN_ERR_NOMEM, "cannot allocate the model");
    if ((st = model_describe(m, cfg))) {
        free(m);
        return st;
    }
    const dims *d = &m->d;
    m->id = atomic_fetch_add(&last_id, 1) + 1;
    m->params = calloc(m->nparams, sizeof(float));
    m->grads = calloc(m->nparams, sizeof(float));
    m->basis = calloc((size_t)d->P * d->cs, sizeof(float));
    if (!m->params || !m->grads || !m->basis) {
        size_t n = m->nparams;
        attn_model_destroy(m);
        return fail(ATTN_ERR_NOMEM, "cannot allocate %zu parameters", n);
    }
    weights_map(m, m->params, &m->w);
    weights_map(m, m->grads, &m->g);
    spatial_basis(m->basis, d->gh, d->gw, d->U, d->V);
    initialise(m, seed);
    m->threads = threads_resolve(cfg->threads);
    /* The library spreads environments over its own threads, each calling a single-threaded BLAS: for this
     * network's mid-sized GEMMs that beats BLAS's threading, and it also spreads the element-wise work. */
    threads_apply(1);
    *out = m;
    return ATTN_OK;
}

void attn_model_destroy(attn_model *model)
{
    if (!model) return;
    free(model->params);
    free(model->grads);
    free(model->basis);
    free(model);
}

const attn_config *attn_model_config(const attn_model *model) { return model ? &model->cfg : NULL; }

size_t attn_model_param_count(const attn_model *model) { return model ? model->nparams : 0; }

float *attn_model_params(attn_model *model) { return model ? model->params : NULL; }

float *attn_model_grads(attn_model *model) { return model ? model->grads : NULL; }

attn_status attn_model_zero_grad(attn_model *model)
{
    attn_status st = check_not_null(model, "model");
    if (st) return st;
    memset(model->grads, 0, model->nparams * sizeof(float));
    return ATTN_OK;
}

int attn_model_tensor_count(const attn_model *model) { return model ? model->ntensors : 0; }

attn_status attn_model_tensor(const attn_model *model, int index, const char **name, int *ndim, int64_t shape[4],
                              size_t *offset)
{
    attn_status st = check_not_null(model, "model");
    if (st) return st;
    if (index < 0 || index >= model->ntensors)
        return fail(ATTN_ERR_INVALID, "tensor index %d outside [0, %d)", index, model->ntensors);
    const tensor_desc *t = &model->tensors[index];
    if (name) *name = t->name;
    if (ndim) *ndim = t->ndim;
    if (shape) memcpy(shape, t->shape, sizeof t->shape);
    if (offset) *offset = t->offset;
    return ATTN_OK;
}

attn_status attn_model_find_tensor(const attn_model *model, const char *name, int *index)
{
    attn_status st = check_not_null(model, "model");
    if (st || (st = check_not_null(name, "name")) || (st = check_not_null(index, "index"))) return st;
    for (int i = 0; i < model->ntensors; i++)
        if (!strcmp(model->tensors[i].name, name)) {
            *index = i;
            return ATTN_OK;
        }
    return fail(ATTN_ERR_INVALID, "no parameter tensor named \"%s\"", name);
}
