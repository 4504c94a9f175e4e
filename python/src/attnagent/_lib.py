"""The C library through ctypes: where _native.so is, every public function's prototype, the structs and enums.

Only this module touches ctypes prototypes; the others call ``lib.attn_*`` through ``check()``.
"""
import ctypes as C
import os

from . import errors

_HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.environ.get("ATTNAGENT_NATIVE") or os.path.join(_HERE, "_native.so")
lib = C.CDLL(PATH)

# ---- enums (values are stable; the C headers only ever append) ----------------------------------------

PRESETS = {"atari": 0, "atari84": 1, "minatar": 2}
OBS_U8, OBS_F32, OBS_U8_BINARY = 0, 1, 2
OBS_TYPES = {"pixels": OBS_U8, "float": OBS_F32, "binary": OBS_U8_BINARY}
OBS_TYPE_NAMES = {OBS_U8: "pixels", OBS_F32: "float", OBS_U8_BINARY: "binary"}
CONFIG_KEYS = {
    "obs_h": 0, "obs_w": 1, "obs_c": 2, "obs_type": 3, "num_actions": 4, "conv_layers": 5,
    "lstm_channels": 6, "key_channels": 7, "basis_u": 8, "basis_v": 9, "num_queries": 10, "core_units": 11,
    "query_layers": 12, "answer_layers": 13, "threads": 14, "grid_h": 15, "grid_w": 16,
}
READ_ONLY_KEYS = ("grid_h", "grid_w")
MAX_CONV_LAYERS = 4
MAX_MLP_HIDDEN = 4
MLPS = {"query": 0, "answer": 1}
STATE_PARTS = {"vision_h": 0, "vision_c": 1, "core_h": 2, "core_c": 3}
FORWARD_ACT, FORWARD_RECORD = 0, 1
NO_ACTION = -1
ACT_SAMPLE, ACT_GREEDY = 0, 1
LOSSES = {"a2c": 0, "vtrace": 1, "ppo": 2}
OPTIMIZERS = {"rmsprop": 0, "adam": 1, "adamw": 2, "sgd": 3}
OPTIM_PARAMS = {
    "lr": 0, "epsilon": 1, "decay": 2, "momentum": 3, "beta1": 4, "beta2": 5, "weight_decay": 6,
    "max_grad_norm": 7, "lr_decay_steps": 8, "lr_end": 9,
}
CALLBACK_ABORT = -1000
ENV_VERSION = 1
LOSS_CONFIG_VERSION = 1

# ---- structs --------------------------------------------------------------------------------------------

RESET_FN = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_int, C.c_uint64, C.c_void_p)
STEP_FN = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_int, C.c_int, C.c_void_p, C.POINTER(C.c_float),
                      C.POINTER(C.c_int), C.POINTER(C.c_int))
# The message is returned as an address: a c_char_p result of a Python callback would point into a bytes object
# that ctypes frees when the callback returns.
ERROR_FN = C.CFUNCTYPE(C.c_void_p, C.c_void_p, C.c_int)
SAVE_FN = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_int, C.c_void_p, C.c_size_t, C.POINTER(C.c_size_t))
LOAD_FN = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_int, C.c_void_p, C.c_size_t)


class attn_env(C.Structure):
    _fields_ = [("version", C.c_int), ("ctx", C.c_void_p), ("reset", RESET_FN), ("step", STEP_FN),
                ("error", ERROR_FN), ("save", SAVE_FN), ("load", LOAD_FN), ("thread_safe", C.c_int)]


class attn_rollout_view(C.Structure):
    _fields_ = [("T", C.c_int), ("B", C.c_int), ("A", C.c_int), ("obs", C.c_void_p),
                ("actions", C.POINTER(C.c_int32)), ("rewards", C.POINTER(C.c_float)),
                ("terminated", C.POINTER(C.c_uint8)), ("truncated", C.POINTER(C.c_uint8)),
                ("truncation_values", C.POINTER(C.c_float)), ("logits", C.POINTER(C.c_float)),
                ("values", C.POINTER(C.c_float)), ("bootstrap", C.POINTER(C.c_float))]


class attn_loss_config(C.Structure):
    _fields_ = [("version", C.c_int), ("kind", C.c_int), ("discount", C.c_float), ("gae_lambda", C.c_float),
                ("entropy_cost", C.c_float), ("baseline_cost", C.c_float), ("rho_bar", C.c_float),
                ("c_bar", C.c_float), ("clip_range", C.c_float), ("reward_clip", C.c_float),
                ("ppo_epochs", C.c_int), ("ppo_minibatches", C.c_int), ("normalize_advantages", C.c_int)]


