/* A host built only from the installed header and pkg-config: create, step, read the maps, check the version. */
#include <attnagent/attnagent.h>
#include <stdio.h>

int main(void)
{
    if (attn_version_number() != ATTN_VERSION_NUMBER) {
        fprintf(stderr, "header %d, library %u\n", ATTN_VERSION_NUMBER, attn_version_number());
        return 1;
    }
    attn_config *cfg;
    attn_model *model;
    attn_state *state;
    if (attn_config_create(&cfg, ATTN_PRESET_MINATAR) || attn_config_set(cfg, ATTN_CFG_OBS_C, 4) ||
        attn_model_create(&model, cfg, 3) || attn_state_create(&state, model, 1, 0)) {
        fprintf(stderr, "setup failed: %s\n", attn_last_error());
        return 1;
    }
    unsigned char obs[10 * 10 * 4] = {0};
    obs[37] = 255;
    float logits[6], value, maps[4 * 100];
    if (attn_forward(model, state, ATTN_FORWARD_ACT, obs, sizeof obs, NULL, NULL, NULL, logits, &value) ||
        attn_get_maps(state, maps, 400)) {
        fprintf(stderr, "step failed: %s\n", attn_last_error());
        return 1;
    }
    double sum = 0;
    for (int i = 0; i < 100; i++) sum += maps[i];
    printf("installed libattnagent %s: value %.4f, first map sums to %.6f\n", attn_version_string(), value, sum);
    attn_state_destroy(state);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    return sum > 0.999 && sum < 1.001 ? 0 : 1;
}
