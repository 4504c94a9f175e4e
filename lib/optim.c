/*
 * Optimizers over the model's one flat parameter vector: RMSProp as IMPALA ran it (TensorFlow's), Adam, AdamW
 * and SGD, behind global-norm clipping and a linear learning-rate schedule. The slots are reserved in one
 * allocation at creation; a step allocates nothing. docs/training.md gives the formulas and the choices.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "errors.h"

#define NUM_KNOBS (ATTN_OPT_LR_END + 1)
#define MAX_SLOTS 2

/* TF1's tf.train.RMSPropOptimizer, which IMPALA used, starts its mean square at one, not zero: the first few
 * hundred steps are then damped (docs/training.md). */
#define RMSPROP_MS_START 1.0f

struct attn_optimizer {
    attn_optim_kind kind;
    size_t nparams;           /* of the model it was created for; every step checks it */
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
    o->knob[ATTN_OPT_LR] = 2e-4;
    /* RMSProp's sits inside the square root and doubles as a floor on the step size; Adam's is a guard only. */
    o->knob[ATTN_OPT_EPSILON] = o->kind == ATTN_OPTIM_RMSPROP ? 0.01 : 1e-8;
    o->knob[ATTN_OPT_DECAY] = 0.99;
    o->knob[ATTN_OPT_MOMENTUM] = 0.0;
    o->knob[ATTN_OPT_BETA1] = 0.9;
    o->knob[ATTN_OPT_BETA2] = 0.999;
    o->knob[ATTN_OPT_WEIGHT_DECAY] = 0.01;
    o->knob[ATTN_OPT_MAX_GRAD_NORM] = 40.0;
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

/* ---- One step ------------------------------------------------------------------------------------------ */

/* Σ g² in double, in index order so the result never depends on anything but the gradients. It is finite
 * exactly when every gradient is: a float squared, even summed over any array that fits in memory, stays far
 * below the double range. */
static double sum_of_squares(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
    return s;
}

static void scale(float *g, size_t n, double factor)
{
    for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * factor);
}

/* A zero denominator only arises with ε = 0 and a zero gradient history, where the step is zero as well. */
static double ratio(double num, double den) { return den > 0.0 ? num / den : 0.0; }

/*
 * Each update runs twice over the same numbers: first with commit = 0, only checking that every new parameter
 * and slot value is finite as a float (a finite but huge gradient can overflow g² or a step), then, if so,
 * with commit = 1, writing them. So a step either happens whole or changes nothing. `factor` is the clipping
 * scale (1: none); the gradient entry used is exactly the float that scaling in place would have stored.
 */
typedef struct step_args {
    float *theta;
    const float *g;
    double factor, lr;
    int commit;
} step_args;

static double grad_at(const step_args *a, size_t i)
{
    return a->factor == 1.0 ? (double)a->g[i] : (double)(float)(a->g[i] * a->factor);
}

static int all_finite3(float x, float y, float z) { return isfinite(x) && isfinite(y) && isfinite(z); }

/* ms ← ρ·ms + (1−ρ)·g²;  mom ← μ·mom + lr·g/√(ms + ε);  θ ← θ − mom */
static int rmsprop_update(attn_optimizer *o, const step_args *a)
{
    const double rho = o->knob[ATTN_OPT_DECAY], mu = o->knob[ATTN_OPT_MOMENTUM], eps = o->knob[ATTN_OPT_EPSILON];
    float *ms = o->slot[0], *mom = o->slot[1];
    for (size_t i = 0; i < o->nparams; i++) {
        const double gi = grad_at(a, i);
        const double msi = rho * ms[i] + (1.0 - rho) * gi * gi;
        const double momi = mu * mom[i] + ratio(a->lr * gi, sqrt(msi + eps));
        const float ms_new = (float)msi, mom_new = (float)momi, th_new = (float)(a->theta[i] - momi);
        if (!a->commit) {
            if (!all_finite3(ms_new, mom_new, th_new)) return 0;
            continue;
        }
        ms[i] = ms_new;
        mom[i] = mom_new;
        a->theta[i] = th_new;
    }
    return 1;
}

