"""Step-by-step cross-check of libattnagent-games against MinAtar itself (docs/games.md).

Drives the unchanged Python MinAtar (pip install minatar==1.0.15 numpy) with a generator that yields the same
stream as the C games' (xoshiro256** seeded through splitmix64; uniform = top 53 bits, below(n) = rejection on
the top 32 bits) and prints the same lines as attn-minatar-trace, so the two outputs must be byte-identical:

    attn-minatar-trace breakout 20000 7 0.1 > c.txt
    python3 minatar_trace.py breakout 20000 7 0.1 > py.txt
    cmp c.txt py.txt

usage: minatar_trace.py GAME STEPS SEED STICKY [heuristic]
"""
import sys

import numpy as np
from minatar import Environment

MASK = (1 << 64) - 1


def rotl(v, k):
    return ((v << k) | (v >> (64 - k))) & MASK


class StreamRandom:
    """The C games' random stream behind the RandomState calls MinAtar makes."""

    def __init__(self, seed):
        x = seed & MASK
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            self.s.append(z ^ (z >> 31))

    def _next(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def _uniform(self):
        return (self._next() >> 11) * (1.0 / 9007199254740992.0)

    def _below(self, n):
        limit = (1 << 32) - (1 << 32) % n
        while True:
            r = self._next() >> 32
            if r < limit:
                return r % n

    def rand(self, size=None):
        if size is None:
            return self._uniform()
        return np.array([self._uniform() for _ in range(size)])

    def randint(self, low, high=None, size=None):
        if high is None:
            low, high = 0, low
        if size is None:
            return low + self._below(high - low)
        return np.array([low + self._below(high - low) for _ in range(size)])


def heuristic(game, state, action, policy):
    """The same rules as heuristic() in minatar_trace.c."""
    if game == "space_invaders":
        x = int(np.flatnonzero(state[9, :, 0])[0])
        if state[5:9, x, 5].any():
            return 1 if x > 0 else 3
        return 5 if (policy >> 40) % 4 else action
    if game == "seaquest":
        y = int(np.nonzero(state[:, :, 0])[0][0])
        oxygen = int(state[9, :, 7].sum())
        divers = int(state[9, :, 8].sum())
        if (oxygen < 3 or divers >= 6) and divers > 0:
            return 2
        if action == 2 and y <= 1 and divers == 0:
            return 4
    return action


def ones(env):
    return " ".join(map(str, np.flatnonzero(env.state())))


def main():
    game, steps, seed, sticky = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    env = Environment(game, sticky_action_prob=sticky, difficulty_ramping=True)
    stream = StreamRandom(seed)
    env.random = stream
    env.env.random = stream
    env.reset()
    policy = 12345
    lines = ["obs " + ones(env)]
    for t in range(steps):
        policy = (policy * 6364136223846793005 + 1442695040888963407) & MASK
        action = (policy >> 33) % 6
        if len(sys.argv) > 5:
            action = heuristic(game, env.state(), action, policy)
        reward, done = env.act(action)
        lines.append(f"{t} {float(reward):g} {int(done)} " + ones(env))
        if done:
            env.reset()
            lines.append("obs " + ones(env))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
