"""Gymnasium environments as hosts of the step-callback interface.

What the library receives from a Gymnasium observation space (the observation contract, attnagent.h):

=====================================================  ===========================  ==========================
observation space                                      attn_obs_type                what the network sees
=====================================================  ===========================  ==========================
``Box(uint8)`` with low 0 and high 255                 ATTN_OBS_U8 ("pixels")       byte / 255
``Box(bool)``, ``MultiBinary``, ``Box(0, 1)`` integer  ATTN_OBS_U8_BINARY           0.0 or 1.0 (other values
                                                       ("binary")                   are refused at every step)
``Box`` of a float dtype                               ATTN_OBS_F32 ("float")       the value as float32
=====================================================  ===========================  ==========================

Any other space is refused instead of guessed (an integer Box of another range, a Dict, ...); ``obs_type=``
overrides the choice. Shapes are H × W × C, or H × W for one channel; ``channels_first=True`` takes C × H × W.
Actions must be ``Discrete(n, start)``.

Each index is one gymnasium.Env, stepped with exactly the C interface's meaning: ``step`` writes the returned
observation (for an episode that just ended, its final observation) and passes ``terminated`` and ``truncated``
through unchanged, so a truncated episode is bootstrapped from the value of that final observation and a
terminated one is not; the library then calls ``reset(seed=...)`` with the episode seed it derives from the
rollout seed. A ``gymnasium.vector.SyncVectorEnv`` is taken apart into its sub-environments for this: the C
interface steps environments one index at a time (``attn_env.step``), while a vector environment only steps all
of them at once and resets them itself. An AsyncVectorEnv therefore cannot be driven exactly and is refused
(pass the environment id with ``envs=B``, or a SyncVectorEnv).
"""
import numpy as np

from .errors import InvalidError, python_error
from .training import Env

try:
    import gymnasium
    from gymnasium import spaces
except ImportError:  # pragma: no cover - gymnasium is optional
    gymnasium = None
    spaces = None


def _need_gymnasium():
    if gymnasium is None:
        raise ImportError("Gymnasium environments need the gymnasium package: pip install gymnasium")


def _refuse(message):
    return python_error(InvalidError, message, "attnagent.train")


def observation_contract(space, obs_type=None, channels_first=False):
    """(obs_type, (H, W, C), source shape) for an image observation space, as the table above says."""
    _need_gymnasium()
    if isinstance(space, spaces.MultiBinary):
        kind, shape = "binary", tuple(np.atleast_1d(space.n))
    elif isinstance(space, spaces.Box):
        shape, dtype = space.shape, space.dtype
        low, high = np.min(space.low), np.max(space.high)
        if dtype == np.bool_:
            kind = "binary"
        elif np.issubdtype(dtype, np.floating):
            kind = "float"
        elif np.issubdtype(dtype, np.integer) and np.all(space.low == 0) and np.all(space.high == 1):
            kind = "binary"
        elif dtype == np.uint8 and np.all(space.low == 0) and np.all(space.high == 255):
            kind = "pixels"
        else:
            kind = None
            if obs_type is None:
                raise _refuse(f"observation space {space}: an integer Box of range [{low}, {high}] is neither "
                              "pixels (uint8, 0..255) nor binary planes (0..1); pass obs_type='pixels', "
                              "'binary' or 'float' to say how the network should read it")
    else:
        raise _refuse(f"observation space {space}: the agent needs an image observation (a Box or "
                      "MultiBinary of H × W × C or H × W)")
    if obs_type is not None:
        if obs_type not in ("pixels", "binary", "float"):
            raise _refuse(f"obs_type {obs_type!r}: one of 'pixels', 'binary', 'float'")
        kind = obs_type
    if len(shape) == 2:
        hwc = shape + (1,)
    elif len(shape) == 3:
        hwc = (shape[1], shape[2], shape[0]) if channels_first else shape
    else:
        raise _refuse(f"observation shape {shape}: the agent needs an image, H × W × C or H × W "
                      "(channels_first=True for C × H × W)")
    return kind, tuple(int(x) for x in hwc), tuple(int(x) for x in shape)


def action_count(space):
    _need_gymnasium()
    if not isinstance(space, spaces.Discrete):
        raise _refuse(f"action space {space}: the agent chooses among discrete actions (Discrete(n))")
    return int(space.n), int(space.start)


def sub_environments(env):
    """The gymnasium.Env list behind what train() was given (a SyncVectorEnv, a list, one Env)."""
    _need_gymnasium()
    vector = getattr(gymnasium, "vector", None)
    if vector is not None and isinstance(env, vector.VectorEnv):
        envs = getattr(env, "envs", None)
        if isinstance(env, vector.SyncVectorEnv) and isinstance(envs, (list, tuple)):
            return list(envs)
        name = type(env).__name__
        raise _refuse(f"{name}: the C interface steps one environment at a time (attn_env.step per index), and a "
                      f"{name} can only step all of its environments at once and reset them itself, so it "
                      "cannot be driven exactly; pass the environment id with envs=B, a list of environments "
                      "or a gymnasium.vector.SyncVectorEnv (whose sub-environments are stepped one by one)")
    if isinstance(env, gymnasium.Env):
        return [env]
    if isinstance(env, (list, tuple)) and env and all(isinstance(e, gymnasium.Env) for e in env):
        return list(env)
    raise _refuse(f"cannot train on {env!r}: give a Gymnasium environment id, a gymnasium.Env, a list of them, a "
                  "SyncVectorEnv, or attnagent.minatar(GAME)")


class GymEnvs(Env):
    """B gymnasium.Env as the step-callback environment (the :class:`attnagent.Env` protocol)."""

    def __init__(self, envs, obs_type=None, channels_first=False):
        self.envs = list(envs)
        first = self.envs[0]
        self.obs_type, self.obs_shape, self.source_shape = observation_contract(
            first.observation_space, obs_type, channels_first)
        self.num_actions, self.action_start = action_count(first.action_space)
        for i, e in enumerate(self.envs[1:], 1):
            other = observation_contract(e.observation_space, obs_type, channels_first)
            if other != (self.obs_type, self.obs_shape, self.source_shape) or \
                    action_count(e.action_space) != (self.num_actions, self.action_start):
                raise _refuse(f"environment {i} has other spaces than environment 0")
        self.channels_first = channels_first

    @property
    def count(self):
        return len(self.envs)

    def _write(self, index, obs, out):
        obs = np.asarray(obs)
        if obs.shape != self.source_shape:
            raise ValueError(f"environment {index} returned an observation of shape {obs.shape}, its space "
                             f"says {self.source_shape}")
        if obs.dtype.kind not in "biuf":
            raise TypeError(f"environment {index} returned {obs.dtype} observations")
        if self.channels_first:
            obs = obs.transpose(1, 2, 0)
        elif obs.ndim == 2:
            obs = obs[..., None]
        # Values are not rescaled: pixels stay bytes, planes stay 0/1 (the library refuses any other byte at
        # every step), floats are stored as float32 (the library refuses NaN and infinity).
        np.copyto(out, obs, casting="unsafe")

    def reset(self, index, seed, out):
        obs, _ = self.envs[index].reset(seed=int(seed))
        self._write(index, obs, out)

    def step(self, index, action, out):
        obs, reward, terminated, truncated, _ = self.envs[index].step(int(action) + self.action_start)
        self._write(index, obs, out)
        return float(reward), bool(terminated), bool(truncated)

    def close(self):
        for e in self.envs:
            e.close()
