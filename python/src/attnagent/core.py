"""The network: configurations, models, recurrent states, stepping, attention maps and checkpoints.

Each class wraps one opaque C handle (attnagent.h is the manual; these docstrings say only what Python adds).
Arrays go in and out as NumPy arrays: inputs that are already C-contiguous and of the right dtype are passed to C
as they are (no copy), outputs are written by C into arrays you may supply with ``out=``, and parameters,
gradients and optimizer slots are NumPy views of the library's own memory.

Handles are freed when no Python object needs them any more. ``close()`` makes a handle unusable at once
(calls on it raise :class:`NullError`); its memory is released when the last array viewing it and the last
object created from it (a state keeps its model, for instance) are gone, so a view can never dangle.
"""
import ctypes as C
import os

import numpy as np

from . import _lib
from ._lib import lib, call
from .errors import InvalidError, NullError, SizeError, python_error


class _Handle:
    """Owns one C pointer and frees it with `destroy` once unreferenced; `keep` holds what it depends on."""

    __slots__ = ("ptr", "destroy", "keep", "__weakref__")

    def __init__(self, ptr, destroy, keep=()):
        self.ptr = ptr
        self.destroy = destroy
        self.keep = tuple(keep)

    def __del__(self):
        if self.ptr and self.destroy is not None:
            self.destroy(self.ptr)
            self.ptr = None


class _Wrapper:
    _kind = "handle"

    def _set_handle(self, handle):
        self._h = handle

    @property
    def _ptr(self):
        h = self._h
        if h is None:
            raise python_error(NullError, f"this {self._kind} is closed", type(self).__name__)
        return h.ptr

    @property
    def _handle(self):
        self._ptr  # raises when closed
        return self._h

    @property
    def closed(self):
        return self._h is None

    def close(self):
        """Makes the object unusable now; its memory goes once nothing else refers to it."""
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _view(handle, address, count, ctype=C.c_float, dtype=np.float32, shape=None, writeable=True):
    """A NumPy array over `count` elements of library memory at `address` that keeps `handle` alive."""
    if count == 0:
        return np.zeros(shape if shape is not None else (0,), dtype)
    buf = (ctype * count).from_address(address)
    buf._attnagent_owner = handle  # the array's base is `buf`, so the handle lives as long as the array
    arr = np.frombuffer(buf, dtype=dtype)
    if shape is not None:
        arr = arr.reshape(shape)
    if not writeable:
        arr.flags.writeable = False
    return arr


def _ptr(arr):
    return arr.ctypes.data if arr is not None else None


def _enum(value, table, what):
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise python_error(InvalidError, f"unknown {what} {value!r}; one of {', '.join(table)}") from None
    return int(value)


def obs_type_code(obs_type):
    """ATTN_OBS_* from "pixels", "float", "binary" (or the number itself)."""
    return _enum(obs_type, _lib.OBS_TYPES, "observation type")


# ---- configuration ----------------------------------------------------------------------------------------

