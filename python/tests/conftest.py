"""Shared fixtures: small models and environments, and the C programs (attn-train, attn-play) of a build of
the repository for the tests that compare with them."""
import os
import subprocess

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

# One thread everywhere (models default to $ATTN_NUM_THREADS): the suite shares two cores with other work.
os.environ.setdefault("ATTN_NUM_THREADS", "1")

import attnagent  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _program(name):
    build = os.environ.get("ATTN_BUILD_DIR") or os.path.join(REPO, "build")
    path = os.path.join(build, "examples", name)
    if os.access(path, os.X_OK):
        return path
    if os.environ.get("ATTN_REQUIRE_C_PROGRAMS"):
        pytest.fail(f"{path} is missing (ATTN_BUILD_DIR names a build of the repository)")
    pytest.skip(f"{path} not built; set ATTN_BUILD_DIR to a build of the repository")


@pytest.fixture(scope="session")
def attn_train():
    return _program("attn-train")


@pytest.fixture(scope="session")
def attn_play():
    return _program("attn-play")


def run(*args, cwd=None):
    """Runs a C program, failing the test with its output if it fails."""
    p = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{args[0]} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


def metrics(path, drop=("seconds", "fps")):
    """metrics.jsonl without the fields that measure time: `drop`, which every writer has, and attn-train's
    breakdown of each update's time ("t_env", "t_act", ...), which attnagent.train() does not write."""
    import json
    rows = [json.loads(line) for line in open(path)]
    for r in rows:
        for k in drop:
            r.pop(k)
        for k in [k for k in r if k.startswith("t_")]:
            r.pop(k)
    return rows


@pytest.fixture
def minatar_model():
    cfg = attnagent.Config("minatar", obs_c=4, num_actions=3, obs_type="binary", threads=1)
    return attnagent.Model(cfg, seed=7)


def binary_obs(batch, channels=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((batch, 10, 10, channels)) < 0.1).astype(np.uint8)


class Catch(gymnasium.Env):
    """A Gymnasium game for the tests: a ball falls down an H × W board, the paddle on the bottom row moves
    left, stays or moves right; +1 for a catch, -1 for a miss (terminated). Observations are drawn as
    `kind` says: uint8 pixels 0/255 (kind "pixels"), bool planes ("bool"), float32 in [0, 1] ("float")."""

    def __init__(self, kind="pixels", size=8):
        self.kind, self.size = kind, size
        shape = (size, size, 2)
        if kind == "pixels":
            self.observation_space = spaces.Box(0, 255, shape, np.uint8)
        elif kind == "bool":
            self.observation_space = spaces.Box(0, 1, shape, np.bool_)
        else:
            self.observation_space = spaces.Box(0.0, 1.0, shape, np.float32)
        self.action_space = spaces.Discrete(3)
        self.np_random = np.random.default_rng(0)

    def _obs(self):
        o = np.zeros((self.size, self.size, 2), np.float32)
        o[self.row, self.col, 0] = 1
        o[self.size - 1, self.paddle, 1] = 1
        if self.kind == "pixels":
            return (o * 255).astype(np.uint8)
        return o.astype(np.bool_) if self.kind == "bool" else o

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.row, self.col = 0, int(self.np_random.integers(self.size))
        self.paddle = self.size // 2
        return self._obs(), {}

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + action - 1, 0, self.size - 1))
        self.row += 1
        done = self.row == self.size - 1
        reward = (1.0 if self.col == self.paddle else -1.0) if done else 0.0
        return self._obs(), reward, done, False, {}


@pytest.fixture(scope="session")
def catch_id():
    if "AttnCatch-v0" not in gymnasium.registry:
        gymnasium.register("AttnCatch-v0", entry_point=Catch, max_episode_steps=50)
    return "AttnCatch-v0"
