#!/usr/bin/env python3
"""ALE environment server for libattnagent's ALE bridge (examples/ale/ale_env.c).

The bridge starts one or more of these as child processes, each owning a slice of the training
environments, and talks to each over a Unix socket on file descriptor --fd (default 3) with the binary
protocol of examples/ale/ale_protocol.h. Every environment is its own ale_py.ALEInterface; this process
does the standard Atari preprocessing (frame skip with a max over the last two frames, sticky actions
inside ALE, no-op starts, the episode frame limit, resizing) so the bridge receives finished observations.

Nothing but protocol messages may reach the socket, so anything printed (ALE's banner, warnings) goes
to stderr.
"""
import os
import signal
import struct
import sys

MAGIC = b"ATNL"
VERSION = 1
HELLO, READY, RESET, STEP, OBS, ERROR, BYE = range(1, 8)
ERR_NO_ALE, ERR_BAD_GAME, ERR_BAD_REQUEST, ERR_INTERNAL = range(1, 5)
HEADER = struct.Struct("<4sBBHI")
HELLO_FIXED = struct.Struct("<IQIIIfHHBBH")
READY_MSG = struct.Struct("<IIHHHH")
RESET_MSG = struct.Struct("<IIQ")
STEP_MSG = struct.Struct("<II")
OBS_FIXED = struct.Struct("<IfII")
ERROR_FIXED = struct.Struct("<II")
FLAG_FULL_ACTIONS, FLAG_MAX_POOL = 1, 2
RESET_SOFT = 1
OBS_GAME_OVER, OBS_TRUNCATED, OBS_LIFE_LOST = 1, 2, 4


class Closed(Exception):
    """The bridge closed its end: exit quietly."""


def read_exact(fd, n):
    chunks = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise Closed()
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send(fd, mtype, payload=b""):
    write_all(fd, HEADER.pack(MAGIC, VERSION, mtype, 0, len(payload)) + payload)


def send_error(fd, code, text):
    data = text.replace("\0", " ").encode("utf-8", "replace")[:1024]
    send(fd, ERROR, ERROR_FIXED.pack(code, len(data)) + data)


def receive(fd):
    magic, version, mtype, reserved, n = HEADER.unpack(read_exact(fd, HEADER.size))
    if magic != MAGIC or version != VERSION or reserved != 0 or n > 1 << 20:
        raise ValueError("bad message header")
    return mtype, read_exact(fd, n)


def area_taps(src, dst):
    """Weights of an area-averaging resize from src to dst samples along one axis, as up to K taps per
    output: index arrays idx[k] and weights w[k] with sum_k w[k][i] = 1 (each output averages the input
    interval it covers, like an area filter; partially covered inputs count by their overlap)."""
    import numpy as np
    scale = src / dst
    taps = int(np.ceil(scale)) + 1
    idx = np.zeros((taps, dst), np.intp)
    w = np.zeros((taps, dst), np.float32)
    for i in range(dst):
        lo, hi = i * scale, (i + 1) * scale
        j0 = int(np.floor(lo))
        for k in range(taps):
            j = j0 + k
            if j >= src or j >= hi:
                break
            overlap = min(hi, j + 1) - max(lo, j)
            idx[k, i], w[k, i] = j, max(overlap, 0.0) / scale
    return idx, w


class Resizer:
    """Area-averaging resize of RGB frames: rows by precomputed taps (whole-row gathers are cheap), then
    columns as one matrix product (column gathers are not)."""

    def __init__(self, src_h, src_w, dst_h, dst_w):
        import numpy as np
        self.np = np
        self.identity = (src_h, src_w) == (dst_h, dst_w)
        self.vi, self.vw = area_taps(src_h, dst_h)
        self.vw = [w[:, None, None] for w in self.vw]
        hi, hw = area_taps(src_w, dst_w)
        self.cols = np.zeros((src_w, dst_w), np.float32)  # input column -> output column weights
        for k in range(hi.shape[0]):
            np.add.at(self.cols, (hi[k], np.arange(dst_w)), hw[k])

    def __call__(self, frame):
        if self.identity:
            return frame
        np = self.np
        x = frame.astype(np.float32)
        rows = self.vw[0] * x[self.vi[0]]
        for k in range(1, len(self.vw)):
            rows += self.vw[k] * x[self.vi[k]]
        out = np.tensordot(rows, self.cols, axes=([1], [0]))  # dst_h x 3 x dst_w
        return (out.transpose(0, 2, 1) + 0.5).astype(np.uint8)


