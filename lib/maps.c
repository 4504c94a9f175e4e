#include <math.h>
#include <string.h>

#include "errors.h"
#include "model.h"

attn_status attn_get_maps(const attn_state *state, float *maps, size_t count)
{
    attn_status st = check_not_null(state, "state");
    if (st || (st = check_not_null(maps, "maps"))) return st;
    const dims *d = &state->model->d;
    size_t want = (size_t)state->B * d->N * d->P;
    if (count != want)
        return fail(ATTN_ERR_SIZE, "maps hold %d environments × %d queries × %d×%d cells = %zu floats, not %zu",
                    state->B, d->N, d->gh, d->gw, want, count);
    if (!state->stepped) return fail(ATTN_ERR_STATE, "no step has been taken on this state yet");
    memcpy(maps, state->maps, want * sizeof(float));
    return ATTN_OK;
}

/* Where pixel i of n falls on a grid of g cells, measured between cell centres, clamped to the border cells. */
static void grid_coord(int i, int n, int g, int *lo, int *hi, float *frac)
{
    float c = ((float)i + 0.5f) * (float)g / (float)n - 0.5f;
    if (c < 0.0f) c = 0.0f;
    if (c > (float)(g - 1)) c = (float)(g - 1);
    *lo = (int)floorf(c);
    *hi = *lo + 1 < g ? *lo + 1 : *lo;
    *frac = c - (float)*lo;
}

/* The bilinear value of pixel (y, x) from the map scaled by 1/`peak`, in double. */
static double resampled(const float *map, const dims *d, int y, int x, double peak)
{
    int y0, y1, x0, x1;
    float fy, fx;
    grid_coord(y, d->H, d->gh, &y0, &y1, &fy);
    grid_coord(x, d->W, d->gw, &x0, &x1, &fx);
    const double top = map[y0 * d->gw + x0] / peak * (1 - fx) + map[y0 * d->gw + x1] / peak * fx;
    const double bot = map[y1 * d->gw + x0] / peak * (1 - fx) + map[y1 * d->gw + x1] / peak * fx;
    return top * (1 - fy) + bot * fy;
}

attn_status attn_map_to_pixels(const attn_model *model, const float *map, float *pixels, size_t count)
{
    attn_status st = check_not_null(model, "model");
    if (st || (st = check_not_null(map, "map")) || (st = check_not_null(pixels, "pixels"))) return st;
    const dims *d = &model->d;
    if (count != (size_t)d->H * d->W)
        return fail(ATTN_ERR_SIZE, "pixels hold %d×%d = %zu floats, not %zu", d->H, d->W, (size_t)d->H * d->W, count);
    /* The whole map is checked, and the pixels' sum found, before any pixel is written, so a refused map leaves
     * `pixels` as it was. */
    double peak = 0.0;
    for (int i = 0; i < d->P; i++) {
        if (!isfinite(map[i]))
            return fail(ATTN_ERR_NONFINITE, "map value %d (cell (%d, %d)) is not finite", i, i / d->gw, i % d->gw);
        if (map[i] < 0.0f)
            return fail(ATTN_ERR_INVALID, "map value %d (cell (%d, %d)) is negative: %g", i, i / d->gw, i % d->gw,
                        (double)map[i]);
        if (map[i] > peak) peak = map[i];
    }
    if (!(peak > 0.0)) return fail(ATTN_ERR_INVALID, "the map is zero everywhere");
    /* Resampled relative to the largest weight, in double: a map whose weights are subnormal floats (one such
     * weight and zeros once gave a sum of 1e-45, whose float reciprocal is infinite, and pixels of NaN and
     * infinity) resamples exactly as the same map scaled up would. The peak cell's nearest pixels weigh at least
     * a quarter of it, so the sum is at least 1/4. */
    double sum = 0.0;
    for (int y = 0; y < d->H; y++)
        for (int x = 0; x < d->W; x++) sum += resampled(map, d, y, x, peak);
    for (int y = 0; y < d->H; y++)
        for (int x = 0; x < d->W; x++) pixels[(size_t)y * d->W + x] = (float)(resampled(map, d, y, x, peak) / sum);
    return ATTN_OK;
}
