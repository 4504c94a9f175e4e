#!/usr/bin/env python3
"""The server's preprocessing without ale-py: a scripted stand-in for ALEInterface checks frame skip (rewards
summed, the action repeated), the max over the last two frames, early stop at game over, the life-lost and
truncation flags, no-op starts, and the area resize (weights, constants, thin objects). Needs numpy only;
exits 77 (skip) when numpy is missing."""
import os
import sys

try:
    import numpy as np
except ImportError as e:
    print(f"SKIP: numpy is not importable ({e})")
    sys.exit(77)

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ale_server as srv  # noqa: E402


class FakeALE:
    """Frame n shows the value n in pixel (0, 0, 0) and 100 - n in pixel (0, 1, 0); act returns n as reward."""

    def __init__(self, game_over_at=None, lose_life_at=None):
        self.frame, self.actions, self.lives_left = 0, [], 3
        self.game_over_at, self.lose_life_at = game_over_at, lose_life_at

    def setInt(self, *a): pass
    def setFloat(self, *a): pass
    def loadROM(self, rom): pass
    def getMinimalActionSet(self): return ["NOOP", "FIRE", "RIGHT", "LEFT"]
    def getLegalActionSet(self): return [f"A{i}" for i in range(18)]
    def getScreenDims(self): return (210, 160)
    def reset_game(self): self.frame, self.lives_left = 0, 3
    def lives(self): return self.lives_left
    def game_over(self): return self.game_over_at is not None and self.frame >= self.game_over_at
    def getEpisodeFrameNumber(self): return self.frame

    def act(self, action):
        self.frame += 1
        self.actions.append(action)
        if self.lose_life_at == self.frame:
            self.lives_left -= 1
        return self.frame

    def getScreenRGB(self, out):
        out[...] = 0
        out[0, 0, 0] = self.frame
        out[0, 1, 0] = 100 - self.frame


class FakeModule:
    class Action:
        NOOP = "NOOP"

    def __init__(self, **kw):
        self.kw = kw

    def ALEInterface(self):
        return FakeALE(**self.kw)


def game(hello, **kw):
    base = dict(sticky=0.25, flags=srv.FLAG_MAX_POOL, frame_skip=4, noop_max=0, max_episode_frames=0)
    base.update(hello)
    return srv.Game(FakeModule(**kw), np, "rom", 1, base, srv.Resizer(210, 160, 210, 160))


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


# Frame skip 4 with max-pool: rewards 1+2+3+4, the action four times, the max of frames 3 and 4.
g = game({})
g.reset(0)
reward, flags = g.step("FIRE")
check(reward == 10, f"frame skip sums rewards: {reward}")
check(g.ale.actions == ["FIRE"] * 4, f"the action is repeated: {g.ale.actions}")
obs = g.observe()
check(obs[0, 0, 0] == 4 and obs[0, 1, 0] == 97, f"max over frames 3 and 4: {obs[0, 0, 0]}, {obs[0, 1, 0]}")
check(flags == 0, f"no flags: {flags}")

# Without max-pool the last frame alone.
g = game({"flags": 0})
g.reset(0)
g.step("FIRE")
check(g.observe()[0, 1, 0] == 96, "no max-pool: the last frame")

# Game over at frame 2 of the skip: stop there, flag it, no pooling with a stale frame.
g = game({}, game_over_at=2)
g.reset(0)
reward, flags = g.step("FIRE")
check(reward == 3 and len(g.ale.actions) == 2, f"game over stops the skip: {reward}, {g.ale.actions}")
check(flags & srv.OBS_GAME_OVER, "game over flagged")
check(g.observe()[0, 1, 0] == 98, "game over: the frame it ended on")

# A lost life and truncation.
g = game({"max_episode_frames": 8}, lose_life_at=3)
g.reset(0)
_, flags = g.step("FIRE")
check(flags == srv.OBS_LIFE_LOST, f"life lost: {flags}")
_, flags = g.step("FIRE")
check(flags == srv.OBS_TRUNCATED, f"truncated at 8 frames: {flags}")

# No-op starts: between 1 and noop_max no-op frames, depending on the episode seed.
counts = set()
for seed in range(40):
    g = game({"noop_max": 5})
    g.reset(seed)
    check(1 <= len(g.ale.actions) <= 5 and set(g.ale.actions) == {"NOOP"}, f"no-op start {g.ale.actions}")
    counts.add(len(g.ale.actions))
check(len(counts) > 1, f"no-op counts vary with the seed: {counts}")

# Full and minimal action sets.
check(len(game({}).actions) == 4 and len(game({"flags": srv.FLAG_FULL_ACTIONS}).actions) == 18, "action sets")

# Area resize: weights of every output sum to 1, constants stay, thin objects survive, the mean is kept.
for src, dst in ((210, 84), (160, 84), (100, 100), (7, 3)):
    idx, w = srv.area_taps(src, dst)
    check(np.allclose(w.sum(axis=0), 1.0, atol=1e-6), f"area weights {src}->{dst} sum to 1")
    check(idx.min() >= 0 and idx.max() < src, f"area taps {src}->{dst} in range")
r = srv.Resizer(210, 160, 84, 84)
check(np.all(r(np.full((210, 160, 3), 77, np.uint8)) == 77), "a constant frame stays constant")
ball = np.zeros((210, 160, 3), np.uint8)
ball[101:105, 50:52] = 255
out = r(ball)
check(out.shape == (84, 84, 3) and out.dtype == np.uint8, f"84x84x3 bytes: {out.shape} {out.dtype}")
check(out.max() >= 100, f"a 2x4 ball stays visible: max {out.max()}")
rng = np.random.default_rng(0)
noise = rng.integers(0, 256, (210, 160, 3), dtype=np.uint8)
check(abs(float(r(noise).mean()) - float(noise.mean())) < 1.0, "area resize keeps the mean")

print("server preprocessing: all checks passed" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
