/* render: observations, attention overlays and panels as RGB images, written with libpng and giflib.
 * render.h is the manual. */
#include "render.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>
#include <png.h>

/* ---- Errors ---------------------------------------------------------------------------------------- */

static _Thread_local char last_error[256];

const char *render_last_error(void) { return last_error; }

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static render_status fail(render_status status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return status;
}

/* ---- Images ---------------------------------------------------------------------------------------- */

render_status render_image_resize(render_image *img, int width, int height)
{
    if (!img) return fail(RENDER_ERR_INVALID, "render_image_resize: img is NULL");
    if (width < 1 || height < 1 || width > RENDER_MAX_SIDE || height > RENDER_MAX_SIDE)
        return fail(RENDER_ERR_INVALID, "render_image_resize: %d x %d is outside 1..%d per side", width, height,
                    RENDER_MAX_SIDE);
    size_t bytes = (size_t)width * (size_t)height * 3;
    if (bytes / 3 / (size_t)width != (size_t)height)
        return fail(RENDER_ERR_INVALID, "render_image_resize: %d x %d is too large for this platform", width, height);
    if (bytes > img->capacity) {
        uint8_t *rgb = realloc(img->rgb, bytes);
        if (!rgb) return fail(RENDER_ERR_NOMEM, "render_image_resize: cannot allocate %zu bytes", bytes);
        img->rgb = rgb;
        img->capacity = bytes;
    }
    img->width = width;
    img->height = height;
    return RENDER_OK;
}

void render_image_free(render_image *img)
{
    if (!img) return;
    free(img->rgb);
    *img = (render_image)RENDER_IMAGE_INIT;
}

static bool image_ok(const render_image *img)
{
    return img && img->rgb && img->width >= 1 && img->height >= 1 &&
           (size_t)img->width * (size_t)img->height * 3 <= img->capacity;
}

/* The integer factor by which `img` enlarges an h × w source, or 0 if it is not such an enlargement. */
static int block_scale(const render_image *img, int h, int w)
{
    if (h < 1 || w < 1 || img->width % w != 0 || img->height % h != 0) return 0;
    int s = img->width / w;
    return img->height / h == s ? s : 0;
}

/* Fills the rectangle [x, x+width) × [y, y+height), clipped to the image. */
static void fill_rect(render_image *img, long long x, long long y, long long width, long long height,
                      const uint8_t rgb[3])
{
    long long x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    long long x1 = x + width > img->width ? img->width : x + width;
    long long y1 = y + height > img->height ? img->height : y + height;
    for (long long py = y0; py < y1; py++) {
        uint8_t *p = img->rgb + ((size_t)py * (size_t)img->width + (size_t)x0) * 3;
        for (long long px = x0; px < x1; px++, p += 3) memcpy(p, rgb, 3);
    }
}

/* Copies all of `src` into `dst` with its top-left corner at (x, y); the caller ensures it fits. */
static void blit(render_image *dst, int x, int y, const render_image *src)
{
    size_t row_bytes = (size_t)src->width * 3;
    for (int py = 0; py < src->height; py++)
        memcpy(dst->rgb + ((size_t)(y + py) * (size_t)dst->width + (size_t)x) * 3,
               src->rgb + (size_t)py * row_bytes, row_bytes);
}

/* ---- Frames ---------------------------------------------------------------------------------------- */

enum { PALETTE_SIZE = 12 };

/* Channel colours: distinct hues (Tableau's ten, grey swapped for near-white, and two light ones) that stay
 * visible on the black background. */
static const uint8_t channel_palette[PALETTE_SIZE][3] = {
    {31, 119, 180},  /* blue */
    {255, 127, 14},  /* orange */
    {44, 160, 44},   /* green */
    {214, 39, 40},   /* red */
    {148, 103, 189}, /* purple */
    {140, 86, 75},   /* brown */
    {227, 119, 194}, /* pink */
    {230, 230, 230}, /* near white */
    {188, 189, 34},  /* olive */
    {23, 190, 207},  /* cyan */
    {174, 199, 232}, /* light blue */
    {152, 223, 138}, /* light green */
};

