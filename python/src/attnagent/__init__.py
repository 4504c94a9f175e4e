"""attnagent: Python bindings of libattnagent, the attention-augmented agent that shows where it looks.

    import attnagent
    attnagent.train(attnagent.minatar("breakout"), frames=100_000, out="runs/py_breakout")
    agent = attnagent.Agent.load("runs/py_breakout")
    action, info = agent.act(obs)            # info["maps"]: [queries, h, w]

docs/python.md is the guide; the C headers (include/attnagent/*.h) are the manual of every bound call.
"""
from .errors import (Error, NullError, InvalidError, SizeError, NonFiniteError, OutOfMemoryError, StateError,
                     FileIOError, FormatError, CallbackError, AbortedError)
from .core import Config, Model, State, Tensor, version, cpu_kernels, status_str, last_error
from .training import (LossConfig, LossStats, Optimizer, Env, EnvBinding, Rollout, RolloutView, Learner,
                       training_save, training_load, training_meta)
from .games import MinAtar, MinAtarEnvs, minatar, games
from .agent import Agent
from .render import render_planes, render_rgb, overlay, panel, save_png
from .train import train, config_for, TrainResult
from . import options

__version__ = "0.1.0"

__all__ = [
    "Error", "NullError", "InvalidError", "SizeError", "NonFiniteError", "OutOfMemoryError", "StateError",
    "FileIOError", "FormatError", "CallbackError", "AbortedError",
    "Config", "Model", "State", "Tensor", "version", "cpu_kernels", "status_str", "last_error",
    "LossConfig", "LossStats", "Optimizer", "Env", "EnvBinding", "Rollout", "RolloutView", "Learner",
    "training_save", "training_load", "training_meta",
    "MinAtar", "MinAtarEnvs", "minatar", "games", "Agent",
    "render_planes", "render_rgb", "overlay", "panel", "save_png",
    "train", "config_for", "TrainResult", "options",
]
