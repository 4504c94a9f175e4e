#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "sizes.h"

static void set_conv(attn_config *c, int i, int out, int k, int stride, int pad)
{
    c->conv_out[i] = out;
    c->conv_k[i] = k;
    c->conv_stride[i] = stride;
    c->conv_pad[i] = pad;
}

/* The presets of ../shared/spec/architecture.md. */
static attn_status fill_preset(attn_config *c, attn_preset preset)
{
    memset(c, 0, sizeof *c);
    c->obs_type = ATTN_OBS_U8;
    c->num_queries = 4;
    c->key_channels = 8;
    c->mlp_layers[ATTN_MLP_QUERY] = 1;
    c->mlp_hidden[ATTN_MLP_QUERY][0] = 128;
    c->mlp_layers[ATTN_MLP_ANSWER] = 1;
    switch (preset) {
    case ATTN_PRESET_ATARI:
    case ATTN_PRESET_ATARI84:
        c->obs_h = preset == ATTN_PRESET_ATARI ? 210 : 84;
        c->obs_w = preset == ATTN_PRESET_ATARI ? 160 : 84;
        c->obs_c = 3;
        c->num_actions = 18;
        c->conv_layers = 2;
        set_conv(c, 0, 32, 8, 4, 1);
        set_conv(c, 1, 64, 4, 2, 2);
        c->lstm_channels = 128;
        c->basis_u = c->basis_v = 8;
        c->mlp_hidden[ATTN_MLP_ANSWER][0] = 512;
        c->core_units = 256;
        return ATTN_OK;
    case ATTN_PRESET_MINATAR:
        c->obs_h = c->obs_w = 10;
        c->obs_c = 6;
        c->num_actions = 6;
        c->conv_layers = 1;
        set_conv(c, 0, 16, 3, 1, 1);
        c->lstm_channels = 32;
        c->basis_u = c->basis_v = 4;
        c->mlp_hidden[ATTN_MLP_ANSWER][0] = 256;
        c->core_units = 128;
        return ATTN_OK;
    }
    return fail(ATTN_ERR_INVALID, "unknown preset %d", (int)preset);
}

attn_status attn_config_create(attn_config **out, attn_preset preset)
{
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    attn_config *c = malloc(sizeof *c);
    if (!c) return fail(ATTN_ERR_NOMEM, "cannot allocate a configuration");
    st = fill_preset(c, preset);
    if (st) {
        free(c);
        return st;
    }
    *out = c;
    return ATTN_OK;
}

void attn_config_destroy(attn_config *cfg) { free(cfg); }

attn_status attn_config_clone(attn_config **out, const attn_config *cfg)
{
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    if ((st = check_not_null(cfg, "cfg"))) return st;
    attn_config *c = malloc(sizeof *c);
    if (!c) return fail(ATTN_ERR_NOMEM, "cannot allocate a configuration");
    *c = *cfg;
    *out = c;
    return ATTN_OK;
}

/* Generous upper bound on any single size, so products of sizes cannot overflow size_t arithmetic. */
#define MAX_SIZE 65536

/* The address of the field behind a settable key, with its smallest allowed value. */
static int *field(attn_config *c, attn_config_key key, int *min)
{
    *min = 1;
    switch (key) {
    case ATTN_CFG_OBS_H: return &c->obs_h;
    case ATTN_CFG_OBS_W: return &c->obs_w;
    case ATTN_CFG_OBS_C: return &c->obs_c;
    case ATTN_CFG_OBS_TYPE: *min = 0; return &c->obs_type;
    case ATTN_CFG_NUM_ACTIONS: return &c->num_actions;
    case ATTN_CFG_CONV_LAYERS: return &c->conv_layers;
    case ATTN_CFG_LSTM_CHANNELS: return &c->lstm_channels;
    case ATTN_CFG_KEY_CHANNELS: return &c->key_channels;
    case ATTN_CFG_BASIS_U: return &c->basis_u;
    case ATTN_CFG_BASIS_V: return &c->basis_v;
    case ATTN_CFG_NUM_QUERIES: return &c->num_queries;
    case ATTN_CFG_CORE_UNITS: return &c->core_units;
    case ATTN_CFG_QUERY_LAYERS: *min = 0; return &c->mlp_layers[ATTN_MLP_QUERY];
    case ATTN_CFG_ANSWER_LAYERS: *min = 0; return &c->mlp_layers[ATTN_MLP_ANSWER];
    case ATTN_CFG_THREADS: *min = 0; return &c->threads;
    case ATTN_CFG_GRID_H:
    case ATTN_CFG_GRID_W: return NULL;
    }
    return NULL;
}