class attn_loss_stats(C.Structure):
    _fields_ = [("total", C.c_float), ("policy_loss", C.c_float), ("value_loss", C.c_float),
                ("entropy", C.c_float), ("approx_kl", C.c_float), ("clip_fraction", C.c_float),
                ("grad_norm", C.c_float), ("skipped", C.c_int)]


class attnpy_option_values(C.Structure):
    _fields_ = [("ale", C.c_int), ("preset", C.c_int), ("algo", C.c_int), ("optim", C.c_int), ("envs", C.c_int),
                ("unroll", C.c_int), ("threads", C.c_int), ("max_episode_steps", C.c_int),
                ("frames", C.c_int64), ("checkpoint_every", C.c_int64), ("seed", C.c_uint64),
                ("sticky", C.c_float), ("env", C.c_char_p), ("game", C.c_char_p), ("out", C.c_char_p),
                ("algo_name", C.c_char_p)]


# ---- prototypes -----------------------------------------------------------------------------------------

_p, _i, _u64, _i64, _sz, _f, _d = C.c_void_p, C.c_int, C.c_uint64, C.c_int64, C.c_size_t, C.c_float, C.c_double
_pp = C.POINTER(C.c_void_p)
_pi = C.POINTER(C.c_int)
_pf = C.POINTER(C.c_float)
_s = C.c_char_p