/* Background, grid lines, panel gaps and text: black, white and a grey of the GIF palette, so a GIF keeps them
 * exactly. A black background also keeps faint overlay glow red rather than olive after the GIF's palette. */
static const uint8_t cell_background[3] = {0, 0, 0};
static const uint8_t grid_colour[3] = {56, 56, 56};
static const uint8_t panel_background[3] = {0, 0, 0};
static const uint8_t text_colour[3] = {255, 255, 255};

/* Smallest scale at which grid lines are drawn: below it a line would eat too much of a cell. */
enum { GRID_MIN_SCALE = 4 };

static render_status check_frame_args(const char *who, const render_image *out, const uint8_t *obs, int h, int w,
                                      int scale)
{
    if (!out || !obs) return fail(RENDER_ERR_INVALID, "%s: %s is NULL", who, out ? "obs" : "out");
    if (h < 1 || w < 1 || scale < 1)
        return fail(RENDER_ERR_INVALID, "%s: h=%d, w=%d and scale=%d must all be >= 1", who, h, w, scale);
    if (h > RENDER_MAX_SIDE / scale || w > RENDER_MAX_SIDE / scale)
        return fail(RENDER_ERR_INVALID, "%s: %d x %d at scale %d exceeds %d pixels per side", who, h, w, scale,
                    RENDER_MAX_SIDE);
    return RENDER_OK;
}

render_status render_frame_minatar(render_image *out, const uint8_t *obs, int h, int w, int c, int scale)
{
    render_status st = check_frame_args("render_frame_minatar", out, obs, h, w, scale);
    if (st != RENDER_OK) return st;
    if (c < 1) return fail(RENDER_ERR_INVALID, "render_frame_minatar: c=%d must be >= 1", c);
    if ((st = render_image_resize(out, w * scale, h * scale)) != RENDER_OK) return st;

    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const uint8_t *cell = obs + ((size_t)y * (size_t)w + (size_t)x) * (size_t)c;
            const uint8_t *colour = cell_background;
            for (int k = 0; k < c; k++)
                if (cell[k]) colour = channel_palette[k % PALETTE_SIZE];
            fill_rect(out, (long long)x * scale, (long long)y * scale, scale, scale, colour);
        }
    }
    if (scale >= GRID_MIN_SCALE) {
        /* One line along the top and left of every cell, plus the bottom and right edges of the image. */
        for (int y = 0; y < h; y++) fill_rect(out, 0, (long long)y * scale, out->width, 1, grid_colour);
        for (int x = 0; x < w; x++) fill_rect(out, (long long)x * scale, 0, 1, out->height, grid_colour);
        fill_rect(out, 0, out->height - 1, out->width, 1, grid_colour);
        fill_rect(out, out->width - 1, 0, 1, out->height, grid_colour);
    }
    return RENDER_OK;
}

render_status render_frame_rgb(render_image *out, const uint8_t *obs, int h, int w, int scale)
{
    render_status st = check_frame_args("render_frame_rgb", out, obs, h, w, scale);
    if (st != RENDER_OK) return st;
    if ((st = render_image_resize(out, w * scale, h * scale)) != RENDER_OK) return st;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            fill_rect(out, (long long)x * scale, (long long)y * scale, scale, scale,
                      obs + ((size_t)y * (size_t)w + (size_t)x) * 3);
    return RENDER_OK;
}

/* ---- Overlays -------------------------------------------------------------------------------------- */

/* The heat ramp: black through dark red, red and yellow to white, piecewise linear in t ∈ [0, 1]. Brightness
 * rises monotonically along it, so hotter reads as brighter on screen and in print. */