static int max_for(attn_config_key key)
{
    switch (key) {
    case ATTN_CFG_OBS_TYPE: return ATTN_OBS_U8_BINARY;
    case ATTN_CFG_CONV_LAYERS: return ATTN_MAX_CONV_LAYERS;
    case ATTN_CFG_QUERY_LAYERS:
    case ATTN_CFG_ANSWER_LAYERS: return ATTN_MAX_MLP_HIDDEN;
    case ATTN_CFG_THREADS: return 1024;
    default: return MAX_SIZE;
    }
}

attn_status attn_config_set(attn_config *cfg, attn_config_key key, int value)
{
    attn_status st = check_not_null(cfg, "cfg");
    if (st) return st;
    int min;
    int *f = field(cfg, key, &min);
    if (!f) {
        if (key == ATTN_CFG_GRID_H || key == ATTN_CFG_GRID_W)
            return fail(ATTN_ERR_INVALID, "configuration key %d is read-only (derived from the conv stack)",
                        (int)key);
        return fail(ATTN_ERR_INVALID, "unknown configuration key %d", (int)key);
    }
    if (value < min || value > max_for(key))
        return fail(ATTN_ERR_INVALID, "configuration key %d: value %d outside [%d, %d]", (int)key, value, min,
                    max_for(key));
    *f = value;
    return ATTN_OK;
}

attn_status attn_config_get(const attn_config *cfg, attn_config_key key, int *value)
{
    attn_status st = check_not_null(cfg, "cfg");
    if (st || (st = check_not_null(value, "value"))) return st;
    if (key == ATTN_CFG_GRID_H || key == ATTN_CFG_GRID_W) {
        dims d;
        if ((st = config_dims(cfg, &d))) return st;
        *value = key == ATTN_CFG_GRID_H ? d.gh : d.gw;
        return ATTN_OK;
    }
    int min;
    int *f = field((attn_config *)cfg, key, &min);
    if (!f) return fail(ATTN_ERR_INVALID, "unknown configuration key %d", (int)key);
    *value = *f;
    return ATTN_OK;
}

attn_status attn_config_set_conv(attn_config *cfg, int layer, int out_channels, int kernel, int stride, int padding)
{
    attn_status st = check_not_null(cfg, "cfg");
    if (st) return st;
    if (layer < 0 || layer >= cfg->conv_layers)
        return fail(ATTN_ERR_INVALID, "conv layer %d outside [0, %d): set ATTN_CFG_CONV_LAYERS first", layer,
                    cfg->conv_layers);
    if (out_channels < 1 || out_channels > MAX_SIZE || kernel < 1 || kernel > 64 || stride < 1 || stride > 64 ||
        padding < 0 || padding >= kernel)
        return fail(ATTN_ERR_INVALID,
                    "conv layer %d: out %d, kernel %d, stride %d, padding %d (need out >= 1, 1 <= kernel, stride "
                    "<= 64, 0 <= padding < kernel)",
                    layer, out_channels, kernel, stride, padding);
    set_conv(cfg, layer, out_channels, kernel, stride, padding);
    return ATTN_OK;
}

attn_status attn_config_get_conv(const attn_config *cfg, int layer, int *out_channels, int *kernel, int *stride,
                                 int *padding)
{
    attn_status st = check_not_null(cfg, "cfg");
    if (st) return st;
    if (layer < 0 || layer >= cfg->conv_layers)
        return fail(ATTN_ERR_INVALID, "conv layer %d outside [0, %d)", layer, cfg->conv_layers);
    if (out_channels) *out_channels = cfg->conv_out[layer];
    if (kernel) *kernel = cfg->conv_k[layer];
    if (stride) *stride = cfg->conv_stride[layer];
    if (padding) *padding = cfg->conv_pad[layer];
    return ATTN_OK;
}

static attn_status check_mlp(const attn_config *cfg, attn_mlp mlp, int layer)
{
    if (mlp != ATTN_MLP_QUERY && mlp != ATTN_MLP_ANSWER) return fail(ATTN_ERR_INVALID, "unknown MLP %d", (int)mlp);
    if (layer < 0 || layer >= cfg->mlp_layers[mlp])
        return fail(ATTN_ERR_INVALID, "MLP hidden layer %d outside [0, %d): set the MLP's layer count first", layer,
                    cfg->mlp_layers[mlp]);
    return ATTN_OK;
}

attn_status attn_config_set_mlp_hidden(attn_config *cfg, attn_mlp mlp, int layer, int width)
{
    attn_status st = check_not_null(cfg, "cfg");
    if (st || (st = check_mlp(cfg, mlp, layer))) return st;
    if (width < 1 || width > MAX_SIZE)
        return fail(ATTN_ERR_INVALID, "MLP hidden width %d outside [1, %d]", width, MAX_SIZE);
    cfg->mlp_hidden[mlp][layer] = width;
    return ATTN_OK;
}

