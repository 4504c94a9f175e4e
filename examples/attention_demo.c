/* The smallest complete host: builds the minatar-preset agent, shows it a dot moving across a 10×10 frame for a
 * few steps, and prints, for every step, the frame and each query's attention map as shades in the terminal.
 * The agent is untrained, so the maps show where a fresh network looks; attn-train produces one worth watching.
 *
 *   attention_demo [steps] [seed]
 */
#include <stdio.h>
#include <stdlib.h>

#include "attnagent/attnagent.h"

#define CHECK(call)                                                                                              \
    do {                                                                                                         \
        attn_status st_ = (call);                                                                                \
        if (st_ != ATTN_OK) {                                                                                    \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, attn_status_str(st_), attn_last_error());             \
            exit(1);                                                                                             \
        }                                                                                                        \
    } while (0)

enum { SIDE = 10, CHANNELS = 1, ACTIONS = 3, QUERIES = 4 };

/* Darker to brighter, by the share of the map's peak a cell holds. */
static char shade(float v, float peak)
{
    static const char ramp[] = " .:-=+*#%@";
    int i = peak > 0 ? (int)(v / peak * 9.0f + 0.5f) : 0;
    return ramp[i < 0 ? 0 : i > 9 ? 9 : i];
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 6;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    printf("libattnagent %s: an untrained minatar-preset agent watching a moving dot\n", attn_version_string());

    attn_config *cfg;
    CHECK(attn_config_create(&cfg, ATTN_PRESET_MINATAR));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_C, CHANNELS));
    CHECK(attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, ACTIONS));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_U8_BINARY)); /* frames are 0/1 planes */
    attn_model *model;
    CHECK(attn_model_create(&model, cfg, seed));
    attn_state *state;
    CHECK(attn_state_create(&state, model, 1, 0));
    printf("%zu parameters\n\n", attn_model_param_count(model));

    uint8_t frame[SIDE * SIDE * CHANNELS];
    float logits[ACTIONS], value, maps[QUERIES * SIDE * SIDE];
    for (int t = 0; t < steps; t++) {
        /* The dot moves diagonally and bounces off the walls. */
        int period = 2 * (SIDE - 1), k = t % period, pos = k < SIDE ? k : period - k;
        int y = pos, x = (pos * 3 + 2) % SIDE;
        for (int i = 0; i < SIDE * SIDE; i++) frame[i] = 0;
        frame[y * SIDE + x] = 1;
        uint8_t first = t == 0;
        int32_t prev_action = ATTN_NO_ACTION;
        CHECK(attn_forward(model, state, ATTN_FORWARD_ACT, frame, sizeof frame, NULL, &prev_action, &first, logits,
                           &value));
        CHECK(attn_get_maps(state, maps, sizeof maps / sizeof *maps));

        printf("step %d: dot at (row %d, col %d), value %+.4f\n", t, y, x, value);
        printf("  frame       ");
        for (int n = 0; n < QUERIES; n++) printf("query %d     ", n);
        printf("\n");
        for (int row = 0; row < SIDE; row++) {
            printf("  ");
            for (int col = 0; col < SIDE; col++) putchar(frame[row * SIDE + col] ? 'O' : '.');
            for (int n = 0; n < QUERIES; n++) {
                const float *m = maps + n * SIDE * SIDE;
                float peak = 0;
                for (int i = 0; i < SIDE * SIDE; i++) peak = m[i] > peak ? m[i] : peak;
                printf("  ");
                for (int col = 0; col < SIDE; col++) putchar(shade(m[row * SIDE + col], peak));
            }
            printf("\n");
        }
        printf("\n");
    }
    attn_state_destroy(state);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    return 0;
}