def _proto(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


for _name, _res, _args in [
    ("attn_version_number", C.c_uint, ()),
    ("attn_version_string", _s, ()),
    ("attn_cpu_kernels", _s, ()),
    ("attn_status_str", _s, (_i,)),
    ("attn_last_error", _s, ()),
    ("attn_config_create", _i, (_pp, _i)),
    ("attn_config_destroy", None, (_p,)),
    ("attn_config_clone", _i, (_pp, _p)),
    ("attn_config_set", _i, (_p, _i, _i)),
    ("attn_config_get", _i, (_p, _i, _pi)),
    ("attn_config_set_conv", _i, (_p, _i, _i, _i, _i, _i)),
    ("attn_config_get_conv", _i, (_p, _i, _pi, _pi, _pi, _pi)),
    ("attn_config_set_mlp_hidden", _i, (_p, _i, _i, _i)),
    ("attn_config_get_mlp_hidden", _i, (_p, _i, _i, _pi)),
    ("attn_config_validate", _i, (_p,)),
    ("attn_model_create", _i, (_pp, _p, _u64)),
    ("attn_model_destroy", None, (_p,)),
    ("attn_model_config", _p, (_p,)),
    ("attn_model_param_count", _sz, (_p,)),
    ("attn_model_params", _p, (_p,)),
    ("attn_model_grads", _p, (_p,)),
    ("attn_model_zero_grad", _i, (_p,)),
    ("attn_model_tensor_count", _i, (_p,)),
    ("attn_model_tensor", _i, (_p, _i, C.POINTER(_s), _pi, C.POINTER(C.c_int64), C.POINTER(_sz))),
    ("attn_model_find_tensor", _i, (_p, _s, _pi)),
    ("attn_state_create", _i, (_pp, _p, _i, _i)),
    ("attn_state_destroy", None, (_p,)),
    ("attn_state_batch", _i, (_p,)),
    ("attn_state_max_unroll", _i, (_p,)),
    ("attn_state_reset", _i, (_p,)),
    ("attn_state_part_size", _sz, (_p, _i)),
    ("attn_state_get", _i, (_p, _i, _p, _sz)),
    ("attn_state_set", _i, (_p, _i, _p, _sz)),
    ("attn_state_recorded", _i, (_p,)),
    ("attn_state_clear_tape", _i, (_p,)),
    ("attn_state_set_conv_plan", _i, (_p, _s)),
    ("attn_state_conv_plan", _s, (_p,)),
    ("attn_forward", _i, (_p, _p, _i, _p, _sz, _p, _p, _p, _p, _p)),
    ("attn_backward", _i, (_p, _p, _p, _p)),
    ("attn_get_maps", _i, (_p, _p, _sz)),
    ("attn_map_to_pixels", _i, (_p, _p, _p, _sz)),
    ("attn_model_save", _i, (_p, _s)),
    ("attn_model_load", _i, (_pp, _s)),
    ("attn_model_load_params", _i, (_p, _s)),
    ("attn_rollout_create", _i, (_pp, _p, _i, _i, _u64)),
    ("attn_rollout_destroy", None, (_p,)),
    ("attn_rollout_collect", _i, (_p, _p, C.POINTER(attn_env), _i)),
    ("attn_rollout_frames", _i64, (_p,)),
    ("attn_rollout_episodes", _i64, (_p,)),
    ("attn_rollout_finished", _i, (_p, _p, _p, _i, _pi)),
    ("attn_rollout_view_get", _i, (_p, C.POINTER(attn_rollout_view))),
    ("attn_loss_config_init", _i, (C.POINTER(attn_loss_config), _i)),
    ("attn_optimizer_create", _i, (_pp, _p, _i)),
    ("attn_optimizer_destroy", None, (_p,)),
    ("attn_optimizer_set", _i, (_p, _i, _d)),
    ("attn_optimizer_get", _i, (_p, _i, C.POINTER(_d))),
    ("attn_optimizer_kind", _i, (_p,)),
    ("attn_optimizer_step", _i, (_p, _p, _pf)),
    ("attn_optimizer_steps", _i64, (_p,)),
    ("attn_optimizer_set_steps", _i, (_p, _i64)),
    ("attn_optimizer_current_lr", _d, (_p,)),
    ("attn_optimizer_slot_count", _i, (_p,)),
    ("attn_optimizer_slot", _i, (_p, _i, C.POINTER(_s), C.POINTER(_pf))),
    ("attn_learner_create", _i, (_pp, _p, C.POINTER(attn_loss_config), _i, _i)),
    ("attn_learner_destroy", None, (_p,)),
    ("attn_learner_update", _i, (_p, _p, _p, C.POINTER(attn_loss_stats))),
    ("attn_learner_skipped", _i64, (_p,)),
    ("attn_training_save", _i, (_s, _p, _p, _p, C.POINTER(attn_env), C.POINTER(_s), C.POINTER(_s), _i)),
    ("attn_training_load", _i, (_s, _p, _p, _p, C.POINTER(attn_env))),
    ("attn_training_meta", _s, (_s,)),
    # the built-in games (games/minatar.h), for playing one game from Python
    ("attn_minatar_status_str", _s, (_i,)),
    ("attn_minatar_game_name", _i, (_i, C.POINTER(_s))),
    ("attn_minatar_create", _i, (_pp, _s, _p, _u64)),
    ("attn_minatar_destroy", None, (_p,)),
    ("attn_minatar_reset", _i, (_p, _u64)),
    ("attn_minatar_restart", _i, (_p,)),
    ("attn_minatar_step", _i, (_p, _i, _pf, _pi)),
    ("attn_minatar_observe", _i, (_p, _p, _sz)),
    ("attn_minatar_channels", _i, (_p, _pi)),
    ("attn_minatar_channel_name", _i, (_p, _i, C.POINTER(_s))),
    ("attn_minatar_num_actions", _i, (_p, _pi)),
    ("attn_minatar_action_meaning", _i, (_p, _i, _pi)),
    # src/native.c
    ("attnpy_games_create", _i, (_pp, _s, _i, _f, _i, _p, _sz)),
    ("attnpy_games_destroy", None, (_p,)),
    ("attnpy_games_env", C.POINTER(attn_env), (_p,)),
    ("attnpy_games_shape", None, (_p, _pi, _pi, _pi)),
    ("attnpy_options_parse", _i, (_pp, _i, C.POINTER(_s))),
    ("attnpy_options_destroy", None, (_p,)),
    ("attnpy_options_values", None, (_p, C.POINTER(attnpy_option_values))),
    ("attnpy_options_apply", _i, (_p, _p, C.POINTER(attn_loss_config))),
]:
    _proto(_name, _res, *_args)


class attn_learner_health(C.Structure):
    _fields_ = [("updates", C.c_int64), ("entropy_ratio", C.c_float), ("weight_change", C.c_float),
                ("flags", C.c_uint)]


HEALTH_UNIFORM_POLICY, HEALTH_FROZEN_WEIGHTS = 1, 2

# Calls of newer libraries than 0.1, bound when the library has them.
OPTIONAL = {}
for _name, _res, _args in [
    ("attn_learner_health_get", _i, (_p, C.POINTER(attn_learner_health))),
]:
    if hasattr(lib, _name):
        _proto(_name, _res, *_args)
        OPTIONAL[_name] = True


def text(b):
    return b.decode("utf-8", "replace") if b is not None else None


def check(status, function):
    """Raises the Error subclass of a failing status, with the library's own message."""
    if status != 0:
        raise errors.from_status(status, text(lib.attn_last_error()), text(lib.attn_status_str(status)), function)


def call(function, *args):
    """lib.<function>(*args), raising on a failing status."""
    check(getattr(lib, function)(*args), function)