static void heat_colour(float t, float out[3])
{
    static const float stops[][4] = {
        {0.00f, 0, 0, 0},
        {0.25f, 128, 0, 0},
        {0.50f, 230, 40, 0},
        {0.75f, 255, 200, 0},
        {1.00f, 255, 255, 255},
    };
    enum { N_STOPS = sizeof stops / sizeof stops[0] };
    int i = 1;
    while (i < N_STOPS - 1 && t > stops[i][0]) i++;
    float u = (t - stops[i - 1][0]) / (stops[i][0] - stops[i - 1][0]);
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    for (int k = 0; k < 3; k++) out[k] = stops[i - 1][k + 1] + u * (stops[i][k + 1] - stops[i - 1][k + 1]);
}

static render_status check_opacity(const char *who, float opacity)
{
    if (!(opacity > 0.0f && opacity <= 1.0f))
        return fail(RENDER_ERR_INVALID, "%s: opacity %g is outside (0, 1]", who, (double)opacity);
    return RENDER_OK;
}

/* Checks that every value of an h × w map is finite and non-negative, and gives its maximum. */
/* The map's largest value and its mean (the share every cell would get from an even map). */
static render_status map_peak(const char *who, const float *map, int h, int w, float *peak, float *mean)
{
    float m = 0;
    double sum = 0.0;
    size_t n = (size_t)h * (size_t)w;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(map[i]) || map[i] < 0)
            return fail(RENDER_ERR_INVALID, "%s: map value %g at (row %zu, column %zu) is not finite and >= 0",
                        who, (double)map[i], i / (size_t)w, i % (size_t)w);
        if (map[i] > m) m = map[i];
        sum += map[i];
    }
    *peak = m;
    *mean = (float)(sum / (double)n);
    return RENDER_OK;
}

/* Blends the map over the (h·s) × (w·s) region of `img` whose top-left corner is at column x0 (row 0 of the
 * region is image row y0). The map has been checked; `peak` is its maximum and `mean` its average. Values
 * are placed between the two, so only cells holding more than an even share of attention are coloured:
 * measured from zero instead, a diffuse map would paint the whole frame. */
static void blend_map(render_image *img, int x0, int y0, int s, const float *map, int h, int w, float peak,
                      float mean, float opacity)
{
    if (peak <= mean) return;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            float t = (map[(size_t)y * (size_t)w + (size_t)x] - mean) / (peak - mean);
            if (t <= 0) continue;
            float heat[3], alpha = opacity * t;
            heat_colour(t, heat);
            for (int py = 0; py < s; py++) {
                uint8_t *p = img->rgb + ((size_t)(y0 + y * s + py) * (size_t)img->width + (size_t)(x0 + x * s)) * 3;
                for (int px = 0; px < s; px++, p += 3)
                    for (int k = 0; k < 3; k++) p[k] = (uint8_t)((1 - alpha) * p[k] + alpha * heat[k] + 0.5f);
            }
        }
    }
}

render_status render_overlay(render_image *img, const float *map, int h, int w, float opacity)
{
    static const char who[] = "render_overlay";
    if (!image_ok(img)) return fail(RENDER_ERR_INVALID, "%s: img is NULL or empty", who);
    if (!map) return fail(RENDER_ERR_INVALID, "%s: map is NULL", who);
    int s = block_scale(img, h, w);
    if (s == 0)
        return fail(RENDER_ERR_INVALID, "%s: a %d x %d image is no integer enlargement of a %d x %d map", who,
                    img->height, img->width, h, w);
    float peak = 0, mean = 0;
    render_status st = check_opacity(who, opacity);
    if (st == RENDER_OK) st = map_peak(who, map, h, w, &peak, &mean);
    if (st != RENDER_OK) return st;
    blend_map(img, 0, 0, s, map, h, w, peak, mean, opacity);
    return RENDER_OK;
}

/* ---- Text ------------------------------------------------------------------------------------------ */

enum { GLYPH_W = 3, GLYPH_H = 5, GLYPH_ADVANCE = GLYPH_W + 1 };

