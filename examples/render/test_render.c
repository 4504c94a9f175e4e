/* Tests of the example programs' rendering module: frames, overlays and panels in memory, then a PNG and a
 * 3-frame GIF written to disk and read back with libpng and giflib.
 *
 *   test_render [output directory]    (default: the current directory; the files are kept for looking at)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gif_lib.h>
#include <png.h>

#include "render.h"

enum { SIDE = 10, CHANNELS = 4, SCALE = 32, QUERIES = 2, GAP = 8, DELAY_CS = 25, GIF_FRAMES = 3 };

static const char *out_dir = ".";

static void out_path(char *path, size_t size, const char *name) { snprintf(path, size, "%s/%s", out_dir, name); }

/* A 10×10×4 MinAtar-like observation: channel 0 (the "ball" colour) in the cell under the map's peak, (2, 7),
 * and in a far cell, (8, 1), so the two differ only by the overlay; a paddle of channel 1 on the bottom row;
 * channels 2 and 3 stacked in (5, 5) and channel 3 alone in (6, 6). */
static void make_observation(uint8_t obs[SIDE * SIDE * CHANNELS])
{
    memset(obs, 0, SIDE * SIDE * CHANNELS);
    obs[(2 * SIDE + 7) * CHANNELS + 0] = 1;
    obs[(8 * SIDE + 1) * CHANNELS + 0] = 1;
    for (int x = 3; x <= 6; x++) obs[(9 * SIDE + x) * CHANNELS + 1] = 1;
    obs[(5 * SIDE + 5) * CHANNELS + 2] = 1;
    obs[(5 * SIDE + 5) * CHANNELS + 3] = 1;
    obs[(6 * SIDE + 6) * CHANNELS + 3] = 1;
}

/* A Gaussian bump of width 1 cell around (row, col), normalised to sum to 1, as attn_map_to_pixels gives. */
static void make_peaked_map(float map[SIDE * SIDE], double row, double col)
{
    double sum = 0;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            double v = exp(-((y - row) * (y - row) + (x - col) * (x - col)) / 2.0);
            map[y * SIDE + x] = (float)v;
            sum += v;
        }
    for (int i = 0; i < SIDE * SIDE; i++) map[i] = (float)(map[i] / sum);
}

static const uint8_t *pixel(const render_image *img, int x, int y)
{
    return img->rgb + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
}

/* The centre pixel of cell (row, col) of a frame whose top-left corner is at (x0, y0). */
static const uint8_t *cell_centre(const render_image *img, int x0, int y0, int row, int col)
{
    return pixel(img, x0 + col * SCALE + SCALE / 2, y0 + row * SCALE + SCALE / 2);
}

/* Red plus green, less blue: how far a colour has moved towards the warm end of the heat ramp. */
static int hotness(const uint8_t *rgb) { return rgb[0] + rgb[1] - rgb[2]; }

static void test_minatar_frame(void **unused)
{
    (void)unused;
    uint8_t obs[SIDE * SIDE * CHANNELS];
    make_observation(obs);
    render_image frame = RENDER_IMAGE_INIT;
    assert_int_equal(render_frame_minatar(&frame, obs, SIDE, SIDE, CHANNELS, SCALE), RENDER_OK);
    assert_int_equal(frame.width, SIDE * SCALE);
    assert_int_equal(frame.height, SIDE * SCALE);

    const uint8_t *background = cell_centre(&frame, 0, 0, 0, 0);
    const uint8_t *ball = cell_centre(&frame, 0, 0, 2, 7), *paddle = cell_centre(&frame, 0, 0, 9, 4);
    assert_true(background[0] < 64 && background[1] < 64 && background[2] < 64); /* dark */
    assert_memory_equal(ball, cell_centre(&frame, 0, 0, 8, 1), 3);                /* same channel, same colour */
    assert_memory_not_equal(ball, paddle, 3);                                      /* channels differ */
    assert_memory_not_equal(ball, background, 3);
    /* The later channel is drawn over the earlier one. */
    assert_memory_equal(cell_centre(&frame, 0, 0, 5, 5), cell_centre(&frame, 0, 0, 6, 6), 3);
    /* Grid lines: along the cells' edges (also through objects), and not the background colour. */
    assert_memory_equal(pixel(&frame, 7 * SCALE + 5, 2 * SCALE), pixel(&frame, 5, 0), 3);
    assert_memory_equal(pixel(&frame, SIDE * SCALE - 1, 100), pixel(&frame, 5, 0), 3);
    assert_memory_not_equal(pixel(&frame, 5, 0), background, 3);

    /* Every channel gets its own colour, for at least 10 channels. */
    enum { MANY = 12 };
    uint8_t one_hot[MANY * MANY] = {0};
    for (int k = 0; k < MANY; k++) one_hot[k * MANY + k] = 1; /* cell (0, k) holds channel k */
    assert_int_equal(render_frame_minatar(&frame, one_hot, 1, MANY, MANY, 8), RENDER_OK);
    for (int a = 0; a < MANY; a++)
        for (int b = 0; b < a; b++) assert_memory_not_equal(pixel(&frame, a * 8 + 4, 4), pixel(&frame, b * 8 + 4, 4), 3);
    render_image_free(&frame);
}