attn_status attn_config_get_mlp_hidden(const attn_config *cfg, attn_mlp mlp, int layer, int *width)
{
    attn_status st = check_not_null(cfg, "cfg");
    if (st || (st = check_not_null(width, "width")) || (st = check_mlp(cfg, mlp, layer))) return st;
    *width = cfg->mlp_hidden[mlp][layer];
    return ATTN_OK;
}

/* The most elements one environment's tensor may hold: the layers index and hand to BLAS in int. */
#define TENSOR_LIMIT ((size_t)INT_MAX)

/* Refuses a configuration in which `what` (the elements one environment's tensor holds, from size_mul) would
 * not fit TENSOR_LIMIT. */
static attn_status bound(size_t n, const char *what)
{
    if (n <= TENSOR_LIMIT) return ATTN_OK;
    char count[32];
    if (n == SIZE_MAX) snprintf(count, sizeof count, "more than 2^64");
    else snprintf(count, sizeof count, "%zu", n);
    return fail(ATTN_ERR_INVALID, "configuration too large: %s would hold %s elements per environment, over the %d "
                "one tensor may hold", what, count, INT_MAX);
}

/* The same for a product of three sizes. */
static attn_status bound3(size_t a, size_t b, size_t c, const char *what)
{
    return bound(size_mul(size_mul(a, b), c), what);
}

