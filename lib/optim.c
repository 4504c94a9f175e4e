/*
 * Optimizers over the model's one flat parameter vector: RMSProp as IMPALA ran it (TensorFlow's), Adam, AdamW
 * and SGD, behind global-norm clipping and a linear learning-rate schedule. The slots are reserved in one
 * allocation at creation; a step allocates nothing. docs/training.md gives the formulas and the choices.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "errors.h"
#include "model.h"
#include "optim.h"
#include "optim_update.h"

#define NUM_KNOBS (ATTN_OPT_LR_END + 1)
#define MAX_SLOTS 2

/* TF1's tf.train.RMSPropOptimizer, which IMPALA used, starts its mean square at one, not zero: the first few
 * hundred steps are then damped (docs/training.md). */
#define RMSPROP_MS_START 1.0f

struct attn_optimizer {
    attn_optim_kind kind;
    size_t nparams;           /* of the model it was created for */
    uint64_t model_id;        /* that model's identity (attn_model.id): every step checks both */
    double knob[NUM_KNOBS];   /* indexed by attn_optim_param */
    int64_t steps;            /* updates taken: the schedule's position and Adam's bias-correction count */
    int nslots;
    const char *slot_name[MAX_SLOTS];
    float *slot[MAX_SLOTS];   /* [nparams] each, laid out like the parameters, carved from `memory` */
    float *memory;            /* [nslots][nparams] */
};

static const char *const knob_name[NUM_KNOBS] = {
    [ATTN_OPT_LR] = "ATTN_OPT_LR",
    [ATTN_OPT_EPSILON] = "ATTN_OPT_EPSILON",
    [ATTN_OPT_DECAY] = "ATTN_OPT_DECAY",
    [ATTN_OPT_MOMENTUM] = "ATTN_OPT_MOMENTUM",
    [ATTN_OPT_BETA1] = "ATTN_OPT_BETA1",
    [ATTN_OPT_BETA2] = "ATTN_OPT_BETA2",
    [ATTN_OPT_WEIGHT_DECAY] = "ATTN_OPT_WEIGHT_DECAY",
    [ATTN_OPT_MAX_GRAD_NORM] = "ATTN_OPT_MAX_GRAD_NORM",
    [ATTN_OPT_LR_DECAY_STEPS] = "ATTN_OPT_LR_DECAY_STEPS",
    [ATTN_OPT_LR_END] = "ATTN_OPT_LR_END",
};

typedef struct slot_layout {
    int count;
    const char *name[MAX_SLOTS];
} slot_layout;

static const slot_layout slot_layouts[] = {
    [ATTN_OPTIM_RMSPROP] = {2, {"ms", "mom"}},
    [ATTN_OPTIM_ADAM] = {2, {"m", "v"}},
    [ATTN_OPTIM_ADAMW] = {2, {"m", "v"}},
    [ATTN_OPTIM_SGD] = {1, {"mom", NULL}},
};

static int kind_is_valid(attn_optim_kind kind)
{
    return (int)kind >= (int)ATTN_OPTIM_RMSPROP && (int)kind <= (int)ATTN_OPTIM_SGD;
}

static int knob_is_valid(attn_optim_param param)
{
    return (int)param >= 0 && (int)param < NUM_KNOBS;
}

static void set_defaults(attn_optimizer *o)
{
    o->knob[ATTN_OPT_LR] = 5e-4;
    /* RMSProp's sits inside the square root and doubles as a floor on the step size; Adam's is a guard only. */
    o->knob[ATTN_OPT_EPSILON] = o->kind == ATTN_OPTIM_RMSPROP ? 0.01 : 1e-8;
    o->knob[ATTN_OPT_DECAY] = 0.99;
    o->knob[ATTN_OPT_MOMENTUM] = 0.0;
    o->knob[ATTN_OPT_BETA1] = 0.9;
    o->knob[ATTN_OPT_BETA2] = 0.999;
    o->knob[ATTN_OPT_WEIGHT_DECAY] = 0.01;
    o->knob[ATTN_OPT_MAX_GRAD_NORM] = 0.5;
    o->knob[ATTN_OPT_LR_DECAY_STEPS] = 0.0;
    o->knob[ATTN_OPT_LR_END] = 0.0;
}