/* 3×5 glyphs, one byte per row, bit 2 the left column. All-zero entries are unknown characters (but ' '). */
static const uint8_t font[128][GLYPH_H] = {
    ['0'] = {7, 5, 5, 5, 7}, ['1'] = {2, 6, 2, 2, 7}, ['2'] = {7, 1, 7, 4, 7}, ['3'] = {7, 1, 3, 1, 7},
    ['4'] = {5, 5, 7, 1, 1}, ['5'] = {7, 4, 7, 1, 7}, ['6'] = {7, 4, 7, 5, 7}, ['7'] = {7, 1, 1, 2, 2},
    ['8'] = {7, 5, 7, 5, 7}, ['9'] = {7, 5, 7, 1, 7},
    ['A'] = {2, 5, 7, 5, 5}, ['B'] = {6, 5, 6, 5, 6}, ['C'] = {3, 4, 4, 4, 3}, ['D'] = {6, 5, 5, 5, 6},
    ['E'] = {7, 4, 6, 4, 7}, ['F'] = {7, 4, 6, 4, 4}, ['G'] = {3, 4, 5, 5, 3}, ['H'] = {5, 5, 7, 5, 5},
    ['I'] = {7, 2, 2, 2, 7}, ['J'] = {1, 1, 1, 5, 2}, ['K'] = {5, 5, 6, 5, 5}, ['L'] = {4, 4, 4, 4, 7},
    ['M'] = {5, 7, 7, 5, 5}, ['N'] = {6, 5, 5, 5, 5}, ['O'] = {2, 5, 5, 5, 2}, ['P'] = {6, 5, 6, 4, 4},
    ['Q'] = {2, 5, 5, 6, 3}, ['R'] = {6, 5, 6, 5, 5}, ['S'] = {3, 4, 2, 1, 6}, ['T'] = {7, 2, 2, 2, 2},
    ['U'] = {5, 5, 5, 5, 7}, ['V'] = {5, 5, 5, 5, 2}, ['W'] = {5, 5, 7, 7, 5}, ['X'] = {5, 5, 2, 5, 5},
    ['Y'] = {5, 5, 2, 2, 2}, ['Z'] = {7, 1, 2, 4, 7},
    ['-'] = {0, 0, 7, 0, 0}, ['.'] = {0, 0, 0, 0, 2}, [':'] = {0, 2, 0, 2, 0}, ['='] = {0, 7, 0, 7, 0},
    ['/'] = {1, 1, 2, 4, 4}, ['+'] = {0, 2, 7, 2, 0}, ['('] = {1, 2, 2, 2, 1}, [')'] = {4, 2, 2, 2, 4},
    ['%'] = {5, 1, 2, 4, 5}, ['?'] = {7, 1, 2, 0, 2},
};

static const uint8_t *glyph(char ch)
{
    unsigned char c = (unsigned char)ch;
    if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 'a' + 'A');
    if (c == ' ') return font[' '];
    if (c >= 128) return font['?'];
    const uint8_t *g = font[c];
    for (int row = 0; row < GLYPH_H; row++)
        if (g[row]) return g;
    return font['?'];
}

int render_text_width(const char *text, int pixel)
{
    if (!text || pixel < 1) return 0;
    size_t n = strlen(text);
    if (n == 0) return 0;
    long long width = ((long long)n * GLYPH_ADVANCE - 1) * pixel;
    return width > INT_MAX ? INT_MAX : (int)width;
}

