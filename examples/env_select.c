/* attn-train's environment selection: the built-in games or the ALE bridge behind one attn_env (env_select.h). */
#include "env_select.h"

#include <stdio.h>
#include <string.h>

int env_select_create(env_select *s, const train_options *o, char *err, size_t err_size)
{
    memset(s, 0, sizeof *s);
    s->ale = o->ale;
    if (!o->ale) {
        if (minatar_env_create(&s->games, o->game, o->envs, o->sticky, o->max_episode_steps, err, err_size))
            return -1;
        s->env = minatar_env_callbacks(&s->games);
        s->channels = s->games.channels;
        s->actions = s->games.actions;
        s->obs_type = MINATAR_ENV_OBS_TYPE;
        return 0;
    }
    ale_env_options a = ALE_ENV_OPTIONS_INIT;
    a.game = o->game;
    a.envs = o->envs;
    a.procs = o->ale_procs;
    a.height = o->preset == ATTN_PRESET_ATARI ? 210 : 84;
    a.width = o->preset == ATTN_PRESET_ATARI ? 160 : 84;
    a.frame_skip = o->frame_skip;
    a.max_pool = o->max_pool;
    a.sticky = o->sticky;
    a.noop_max = o->noop_max;
    a.full_action_set = o->full_action_set;
    a.life_loss_terminal = o->life_loss_terminal;
    a.max_episode_frames = o->max_episode_steps * o->frame_skip;
    a.timeout = o->ale_timeout;
    a.seed = o->seed;
    if (ale_env_create(&s->atari, &a, err, err_size)) return -1;
    s->env = ale_env_callbacks(s->atari);
    s->channels = 3;
    s->actions = ale_env_num_actions(s->atari);
    s->obs_type = ALE_ENV_OBS_TYPE;
    return 0;
}

attn_status env_select_configure(const env_select *s, attn_config *cfg)
{
    attn_status st = attn_config_set(cfg, ATTN_CFG_OBS_C, s->channels);
    if (!st) st = attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, s->actions);
    if (!st) st = attn_config_set(cfg, ATTN_CFG_OBS_TYPE, s->obs_type);
    return st;
}

void env_select_destroy(env_select *s)
{
    if (s->ale) ale_env_destroy(s->atari);
    else minatar_env_destroy(&s->games);
    memset(s, 0, sizeof *s);
}

int env_select_scores(env_select *s, const attn_rollout *ro, float *scores, int cap)
{
    if (s->ale) return ale_env_take_scores(s->atari, scores, cap);
    int count = 0;
    attn_rollout_finished(ro, scores, NULL, cap, &count);
    return count;
}
