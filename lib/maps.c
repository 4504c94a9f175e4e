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

attn_status attn_map_to_pixels(const attn_model *model, const float *map, float *pixels, size_t count)
{
    attn_status st = check_not_null(model, "model");
    if (st || (st = check_not_null(map, "map")) || (st = check_not_null(pixels, "pixels"))) return st;
    const dims *d = &model->d;
    if (count != (size_t)d->H * d->W)
        return fail(ATTN_ERR_SIZE, "pixels hold %d×%d = %zu floats, not %zu", d->H, d->W, (size_t)d->H * d->W, count);
    /* The whole map is checked before any pixel is written, so a refused map leaves `pixels` as it was (but
     * for the denormal case below). */
    double map_sum = 0.0;
    for (int i = 0; i < d->P; i++) {
        if (!isfinite(map[i]))
            return fail(ATTN_ERR_NONFINITE, "map value %d (cell (%d, %d)) is not finite", i, i / d->gw, i % d->gw);
        if (map[i] < 0.0f)
            return fail(ATTN_ERR_INVALID, "map value %d (cell (%d, %d)) is negative: %g", i, i / d->gw, i % d->gw,
                        (double)map[i]);
        map_sum += map[i];
    }
    if (!(map_sum > 0.0)) return fail(ATTN_ERR_INVALID, "the map is zero everywhere");
    double sum = 0.0;
    for (int y = 0; y < d->H; y++) {
        int y0, y1;
        float fy;
        grid_coord(y, d->H, d->gh, &y0, &y1, &fy);
        for (int x = 0; x < d->W; x++) {
            int x0, x1;
            float fx;
            grid_coord(x, d->W, d->gw, &x0, &x1, &fx);
            float top = map[y0 * d->gw + x0] * (1 - fx) + map[y0 * d->gw + x1] * fx;
            float bot = map[y1 * d->gw + x0] * (1 - fx) + map[y1 * d->gw + x1] * fx;
            float v = top * (1 - fy) + bot * fy;
            pixels[(long)y * d->W + x] = v;
            sum += v;
        }
    }
    /* Only a map of denormals, whose products underflow, gets here (having written zeros). */
    if (!(sum > 0.0)) return fail(ATTN_ERR_INVALID, "the map is too small to resample (sum %g)", map_sum);
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < count; i++) pixels[i] *= inv;
    return ATTN_OK;
}