render_status render_text(render_image *img, int x, int y, int pixel, const char *text, const uint8_t rgb[3])
{
    if (!image_ok(img)) return fail(RENDER_ERR_INVALID, "render_text: img is NULL or empty");
    if (!text || !rgb) return fail(RENDER_ERR_INVALID, "render_text: %s is NULL", text ? "rgb" : "text");
    if (pixel < 1 || pixel > RENDER_MAX_SIDE)
        return fail(RENDER_ERR_INVALID, "render_text: pixel=%d is outside 1..%d", pixel, RENDER_MAX_SIDE);
    long long cx = x;
    for (const char *ch = text; *ch && cx < img->width; ch++, cx += (long long)GLYPH_ADVANCE * pixel) {
        const uint8_t *g = glyph(*ch);
        for (int row = 0; row < GLYPH_H; row++)
            for (int col = 0; col < GLYPH_W; col++)
                if (g[row] & (4 >> col))
                    fill_rect(img, cx + (long long)col * pixel, y + (long long)row * pixel, pixel, pixel, rgb);
    }
    return RENDER_OK;
}

/* ---- Panels ---------------------------------------------------------------------------------------- */

render_status render_panel(render_image *out, const render_image *frame, const float *maps, int n_maps, int h,
                           int w, const render_panel_options *options)
{
    static const char who[] = "render_panel";
    static const render_panel_options defaults = RENDER_PANEL_OPTIONS_DEFAULT;
    const render_panel_options *opt = options ? options : &defaults;
    if (!out || !image_ok(frame)) return fail(RENDER_ERR_INVALID, "%s: out is NULL or frame is NULL or empty", who);
    if (out == frame) return fail(RENDER_ERR_INVALID, "%s: out and frame are the same image", who);
    if (n_maps < 0 || (n_maps > 0 && !maps))
        return fail(RENDER_ERR_INVALID, "%s: n_maps=%d with maps %s", who, n_maps, maps ? "given" : "NULL");
    int s = block_scale(frame, h, w);
    if (s == 0)
        return fail(RENDER_ERR_INVALID, "%s: a %d x %d frame is no integer enlargement of %d x %d", who,
                    frame->height, frame->width, h, w);
    if (opt->gap < 0) return fail(RENDER_ERR_INVALID, "%s: gap=%d is negative", who, opt->gap);
    render_status st = check_opacity(who, opt->opacity);
    if (st != RENDER_OK) return st;

    /* Text grows with the frame (each font pixel 1 to 4 image pixels square), in a strip with a margin of one
     * font pixel (+1) above and below. */
    int px = frame->width / 80;
    px = px < 1 ? 1 : px > 4 ? 4 : px;
    int strip = opt->title ? GLYPH_H * px + 2 * (px + 1) : 0;
    long long width = (long long)(n_maps + 1) * frame->width + (long long)n_maps * opt->gap;
    long long height = (long long)strip + frame->height;
    if (width > RENDER_MAX_SIDE || height > RENDER_MAX_SIDE)
        return fail(RENDER_ERR_INVALID, "%s: %d panels of %d x %d make an image over %d pixels per side", who,
                    n_maps + 1, frame->height, frame->width, RENDER_MAX_SIDE);

    /* peaks[q] and peaks[n_maps + q]: map q's maximum and mean. */
    float *peaks = n_maps > 0 ? malloc(2 * (size_t)n_maps * sizeof *peaks) : NULL;
    if (n_maps > 0 && !peaks) return fail(RENDER_ERR_NOMEM, "%s: cannot allocate %d floats", who, 2 * n_maps);
    size_t map_size = (size_t)h * (size_t)w;
    for (int q = 0; q < n_maps && st == RENDER_OK; q++)
        st = map_peak(who, maps + q * map_size, h, w, &peaks[q], &peaks[n_maps + q]);
    if (st == RENDER_OK) st = render_image_resize(out, (int)width, (int)height);
    if (st != RENDER_OK) {
        free(peaks);
        return st;
    }

    fill_rect(out, 0, 0, out->width, out->height, panel_background);
    for (int q = -1; q < n_maps; q++) {
        int x0 = (q + 1) * (frame->width + opt->gap);
        blit(out, x0, strip, frame);
        if (q >= 0)
            blend_map(out, x0, strip, s, maps + q * map_size, h, w, peaks[q], peaks[n_maps + q], opt->opacity);
        if (opt->title) {
            char label[16];
            if (q >= 0) snprintf(label, sizeof label, "Q%d", q);
            render_text(out, x0 + px, px + 1, px, q >= 0 ? label : opt->title, text_colour);
        }
    }
    free(peaks);
    return RENDER_OK;
}