static void test_rgb_frame(void **unused)
{
    (void)unused;
    const uint8_t obs[2 * 3 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90};
    render_image frame = RENDER_IMAGE_INIT;
    assert_int_equal(render_frame_rgb(&frame, obs, 2, 3, 3), RENDER_OK);
    assert_int_equal(frame.width, 9);
    assert_int_equal(frame.height, 6);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 9; x++) assert_memory_equal(pixel(&frame, x, y), obs + ((y / 3) * 3 + x / 3) * 3, 3);
    render_image_free(&frame);
}

static void test_overlay(void **unused)
{
    (void)unused;
    uint8_t obs[SIDE * SIDE * CHANNELS];
    make_observation(obs);
    float map[SIDE * SIDE];
    make_peaked_map(map, 2, 7);
    render_image frame = RENDER_IMAGE_INIT, plain = RENDER_IMAGE_INIT;
    assert_int_equal(render_frame_minatar(&plain, obs, SIDE, SIDE, CHANNELS, SCALE), RENDER_OK);
    assert_int_equal(render_frame_minatar(&frame, obs, SIDE, SIDE, CHANNELS, SCALE), RENDER_OK);

    assert_int_equal(render_overlay(&frame, map, SIDE, SIDE, 0.75f), RENDER_OK);
    assert_true(hotness(cell_centre(&frame, 0, 0, 2, 7)) > hotness(cell_centre(&plain, 0, 0, 2, 7)) + 150);
    /* Far from the peak the map is ~e^-25 of it: the frame shows through unchanged. */
    assert_memory_equal(cell_centre(&frame, 0, 0, 8, 1), cell_centre(&plain, 0, 0, 8, 1), 3);

    /* An all-zero map draws nothing; a bad map, size or opacity is refused and changes nothing. */
    size_t bytes = (size_t)plain.width * plain.height * 3;
    memcpy(frame.rgb, plain.rgb, bytes);
    float zero[SIDE * SIDE] = {0};
    assert_int_equal(render_overlay(&frame, zero, SIDE, SIDE, 0.75f), RENDER_OK);
    map[13] = NAN;
    assert_int_equal(render_overlay(&frame, map, SIDE, SIDE, 0.75f), RENDER_ERR_INVALID);
    assert_non_null(strstr(render_last_error(), "row 1, column 3"));
    map[13] = -1e-3f;
    assert_int_equal(render_overlay(&frame, map, SIDE, SIDE, 0.75f), RENDER_ERR_INVALID);
    make_peaked_map(map, 2, 7);
    assert_int_equal(render_overlay(&frame, map, 7, SIDE, 0.75f), RENDER_ERR_INVALID);
    assert_int_equal(render_overlay(&frame, map, SIDE, SIDE, 0.0f), RENDER_ERR_INVALID);
    assert_int_equal(render_overlay(&frame, map, SIDE, SIDE, NAN), RENDER_ERR_INVALID);
    assert_memory_equal(frame.rgb, plain.rgb, bytes);
    render_image_free(&frame);
    render_image_free(&plain);
}