class Config(_Wrapper):
    """attn_config: a preset and integer knobs. ``Config("minatar", obs_c=4, num_actions=3)``; keys are the
    ATTN_CFG_* names in lower case (``cfg["obs_c"]``, ``cfg.set("threads", 1)``); ``obs_type`` also takes
    "pixels", "float" or "binary"."""

    _kind = "configuration"

    def __init__(self, preset="minatar", **knobs):
        out = C.c_void_p()
        call("attn_config_create", C.byref(out), _enum(preset, _lib.PRESETS, "preset"))
        self._set_handle(_Handle(out.value, lib.attn_config_destroy))
        self._read_only = False
        for key, value in knobs.items():
            self.set(key, value)

    @classmethod
    def _borrow(cls, ptr, owner):
        """The read-only configuration a model holds (valid while the model lives: it is kept alive)."""
        cfg = cls.__new__(cls)
        cfg._set_handle(_Handle(ptr, None, (owner,)))
        cfg._read_only = True
        return cfg

    def set(self, key, value):
        if self._read_only:
            raise python_error(InvalidError, "a model's configuration is read-only; clone() it to change it",
                               "Config.set")
        code = _enum(key, _lib.CONFIG_KEYS, "configuration key")
        if code == _lib.CONFIG_KEYS["obs_type"]:
            value = obs_type_code(value)
        call("attn_config_set", self._ptr, code, int(value))

    def get(self, key):
        value = C.c_int()
        call("attn_config_get", self._ptr, _enum(key, _lib.CONFIG_KEYS, "configuration key"), C.byref(value))
        return value.value

    __getitem__ = get
    __setitem__ = set

    def set_conv(self, layer, out_channels, kernel, stride, padding):
        if self._read_only:
            raise python_error(InvalidError, "a model's configuration is read-only", "Config.set_conv")
        call("attn_config_set_conv", self._ptr, layer, out_channels, kernel, stride, padding)

    def get_conv(self, layer):
        """(out_channels, kernel, stride, padding) of conv layer `layer`."""
        v = [C.c_int() for _ in range(4)]
        call("attn_config_get_conv", self._ptr, layer, *(C.byref(x) for x in v))
        return tuple(x.value for x in v)

    def set_mlp_hidden(self, mlp, layer, width):
        if self._read_only:
            raise python_error(InvalidError, "a model's configuration is read-only", "Config.set_mlp_hidden")
        call("attn_config_set_mlp_hidden", self._ptr, _enum(mlp, _lib.MLPS, "MLP"), layer, width)

    def get_mlp_hidden(self, mlp, layer):
        width = C.c_int()
        call("attn_config_get_mlp_hidden", self._ptr, _enum(mlp, _lib.MLPS, "MLP"), layer, C.byref(width))
        return width.value

    def validate(self):
        call("attn_config_validate", self._ptr)

    def clone(self):
        out = C.c_void_p()
        call("attn_config_clone", C.byref(out), self._ptr)
        cfg = Config.__new__(Config)
        cfg._set_handle(_Handle(out.value, lib.attn_config_destroy))
        cfg._read_only = False
        return cfg

    def to_dict(self):
        """Every knob by name (grid_h and grid_w only once the configuration is valid)."""
        d = {}
        for key in _lib.CONFIG_KEYS:
            try:
                d[key] = self.get(key)
            except InvalidError:
                pass
        d["conv"] = [self.get_conv(i) for i in range(d["conv_layers"])]
        d["query_hidden"] = [self.get_mlp_hidden("query", i) for i in range(d["query_layers"])]
        d["answer_hidden"] = [self.get_mlp_hidden("answer", i) for i in range(d["answer_layers"])]
        return d

    def __repr__(self):
        if self.closed:
            return "<attnagent.Config closed>"
        return f"<attnagent.Config {self.to_dict()}>"


# ---- model ----------------------------------------------------------------------------------------------

class Tensor:
    """One parameter tensor's description: name, shape (PyTorch layout) and offset into the flat parameters."""

    __slots__ = ("name", "shape", "offset", "size")

    def __init__(self, name, shape, offset):
        self.name, self.shape, self.offset = name, shape, offset
        self.size = int(np.prod(shape))

    def __repr__(self):
        return f"Tensor({self.name!r}, shape={self.shape}, offset={self.offset})"