/* ---- PNG ------------------------------------------------------------------------------------------- */

enum { PNG_MESSAGE_SIZE = 160 };

static void png_on_error(png_structp png, png_const_charp message)
{
    snprintf(png_get_error_ptr(png), PNG_MESSAGE_SIZE, "%s", message);
    png_longjmp(png, 1);
}

/* libpng would print warnings; nothing here prints, and a warning does not stop the write. */
static void png_on_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

render_status render_write_png(const char *path, const render_image *img)
{
    if (!path || !image_ok(img)) return fail(RENDER_ERR_INVALID, "render_write_png: path or img is NULL or empty");
    FILE *file = fopen(path, "wb");
    if (!file) return fail(RENDER_ERR_IO, "render_write_png: cannot create %s: %s", path, strerror(errno));
    char message[PNG_MESSAGE_SIZE] = "out of memory";
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        fclose(file);
        return fail(RENDER_ERR_NOMEM, "render_write_png: libpng could not start for %s", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(file);
        return fail(RENDER_ERR_IO, "render_write_png: writing %s failed: %s", path, message);
    }
    png_init_io(png, file);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++) png_write_row(png, img->rgb + (size_t)y * (size_t)img->width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(file) != 0) {
        int err = errno;
        return fail(RENDER_ERR_IO, "render_write_png: closing %s failed: %s", path, strerror(err));
    }
    return RENDER_OK;
}

/* ---- GIF ------------------------------------------------------------------------------------------- */

/* The fixed palette: a 6×7×6 RGB cube (more green levels, as the eye tells greens apart best) and 4 greys
 * the cube lacks, 256 colours in all. The cube index of (r, g, b) levels is (r·7 + g)·6 + b. */
enum { CUBE_R = 6, CUBE_G = 7, CUBE_B = 6, CUBE_SIZE = CUBE_R * CUBE_G * CUBE_B, N_GREYS = 4 };
static const uint8_t levels_r[CUBE_R] = {0, 51, 102, 153, 204, 255};
static const uint8_t levels_g[CUBE_G] = {0, 43, 85, 128, 170, 213, 255};
static const uint8_t levels_b[CUBE_B] = {0, 51, 102, 153, 204, 255};
static const uint8_t greys[N_GREYS] = {28, 56, 112, 184};

struct render_gif {
    GifFileType *gif;
    FILE *file;
    char *path;            /* for messages */
    int width, height;     /* of every frame */
    int delay_cs;          /* hundredths of a second per frame */
    int frames;            /* written so far */
    render_status failure; /* the first write failure, reported again by every later call */
    char failure_message[256];
    GifPixelType *line;    /* one row of palette indices, width */
    uint8_t nearest_r[256], nearest_g[256], nearest_b[256]; /* channel value → index of the nearest level */
};

static void nearest_levels(uint8_t table[256], const uint8_t *levels, int n)
{
    for (int v = 0; v < 256; v++) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (abs(v - levels[i]) < abs(v - levels[best])) best = i;
        table[v] = (uint8_t)best;
    }
}

static int square(int x) { return x * x; }

/* The palette index nearest to (r, g, b): on a grid the nearest point is the nearest level along each axis, and
 * only the greys remain to be compared. */
static GifPixelType palette_index(const render_gif *gif, const uint8_t *rgb)
{
    int ri = gif->nearest_r[rgb[0]], gi = gif->nearest_g[rgb[1]], bi = gif->nearest_b[rgb[2]];
    int best = (ri * CUBE_G + gi) * CUBE_B + bi;
    int distance = square(rgb[0] - levels_r[ri]) + square(rgb[1] - levels_g[gi]) + square(rgb[2] - levels_b[bi]);
    for (int k = 0; k < N_GREYS; k++) {
        int d = square(rgb[0] - greys[k]) + square(rgb[1] - greys[k]) + square(rgb[2] - greys[k]);
        if (d < distance) {
            distance = d;
            best = CUBE_SIZE + k;
        }
    }
    return (GifPixelType)best;
}