static void test_text(void **unused)
{
    (void)unused;
    render_image img = RENDER_IMAGE_INIT;
    assert_int_equal(render_image_resize(&img, 40, 10), RENDER_OK);
    memset(img.rgb, 0, img.capacity);
    const uint8_t white[3] = {255, 255, 255};
    assert_int_equal(render_text_width("Q12", 2), (3 * 4 - 1) * 2);
    assert_int_equal(render_text(&img, 1, 1, 2, "1", white), RENDER_OK);
    /* '1' is .#. / ##. / .#. / .#. / ### : its top-left font pixel is off, the top-middle one on. */
    assert_int_equal(pixel(&img, 1, 1)[0], 0);
    assert_int_equal(pixel(&img, 3, 1)[0], 255);
    assert_int_equal(pixel(&img, 1, 9)[0], 255);
    /* Text running off the image is clipped, not an error. */
    assert_int_equal(render_text(&img, 30, -3, 2, "STEP 123456789", white), RENDER_OK);
    render_image_free(&img);
}

/* Renders the test's step: the frame and two queries, one peaked at (peak_row, 7). */
static void make_panel(render_image *panel, double peak_row, const char *title)
{
    uint8_t obs[SIDE * SIDE * CHANNELS];
    make_observation(obs);
    float maps[QUERIES * SIDE * SIDE];
    make_peaked_map(maps, peak_row, 7);
    make_peaked_map(maps + SIDE * SIDE, 9, 4);
    render_image frame = RENDER_IMAGE_INIT;
    assert_int_equal(render_frame_minatar(&frame, obs, SIDE, SIDE, CHANNELS, SCALE), RENDER_OK);
    render_panel_options options = {0.75f, GAP, title};
    assert_int_equal(render_panel(panel, &frame, maps, QUERIES, SIDE, SIDE, &options), RENDER_OK);
    render_image_free(&frame);
}

static void test_panel(void **unused)
{
    (void)unused;
    render_image panel = RENDER_IMAGE_INIT, titled = RENDER_IMAGE_INIT, frame = RENDER_IMAGE_INIT;
    make_panel(&panel, 2, NULL);
    assert_int_equal(panel.width, (QUERIES + 1) * SIDE * SCALE + QUERIES * GAP);
    assert_int_equal(panel.height, SIDE * SCALE);
    make_panel(&titled, 2, "STEP 7");
    assert_int_equal(titled.width, panel.width);
    assert_true(titled.height > panel.height && titled.height < panel.height + SIDE * SCALE / 4);

    /* The first panel is the plain frame; the gap is black. */
    uint8_t obs[SIDE * SIDE * CHANNELS];
    make_observation(obs);
    assert_int_equal(render_frame_minatar(&frame, obs, SIDE, SIDE, CHANNELS, SCALE), RENDER_OK);
    for (int y = 0; y < frame.height; y++)
        assert_memory_equal(pixel(&panel, 0, y), pixel(&frame, 0, y), (size_t)frame.width * 3);
    static const uint8_t black[3] = {0, 0, 0};
    assert_memory_equal(pixel(&panel, frame.width + GAP / 2, 50), black, 3);

    /* out and frame must differ; a negative gap is refused. */
    assert_int_equal(render_panel(&frame, &frame, NULL, 0, SIDE, SIDE, NULL), RENDER_ERR_INVALID);
    render_panel_options bad = {0.5f, -1, NULL};
    assert_int_equal(render_panel(&panel, &frame, NULL, 0, SIDE, SIDE, &bad), RENDER_ERR_INVALID);
    /* No maps: just the frame. */
    assert_int_equal(render_panel(&panel, &frame, NULL, 0, SIDE, SIDE, NULL), RENDER_OK);
    assert_int_equal(panel.width, frame.width);
    render_image_free(&panel);
    render_image_free(&titled);
    render_image_free(&frame);
}

