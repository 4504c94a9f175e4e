"""Training: host environments through callbacks, rollouts, losses, optimizers, training checkpoints (training.h).

An environment written in Python implements the :class:`Env` protocol; :class:`EnvBinding` turns it into the
attn_env callbacks the library calls, writing observations straight into the library's buffer.
"""
import ctypes as C
import traceback

import numpy as np

from . import _lib
from ._lib import lib, call, check
from .core import _Handle, _Wrapper, _enum, _view, _ptr, _path
from .errors import CallbackError, InvalidError, python_error


# ---- losses and optimizers ----------------------------------------------------------------------------

_LOSS_FIELDS = ("discount", "gae_lambda", "entropy_cost", "baseline_cost", "rho_bar", "c_bar", "clip_range",
                "reward_clip", "ppo_epochs", "ppo_minibatches", "normalize_advantages")


class LossConfig:
    """attn_loss_config with the library's defaults for `kind` ("a2c", "vtrace", "ppo"), changed by keyword:
    ``LossConfig("ppo", entropy_cost=0.02)``."""

    def __init__(self, kind="vtrace", **fields):
        self._c = _lib.attn_loss_config()
        call("attn_loss_config_init", C.byref(self._c), _enum(kind, _lib.LOSSES, "loss"))
        for key, value in fields.items():
            setattr(self, key, value)

    @classmethod
    def _from_struct(cls, struct):
        lc = cls.__new__(cls)
        lc._c = struct
        return lc

    @property
    def kind(self):
        return {v: k for k, v in _lib.LOSSES.items()}[self._c.kind]

    def __getattr__(self, name):
        if name in _LOSS_FIELDS:
            return getattr(self._c, name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name in _LOSS_FIELDS:
            setattr(self._c, name, value)
        elif name == "_c":
            object.__setattr__(self, name, value)
        else:
            raise AttributeError(f"LossConfig has no field {name!r}; fields: {', '.join(_LOSS_FIELDS)}")

    def to_dict(self):
        return {"kind": self.kind, **{f: getattr(self._c, f) for f in _LOSS_FIELDS}}

    def __repr__(self):
        return f"LossConfig({self.to_dict()})"


class LossStats:
    """What one update measured (attn_loss_stats), as attributes."""

    FIELDS = ("total", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm",
              "skipped")

    def __init__(self, struct):
        for f in self.FIELDS:
            setattr(self, f, getattr(struct, f))

    def to_dict(self):
        return {f: getattr(self, f) for f in self.FIELDS}

    def __repr__(self):
        return f"LossStats({self.to_dict()})"


class Optimizer(_Wrapper):
    """attn_optimizer of `kind` ("rmsprop", "adam", "adamw", "sgd"); knobs by keyword or ``opt["lr"] = x``."""

    _kind = "optimizer"

    def __init__(self, model, kind="rmsprop", **knobs):
        out = C.c_void_p()
        call("attn_optimizer_create", C.byref(out), model._ptr, _enum(kind, _lib.OPTIMIZERS, "optimizer"))
        self._set_handle(_Handle(out.value, lib.attn_optimizer_destroy, (model._handle,)))
        self._param_count = model.param_count
        for key, value in knobs.items():
            self.set(key, value)

    @property
    def kind(self):
        return {v: k for k, v in _lib.OPTIMIZERS.items()}[lib.attn_optimizer_kind(self._ptr)]

    def set(self, param, value):
        call("attn_optimizer_set", self._ptr, _enum(param, _lib.OPTIM_PARAMS, "optimizer knob"), float(value))

    def get(self, param):
        v = C.c_double()
        call("attn_optimizer_get", self._ptr, _enum(param, _lib.OPTIM_PARAMS, "optimizer knob"), C.byref(v))
        return v.value

    __getitem__ = get
    __setitem__ = set

    def step(self, model):
        """One update from the model's gradients; returns the global gradient norm before clipping."""
        norm = C.c_float()
        call("attn_optimizer_step", self._ptr, model._ptr, C.byref(norm))
        return norm.value

    @property
    def steps(self):
        return lib.attn_optimizer_steps(self._ptr)

    @steps.setter
    def steps(self, value):
        call("attn_optimizer_set_steps", self._ptr, int(value))

    @property
    def current_lr(self):
        return lib.attn_optimizer_current_lr(self._ptr)

    def slots(self):
        """{name: writable view} of every slot array ("ms", "mom" / "m", "v" ...), laid out like the params."""
        out = {}
        name, data = C.c_char_p(), C.POINTER(C.c_float)()
        for i in range(lib.attn_optimizer_slot_count(self._ptr)):
            call("attn_optimizer_slot", self._ptr, i, C.byref(name), C.byref(data))
            out[_lib.text(name.value)] = _view(self._handle, C.cast(data, C.c_void_p).value, self._param_count)
        return out


# ---- environments -------------------------------------------------------------------------------------

class Env:
    """The step-callback environment protocol (attn_env), for B copies addressed by index.

    ``reset(index, seed, obs)`` starts an episode and writes its first observation into `obs`, a NumPy view of
    the library's buffer (H × W × C of the model's dtype: write into it, e.g. ``obs[...] = frame``);
    ``step(index, action, obs)`` applies the action, writes the next observation and returns
    ``(reward, terminated, truncated)`` with Gymnasium's meaning (terminated: the task ended, nothing is
    bootstrapped; truncated: a time limit cut the episode, the observation just written is bootstrapped). The
    library calls reset itself whenever an episode ends, so step is never called on a finished episode.
    Optional, for exact resume: ``save(index) -> bytes`` and ``load(index, data)``, both or neither. Set
    ``thread_safe = True`` only if different indices may be stepped concurrently (Python code rarely gains).

    An exception raised by a callback makes the library's call fail with :class:`CallbackError` (the
    exception is its ``__cause__``); KeyboardInterrupt asks the library to stop (ATTN_CALLBACK_ABORT) and is
    raised again once the library has returned.
    """

    thread_safe = False

    def reset(self, index, seed, obs):
        raise NotImplementedError

    def step(self, index, action, obs):
        raise NotImplementedError


class EnvBinding:
    """The attn_env callbacks of a Python :class:`Env` for a model's observation shape and dtype. Hold it for
    as long as the library may call it (a Rollout's collect, a training save or load)."""

    def __init__(self, env, model):
        self.env = env
        self.shape = model.obs_shape
        self.dtype = model.obs_dtype
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.views = {}              # address -> ndarray over the library's observation slot there
        self.errors = {}             # index -> exception raised by a callback
        self.messages = {}           # index -> the ctypes buffer error() hands out
        self.saved = {}              # index -> bytes being saved
        self.interrupted = None
        s = self.struct = _lib.attn_env()
        s.version = _lib.ENV_VERSION
        s.ctx = None
        self._cbs = [_lib.RESET_FN(self._reset), _lib.STEP_FN(self._step), _lib.ERROR_FN(self._error)]
        s.reset, s.step, s.error = self._cbs
        has_save, has_load = callable(getattr(env, "save", None)), callable(getattr(env, "load", None))
        if has_save and has_load:
            self._cbs += [_lib.SAVE_FN(self._save), _lib.LOAD_FN(self._load)]
            s.save, s.load = self._cbs[3:]
        s.thread_safe = 1 if getattr(env, "thread_safe", False) else 0

    def obs_view(self, address):
        v = self.views.get(address)
        if v is None:
            buf = (C.c_char * self.nbytes).from_address(address)
            v = self.views[address] = np.frombuffer(buf, dtype=self.dtype).reshape(self.shape)
        return v

    def _fail(self, index, exc):
        if isinstance(exc, KeyboardInterrupt):
            self.interrupted = exc
            return _lib.CALLBACK_ABORT
        self.errors[index] = exc
        return -1

    def _reset(self, ctx, index, seed, obs):
        try:
            self.env.reset(index, seed, self.obs_view(obs))
            return 0
        except BaseException as exc:  # nothing may cross into C
            return self._fail(index, exc)

    def _step(self, ctx, index, action, obs, reward, terminated, truncated):
        try:
            r, term, trunc = self.env.step(index, action, self.obs_view(obs))
            reward[0] = r
            terminated[0] = 1 if term else 0
            truncated[0] = 1 if trunc else 0
            return 0
        except BaseException as exc:
            return self._fail(index, exc)

    def _error(self, ctx, index):
        exc = self.errors.get(index)
        if exc is None:
            return None
        text = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:1000]
        buf = self.messages[index] = C.create_string_buffer(text)
        return C.addressof(buf)

    def _save(self, ctx, index, buf, cap, length):
        try:
            if not buf:
                data = self.saved[index] = bytes(self.env.save(index))
            else:
                data = self.saved.pop(index, None)
                if data is None:
                    data = bytes(self.env.save(index))
                if len(data) > cap:
                    raise ValueError(f"save returned {len(data)} bytes, more than the {cap} it announced")
                C.memmove(buf, data, len(data))
            length[0] = len(data)
            return 0
        except BaseException as exc:
            return self._fail(index, exc)

    def _load(self, ctx, index, buf, length):
        try:
            self.env.load(index, C.string_at(buf, length))
            return 0
        except BaseException as exc:
            return self._fail(index, exc)

    def raise_pending(self, err=None):
        """After a library call: re-raises a KeyboardInterrupt a callback caught, or raises `err` (the call's
        own Error) chained to the exception a callback raised."""
        interrupted, self.interrupted = self.interrupted, None
        errors, self.errors = self.errors, {}
        if interrupted is not None:
            raise interrupted
        if err is not None:
            cause = next(iter(errors.values()), None)
            if cause is not None:
                err.callback_traceback = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
                raise err from cause
            raise err


