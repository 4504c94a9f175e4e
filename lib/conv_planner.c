#include "conv_planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "sizes.h"
#include "step.h"

static const char *const method_names[] = {"unfold", "unfold-by-pixel", "direct", "winograd"};
enum { METHODS = sizeof method_names / sizeof *method_names };

void conv_plan_text(char *out, const int *methods, int nconv)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i <= nconv; i++)
        at += (size_t)snprintf(out + at, CONV_PLAN_TEXT - at, "%s%s", i ? "," : "", method_names[methods[i]]);
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Scratch for timing one layer: its input, output, weights, packing, unfolding and kernel scratch. */
typedef struct bench_buffers {
    float *in, *out, *packed, *cols, *scratch;
} bench_buffers;

/* Seconds of one attn_forward's share of layer s by method m: the rows one thread computes; the best of a few
 * runs, after one untimed warm-up. The packing is left out: attn_forward packs again only when the weights
 * change, once per unroll or rollout rather than once per step. */
static double time_method(const conv_shape *s, conv_method m, const float *w, const float *b, bench_buffers *x)
{
    double best = 1e30;
    conv_plan plan;
    conv_plan_prepare_method(&plan, x->packed, w, s, m);
    for (int rep = 0; rep < 4; rep++) {
        const double t0 = seconds_now();
        conv_plan_forward_rows(x->out, x->cols, x->scratch, x->in, w, &plan, b, s, 0, conv_rows(s));
        const double t = seconds_now() - t0;
        if (rep > 0 && t < best) best = t;
    }
    return best;
}

static attn_status measure(int *methods, const attn_model *model, int slice)
{
    const dims *d = &model->d;
    long in_n = 0, out_n = 0, packed_n = 0, cols_n = 0, scratch_n = 0;
    for (int i = 0; i <= d->nconv; i++) {
        const conv_shape s = layer_shape(d, i, slice);
        in_n = max_l(in_n, (long)s.B * s.ih * s.iw * s.cin);
        out_n = max_l(out_n, conv_rows(&s) * s.cout);
        packed_n = max_l(packed_n, conv_plan_floats(&s));
        cols_n = max_l(cols_n, conv_rows(&s) * conv_cols(&s));
        scratch_n = max_l(scratch_n, conv_plan_scratch_floats(&s));
    }
    bench_buffers x = {malloc(sizeof(float) * (size_t)in_n), malloc(sizeof(float) * (size_t)out_n),
                       malloc(sizeof(float) * (size_t)packed_n), malloc(sizeof(float) * (size_t)cols_n),
                       malloc(sizeof(float) * (size_t)(scratch_n + 1))};
    if (!x.in || !x.out || !x.packed || !x.cols || !x.scratch) {
        free(x.in), free(x.out), free(x.packed), free(x.cols), free(x.scratch);
        return fail(ATTN_ERR_NOMEM, "measuring the convolution plan: out of memory");
    }
    /* Timing only: any finite, normal input will do (subnormals would slow some methods unfairly). */
    for (long k = 0; k < in_n; k++) x.in[k] = (float)(k % 7) * 0.25f - 0.75f;
    for (int i = 0; i <= d->nconv; i++) {
        const conv_shape s = layer_shape(d, i, slice);
        const float *w = i < d->nconv ? model->w.conv_w[i] : model->w.clstm_w;
        const float *b = i < d->nconv ? model->w.conv_b[i] : model->w.clstm_b;
        double best = 1e30;
        for (int m = 0; m < METHODS; m++) {
            if (!conv_method_available(&s, (conv_method)m)) continue;
            const double t = time_method(&s, (conv_method)m, w, b, &x);
            if (t < best) best = t, methods[i] = m;
        }
    }
    free(x.in), free(x.out), free(x.packed), free(x.cols), free(x.scratch);
    return ATTN_OK;
}

/* A comma-separated list of method names, one per layer. */
static attn_status parse_list(int *methods, const dims *d, int B, const char *text, const char *origin)
{
    const char *p = text;
    for (int i = 0; i <= d->nconv; i++) {
        const size_t len = strcspn(p, ",");
        int found = -1;
        for (int m = 0; m < METHODS; m++)
            if (strlen(method_names[m]) == len && strncmp(p, method_names[m], len) == 0) found = m;
        if (found < 0)
            return fail(ATTN_ERR_INVALID, "%s \"%s\": \"%.*s\" is no plan (rule, measure, or %d of unfold, "
                        "unfold-by-pixel, direct, winograd separated by commas)", origin, text, (int)len, p,
                        d->nconv + 1);
        const conv_shape s = layer_shape(d, i, B);
        if (!conv_method_available(&s, (conv_method)found))
            return fail(ATTN_ERR_INVALID, "%s \"%s\": %s cannot compute %s on this CPU (kernels: %s)", origin, text,
                        method_names[found], i < d->nconv ? "this conv layer" : "the ConvLSTM", attn_cpu_kernels());
        methods[i] = found;
        p += len;
        /* After every method but the last a comma, after the last the end: anything else is a wrong count. */
        if (*p != (i < d->nconv ? ',' : '\0'))
            return fail(ATTN_ERR_INVALID, "%s \"%s\": %d methods needed, one per conv layer and the ConvLSTM",
                        origin, text, d->nconv + 1);
        if (*p) p++;
    }
    return ATTN_OK;
}

attn_status conv_plan_choose(int *methods, const attn_model *model, int B, int threads, const char *text,
                             const char *origin)
{
    const dims *d = &model->d;
    int chosen[ATTN_MAX_CONV_LAYERS + 1];
    attn_status st = ATTN_OK;
    if (strcmp(text, "rule") == 0) {
        for (int i = 0; i <= d->nconv; i++) {
            const conv_shape s = layer_shape(d, i, B);
            chosen[i] = (int)conv_rule_method(&s);
        }
    } else if (strcmp(text, "measure") == 0) {
        st = measure(chosen, model, (B + threads - 1) / threads);
    } else {
        st = parse_list(chosen, d, B, text, origin);
    }
    if (st) return st;
    memcpy(methods, chosen, sizeof(int) * (size_t)(d->nconv + 1));
    return ATTN_OK;
}