class Game:
    """One ALE instance with the preprocessing the HELLO asked for."""

    def __init__(self, ale_py, np, rom, seed, hello, resize):
        self.np = np
        self.ale = ale_py.ALEInterface()
        self.ale.setInt("random_seed", int(seed % (2**31 - 1)))
        self.ale.setFloat("repeat_action_probability", float(hello["sticky"]))
        self.ale.setInt("frame_skip", 1)  # skipping and pooling happen here, to see the last two frames
        self.ale.setInt("max_num_frames_per_episode", 0)
        self.ale.loadROM(rom)
        acts = self.ale.getLegalActionSet() if hello["flags"] & FLAG_FULL_ACTIONS else self.ale.getMinimalActionSet()
        self.actions = list(acts)
        self.noop = ale_py.Action.NOOP
        self.skip = hello["frame_skip"]
        self.pool = bool(hello["flags"] & FLAG_MAX_POOL) and self.skip >= 2
        self.noop_max = hello["noop_max"]
        self.max_frames = hello["max_episode_frames"]
        h, w = self.ale.getScreenDims()
        self.last = np.empty((h, w, 3), np.uint8)
        self.prev = np.empty((h, w, 3), np.uint8)
        self.resize = resize

    def observe(self):
        return self.resize(self.last)

    def reset(self, seed):
        self.ale.reset_game()
        if self.noop_max:
            noops = int(self.np.random.default_rng(seed).integers(1, self.noop_max + 1))
            for _ in range(noops):
                self.ale.act(self.noop)
                if self.ale.game_over():
                    self.ale.reset_game()
        self.ale.getScreenRGB(self.last)
        return 0.0, 0

    def step(self, action):
        ale = self.ale
        lives = ale.lives()
        reward = 0.0
        pooled = False
        for i in range(self.skip):
            reward += ale.act(action)
            if ale.game_over():
                break
            if self.pool and i == self.skip - 2:
                ale.getScreenRGB(self.prev)
                pooled = True
        ale.getScreenRGB(self.last)
        flags = 0
        if ale.game_over():
            flags |= OBS_GAME_OVER
        elif pooled and i == self.skip - 1:
            self.np.maximum(self.last, self.prev, out=self.last)
        if ale.lives() < lives:
            flags |= OBS_LIFE_LOST
        if not flags & OBS_GAME_OVER and self.max_frames and ale.getEpisodeFrameNumber() >= self.max_frames:
            flags |= OBS_TRUNCATED
        return reward, flags


def serve(fd):
    mtype, payload = receive(fd)
    if mtype != HELLO or len(payload) < HELLO_FIXED.size:
        send_error(fd, ERR_BAD_REQUEST, "expected HELLO first")
        return
    fields = HELLO_FIXED.unpack_from(payload)
    keys = ("envs", "seed", "frame_skip", "noop_max", "max_episode_frames", "sticky", "obs_h", "obs_w",
            "flags", "game_len", "reserved")
    hello = dict(zip(keys, fields))
    game = payload[HELLO_FIXED.size:HELLO_FIXED.size + hello["game_len"]].decode("ascii", "replace")
    try:
        import ale_py
        import ale_py.roms
        import numpy as np
    except ImportError as e:
        send_error(fd, ERR_NO_ALE, f"{type(e).__name__}: {e} (Python {sys.executable})")
        return
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    rom = ale_py.roms.get_rom_path(game) if game in ale_py.roms.get_all_rom_ids() else None
    if rom is None:
        known = ", ".join(ale_py.roms.get_all_rom_ids()[:8])
        send_error(fd, ERR_BAD_GAME, f'ale-py {ale_py.__version__} has no game "{game}" (ids look like {known}, ...)')
        return
    resize = Resizer(210, 160, hello["obs_h"], hello["obs_w"])
    games = [Game(ale_py, np, rom, hello["seed"] + i, hello, resize) for i in range(hello["envs"])]
    h, w = games[0].last.shape[:2]
    if (h, w) != (210, 160):
        send_error(fd, ERR_BAD_GAME, f"{game} has {h}x{w} frames; this server resizes 210x160 ones")
        return
    send(fd, READY, READY_MSG.pack(len(games), len(games[0].actions), hello["obs_h"], hello["obs_w"], 3, 0))

    while True:
        mtype, payload = receive(fd)
        if mtype == BYE:
            return
        if mtype == RESET and len(payload) == RESET_MSG.size:
            env, flags, seed = RESET_MSG.unpack(payload)
            if env >= len(games):
                raise ValueError(f"RESET for environment {env} of {len(games)}")
            g = games[env]
            if flags & RESET_SOFT:
                # After a lost life that ended a training episode: carry on in the same game with a no-op
                # step; only if that ends the game does it really restart.
                reward, oflags = g.step(g.noop)
                if oflags & (OBS_GAME_OVER | OBS_TRUNCATED):
                    g.reset(seed)
                    oflags = OBS_GAME_OVER
                oflags &= ~OBS_LIFE_LOST
            else:
                reward, oflags = g.reset(seed)
        elif mtype == STEP and len(payload) == STEP_MSG.size:
            env, action = STEP_MSG.unpack(payload)
            if env >= len(games) or action >= len(games[env].actions):
                raise ValueError(f"STEP environment {env} action {action} out of range")
            g = games[env]
            reward, oflags = g.step(g.actions[action])
        else:
            raise ValueError(f"unexpected message type {mtype} with {len(payload)} bytes")
        obs = g.observe()
        send(fd, OBS, OBS_FIXED.pack(env, float(reward), g.ale.lives(), oflags) + obs.tobytes())


def main():
    fd = 3
    if len(sys.argv) >= 3 and sys.argv[1] == "--fd":
        fd = int(sys.argv[2])
    # Ctrl-C belongs to the trainer, which finishes its update, saves and then closes us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.dup2(2, 1)
    # Several servers share the machine with the learner: numpy's BLAS must not start a thread per core each.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        serve(fd)
    except Closed:
        pass
    except Exception as e:  # tell the bridge in one sentence, then fail loudly on stderr too
        try:
            send_error(fd, ERR_BAD_REQUEST if isinstance(e, ValueError) else ERR_INTERNAL,
                       f"{type(e).__name__}: {e}")
        except OSError:
            pass
        raise


if __name__ == "__main__":
    main()
