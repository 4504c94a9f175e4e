/* The public headers compile as strict C11 (with -pedantic -Werror, see tests/meson.build) on their own, and the
 * declarations link: the C counterpart of header_check.cpp. */
#include <attnagent/attnagent.h>

#include <stdio.h>

int main(void)
{
    attn_config *cfg = NULL;
    if (attn_config_create(&cfg, ATTN_PRESET_MINATAR) != ATTN_OK) return 1;
    attn_env env = ATTN_ENV_INIT;
    attn_loss_config lc;
    attn_loss_config_init(&lc, ATTN_LOSS_VTRACE);
    printf("libattnagent %s from C11: env version %d, discount %.2f\n", attn_version_string(), env.version,
           (double)lc.discount);
    attn_config_destroy(cfg);
    return 0;
}