static ColorMapObject *make_palette(void)
{
    GifColorType colours[256];
    for (int r = 0; r < CUBE_R; r++)
        for (int g = 0; g < CUBE_G; g++)
            for (int b = 0; b < CUBE_B; b++)
                colours[(r * CUBE_G + g) * CUBE_B + b] = (GifColorType){levels_r[r], levels_g[g], levels_b[b]};
    for (int k = 0; k < N_GREYS; k++) colours[CUBE_SIZE + k] = (GifColorType){greys[k], greys[k], greys[k]};
    return GifMakeMapObject(256, colours);
}

static const char *gif_error_text(int code)
{
    const char *text = GifErrorString(code);
    return text ? text : "unknown giflib error";
}

static int write_to_file(GifFileType *gif, const GifByteType *bytes, int length)
{
    return (int)fwrite(bytes, 1, (size_t)length, gif->UserData);
}

/* The NETSCAPE2.0 application extension: repeat the animation forever (a loop count of 0). */
static bool put_loop_forever(GifFileType *gif)
{
    static const char application[] = "NETSCAPE2.0";
    static const GifByteType loop[3] = {1, 0, 0}; /* sub-block 1, then the loop count, little-endian */
    return EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
           EGifPutExtensionBlock(gif, (int)strlen(application), application) == GIF_OK &&
           EGifPutExtensionBlock(gif, (int)sizeof loop, loop) == GIF_OK && EGifPutExtensionTrailer(gif) == GIF_OK;
}

/* Ends the giflib writer and closes the file, recording the first failure. */
static void gif_end(render_gif *gif)
{
    int gif_error = 0;
    bool gif_ok = !gif->gif || EGifCloseFile(gif->gif, &gif_error) == GIF_OK;
    bool file_ok = !gif->file || fclose(gif->file) == 0;
    int file_error = errno;
    gif->gif = NULL;
    gif->file = NULL;
    if ((!gif_ok || !file_ok) && gif->failure == RENDER_OK) {
        gif->failure = RENDER_ERR_IO;
        snprintf(gif->failure_message, sizeof gif->failure_message, "render_gif_close: finishing %s failed: %s",
                 gif->path, gif_ok ? strerror(file_error) : gif_error_text(gif_error));
    }
}

static void gif_free(render_gif *gif)
{
    free(gif->line);
    free(gif->path);
    free(gif);
}

