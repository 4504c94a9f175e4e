/*
 * render — pictures of where the agent looks, for the example programs (not part of libattnagent's API).
 *
 * Observations become RGB images (render_frame_minatar, render_frame_rgb), attention maps are blended over them
 * as a heat ramp (render_overlay), a frame and its N maps become one side-by-side panel (render_panel), and
 * images go to disk as PNG (render_write_png) or as the frames of an animated GIF written one at a time
 * (render_gif_open / render_gif_add / render_gif_close), so a whole episode streams to disk.
 *
 *     render_image frame = RENDER_IMAGE_INIT, panel = RENDER_IMAGE_INIT;
 *     render_panel_options options = RENDER_PANEL_OPTIONS_DEFAULT;
 *     render_gif *gif = NULL;
 *     for each step t:
 *         // maps: N × 10 × 10 floats, each from attn_map_to_pixels (the observation's own H×W, summing to 1)
 *         render_frame_minatar(&frame, obs, 10, 10, channels, 32);
 *         snprintf(title, sizeof title, "STEP %d", t);
 *         options.title = title;
 *         render_panel(&panel, &frame, maps, N, 10, 10, &options);
 *         if (t == 0) render_gif_open(&gif, "episode.gif", panel.width, panel.height, 10);
 *         render_gif_add(gif, &panel);
 *     render_gif_close(gif);
 *     render_image_free(&frame);
 *     render_image_free(&panel);
 *
 * Conventions: every fallible call returns a render_status, RENDER_OK (0) or negative, and render_last_error()
 * says what was wrong (per thread). Nothing prints, exits or aborts. Images passed in as outputs are resized
 * as needed, so one render_image can be reused for every step without allocating again.
 */
#ifndef ATTN_EXAMPLES_RENDER_H
#define ATTN_EXAMPLES_RENDER_H

#include <stddef.h>
#include <stdint.h>

typedef enum render_status {
    RENDER_OK = 0,
    RENDER_ERR_INVALID = -1, /* a NULL pointer, a size out of range, a non-finite map value, ... */
    RENDER_ERR_NOMEM = -2,   /* an allocation failed */
    RENDER_ERR_IO = -3       /* opening, writing or closing a file failed */
} render_status;

/* What the last failing call on this thread said, or "" if none failed yet. */
const char *render_last_error(void);

/* Sides longer than this are refused, which keeps every byte count far from overflow. */
#define RENDER_MAX_SIDE 32768

/* An 8-bit RGB image: height × width × 3 bytes, row-major. Start from RENDER_IMAGE_INIT; free with
 * render_image_free. `capacity` is the number of bytes reserved at `rgb` (an image only grows). */
typedef struct render_image {
    int width;
    int height;
    uint8_t *rgb;
    size_t capacity;
} render_image;

#define RENDER_IMAGE_INIT {0, 0, NULL, 0}

/* Sets the size of `img`, reserving more memory if needed; the pixel contents are then unspecified. */
render_status render_image_resize(render_image *img, int width, int height);

/* Frees the pixels and returns `img` to RENDER_IMAGE_INIT. Accepts NULL. */
void render_image_free(render_image *img);

/*
 * A MinAtar-style observation, h × w × c bytes where a non-zero byte means "an object of channel k is in this
 * cell", drawn at `scale` pixels per cell: a black background, each channel in its own colour from a fixed
 * palette of 12 (channel k uses colour k mod 12; later channels are drawn over earlier ones), and at scale >= 4
 * a thin grid line around every cell. `out` becomes (h·scale) × (w·scale).
 */
render_status render_frame_minatar(render_image *out, const uint8_t *obs, int h, int w, int c, int scale);

/* An RGB observation, h × w × 3 bytes (e.g. an Atari frame), upscaled `scale` times by nearest neighbour. */
render_status render_frame_rgb(render_image *out, const uint8_t *obs, int h, int w, int scale);

/*
 * Blends one attention map over `img` in place. `map` holds h × w non-negative finite floats for the frame's
 * own pixels (attn_map_to_pixels gives them); `img` must be that frame upscaled by an integer factor, i.e.
 * (h·s) × (w·s) for some s >= 1, and every source pixel's value covers its s × s block. Each value v is placed
 * between the map's mean and its maximum, t = (v − mean) / (max − mean), coloured on a heat ramp (dark, red,
 * yellow, white as t grows) and blended with alpha = opacity · t where t > 0: the peak is the most opaque, and
 * cells holding no more than an even share of attention leave the frame untouched (so a diffuse map does not
 * paint the whole frame). `opacity` is in (0, 1]. An all-zero or even map changes nothing.
 */
render_status render_overlay(render_image *img, const float *map, int h, int w, float opacity);

typedef struct render_panel_options {
    float opacity;     /* as for render_overlay, (0, 1] */
    int gap;           /* black pixels between panels, >= 0 */
    const char *title; /* NULL: no title strip; otherwise drawn above the frame, and "Q0", "Q1", ... above the
                          query panels (render_text's characters) */
} render_panel_options;

#define RENDER_PANEL_OPTIONS_DEFAULT {0.75f, 8, NULL}

/*
 * One picture of a step: the plain `frame` (an upscaled observation of h × w source pixels) and, to its right,
 * one copy per map with that map overlaid, separated by `gap` pixels, with an optional title strip on top.
 * `maps` holds n_maps × h × w floats (n_maps >= 0), each as render_overlay wants. `out` must not be `frame`.
 * `options` may be NULL for RENDER_PANEL_OPTIONS_DEFAULT. The size of `out` depends only on the frame's size,
 * n_maps and the options, so every step of an episode gives the same size (as a GIF needs).
 */
render_status render_panel(render_image *out, const render_image *frame, const float *maps, int n_maps, int h,
                           int w, const render_panel_options *options);

/*
 * Draws `text` with a built-in 3×5 pixel font, each font pixel a `pixel` × `pixel` square, top-left corner at
 * (x, y), in colour `rgb`; whatever falls outside the image is clipped. Knows digits, letters (lower case is
 * drawn as upper case), space and - . : = / + ( ) %; any other character is drawn as '?'.
 */
render_status render_text(render_image *img, int x, int y, int pixel, const char *text, const uint8_t rgb[3]);

/* The width in image pixels render_text would use for `text` (each character 4·pixel wide, less the spacing
 * after the last one). */
int render_text_width(const char *text, int pixel);

/* Writes `img` to `path` as an 8-bit RGB PNG. After a failure the file may be left incomplete. */
render_status render_write_png(const char *path, const render_image *img);

/* An animated GIF being written. */
typedef struct render_gif render_gif;

/*
 * Creates `path` for an animated GIF of width × height frames that loops forever, each frame shown for
 * `delay_cs` hundredths of a second (0..65535; most viewers treat values below 2 as 10). Colours are mapped to
 * the nearest entry of one fixed 256-colour palette (a 6×7×6 RGB cube and 4 greys), without dithering.
 */
render_status render_gif_open(render_gif **out, const char *path, int width, int height, int delay_cs);

/* Appends one frame, which must be exactly width × height; nothing of the frame is kept after the call, so an
 * episode of any length streams to disk. */
render_status render_gif_add(render_gif *gif, const render_image *frame);

/* Finishes the file and frees `gif` (accepts NULL). If writing failed at any point, that first failure is
 * reported again and the file may be incomplete. (After a write failure every later render_gif_add reports it
 * too; a frame of the wrong size is only refused and spoils nothing.) */
render_status render_gif_close(render_gif *gif);

#endif /* ATTN_EXAMPLES_RENDER_H */
