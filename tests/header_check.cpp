// The public headers compile as C++ (with -pedantic -Werror, see tests/meson.build) and the declarations
// link from C++: a C++ host can use the library without any wrapper.
#include <attnagent/attnagent.h>

#include <cstdio>

int main()
{
    attn_config *cfg = nullptr;
    if (attn_config_create(&cfg, ATTN_PRESET_MINATAR) != ATTN_OK) return 1;
    attn_env env = ATTN_ENV_INIT;
    attn_loss_config lc;
    attn_loss_config_init(&lc, ATTN_LOSS_VTRACE);
    std::printf("libattnagent %s from C++: env version %d, discount %.2f\n", attn_version_string(), env.version,
                lc.discount);
    attn_config_destroy(cfg);
    return 0;
}