render_status render_gif_open(render_gif **out, const char *path, int width, int height, int delay_cs)
{
    static const char who[] = "render_gif_open";
    if (!out || !path) return fail(RENDER_ERR_INVALID, "%s: %s is NULL", who, out ? "path" : "out");
    *out = NULL;
    if (width < 1 || height < 1 || width > RENDER_MAX_SIDE || height > RENDER_MAX_SIDE)
        return fail(RENDER_ERR_INVALID, "%s: %d x %d is outside 1..%d per side", who, width, height, RENDER_MAX_SIDE);
    if (delay_cs < 0 || delay_cs > 65535)
        return fail(RENDER_ERR_INVALID, "%s: delay_cs=%d is outside 0..65535", who, delay_cs);

    render_gif *gif = calloc(1, sizeof *gif);
    if (!gif) return fail(RENDER_ERR_NOMEM, "%s: out of memory", who);
    gif->line = malloc((size_t)width * sizeof *gif->line);
    gif->path = malloc(strlen(path) + 1);
    if (!gif->line || !gif->path) {
        gif_free(gif);
        return fail(RENDER_ERR_NOMEM, "%s: out of memory", who);
    }
    strcpy(gif->path, path);
    gif->width = width;
    gif->height = height;
    gif->delay_cs = delay_cs;
    nearest_levels(gif->nearest_r, levels_r, CUBE_R);
    nearest_levels(gif->nearest_g, levels_g, CUBE_G);
    nearest_levels(gif->nearest_b, levels_b, CUBE_B);

    /* Our own FILE rather than EGifOpenFileName, which would create the file readable by its owner only. */
    gif->file = fopen(path, "wb");
    if (!gif->file) {
        int err = errno;
        gif_free(gif);
        return fail(RENDER_ERR_IO, "%s: cannot create %s: %s", who, path, strerror(err));
    }
    int error = 0;
    gif->gif = EGifOpen(gif->file, write_to_file, &error);
    ColorMapObject *palette = gif->gif ? make_palette() : NULL;
    bool ok = palette != NULL;
    if (ok) {
        EGifSetGifVersion(gif->gif, true); /* GIF89a: the version with animation extensions */
        ok = EGifPutScreenDesc(gif->gif, width, height, 8, 0, palette) == GIF_OK && put_loop_forever(gif->gif);
        if (!ok) error = gif->gif->Error;
    }
    GifFreeMapObject(palette);
    if (!ok) {
        gif->failure = error ? RENDER_ERR_IO : RENDER_ERR_NOMEM;
        snprintf(gif->failure_message, sizeof gif->failure_message, "%s: starting %s failed: %s", who, path,
                 error ? gif_error_text(error) : "out of memory");
        gif_end(gif);
        render_status st = fail(gif->failure, "%s", gif->failure_message);
        gif_free(gif);
        return st;
    }
    *out = gif;
    return RENDER_OK;
}

render_status render_gif_add(render_gif *gif, const render_image *frame)
{
    static const char who[] = "render_gif_add";
    if (!gif || !image_ok(frame)) return fail(RENDER_ERR_INVALID, "%s: gif or frame is NULL or empty", who);
    if (frame->width != gif->width || frame->height != gif->height)
        return fail(RENDER_ERR_INVALID, "%s: frame is %d x %d, the GIF %d x %d (height x width)", who,
                    frame->height, frame->width, gif->height, gif->width);
    if (gif->failure != RENDER_OK) return fail(gif->failure, "%s", gif->failure_message);

    GraphicsControlBlock control = {DISPOSE_DO_NOT, false, gif->delay_cs, NO_TRANSPARENT_COLOR};
    GifByteType extension[4];
    size_t extension_length = EGifGCBToExtension(&control, extension);
    bool ok = EGifPutExtension(gif->gif, GRAPHICS_EXT_FUNC_CODE, (int)extension_length, extension) == GIF_OK &&
              EGifPutImageDesc(gif->gif, 0, 0, gif->width, gif->height, false, NULL) == GIF_OK;
    for (int y = 0; y < gif->height && ok; y++) {
        const uint8_t *p = frame->rgb + (size_t)y * (size_t)gif->width * 3;
        for (int x = 0; x < gif->width; x++, p += 3) gif->line[x] = palette_index(gif, p);
        ok = EGifPutLine(gif->gif, gif->line, gif->width) == GIF_OK;
    }
    if (!ok) {
        gif->failure = RENDER_ERR_IO;
        snprintf(gif->failure_message, sizeof gif->failure_message, "%s: writing frame %d of %s failed: %s", who,
                 gif->frames, gif->path, gif_error_text(gif->gif->Error));
        return fail(gif->failure, "%s", gif->failure_message);
    }
    gif->frames++;
    return RENDER_OK;
}

render_status render_gif_close(render_gif *gif)
{
    if (!gif) return RENDER_OK;
    gif_end(gif);
    render_status st = gif->failure == RENDER_OK ? RENDER_OK : fail(gif->failure, "%s", gif->failure_message);
    gif_free(gif);
    return st;
}