attn_status config_dims(const attn_config *c, dims *d)
{
    memset(d, 0, sizeof *d);
    d->H = c->obs_h;
    d->W = c->obs_w;
    d->C = c->obs_c;
    d->A = c->num_actions;
    d->nconv = c->conv_layers;
    if (d->nconv < 1 || d->nconv > ATTN_MAX_CONV_LAYERS)
        return fail(ATTN_ERR_INVALID, "conv layers %d outside [1, %d]", d->nconv, ATTN_MAX_CONV_LAYERS);
    attn_status st;
    char what[96];
    /* Every size below is a product of settable sizes (each at most MAX_SIZE): each tensor the layers form is
     * worked out with size_mul and bounded before any int holds it, layer by layer, so that no later product of
     * these dimensions (lib/state.c's buffer sizes, the kernels' indices) can overflow. A checkpoint declaring a
     * 65536×65536 spatial basis once crashed the loader (tests/test_checkpoint.c), and a conv layer before the
     * last whose output overflowed an int passed validation (tests/test_sizes.c). */
    if ((st = bound3((size_t)d->H, (size_t)d->W, (size_t)d->C, "the observation"))) return st;
    int h = d->H, w = d->W, ch = d->C;
    for (int i = 0; i < d->nconv; i++) {
        d->cin[i] = ch;
        d->cout[i] = c->conv_out[i];
        d->k[i] = c->conv_k[i];
        d->stride[i] = c->conv_stride[i];
        d->pad[i] = c->conv_pad[i];
        if (d->cout[i] < 1 || d->k[i] < 1 || d->stride[i] < 1)
            return fail(ATTN_ERR_INVALID, "conv layer %d is not set (out %d, kernel %d, stride %d)", i, d->cout[i],
                        d->k[i], d->stride[i]);
        d->ih[i] = h;
        d->iw[i] = w;
        if (h + 2 * d->pad[i] < d->k[i] || w + 2 * d->pad[i] < d->k[i])
            return fail(ATTN_ERR_INVALID, "conv layer %d: kernel %d larger than its padded %d×%d input", i, d->k[i],
                        h + 2 * d->pad[i], w + 2 * d->pad[i]);
        h = (h + 2 * d->pad[i] - d->k[i]) / d->stride[i] + 1;
        w = (w + 2 * d->pad[i] - d->k[i]) / d->stride[i] + 1;
        d->oh[i] = h;
        d->ow[i] = w;
        const size_t cells = size_mul((size_t)h, (size_t)w), taps = size_mul((size_t)ch, (size_t)(d->k[i] * d->k[i]));
        snprintf(what, sizeof what, "conv layer %d's %d×%d×%d output", i, h, w, d->cout[i]);
        if ((st = bound(size_mul(cells, (size_t)d->cout[i]), what))) return st;
        snprintf(what, sizeof what, "conv layer %d's unfolded input (%d×%d cells × %zu taps)", i, h, w, taps);
        if ((st = bound(size_mul(cells, taps), what))) return st;
        snprintf(what, sizeof what, "conv layer %d's weight", i);
        if ((st = bound(size_mul(taps, (size_t)d->cout[i]), what))) return st;
        ch = d->cout[i];
    }
    d->F = ch;
    d->gh = h;
    d->gw = w;
    const size_t P = size_mul((size_t)h, (size_t)w), L = (size_t)c->lstm_channels, F = (size_t)ch;
    const size_t cs = size_mul((size_t)c->basis_u, (size_t)c->basis_v), N = (size_t)c->num_queries;
    if (c->key_channels >= c->lstm_channels)
        return fail(ATTN_ERR_INVALID, "key channels %d leave no value channels of %d ConvLSTM channels",
                    c->key_channels, c->lstm_channels);
    const size_t kd = size_add((size_t)c->key_channels, cs), vd = size_add(L - (size_t)c->key_channels, cs);
    const size_t a_in = size_add(size_mul(N, size_add(vd, kd)), (size_t)c->num_actions + 1);
    snprintf(what, sizeof what, "the %d×%d grid", h, w);
    if ((st = bound(P, what)) || (st = bound(size_mul(P, L), "the ConvLSTM state")) ||
        (st = bound3(P, 4, L, "the ConvLSTM gates")) || (st = bound(size_mul(P, size_add(F, L)), "the ConvLSTM input")) ||
        (st = bound3(P, size_add(F, L), 9, "the ConvLSTM's unfolded input")) ||
        (st = bound3(4 * L, size_add(F, L), 9, "the ConvLSTM weight")) ||
        /* The gate convolution's multiply-adds per environment: what one step costs, kept where a step is a
         * matter of seconds at most. */
        (st = bound(size_mul(size_mul(P, 4 * L), size_mul(9, size_add(F, L))), "the ConvLSTM's multiply-adds")) ||
        (st = bound(size_mul(P, cs), "the spatial basis")) || (st = bound(size_mul(N, P), "the attention maps")) ||
        (st = bound(size_mul(N, kd), "the queries")) || (st = bound(size_mul(N, vd), "the answers")) ||
        (st = bound(a_in, "the answer MLP's input")))
        return st;
    d->P = (int)P;
    d->L = c->lstm_channels;
    d->ck = c->key_channels;
    d->cv = d->L - d->ck;
    d->U = c->basis_u;
    d->V = c->basis_v;
    d->cs = (int)cs;
    d->N = c->num_queries;
    d->kd = (int)kd;
    d->vd = (int)vd;
    d->Hp = c->core_units;
    d->q_layers = c->mlp_layers[ATTN_MLP_QUERY] + 1;
    d->a_layers = c->mlp_layers[ATTN_MLP_ANSWER] + 1;
    d->a_in = (int)a_in;
    d->q_width[0] = d->Hp;
    d->a_width[0] = d->a_in;
    for (int j = 0; j + 1 < d->q_layers; j++) {
        d->q_width[j + 1] = c->mlp_hidden[ATTN_MLP_QUERY][j];
        if (d->q_width[j + 1] < 1) return fail(ATTN_ERR_INVALID, "query MLP hidden layer %d is not set", j);
    }
    for (int j = 0; j + 1 < d->a_layers; j++) {
        d->a_width[j + 1] = c->mlp_hidden[ATTN_MLP_ANSWER][j];
        if (d->a_width[j + 1] < 1) return fail(ATTN_ERR_INVALID, "answer MLP hidden layer %d is not set", j);
    }
    d->q_width[d->q_layers] = d->N * d->kd;
    d->a_width[d->a_layers] = d->Hp;
    for (int j = 0; j < d->q_layers; j++) {
        snprintf(what, sizeof what, "query MLP layer %d's weight", j);
        if ((st = bound(size_mul((size_t)d->q_width[j], (size_t)d->q_width[j + 1]), what))) return st;
    }
    for (int j = 0; j < d->a_layers; j++) {
        snprintf(what, sizeof what, "answer MLP layer %d's weight", j);
        if ((st = bound(size_mul((size_t)d->a_width[j], (size_t)d->a_width[j + 1]), what))) return st;
    }
    const size_t Hp = (size_t)d->Hp;
    if ((st = bound3(4, Hp, Hp, "the policy LSTM's weights")) ||
        (st = bound(size_mul((size_t)d->A, Hp), "the policy head's weight")))
        return st;
    return ATTN_OK;
}

attn_status attn_config_validate(const attn_config *cfg)
{
    attn_status st = check_not_null(cfg, "cfg");
    if (st) return st;
    dims d;
    return config_dims(cfg, &d);
}

size_t obs_first_invalid(const void *obs, int obs_type, size_t n)
{
    if (obs_type == ATTN_OBS_F32) {
        const float *f = obs;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(f[i])) return i;
    } else if (obs_type == ATTN_OBS_U8_BINARY) {
        const uint8_t *u = obs;
        for (size_t i = 0; i < n; i++)
            if (u[i] > 1) return i;
    }
    return n;
}