def _env_struct(env, model):
    """(attn_env pointer, the object that must stay alive meanwhile, binding or None) for a Python Env, an
    EnvBinding or a C environment (anything with ``_attn_env()``)."""
    if hasattr(env, "_attn_env"):
        return env._attn_env(), env, None
    binding = env if isinstance(env, EnvBinding) else EnvBinding(env, model)
    return C.pointer(binding.struct), binding, binding


def _call_env(binding, function, *args):
    status = getattr(lib, function)(*args)
    err = None
    try:
        check(status, function)
    except Exception as e:  # an attnagent.Error
        err = e
    if binding is not None:
        binding.raise_pending(err)
    elif err is not None:
        raise err


# ---- rollouts and learners ----------------------------------------------------------------------------

class RolloutView:
    """The last unroll (attn_rollout_view) as read-only NumPy views of the rollout's buffer, valid until the
    next collect: obs [T+1, B, H, W, C], actions, rewards, terminated, truncated, truncation_values, values
    [T, B], logits [T, B, A], bootstrap [B]."""

    def __init__(self, rollout, model_shape, dtype):
        v = _lib.attn_rollout_view()
        call("attn_rollout_view_get", rollout._ptr, C.byref(v))
        T, B, A = v.T, v.B, v.A
        h = rollout._handle
        self.T, self.B, self.A = T, B, A
        addr = lambda p: C.cast(p, C.c_void_p).value
        self.obs = _view(h, v.obs, (T + 1) * B * int(np.prod(model_shape)), C.c_uint8 if dtype == np.uint8
                         else C.c_float, dtype, (T + 1, B) + tuple(model_shape), writeable=False)
        self.actions = _view(h, addr(v.actions), T * B, C.c_int32, np.int32, (T, B), False)
        self.rewards = _view(h, addr(v.rewards), T * B, shape=(T, B), writeable=False)
        self.terminated = _view(h, addr(v.terminated), T * B, C.c_uint8, np.uint8, (T, B), False)
        self.truncated = _view(h, addr(v.truncated), T * B, C.c_uint8, np.uint8, (T, B), False)
        self.truncation_values = _view(h, addr(v.truncation_values), T * B, shape=(T, B), writeable=False)
        self.logits = _view(h, addr(v.logits), T * B * A, shape=(T, B, A), writeable=False)
        self.values = _view(h, addr(v.values), T * B, shape=(T, B), writeable=False)
        self.bootstrap = _view(h, addr(v.bootstrap), B, shape=(B,), writeable=False)


