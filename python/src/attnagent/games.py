"""The built-in MinAtar-style games (games/minatar.h): one game stepped from Python, and B copies stepped in C.

``attnagent.minatar("breakout")`` is a Gymnasium environment of one game (a plain object with the same methods
when Gymnasium is not installed). Given to :func:`attnagent.train`, it stands for attn-train's
``--env minatar:breakout``: the B copies are then the C environment attn-train uses (examples/minatar_env.c),
stepped on the library's threads without entering Python.
"""
import ctypes as C

import numpy as np

from . import _lib, options
from ._lib import lib
from .core import _Handle, _Wrapper
from .errors import InvalidError, python_error

try:
    import gymnasium as _gym
    _Base = _gym.Env
except ImportError:  # gymnasium is optional
    _gym = None
    _Base = object

SIZE = 10  # ATTN_MINATAR_SIZE
MAX_CHANNELS = 10


class _options(C.Structure):
    _fields_ = [("version", C.c_uint), ("sticky_action_prob", C.c_float), ("difficulty_ramping", C.c_int),
                ("minimal_action_set", C.c_int)]


lib.attn_minatar_options_init.restype = C.c_int
lib.attn_minatar_options_init.argtypes = [C.POINTER(_options)]


def games():
    """The names of the built-in games."""
    out, name = [], C.c_char_p()
    i = 0
    while lib.attn_minatar_game_name(i, C.byref(name)) == 0:
        out.append(_lib.text(name.value))
        i += 1
    return out


def _game_check(status, what):
    if status:
        raise python_error(InvalidError, f"{what}: {_lib.text(lib.attn_minatar_status_str(status))}",
                           f"attn_minatar_{what}")


class MinAtar(_Base):
    """One built-in game: observations 10 × 10 × C uint8 binary planes (ATTN_OBS_U8_BINARY), Discrete actions,
    Gymnasium's (obs, reward, terminated, truncated, info) steps.

    `sticky` (the sticky-action probability) and `max_episode_steps` (a longer episode is truncated) default to
    attn-train's defaults for ``--env minatar:GAME``. The handle is created with `seed`; ``reset()`` without a
    seed continues its random stream (the first one plays the episode the new handle starts with, as attn-play
    does), ``reset(seed=s)`` restarts it exactly as a new handle seeded with s.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, game="breakout", sticky=None, max_episode_steps=None, seed=0, render_mode=None):
        defaults = options.parse(env=f"minatar:{game}")
        self.game = game
        self.sticky = None if sticky is None or sticky < 0 else float(sticky)
        self.max_episode_steps = defaults.max_episode_steps if max_episode_steps is None else int(max_episode_steps)
        self.render_mode = render_mode
        opts = _options()
        lib.attn_minatar_options_init(C.byref(opts))
        if self.sticky is not None:
            opts.sticky_action_prob = self.sticky
        out = C.c_void_p()
        status = lib.attn_minatar_create(C.byref(out), game.encode(), C.byref(opts), int(seed))
        if status:
            raise python_error(InvalidError, f"cannot create game {game!r} ({', '.join(games())} exist): "
                               f"{_lib.text(lib.attn_minatar_status_str(status))}", "attn_minatar_create")
        self._h = _Handle(out.value, lib.attn_minatar_destroy)
        c, a = C.c_int(), C.c_int()
        lib.attn_minatar_channels(out.value, C.byref(c))
        lib.attn_minatar_num_actions(out.value, C.byref(a))
        self.channels, self.num_actions = c.value, a.value
        self._fresh = True
        self._steps = 0
        self._obs = np.zeros((SIZE, SIZE, self.channels), np.uint8)
        if _gym is not None:
            from gymnasium import spaces
            self.observation_space = spaces.Box(0, 1, (SIZE, SIZE, self.channels), np.uint8)
            self.action_space = spaces.Discrete(self.num_actions)

    @property
    def obs_type(self):
        """How the library reads these observations: "binary" (ATTN_OBS_U8_BINARY)."""
        return "binary"

    @property
    def channel_names(self):
        name = C.c_char_p()
        out = []
        for k in range(self.channels):
            lib.attn_minatar_channel_name(self._h.ptr, k, C.byref(name))
            out.append(_lib.text(name.value))
        return out

    def _observe(self):
        _game_check(lib.attn_minatar_observe(self._h.ptr, self._obs.ctypes.data, self._obs.nbytes), "observe")
        return self._obs.copy()

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            _game_check(lib.attn_minatar_reset(self._h.ptr, int(seed)), "reset")
        elif not self._fresh:
            _game_check(lib.attn_minatar_restart(self._h.ptr), "restart")
        self._fresh = False
        self._steps = 0
        return self._observe(), {}

    def step(self, action):
        self._fresh = False
        reward, terminated = C.c_float(), C.c_int()
        _game_check(lib.attn_minatar_step(self._h.ptr, int(action), C.byref(reward), C.byref(terminated)), "step")
        self._steps += 1
        truncated = self.max_episode_steps > 0 and self._steps >= self.max_episode_steps
        return self._observe(), float(reward.value), bool(terminated.value), bool(truncated), {}

    def render(self):
        from .render import render_planes
        return render_planes(self._obs)

    def close(self):
        pass

    def envs(self, count):
        """`count` copies of this game as a C environment (attn-train's), for :meth:`Rollout.collect`."""
        return MinAtarEnvs(self.game, count, -1.0 if self.sticky is None else self.sticky, self.max_episode_steps)

    def __repr__(self):
        return f"minatar({self.game!r}, sticky={self.sticky}, max_episode_steps={self.max_episode_steps})"


class MinAtarEnvs(_Wrapper):
    """B copies of a built-in game behind attn_env callbacks written in C (examples/minatar_env.c)."""

    _kind = "environment"

    def __init__(self, game, count, sticky=-1.0, max_episode_steps=0):
        out, err = C.c_void_p(), C.create_string_buffer(512)
        if lib.attnpy_games_create(C.byref(out), game.encode(), int(count), float(sticky), int(max_episode_steps),
                                   err, len(err)):
            raise python_error(InvalidError, _lib.text(err.value), "minatar_env_create")
        self._set_handle(_Handle(out.value, lib.attnpy_games_destroy))
        c, a, t = C.c_int(), C.c_int(), C.c_int()
        lib.attnpy_games_shape(out.value, C.byref(c), C.byref(a), C.byref(t))
        self.count, self.channels, self.num_actions = int(count), c.value, a.value
        self.obs_type = _lib.OBS_TYPE_NAMES[t.value]
        self.obs_shape = (SIZE, SIZE, self.channels)

    def _attn_env(self):
        return lib.attnpy_games_env(self._ptr)


def minatar(game="breakout", **kwargs):
    """A built-in game: ``attnagent.minatar("breakout", sticky=0.1, max_episode_steps=10000, seed=0)``."""
    return MinAtar(game, **kwargs)
