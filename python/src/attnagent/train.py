"""attnagent.train(): attn-train's loop, for the built-in games and for Gymnasium environments.

The run directory is attn-train's: ``checkpoint.safetensors`` (a training checkpoint with the same host keys, so
``attn-train --resume`` continues a run started here and ``train(..., resume=True)`` one started there) and
``metrics.jsonl`` (one JSON object per update, the same fields in the same format).
"""
import json
import math
import os
import re
import sys
import time
import warnings

from . import options as _options
from .core import Config, Model
from .errors import InvalidError, python_error
from .games import MinAtar, MinAtarEnvs
from .training import EnvBinding, Learner, Optimizer, Rollout, training_load, training_meta, training_save

RECENT = 100  # the return mean is over the last 100 finished episodes, as attn-train's


class _Recent:
    """attn-train's ring of the last RECENT returns (float32), its mean summed in slot order as attn-train's."""

    def __init__(self):
        self.value = [0.0] * RECENT
        self.count = self.next = 0

    def add(self, v):
        self.value[self.next] = v
        self.next = (self.next + 1) % RECENT
        self.count = min(self.count + 1, RECENT)

    def mean(self):
        s = 0.0
        for i in range(self.count):
            s += self.value[i]
        return s / self.count if self.count else math.nan

    def format(self):
        return " ".join("%.9g" % self.value[(self.next - self.count + i) % RECENT] for i in range(self.count))

    def parse(self, text):
        import numpy as np
        got = _Recent()
        for token in text.split(" ") if text else []:
            v = float(np.float32(token))
            if not math.isfinite(v) or got.count == RECENT:
                return False
            got.add(v)
        self.value, self.count, self.next = got.value, got.count, got.next
        return True