class Rollout(_Wrapper):
    """attn_rollout: B environments acted in for unrolls of T steps."""

    _kind = "rollout"

    def __init__(self, model, batch, unroll, seed=0):
        out = C.c_void_p()
        call("attn_rollout_create", C.byref(out), model._ptr, int(batch), int(unroll), int(seed))
        self._set_handle(_Handle(out.value, lib.attn_rollout_destroy, (model._handle,)))
        self._obs_shape, self._obs_dtype = model.obs_shape, model.obs_dtype
        self.batch, self.unroll = int(batch), int(unroll)

    def collect(self, model, env, greedy=False):
        """attn_rollout_collect: T steps in every environment. `env` is a Python :class:`Env` (bound for this
        call), an :class:`EnvBinding`, or a C environment such as ``attnagent.minatar(...).envs(B)``."""
        struct, keep, binding = _env_struct(env, model)
        _call_env(binding, "attn_rollout_collect", self._ptr, model._ptr, struct,
                  _lib.ACT_GREEDY if greedy else _lib.ACT_SAMPLE)
        del keep

    @property
    def frames(self):
        return lib.attn_rollout_frames(self._ptr)

    @property
    def episodes(self):
        return lib.attn_rollout_episodes(self._ptr)

    def finished(self):
        """(returns, lengths) of the episodes that finished during the last collect, oldest first."""
        count = C.c_int()
        call("attn_rollout_finished", self._ptr, None, None, 0, C.byref(count))
        returns, lengths = np.empty(count.value, np.float32), np.empty(count.value, np.int32)
        call("attn_rollout_finished", self._ptr, _ptr(returns), _ptr(lengths), count.value, C.byref(count))
        return returns, lengths

    def view(self):
        return RolloutView(self, self._obs_shape, self._obs_dtype)