attn_status attn_optimizer_create(attn_optimizer **out, const attn_model *model, attn_optim_kind kind)
{
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    if ((st = check_not_null(model, "model"))) return st;
    if (!kind_is_valid(kind)) return fail(ATTN_ERR_INVALID, "unknown optimizer kind %d", (int)kind);

    const slot_layout *layout = &slot_layouts[kind];
    const size_t n = attn_model_param_count(model);
    if (n > SIZE_MAX / sizeof(float) / MAX_SLOTS)
        return fail(ATTN_ERR_NOMEM, "optimizer slots for %zu parameters overflow the address space", n);
    attn_optimizer *o = calloc(1, sizeof *o);
    if (!o) return fail(ATTN_ERR_NOMEM, "out of memory for an optimizer");
    /* At least one float, so a zero-parameter model still gets a non-NULL block. */
    o->memory = malloc((n ? n : 1) * (size_t)layout->count * sizeof(float));
    if (!o->memory) {
        free(o);
        return fail(ATTN_ERR_NOMEM, "out of memory for %d optimizer slots of %zu floats", layout->count, n);
    }
    o->kind = kind;
    o->nparams = n;
    o->model_id = model->id;
    o->nslots = layout->count;
    for (int k = 0; k < o->nslots; k++) {
        o->slot_name[k] = layout->name[k];
        o->slot[k] = o->memory + (size_t)k * n;
        const float start = kind == ATTN_OPTIM_RMSPROP && k == 0 ? RMSPROP_MS_START : 0.0f;
        for (size_t i = 0; i < n; i++) o->slot[k][i] = start;
    }
    set_defaults(o);
    *out = o;
    return ATTN_OK;
}

void attn_optimizer_destroy(attn_optimizer *opt)
{
    if (!opt) return;
    free(opt->memory);
    free(opt);
}

attn_status attn_optimizer_set(attn_optimizer *opt, attn_optim_param param, double value)
{
    attn_status st = check_not_null(opt, "opt");
    if (st) return st;
    if (!knob_is_valid(param)) return fail(ATTN_ERR_INVALID, "unknown optimizer parameter %d", (int)param);
    const char *name = knob_name[param];
    if (!isfinite(value)) return fail(ATTN_ERR_NONFINITE, "%s must be finite, got %g", name, value);
    switch (param) {
    case ATTN_OPT_DECAY:
    case ATTN_OPT_BETA1:
    case ATTN_OPT_BETA2:
        /* 1 would never forget and would zero Adam's bias correction. */
        if (value < 0.0 || value >= 1.0) return fail(ATTN_ERR_INVALID, "%s must be in [0, 1), got %g", name, value);
        break;
    default:
        if (value < 0.0) return fail(ATTN_ERR_INVALID, "%s must be >= 0, got %g", name, value);
        break;
    }
    opt->knob[param] = value;
    return ATTN_OK;
}

attn_status attn_optimizer_get(const attn_optimizer *opt, attn_optim_param param, double *value)
{
    attn_status st = check_not_null(opt, "opt");
    if (st || (st = check_not_null(value, "value"))) return st;
    if (!knob_is_valid(param)) return fail(ATTN_ERR_INVALID, "unknown optimizer parameter %d", (int)param);
    *value = opt->knob[param];
    return ATTN_OK;
}

attn_optim_kind attn_optimizer_kind(const attn_optimizer *opt) { return opt ? opt->kind : ATTN_OPTIM_RMSPROP; }

int64_t attn_optimizer_steps(const attn_optimizer *opt) { return opt ? opt->steps : 0; }

attn_status attn_optimizer_set_steps(attn_optimizer *opt, int64_t steps)
{
    attn_status st = check_not_null(opt, "opt");
    if (st) return st;
    if (steps < 0) return fail(ATTN_ERR_INVALID, "optimizer step count must be >= 0, got %lld", (long long)steps);
    opt->steps = steps;
    return ATTN_OK;
}

/* lr + (lr_end − lr)·min(1, t / decay_steps) at t = the steps taken so far. */
static double scheduled_lr(const attn_optimizer *o)
{
    const double lr = o->knob[ATTN_OPT_LR], horizon = o->knob[ATTN_OPT_LR_DECAY_STEPS];
    if (horizon <= 0.0) return lr;
    const double progress = (double)o->steps / horizon;
    /* Past the horizon the end rate exactly, not lr + (end − lr), which can miss it by a rounding. */
    if (progress >= 1.0) return o->knob[ATTN_OPT_LR_END];
    return lr + (o->knob[ATTN_OPT_LR_END] - lr) * progress;
}