class TrainResult:
    """Where a run went and how it ended: out, checkpoint, metrics (paths), frames, episodes, updates,
    return_mean (of the last 100 episodes), interrupted."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return (f"TrainResult(out={self.out!r}, frames={self.frames}, episodes={self.episodes}, "
                f"return_mean={self.return_mean:.4f})")


def config_for(obs_shape, num_actions, obs_type, preset=None, threads=0):
    """The network for H × W × C observations: the minatar preset (a grid cell per pixel) for frames of up to
    32 × 32, the atari preset for 210 × 160, atari84's conv stack otherwise; obs size, actions, type and
    threads set on it."""
    H, W, C = obs_shape
    if preset is None:
        preset = "minatar" if H * W <= 32 * 32 else "atari" if (H, W) == (210, 160) else "atari84"
    cfg = Config(preset)
    for key, value in (("obs_h", H), ("obs_w", W), ("obs_c", C), ("num_actions", num_actions),
                       ("obs_type", obs_type), ("threads", threads)):
        cfg.set(key, value)
    cfg.validate()
    return cfg


def _remove_stale_temporaries(out):
    prefix = "checkpoint.safetensors.tmp."
    for name in os.listdir(out):
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(out, name))
            except OSError:
                pass


class _Progress:
    """A tqdm bar when tqdm is installed, else attn-train's progress line; nothing when disabled."""

    def __init__(self, enabled, total, initial):
        self.bar = None
        self.enabled = enabled
        self.last = -math.inf
        self.tty = sys.stdout.isatty() if enabled else False
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, initial=initial, unit="frame", unit_scale=True, smoothing=0.1,
                        dynamic_ncols=True)

    def update(self, frames, fps, mean, episodes, stats, eta, total):
        if self.bar is not None:
            self.bar.set_postfix({"return(100)": f"{mean:.2f}", "episodes": episodes, "loss": f"{stats.total:.4f}",
                                  "entropy": f"{stats.entropy:.3f}"}, refresh=False)
            self.bar.update(frames - self.bar.n)
            return
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < (0.5 if self.tty else 10.0) and frames < total:
            return
        self.last = now
        print(f"{chr(13) if self.tty else ''}frames {frames:9d}  {fps:6.0f} f/s  return(100) {mean:7.2f}  "
              f"episodes {episodes:6d}  loss {stats.total:8.4f}  entropy {stats.entropy:.3f}  ETA {eta}",
              end="  " if self.tty else "\n", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.tty:
            print()


def _duration(seconds):
    if not seconds >= 0 or seconds > 1e7:
        return "--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _warn_health(learner, warned):
    """Warns once for each sign of a stuck run the learner raises (attn_learner_health_get), as attn-train."""
    h = learner.health()
    if h is None:
        return warned
    fresh = h["flags"] & ~warned
    if fresh & 1:
        warnings.warn(f"after {h['updates']} updates the policy is still uniform (entropy "
                      f"{100 * h['entropy_ratio']:.1f}% of ln A): learning may be stuck. Check that rewards reach "
                      "the loss, that observations mean what the model is told (obs_type), and the learning rate "
                      "(docs/training.md, \"Is it learning?\")", RuntimeWarning, stacklevel=3)
    if fresh & 2:
        warnings.warn(f"after {h['updates']} updates the weights moved by {h['weight_change']:.2g} of their size: "
                      "the optimizer's steps are too small for this loss (docs/training.md, \"Is it learning?\")",
                      RuntimeWarning, stacklevel=3)
    return warned | fresh


def _metrics_line(updates, frames, seconds, fps, episodes, mean, s, lr):
    return ('{"update": %d, "frames": %d, "seconds": %.2f, "fps": %.1f, "episodes": %d, "return_mean": %.4f, '
            '"loss": %.6g, "policy_loss": %.6g, "value_loss": %.6g, "entropy": %.6g, "approx_kl": %.6g, '
            '"clip_fraction": %.6g, "grad_norm": %.6g, "lr": %.6g, "skipped": %d}\n'
            % (updates, frames, seconds, fps, episodes, mean, s.total, s.policy_loss, s.value_loss, s.entropy,
               s.approx_kl, s.clip_fraction, s.grad_norm, lr, s.skipped))


def _environment(env, envs, env_kwargs, obs_type, channels_first):
    """(the built-in game, None) for attnagent.minatar(...) or "minatar:GAME"; otherwise (None, (GymEnvs, name)),
    the GymEnvs marked `owned` when made here (and so closed after the run)."""
    if isinstance(env, str) and env.startswith("minatar:"):
        env = MinAtar(env[len("minatar:"):])
    if isinstance(env, MinAtar):
        return env, None
    from . import gymenv
    gymenv._need_gymnasium()
    import gymnasium
    if isinstance(env, str):
        if envs is None:
            envs = _options.parse().envs
        made = [gymnasium.make(env, **(env_kwargs or {})) for _ in range(envs)]
        name = env
        hosts = gymenv.GymEnvs(made, obs_type, channels_first)
        hosts.owned = True
    else:
        if callable(env) and not isinstance(env, (gymnasium.Env, gymnasium.vector.VectorEnv)):
            if envs is None:
                envs = _options.parse().envs
            made = [env() for _ in range(envs)]
            hosts = gymenv.GymEnvs(gymenv.sub_environments(made), obs_type, channels_first)
            hosts.owned = True
        else:
            subs = gymenv.sub_environments(env)
            if envs is not None and envs != len(subs):
                raise python_error(InvalidError, f"envs={envs}, but the environment given has {len(subs)}",
                                   "attnagent.train")
            hosts = gymenv.GymEnvs(subs, obs_type, channels_first)
            hosts.owned = False
        spec = getattr(hosts.envs[0], "spec", None)
        name = spec.id if spec is not None else type(hosts.envs[0].unwrapped).__name__
    return None, (hosts, name)


def train(env, frames=None, out=None, *, envs=None, resume=False, progress=True, seed=None, threads=None,
          obs_type=None, channels_first=False, preset=None, config=None, env_kwargs=None, on_update=None,
          **train_options):
    """Trains the agent on `env` and returns a :class:`TrainResult`.

    `env` is ``attnagent.minatar(GAME)`` (or "minatar:GAME": the built-in game, stepped in C as attn-train
    steps it), a Gymnasium environment id (``envs`` copies are made with ``gymnasium.make(id,
    **env_kwargs)``), a function making one environment, a gymnasium.Env, a list of them, or a
    gymnasium.vector.SyncVectorEnv (attnagent.gymenv says how observations and episode ends are mapped).

    Every other option is attn-train's, with attn-train's default: ``frames`` (--frames), ``out`` (--out, the
    run directory), ``envs``, ``seed``, ``threads``, and in ``train_options`` e.g. ``algo="ppo"``,
    ``optim="adam"``, ``lr=5e-4``, ``unroll=20``, ``entropy_cost=0.01``, ``gae_lambda=0.95``, ``no_lr_decay=True``,
    ``checkpoint_every=100000`` (``attnagent.options.help_text()`` lists them all). ``resume=True`` continues
    from ``out/checkpoint.safetensors``. The network is attn-train's for the built-in games; for other
    environments :func:`config_for` chooses it from the observation shape unless ``preset`` or ``config``
    (a :class:`Config`, whose observation and action sizes must fit the environment) is given.

    `on_update(metrics)` is called after every update with the dict written to metrics.jsonl; returning False
    stops the run (a checkpoint is still written). Ctrl-C saves a checkpoint and raises KeyboardInterrupt.
    """
    if "lambda" in train_options:
        train_options["gae_lambda"] = train_options.pop("lambda")
    builtin = isinstance(env, MinAtar) or (isinstance(env, str) and env.startswith("minatar:"))
    for key in ("sticky", "max_episode_steps"):
        if key in train_options and not builtin:
            raise python_error(InvalidError, f"{key} applies to the built-in games; wrap a Gymnasium "
                               "environment in its own wrappers instead", "attnagent.train")
    game, gym = _environment(env, envs, env_kwargs, obs_type, channels_first)
    common = dict(frames=frames, envs=envs, seed=seed, threads=threads, **train_options)
    owned = None
    if game is not None:
        game_options = dict(sticky=game.sticky, max_episode_steps=game.max_episode_steps)
        game_options.update(common)
        opts = _options.parse(env=f"minatar:{game.game}", out=out, **game_options)
        host = MinAtarEnvs(opts.game, opts.envs, opts.sticky, opts.max_episode_steps)
        env_name = opts.env
        if config is not None or preset not in (None, "minatar"):
            raise python_error(InvalidError, "the built-in games use attn-train's minatar network",
                               "attnagent.train")
        cfg = Config(opts.preset)
        cfg.set("obs_c", host.channels)
        cfg.set("num_actions", host.num_actions)
        cfg.set("obs_type", host.obs_type)
        cfg.set("threads", opts.threads)
    else:
        host, name = gym
        owned = host if host.owned else None
        common["envs"] = host.count
        default_out = os.path.join("runs", re.sub(r"[^A-Za-z0-9_.-]+", "_", name))
        opts = _options.parse(out=out or default_out, **common)
        env_name = f"gymnasium:{name}"
        if config is not None:
            cfg = config.clone()
            if threads is not None:
                cfg.set("threads", opts.threads)
        else:
            cfg = config_for(host.obs_shape, host.num_actions, host.obs_type, preset, opts.threads)
        got = (cfg["obs_h"], cfg["obs_w"], cfg["obs_c"])
        if got != host.obs_shape or cfg["num_actions"] != host.num_actions:
            raise python_error(InvalidError, f"the configuration takes {got} observations and "
                               f"{cfg['num_actions']} actions; the environment gives {host.obs_shape} and "
                               f"{host.num_actions}", "attnagent.train")
        cfg.set("obs_type", host.obs_type)
    try:
        return _run(opts, cfg, host, env_name, resume, progress, on_update)
    finally:
        if owned is not None:
            owned.close()


def _trim_metrics(path, frames):
    """Drops the log's lines past the checkpoint's frames, as attn-train does (examples/metrics_trim.h): a run
    killed between checkpoints logged updates the resumed run will log again."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.readlines()

    def frames_of(line):
        try:
            return json.loads(line).get("frames", -1)
        except ValueError:
            return -1

    kept = [line for line in lines if frames_of(line) <= frames]
    if len(kept) < len(lines):
        with open(path + ".trim", "w") as f:
            f.writelines(kept)
        os.replace(path + ".trim", path)


def _run(o, cfg, host, env_name, resume, progress, on_update):
    os.makedirs(o.out, exist_ok=True)
    ckpt = os.path.join(o.out, "checkpoint.safetensors")
    metrics_path = os.path.join(o.out, "metrics.jsonl")
    _remove_stale_temporaries(o.out)

    model = Model(cfg, o.seed)
    opt = Optimizer(model, o.optim)
    loss = o.apply(opt)
    ro = Rollout(model, o.envs, o.unroll, o.seed)
    learner = Learner(model, loss, o.envs, o.unroll)
    env = host if isinstance(host, MinAtarEnvs) else EnvBinding(host, model)

    recent = _Recent()
    if resume:
        training_load(ckpt, model, opt, ro, env)
        returns = training_meta("recent_returns")
        if returns is not None and not recent.parse(returns):
            print(f"attnagent.train: {ckpt}: unreadable recent_returns; the return mean restarts", file=sys.stderr)

    def save():
        keys = {"env": env_name, "algo": o.algo, "return_mean_100": "%.6g" % recent.mean(),
                "recent_returns": recent.format()}
        training_save(ckpt, model, opt, ro, env, keys)

    start = time.monotonic()
    start_frames = ro.frames
    next_checkpoint = start_frames + o.checkpoint_every
    bar = _Progress(progress, o.frames, start_frames)
    if progress:
        threads = f"{o.threads} threads" if o.threads else "threads: all CPUs"
        print(f"attnagent.train: {env_name}, {o.algo}, {o.envs} environments × {o.unroll} steps, {o.frames} frames, "
              f"{threads}, {model.param_count} parameters, out {o.out}", flush=True)
    interrupted = False
    stopped = False
    warned = 0
    if resume:
        _trim_metrics(metrics_path, ro.frames)
    metrics = open(metrics_path, "a" if resume else "w")
    try:
        while ro.frames < o.frames and not stopped:
            ro.collect(model, env)
            returns, _ = ro.finished()
            for r in returns:
                recent.add(float(r))
            stats = learner.update(opt, ro)
            frames = ro.frames
            t = time.monotonic() - start
            fps = (frames - start_frames) / (t if t > 0 else 1)
            mean = recent.mean() if recent.count else 0.0
            line = _metrics_line(opt.steps, frames, t, fps, ro.episodes, mean, stats, opt.current_lr)
            metrics.write(line)
            metrics.flush()  # whole lines only: a killed run leaves a readable log to resume appending to
            if frames >= next_checkpoint:
                save()
                next_checkpoint += o.checkpoint_every
            bar.update(frames, fps, mean, ro.episodes, stats,
                       _duration((o.frames - frames) / (fps if fps > 0 else 1)), o.frames)
            warned = _warn_health(learner, warned)
            if on_update is not None:
                import json
                if on_update(json.loads(line)) is False:
                    stopped = True
    except KeyboardInterrupt:
        interrupted = True
    finally:
        metrics.close()
        bar.close()
    save()
    if progress:
        print(f"{'interrupted' if interrupted else 'finished'} at {ro.frames} frames; checkpoint {ckpt}, "
              f"metrics {metrics_path}", flush=True)
    if interrupted:
        raise KeyboardInterrupt
    return TrainResult(out=o.out, checkpoint=ckpt, metrics=metrics_path, frames=ro.frames, episodes=ro.episodes,
                       updates=opt.steps, return_mean=recent.mean() if recent.count else 0.0,
                       interrupted=interrupted)