class Learner(_Wrapper):
    """attn_learner for a loss configuration (a :class:`LossConfig` or a loss name) and B × T unrolls."""

    _kind = "learner"

    def __init__(self, model, loss, batch, unroll):
        if isinstance(loss, str):
            loss = LossConfig(loss)
        out = C.c_void_p()
        call("attn_learner_create", C.byref(out), model._ptr, C.byref(loss._c), int(batch), int(unroll))
        self._set_handle(_Handle(out.value, lib.attn_learner_destroy, (model._handle,)))

    def update(self, optimizer, rollout):
        """One update on the rollout's last unroll; returns its :class:`LossStats`."""
        stats = _lib.attn_loss_stats()
        call("attn_learner_update", self._ptr, optimizer._ptr, rollout._ptr, C.byref(stats))
        return LossStats(stats)

    @property
    def skipped(self):
        return lib.attn_learner_skipped(self._ptr)

    def health(self):
        """attn_learner_health_get: {"updates", "entropy_ratio", "weight_change", "flags"}; "uniform_policy" and
        "frozen_weights" say which signs of a stuck run are raised. None when the library predates it."""
        if "attn_learner_health_get" not in _lib.OPTIONAL:
            return None
        h = _lib.attn_learner_health()
        call("attn_learner_health_get", self._ptr, C.byref(h))
        return {"updates": h.updates, "entropy_ratio": h.entropy_ratio, "weight_change": h.weight_change,
                "flags": h.flags, "uniform_policy": bool(h.flags & _lib.HEALTH_UNIFORM_POLICY),
                "frozen_weights": bool(h.flags & _lib.HEALTH_FROZEN_WEIGHTS)}


# ---- training checkpoints -----------------------------------------------------------------------------

def training_save(path, model, optimizer, rollout, env=None, meta=None):
    """attn_training_save; `meta` is {key: value} of strings stored for the host (read back with
    :func:`training_meta` after a load)."""
    struct, keep, binding = (None, None, None) if env is None else _env_struct(env, model)
    meta = meta or {}
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise python_error(InvalidError, "training metadata keys and values must be strings",
                               "attn_training_save")
    n = len(meta)
    keys = (C.c_char_p * max(n, 1))(*[k.encode() for k in meta])
    values = (C.c_char_p * max(n, 1))(*[v.encode() for v in meta.values()])
    _call_env(binding, "attn_training_save", _path(path), model._ptr, optimizer._ptr, rollout._ptr, struct,
              keys, values, n)
    del keep


def training_load(path, model, optimizer, rollout, env=None):
    """attn_training_load into objects created with the file's configuration, batch and unroll."""
    struct, keep, binding = (None, None, None) if env is None else _env_struct(env, model)
    _call_env(binding, "attn_training_load", _path(path), model._ptr, optimizer._ptr, rollout._ptr, struct)
    del keep


def training_meta(key):
    """The host metadata value saved under `key` in the last training checkpoint loaded on this thread."""
    return _lib.text(lib.attn_training_meta(key.encode()))


__all__ = ["LossConfig", "LossStats", "Optimizer", "Env", "EnvBinding", "Rollout", "RolloutView", "Learner",
           "training_save", "training_load", "training_meta", "CallbackError"]