/* θ ← θ − lr·wd·θ (wd = 0 for plain Adam); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * θ ← θ − lr·m̂/(√v̂ + ε) with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t), t counting this step. */
static int adam_update(attn_optimizer *o, const step_args *a, double wd)
{
    const double b1 = o->knob[ATTN_OPT_BETA1], b2 = o->knob[ATTN_OPT_BETA2], eps = o->knob[ATTN_OPT_EPSILON];
    const double t = (double)o->steps + 1.0;
    const double c1 = 1.0 - pow(b1, t), c2 = 1.0 - pow(b2, t); /* > 0: β < 1 and t ≥ 1 */
    float *m = o->slot[0], *v = o->slot[1];
    for (size_t i = 0; i < o->nparams; i++) {
        const double gi = grad_at(a, i);
        const double mi = b1 * m[i] + (1.0 - b1) * gi;
        const double vi = b2 * v[i] + (1.0 - b2) * gi * gi;
        double th = a->theta[i];
        th -= a->lr * wd * th;
        th -= ratio(a->lr * (mi / c1), sqrt(vi / c2) + eps);
        const float m_new = (float)mi, v_new = (float)vi, th_new = (float)th;
        if (!a->commit) {
            if (!all_finite3(m_new, v_new, th_new)) return 0;
            continue;
        }
        m[i] = m_new;
        v[i] = v_new;
        a->theta[i] = th_new;
    }
    return 1;
}

/* mom ← μ·mom + g;  θ ← θ − lr·mom */
static int sgd_update(attn_optimizer *o, const step_args *a)
{
    const double mu = o->knob[ATTN_OPT_MOMENTUM];
    float *mom = o->slot[0];
    for (size_t i = 0; i < o->nparams; i++) {
        const double momi = mu * mom[i] + grad_at(a, i);
        const float mom_new = (float)momi, th_new = (float)(a->theta[i] - a->lr * momi);
        if (!a->commit) {
            if (!all_finite3(mom_new, th_new, 0.0f)) return 0;
            continue;
        }
        mom[i] = mom_new;
        a->theta[i] = th_new;
    }
    return 1;
}

static int update(attn_optimizer *o, const step_args *a)
{
    switch (o->kind) {
    case ATTN_OPTIM_RMSPROP: return rmsprop_update(o, a);
    case ATTN_OPTIM_ADAM: return adam_update(o, a, 0.0);
    case ATTN_OPTIM_ADAMW: return adam_update(o, a, o->knob[ATTN_OPT_WEIGHT_DECAY]);
    case ATTN_OPTIM_SGD: return sgd_update(o, a);
    }
    return 0;
}

attn_status attn_optimizer_step(attn_optimizer *opt, attn_model *model, float *grad_norm)
{
    attn_status st = check_not_null(opt, "opt");
    if (st || (st = check_not_null(model, "model"))) return st;
    const size_t n = attn_model_param_count(model);
    if (n != opt->nparams)
        return fail(ATTN_ERR_INVALID, "the model has %zu parameters, the optimizer was created for %zu", n,
                    opt->nparams);
    if (opt->steps == INT64_MAX) return fail(ATTN_ERR_INVALID, "the optimizer step count is at its maximum");
    float *theta = attn_model_params(model), *g = attn_model_grads(model);

    const double norm = sqrt(sum_of_squares(g, n));
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm)) return fail(ATTN_ERR_NONFINITE, "a gradient is NaN or infinite; no update was made");

    const double max_norm = opt->knob[ATTN_OPT_MAX_GRAD_NORM];
    const double factor = max_norm > 0.0 && norm > max_norm ? max_norm / norm : 1.0;
    step_args a = {theta, g, factor, scheduled_lr(opt), 0};
    if (!update(opt, &a))
        return fail(ATTN_ERR_NONFINITE, "the step would make a parameter or optimizer slot non-finite (gradient "
                    "norm %g, learning rate %g); no update was made", norm, a.lr);
    a.commit = 1;
    update(opt, &a);
    if (factor != 1.0) scale(g, n, factor);
    opt->steps++;
    return ATTN_OK;
}