class Model(_Wrapper):
    """attn_model: parameters and gradients. ``Model(config, seed)``, ``Model.load(path)``."""

    _kind = "model"

    def __init__(self, config, seed=0):
        out = C.c_void_p()
        call("attn_model_create", C.byref(out), config._ptr, int(seed))
        self._init(out.value)

    def _init(self, ptr):
        self._set_handle(_Handle(ptr, lib.attn_model_destroy))
        cfg = Config._borrow(lib.attn_model_config(ptr), self._h)
        self._dims = {k: cfg.get(k) for k in ("obs_h", "obs_w", "obs_c", "obs_type", "num_actions",
                                              "num_queries", "grid_h", "grid_w")}
        self._config = cfg

    @classmethod
    def load(cls, path):
        """attn_model_load: a model (configuration and weights) from a checkpoint or training checkpoint."""
        out = C.c_void_p()
        call("attn_model_load", C.byref(out), _path(path))
        m = cls.__new__(cls)
        m._init(out.value)
        return m

    def save(self, path):
        call("attn_model_save", self._ptr, _path(path))

    def load_params(self, path):
        call("attn_model_load_params", self._ptr, _path(path))

    @property
    def config(self):
        """The model's own configuration (read-only; ``.clone()`` gives one to change)."""
        self._ptr
        return self._config

    # the shapes everything else checks against
    @property
    def obs_shape(self):
        return (self._dims["obs_h"], self._dims["obs_w"], self._dims["obs_c"])

    @property
    def obs_type(self):
        """"pixels", "float" or "binary" (ATTN_OBS_U8, ATTN_OBS_F32, ATTN_OBS_U8_BINARY)."""
        return _lib.OBS_TYPE_NAMES[self._dims["obs_type"]]

    @property
    def obs_dtype(self):
        return np.dtype(np.float32 if self._dims["obs_type"] == _lib.OBS_F32 else np.uint8)

    @property
    def num_actions(self):
        return self._dims["num_actions"]

    @property
    def num_queries(self):
        return self._dims["num_queries"]

    @property
    def grid_shape(self):
        return (self._dims["grid_h"], self._dims["grid_w"])

    @property
    def param_count(self):
        return lib.attn_model_param_count(self._ptr)

    @property
    def params(self):
        """All parameters as one writable float32 array, a view of the model's memory (no copy)."""
        return _view(self._handle, lib.attn_model_params(self._ptr), self.param_count)

    @property
    def grads(self):
        """All gradients, laid out like ``params``, a writable view."""
        return _view(self._handle, lib.attn_model_grads(self._ptr), self.param_count)

    def zero_grad(self):
        call("attn_model_zero_grad", self._ptr)

    def tensors(self):
        """Every parameter tensor's description, in checkpoint order."""
        out = []
        name, ndim = C.c_char_p(), C.c_int()
        shape, offset = (C.c_int64 * 4)(), C.c_size_t()
        for i in range(lib.attn_model_tensor_count(self._ptr)):
            call("attn_model_tensor", self._ptr, i, C.byref(name), C.byref(ndim), shape, C.byref(offset))
            out.append(Tensor(_lib.text(name.value), tuple(shape[:ndim.value]), offset.value))
        return out

    def find_tensor(self, name):
        """The index of the tensor called `name` (InvalidError if there is none)."""
        index = C.c_int()
        call("attn_model_find_tensor", self._ptr, name.encode(), C.byref(index))
        return index.value

    def tensor(self, name, grads=False):
        """One parameter tensor (or its gradient) as a writable view shaped as PyTorch shapes it."""
        t = self.tensors()[self.find_tensor(name)]
        flat = self.grads if grads else self.params
        return flat[t.offset:t.offset + t.size].reshape(t.shape)

    def state_dict(self):
        """{name: view} for every parameter tensor (views, not copies: ``{k: v.copy() ...}`` to keep them)."""
        flat = self.params
        return {t.name: flat[t.offset:t.offset + t.size].reshape(t.shape) for t in self.tensors()}

    # ---- stepping ----

    def check_obs(self, obs, batch, function="attn_forward"):
        """`obs` as the library reads it: B × H × W × C of the model's dtype, C-contiguous. A contiguous array
        of the right dtype is passed as it is; bool arrays are viewed as bytes (binary planes). Anything else
        is refused rather than guessed: a dtype that is not the model's (InvalidError), a shape that is not
        B × H × W × C (SizeError; B × H × W is taken when C is 1)."""
        obs = np.asarray(obs)
        want = self.obs_dtype
        if obs.dtype == np.bool_ and self._dims["obs_type"] == _lib.OBS_U8_BINARY:
            obs = obs.view(np.uint8)
        if obs.dtype != want:
            raise python_error(InvalidError, f"observations are {obs.dtype}; this model reads {want} "
                               f"({self.obs_type}, the model's obs_type)", function)
        shape = (batch,) + self.obs_shape
        if obs.shape != shape and not (self.obs_shape[2] == 1 and obs.shape == shape[:3]):
            raise python_error(SizeError, f"observations have shape {obs.shape}; this model and state take "
                               f"{shape} (B × H × W × C)", function)
        return np.ascontiguousarray(obs)

    def forward(self, state, obs, prev_reward=None, prev_action=None, first=None, record=False, logits=None,
                values=None):
        """One step for the state's B environments (attn_forward). Returns (logits [B, A], values [B]), written
        into `logits` and `values` when given (float32, C-contiguous, of those shapes)."""
        B = state.batch
        obs = self.check_obs(obs, B)
        prev_reward = _opt_array(prev_reward, np.float32, (B,), "prev_reward")
        prev_action = _opt_array(prev_action, np.int32, (B,), "prev_action")
        if first is not None:
            first = np.asarray(first)
            if first.dtype == np.bool_:
                first = first.view(np.uint8)
            first = _opt_array(first, np.uint8, (B,), "first")
        logits = _out_array(logits, (B, self.num_actions), "logits")
        values = _out_array(values, (B,), "values")
        call("attn_forward", self._ptr, state._ptr, _lib.FORWARD_RECORD if record else _lib.FORWARD_ACT,
             _ptr(obs), obs.nbytes, _ptr(prev_reward), _ptr(prev_action), _ptr(first), _ptr(logits),
             _ptr(values))
        return logits, values

    def backward(self, state, dlogits=None, dvalues=None):
        """attn_backward over the recorded steps: dlogits [T, B, A], dvalues [T, B] (None for zeros)."""
        T, B = state.recorded, state.batch
        dlogits = _opt_array(dlogits, np.float32, (T, B, self.num_actions), "dlogits")
        dvalues = _opt_array(dvalues, np.float32, (T, B), "dvalues")
        call("attn_backward", self._ptr, state._ptr, _ptr(dlogits), _ptr(dvalues))

    def map_to_pixels(self, maps, out=None):
        """attn_map_to_pixels for one map [h, w] or several [..., h, w]: the same maps resampled onto the
        observation's H × W pixels, each summing to 1."""
        maps = np.ascontiguousarray(maps, dtype=np.float32)
        h, w = self.grid_shape
        if maps.shape[-2:] != (h, w):
            raise python_error(SizeError, f"maps have shape {maps.shape}; this model's grid is {h} × {w}",
                               "attn_map_to_pixels")
        H, W = self.obs_shape[:2]
        lead = maps.shape[:-2]
        out = _out_array(out, lead + (H, W), "out")
        flat_in, flat_out = maps.reshape(-1, h * w), out.reshape(-1, H * W)
        for i in range(flat_in.shape[0]):
            call("attn_map_to_pixels", self._ptr, _ptr(flat_in[i]), _ptr(flat_out[i]), H * W)
        return out


