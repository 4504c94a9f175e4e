"""Playing a trained agent one step at a time and looking at where it looks."""
import os

import numpy as np

from . import _lib
from .core import Model, State
from .errors import InvalidError, python_error
from . import render


class Agent:
    """A model acting in one environment with its own recurrent state.

    ``agent.act(obs, reward)`` takes the observation and the reward the previous action earned, and returns
    ``(action, info)``: info holds ``value`` (float), ``probs`` and ``logits`` ([A]) and ``maps`` ([N, h, w],
    the N queries' attention over the grid for this step, each summing to 1). The first call after
    construction or :meth:`reset` starts an episode (the agent's memory is zeroed); the previous action is the
    one the agent chose last. Actions are greedy (the arg-max, lowest index on ties, as attn-play) unless
    ``sample=True``.
    """

    def __init__(self, model, seed=0):
        self.model = model
        self.state = State(model, 1, 0)
        self.rng = np.random.default_rng(seed)
        A, N = model.num_actions, model.num_queries
        h, w = model.grid_shape
        self._logits = np.empty((1, A), np.float32)
        self._values = np.empty(1, np.float32)
        self._maps = np.empty((1, N, h, w), np.float32)
        self._first = True
        self._prev_action = _lib.NO_ACTION

    @classmethod
    def load(cls, path, threads=None, seed=0):
        """The agent of a run directory (its checkpoint.safetensors) or of a checkpoint file; `threads`
        sets ATTN_CFG_THREADS (a loaded model otherwise uses all CPUs or $ATTN_NUM_THREADS)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "checkpoint.safetensors")
        model = Model.load(path)
        if threads is not None:
            cfg = model.config.clone()
            cfg.set("threads", threads)
            model = Model(cfg)
            model.load_params(path)
        return cls(model, seed)

    def reset(self):
        """The next act() starts a new episode."""
        self._first = True

    def _prepare(self, obs):
        obs = np.asarray(obs)
        if self.model.obs_type == "float" and obs.dtype.kind == "f" and obs.dtype != np.float32:
            obs = obs.astype(np.float32)
        if obs.ndim == 2:
            obs = obs[..., None]
        return obs[None]

    def act(self, obs, reward=0.0, first=None, sample=False):
        first = self._first if first is None else bool(first)
        obs = self.model.check_obs(self._prepare(obs), 1, "Agent.act")
        prev_action = _lib.NO_ACTION if first else self._prev_action
        self.model.forward(self.state, obs, prev_reward=np.array([reward], np.float32),
                           prev_action=np.array([prev_action], np.int32),
                           first=np.array([first], np.uint8), logits=self._logits, values=self._values)
        logits = self._logits[0].copy()
        z = np.exp(logits.astype(np.float64) - logits.max())
        probs = z / z.sum()
        action = int(self.rng.choice(len(probs), p=probs)) if sample else int(np.argmax(logits))
        maps = self.state.maps(self._maps)[0].copy()
        self._first = False
        self._prev_action = action
        return action, {"value": float(self._values[0]), "probs": probs, "logits": logits, "maps": maps}

    def pixel_maps(self, maps):
        """[N, h, w] grid maps resampled onto the observation's pixels: [N, H, W] (attn_map_to_pixels)."""
        return self.model.map_to_pixels(maps)

    def default_scale(self):
        """attn-play's picture scale: 24 for the built-in games' 10 × 10 frames, 3 for 84 × 84, 2 for 210 × 160."""
        H, W, _ = self.model.obs_shape
        return 24 if max(H, W) <= 16 else 2 if H > 100 else 3

    def draw(self, obs, scale=None):
        """The observation as an RGB picture: binary planes as attn-play colours them, pixels as they are."""
        scale = scale or self.default_scale()
        obs = np.asarray(obs)
        if self.model.obs_type == "binary":
            return render.render_planes(obs, scale)
        if obs.ndim == 3 and obs.shape[2] not in (1, 3):
            raise python_error(InvalidError, f"cannot draw {obs.shape[2]}-channel pixels; pass an RGB frame to "
                               "attnagent.panel()", "Agent.draw")
        return render.render_rgb(obs, scale)

    def show(self, obs, info, scale=None, opacity=0.75, gap=8):
        """The step as attn-play draws it (without the title): the frame, then each query's map over it, as one
        RGB array [H·s, (N+1)·W·s + N·gap, 3]."""
        return render.panel(self.draw(obs, scale), self.pixel_maps(info["maps"]), opacity, gap)