/* Reads an 8-bit RGB PNG with libpng's simplified API; the caller frees *rgb. */
static void read_png(const char *path, uint8_t **rgb, int *width, int *height)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&image, path));
    image.format = PNG_FORMAT_RGB;
    *rgb = malloc(PNG_IMAGE_SIZE(image));
    assert_non_null(*rgb);
    assert_true(png_image_finish_read(&image, NULL, *rgb, 0, NULL));
    *width = (int)image.width;
    *height = (int)image.height;
}

static void test_png(void **unused)
{
    (void)unused;
    char path[1024];
    out_path(path, sizeof path, "render_test_panel.png");
    render_image panel = RENDER_IMAGE_INIT;
    make_panel(&panel, 2, "STEP 7");
    assert_int_equal(render_write_png(path, &panel), RENDER_OK);

    render_image back = RENDER_IMAGE_INIT;
    read_png(path, &back.rgb, &back.width, &back.height);
    assert_int_equal(back.width, (QUERIES + 1) * SIDE * SCALE + QUERIES * GAP);
    assert_int_equal(back.height, panel.height);
    assert_memory_equal(back.rgb, panel.rgb, (size_t)panel.width * panel.height * 3);

    /* In the first query's panel, the ball under the map's peak is hotter than the same ball far from it. */
    int strip = panel.height - SIDE * SCALE, x0 = SIDE * SCALE + GAP;
    const uint8_t *peak = cell_centre(&back, x0, strip, 2, 7), *far = cell_centre(&back, x0, strip, 8, 1);
    assert_true(peak[0] > far[0] + 100);
    assert_true(hotness(peak) > hotness(far) + 150);
    free(back.rgb);

    /* A failed write is reported, never fatal. */
    assert_int_equal(render_write_png("/nonexistent-directory/x.png", &panel), RENDER_ERR_IO);
    assert_non_null(strstr(render_last_error(), "/nonexistent-directory/x.png"));
    FILE *full = fopen("/dev/full", "wb");
    if (full) {
        fclose(full);
        assert_int_equal(render_write_png("/dev/full", &panel), RENDER_ERR_IO);
    }
    render_image_free(&panel);
}

/* Whether the GIF's first image carries the NETSCAPE2.0 "loop forever" extension. */
static int loops_forever(const GifFileType *gif)
{
    const SavedImage *first = &gif->SavedImages[0];
    for (int i = 0; i + 1 < first->ExtensionBlockCount; i++) {
        const ExtensionBlock *b = &first->ExtensionBlocks[i], *next = b + 1;
        if (b->Function == APPLICATION_EXT_FUNC_CODE && b->ByteCount == 11 &&
            memcmp(b->Bytes, "NETSCAPE2.0", 11) == 0 && next->ByteCount == 3 && next->Bytes[0] == 1 &&
            next->Bytes[1] == 0 && next->Bytes[2] == 0)
            return 1;
    }
    return 0;
}