def _path(path):
    return os.fsencode(path)


def _opt_array(a, dtype, shape, name):
    """An optional input array, converted only if it has to be (a copy then), shape-checked."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype != dtype:
        if a.dtype.kind not in "biuf" or (np.dtype(dtype).kind in "iu" and a.dtype.kind == "f"):
            raise python_error(InvalidError, f"{name} is {a.dtype}; it must be {np.dtype(dtype)}")
        a = a.astype(dtype)
    if a.shape != shape:
        raise python_error(SizeError, f"{name} has shape {a.shape}; expected {shape}")
    return np.ascontiguousarray(a)


def _out_array(out, shape, name):
    if out is None:
        return np.empty(shape, np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise python_error(InvalidError, f"{name} must be a writable C-contiguous float32 array")
    if out.shape != shape:
        raise python_error(SizeError, f"{name} has shape {out.shape}; expected {shape}")
    return out


# ---- recurrent state ------------------------------------------------------------------------------------

class State(_Wrapper):
    """attn_state: the recurrent state of `batch` environments, their last maps, and a tape of up to
    `max_unroll` steps for backward (0: acting only)."""

    _kind = "state"

    def __init__(self, model, batch=1, max_unroll=0):
        out = C.c_void_p()
        call("attn_state_create", C.byref(out), model._ptr, int(batch), int(max_unroll))
        self._set_handle(_Handle(out.value, lib.attn_state_destroy, (model._handle,)))
        self._maps_shape = (int(batch), model.num_queries) + model.grid_shape

    @property
    def batch(self):
        return lib.attn_state_batch(self._ptr)

    @property
    def max_unroll(self):
        return lib.attn_state_max_unroll(self._ptr)

    @property
    def recorded(self):
        return lib.attn_state_recorded(self._ptr)

    def reset(self):
        call("attn_state_reset", self._ptr)

    def clear_tape(self):
        call("attn_state_clear_tape", self._ptr)

    @property
    def conv_plan(self):
        """The forward convolutions' methods, one per layer, e.g. "direct,winograd" (attn_state_conv_plan).
        Setting "rule" (the default), "measure" or such a list changes it (attn_state_set_conv_plan); the list
        a measured plan reports, set again, repeats its results bit for bit."""
        return _lib.text(lib.attn_state_conv_plan(self._ptr))

    @conv_plan.setter
    def conv_plan(self, plan):
        call("attn_state_set_conv_plan", self._ptr, str(plan).encode())

    def get(self, part):
        """A copy of one part: "vision_h", "vision_c" (B × h × w × L), "core_h", "core_c" (B × H_p)."""
        code = _enum(part, _lib.STATE_PARTS, "state part")
        n = lib.attn_state_part_size(self._ptr, code)
        out = np.empty(n, np.float32)
        call("attn_state_get", self._ptr, code, _ptr(out), n)
        return out

    def set(self, part, values):
        code = _enum(part, _lib.STATE_PARTS, "state part")
        values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
        call("attn_state_set", self._ptr, code, _ptr(values), values.size)

    def maps(self, out=None):
        """The last step's attention maps, [B, N, h, w] (attn_get_maps)."""
        out = _out_array(out, self._maps_shape, "out")
        call("attn_get_maps", self._ptr, _ptr(out), out.size)
        return out


def version():
    """The linked library's version, "MAJOR.MINOR.PATCH"."""
    return _lib.text(lib.attn_version_string())


def cpu_kernels():
    """Which copies of the hand-written kernels this process runs: "avx512", "avx2+fma", "avx2" or "portable"
    (attn_cpu_kernels; $ATTN_ISA caps it, read once per process)."""
    return _lib.text(lib.attn_cpu_kernels())


def status_str(status):
    return _lib.text(lib.attn_status_str(int(status)))


def last_error():
    return _lib.text(lib.attn_last_error())