double attn_optimizer_current_lr(const attn_optimizer *opt) { return opt ? scheduled_lr(opt) : 0.0; }

int attn_optimizer_slot_count(const attn_optimizer *opt) { return opt ? opt->nslots : 0; }

attn_status attn_optimizer_slot(attn_optimizer *opt, int index, const char **name, float **data)
{
    attn_status st = check_not_null(opt, "opt");
    if (st) return st;
    if (index < 0 || index >= opt->nslots)
        return fail(ATTN_ERR_INVALID, "slot index %d is outside [0, %d)", index, opt->nslots);
    if (name) *name = opt->slot_name[index];
    if (data) *data = opt->slot[index];
    return ATTN_OK;
}

attn_status optimizer_check_model(const attn_optimizer *opt, const attn_model *model)
{
    const size_t n = attn_model_param_count(model);
    if (n != opt->nparams)
        return fail(ATTN_ERR_INVALID, "the model has %zu parameters, the optimizer was created for %zu", n,
                    opt->nparams);
    if (model->id != opt->model_id)
        return fail(ATTN_ERR_INVALID, "the optimizer was created for another model (of the same size): its slots "
                    "hold that model's moments; create one for this model");
    return ATTN_OK;
}

/* ---- One step ------------------------------------------------------------------------------------------ */

/* The rule of this optimizer for its current step: the learning rate of the schedule, Adam's bias corrections
 * for the step being taken, and the clipping scale. */
static update_rule step_rule(const attn_optimizer *o, double factor)
{
    update_rule u = {.lr = scheduled_lr(o), .factor = factor};
    switch (o->kind) {
    case ATTN_OPTIM_RMSPROP:
        u.kind = UPDATE_RMSPROP;
        u.rho = o->knob[ATTN_OPT_DECAY], u.mu = o->knob[ATTN_OPT_MOMENTUM], u.eps = o->knob[ATTN_OPT_EPSILON];
        break;
    case ATTN_OPTIM_ADAM:
    case ATTN_OPTIM_ADAMW: {
        const double t = (double)o->steps + 1.0; /* counting this step */
        u.kind = UPDATE_ADAM;
        u.b1 = o->knob[ATTN_OPT_BETA1], u.b2 = o->knob[ATTN_OPT_BETA2], u.eps = o->knob[ATTN_OPT_EPSILON];
        u.c1 = 1.0 - pow(u.b1, t), u.c2 = 1.0 - pow(u.b2, t); /* > 0: β < 1 and t ≥ 1 */
        u.wd = o->kind == ATTN_OPTIM_ADAMW ? o->knob[ATTN_OPT_WEIGHT_DECAY] : 0.0;
        break;
    }
    case ATTN_OPTIM_SGD:
        u.kind = UPDATE_SGD;
        u.mu = o->knob[ATTN_OPT_MOMENTUM];
        break;
    }
    return u;
}

static void scale(float *g, size_t n, double factor)
{
    for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * factor);
}

attn_status attn_optimizer_step(attn_optimizer *opt, attn_model *model, float *grad_norm)
{
    attn_status st = check_not_null(opt, "opt");
    if (st || (st = check_not_null(model, "model"))) return st;
    if ((st = optimizer_check_model(opt, model))) return st;
    const size_t n = attn_model_param_count(model);
    if (opt->steps == INT64_MAX) return fail(ATTN_ERR_INVALID, "the optimizer step count is at its maximum");
    float *theta = attn_model_params(model), *g = attn_model_grads(model);

    const double norm = sqrt(update_sum_of_squares(g, n));
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm)) return fail(ATTN_ERR_NONFINITE, "a gradient is NaN or infinite; no update was made");

    const double max_norm = opt->knob[ATTN_OPT_MAX_GRAD_NORM];
    const double factor = max_norm > 0.0 && norm > max_norm ? max_norm / norm : 1.0;
    const update_rule u = step_rule(opt, factor);
    float *s1 = opt->nslots > 1 ? opt->slot[1] : NULL;
    if (!update_check(&u, theta, g, opt->slot[0], s1, n))
        return fail(ATTN_ERR_NONFINITE, "the step would make a parameter or optimizer slot non-finite (gradient "
                    "norm %g, learning rate %g); no update was made", norm, u.lr);
    update_commit(&u, theta, g, opt->slot[0], s1, n);
    if (factor != 1.0) scale(g, n, factor);
    opt->steps++;
    return ATTN_OK;
}