static void test_gif(void **unused)
{
    (void)unused;
    char path[1024];
    out_path(path, sizeof path, "render_test_episode.gif");
    render_image panel = RENDER_IMAGE_INIT;
    make_panel(&panel, 2, "STEP 0");
    render_gif *gif = NULL;
    assert_int_equal(render_gif_open(&gif, path, panel.width, panel.height, DELAY_CS), RENDER_OK);
    for (int t = 0; t < GIF_FRAMES; t++) {
        char title[32];
        snprintf(title, sizeof title, "STEP %d", t);
        make_panel(&panel, 2 + t, title); /* the peak moves down one row per step */
        assert_int_equal(render_gif_add(gif, &panel), RENDER_OK);
    }
    /* A frame of the wrong size is refused without spoiling the file. */
    render_image small = RENDER_IMAGE_INIT;
    assert_int_equal(render_image_resize(&small, 4, 4), RENDER_OK);
    assert_int_equal(render_gif_add(gif, &small), RENDER_ERR_INVALID);
    assert_int_equal(render_gif_close(gif), RENDER_OK);

    FILE *file = fopen(path, "rb");
    char stamp[6];
    assert_non_null(file);
    assert_int_equal(fread(stamp, 1, 6, file), 6);
    fclose(file);
    assert_memory_equal(stamp, "GIF89a", 6);

    int error = 0;
    GifFileType *back = DGifOpenFileName(path, &error);
    assert_non_null(back);
    assert_int_equal(DGifSlurp(back), GIF_OK);
    assert_int_equal(back->ImageCount, GIF_FRAMES);
    assert_int_equal(back->SWidth, panel.width);
    assert_int_equal(back->SHeight, panel.height);
    assert_true(loops_forever(back));
    for (int i = 0; i < GIF_FRAMES; i++) {
        GraphicsControlBlock control;
        assert_int_equal(DGifSavedExtensionToGCB(back, i, &control), GIF_OK);
        assert_int_equal(control.DelayTime, DELAY_CS);
        assert_int_equal(back->SavedImages[i].ImageDesc.Width, panel.width);
        assert_int_equal(back->SavedImages[i].ImageDesc.Height, panel.height);
    }
    /* The last frame is the last panel to within the palette's spacing (half a step of 51 or 43 levels). */
    const SavedImage *last = &back->SavedImages[GIF_FRAMES - 1];
    const ColorMapObject *palette = last->ImageDesc.ColorMap ? last->ImageDesc.ColorMap : back->SColorMap;
    assert_non_null(palette);
    int worst = 0;
    for (int i = 0; i < panel.width * panel.height; i++) {
        GifColorType c = palette->Colors[last->RasterBits[i]];
        const uint8_t *want = panel.rgb + (size_t)i * 3;
        int d[3] = {abs(c.Red - want[0]), abs(c.Green - want[1]), abs(c.Blue - want[2])};
        for (int k = 0; k < 3; k++) worst = d[k] > worst ? d[k] : worst;
    }
    assert_true(worst <= 26);
    assert_int_equal(DGifCloseFile(back, &error), GIF_OK);

    /* Writing to a full device fails with a status at the latest when closing. */
    if ((file = fopen("/dev/full", "wb"))) {
        fclose(file);
        render_status st = render_gif_open(&gif, "/dev/full", panel.width, panel.height, DELAY_CS);
        if (st == RENDER_OK) {
            st = render_gif_add(gif, &panel);
            render_status closed = render_gif_close(gif);
            if (st == RENDER_OK) st = closed;
        }
        assert_int_equal(st, RENDER_ERR_IO);
        assert_non_null(strstr(render_last_error(), "/dev/full"));
    }
    assert_int_equal(render_gif_open(&gif, path, 0, 10, DELAY_CS), RENDER_ERR_INVALID);
    assert_null(gif);
    assert_int_equal(render_gif_close(NULL), RENDER_OK);
    render_image_free(&small);
    render_image_free(&panel);
}

static void test_bad_arguments(void **unused)
{
    (void)unused;
    uint8_t obs[SIDE * SIDE * CHANNELS] = {0};
    render_image img = RENDER_IMAGE_INIT;
    assert_int_equal(render_frame_minatar(&img, obs, SIDE, SIDE, CHANNELS, 0), RENDER_ERR_INVALID);
    assert_int_equal(render_frame_minatar(&img, NULL, SIDE, SIDE, CHANNELS, 4), RENDER_ERR_INVALID);
    assert_int_equal(render_frame_minatar(&img, obs, SIDE, SIDE, 0, 4), RENDER_ERR_INVALID);
    assert_int_equal(render_frame_rgb(&img, obs, SIDE, SIDE, RENDER_MAX_SIDE), RENDER_ERR_INVALID);
    assert_int_equal(render_image_resize(&img, RENDER_MAX_SIDE + 1, 1), RENDER_ERR_INVALID);
    assert_int_equal(render_write_png("x.png", &img), RENDER_ERR_INVALID); /* empty image */
    assert_string_not_equal(render_last_error(), "");
    render_image_free(&img);
    render_image_free(NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1) out_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minatar_frame), cmocka_unit_test(test_rgb_frame), cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_text),          cmocka_unit_test(test_panel),     cmocka_unit_test(test_png),
        cmocka_unit_test(test_gif),           cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
