"""torch_train.py: the independent yardstick trainer. The same agent, trained by the same PPO with the same
hyper-parameters as attn-train, but in PyTorch on the ORIGINAL Python MinAtar, without any libattnagent code.

Install (once; Debian's python3-torch must stay visible, and MinAtar's own dependencies must NOT be installed:
they pull numpy 2, which Debian's torch 1.13 cannot use, and only the GUI needs them):

    /usr/bin/python3 -m venv --system-site-packages /tmp/ttvenv
    /tmp/ttvenv/bin/pip install --no-deps minatar==1.0.15

Run (always nice and one thread on a shared machine):

    nice /tmp/ttvenv/bin/python bench/torch_train.py --env minatar:breakout --frames 200000 --threads 1 \\
        --out /tmp/tt_breakout

Writes DIR/metrics.jsonl (one JSON object per update, attn-train's keys), DIR/options.json (every
hyper-parameter and where its value came from) and DIR/checkpoint.safetensors (a libattnagent model file:
`attn-play --run DIR` plays it). docs/training.md, "An independent trainer: bench/torch_train.py", says what is
matched and how.

What comes from where:
- the network: tests/reference/reference_model.py (written from the spec, not from the C code), imported;
- its initialisation: docs/architecture.md, "Initialisation" (He-uniform vision, 1/sqrt(fan_in) elsewhere,
  policy head x0.01, biases +-1/sqrt(fan_in) but the heads' 0), re-implemented here (--init torch keeps PyTorch's defaults instead);
- rollout, GAE, the PPO loss, minibatching, clipping, the learning-rate schedule: docs/training.md, written here;
- the update rule: torch.optim.Adam / AdamW (same formula as ours: epsilon outside the square root, bias
  correction); the global-norm clipping and the linear decay are done here, by our rule, not torch's helpers;
- the defaults: read at start-up from attn-train itself (its --help text, and the checkpoint of a 1-frame probe
  run, which holds the optimizer's knobs and the network configuration); only the loss knobs that attn-train
  reveals nowhere fall back to the HARD_CODED table below. Every value's source is printed and saved.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))

try:
    import numpy as np
    import torch
except ImportError as exc:  # pragma: no cover - a setup problem, said plainly
    sys.exit("torch_train: %s; run with /tmp/ttvenv/bin/python (see the top of this file)" % exc)

import reference_model  # noqa: E402  (the network: never a second copy of it here)
import safetensors_io  # noqa: E402

# ---- defaults --------------------------------------------------------------------------------------------

# !!! HARD-CODED DEFAULTS !!!  Used only when attn-train (--help, probe checkpoint) does not reveal the value.
# attn-train's --help prints no default for the loss knobs (entropy, baseline, discount, lambda, reward clip)
# and its checkpoints do not store them: attn-train passes NaN for them and gets attn_loss_config_init's
# defaults (docs/training.md, Losses, "Configuration"). If attn-train's defaults are retuned, add
# "(default X)" to its --help line for that option and this script picks it up without a change here.
HARD_CODED = {
    "env": "minatar:breakout", "algo": "ppo", "optim": "adam",
    "frames": 1000000, "envs": 32, "unroll": 20, "lr": 5e-4,
    "epsilon": 1e-8, "max_grad_norm": 40.0, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01, "lr_end": 0.0,
    "entropy_cost": 0.01, "baseline_cost": 0.5, "discount": 0.99, "gae_lambda": 0.95, "reward_clip": 0.0,
    "clip": 0.2, "ppo_epochs": 4, "ppo_minibatches": 4,
    "sticky": 0.1, "max_episode_steps": 10000, "seed": 1, "threads": 0,
}
# attn-train's flag for each key (the keys without one are torch_train's or the optimizer's internals).
FLAG_OF = {
    "env": "--env", "algo": "--algo", "optim": "--optim", "frames": "--frames", "envs": "--envs",
    "unroll": "--unroll", "lr": "--lr", "epsilon": "--epsilon", "max_grad_norm": "--max-grad-norm",
    "entropy_cost": "--entropy-cost", "baseline_cost": "--baseline-cost", "discount": "--discount",
    "gae_lambda": "--lambda", "reward_clip": "--reward-clip", "ppo_epochs": "--ppo-epochs",
    "ppo_minibatches": "--ppo-minibatches", "sticky": "--sticky", "max_episode_steps": "--max-episode-steps",
    "seed": "--seed", "threads": "--threads",
}
# The minatar preset of ../shared/spec/architecture.md, used only when no probe checkpoint is available.
MINATAR_PRESET = {"obs_h": 10, "obs_w": 10, "lstm_channels": 32, "key_channels": 8, "basis_u": 4,
                  "basis_v": 4, "num_queries": 4, "core_units": 128, "obs_type": "u8_binary",
                  "conv": [[16, 3, 1, 1]], "query_hidden": [128], "answer_hidden": [256]}
CONFIG_ORDER = ["obs_h", "obs_w", "obs_c", "num_actions", "lstm_channels", "key_channels", "basis_u", "basis_v",
                "num_queries", "core_units", "obs_type", "conv", "query_hidden", "answer_hidden"]


def parse_help(text):
    """{key: value string} for every option whose line in attn-train's --help names one default.

    A line counts when it starts with an option of FLAG_OF, names no other option before "(default", and
    holds "(default V...)": V is cut at the
    first ')', ';', ':' or ','. "(default)" right after a word names that word (--env's "breakout (default)").
    The --algo line's "N epochs of M minibatches" gives the PPO defaults too."""
    found = {}
    key_of = {flag: key for key, flag in FLAG_OF.items()}
    for line in text.splitlines():
        flags = re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line.split("(default")[0])
        if not re.match(r"\s*--", line) or len(set(flags)) != 1 or flags[0] not in key_of:
            continue  # the line must describe one option of ours, named first ("--ale-procs ... --envs" not)
        key = key_of[flags[0]]
        m = re.search(r"(\w+) \(default\)", line)
        if m:
            found[key] = ("minatar:" + m.group(1)) if key == "env" else m.group(1)
            continue
        m = re.search(r"\(default ([^);:,]+)", line)
        if m and m.group(1).strip():
            found[key] = m.group(1).strip()
        if key == "algo":
            m = re.search(r"(\d+) epochs of (\d+) minibatches", line)
            if m:
                found["ppo_epochs"], found["ppo_minibatches"] = m.group(1), m.group(2)
    return found


def read_safetensors_metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


def probe_attn_train(binary, env, optim):
    """Runs attn-train for one frame (1 environment, 1 step) and returns its checkpoint's metadata: the
    optimizer's knobs as attn-train sets them (optim.lr, optim.epsilon, ...) and the network configuration."""
    tmp = tempfile.mkdtemp(prefix="torch_train_probe_")
    try:
        cmd = [binary, "--env", env, "--frames", "1", "--envs", "1", "--unroll", "1", "--ppo-minibatches", "1",
               "--threads", "1", "--checkpoint-every", "1000000", "--out", tmp]
        if optim:
            cmd += ["--optim", optim]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        return read_safetensors_metadata(os.path.join(tmp, "checkpoint.safetensors"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_parser():
    p = argparse.ArgumentParser(
        description="PPO on the original MinAtar with the reference PyTorch agent; attn-train's options "
                    "(defaults read from attn-train, see --attn-train).")
    a = p.add_argument
    a("--env", help="minatar:GAME (breakout, asterix, freeway, seaquest, space_invaders)")
    a("--algo", help="ppo (the only loss implemented here)")
    a("--optim", help="adam or adamw (the only ones implemented here)")
    a("--lr", type=float)
    a("--epsilon", type=float, help="Adam's epsilon (outside the square root)")
    a("--max-grad-norm", type=float, help="global-norm clipping threshold, 0 = off")
    a("--lr-decay", action="store_true", default=None,
      help="decay the learning rate linearly to lr_end over the run (default: as attn-train does)")
    a("--no-lr-decay", dest="lr_decay", action="store_false", help="keep the learning rate constant")
    a("--entropy-cost", type=float)
    a("--baseline-cost", type=float)
    a("--discount", type=float)
    a("--lambda", dest="gae_lambda", type=float)
    a("--reward-clip", type=float, help="clip rewards to +-X for the loss, 0 = off")
    a("--clip", type=float, help="PPO clip range epsilon (NOT an attn-train option: it uses the library's)")
    a("--ppo-epochs", type=int)
    a("--ppo-minibatches", type=int, help="minibatches of whole environments per epoch; must divide --envs")
    a("--no-advantage-norm", action="store_true")
    a("--envs", type=int)
    a("--unroll", type=int)
    a("--frames", type=float, help="environment steps in total (whole updates; stops at the first >= N)")
    a("--seed", type=int)
    a("--threads", type=int, help="torch.set_num_threads; 0 = torch's default")
    a("--sticky", type=float, help="MinAtar's sticky_action_prob")
    a("--max-episode-steps", type=int, help="truncate (and bootstrap) longer episodes; 0 = never")
    a("--out", help="output directory (default runs/torch_GAME)")
    a("--attn-train", default=os.path.join(REPO, "build", "examples", "attn-train"),
      help="the attn-train binary whose defaults to use (default build/examples/attn-train)")
    a("--no-attn-train", action="store_true", help="do not run attn-train: use the HARD_CODED defaults")
    a("--init", choices=["attn", "torch"], default="attn",
      help="attn: docs/architecture.md's initialisation (default); torch: PyTorch's default initialisation")
    a("--init-checkpoint", help="start from the weights of a libattnagent model file instead")
    return p


def resolve_options(args):
    """Every hyper-parameter with its source: the command line, attn-train's probe checkpoint, attn-train's
    --help, or HARD_CODED (in that order of precedence)."""
    opts = dict(HARD_CODED)
    source = {k: "HARD-CODED" for k in opts}
    probe_meta, warnings = None, []
    if not args.no_attn_train:
        if not os.access(args.attn_train, os.X_OK):
            warnings.append("%s not found: every default is HARD-CODED (drift possible)" % args.attn_train)
        else:
            try:
                text = subprocess.run([args.attn_train, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      timeout=30).stdout.decode("utf-8", "replace")
                for k, v in parse_help(text).items():
                    try:
                        opts[k] = v if isinstance(HARD_CODED[k], str) else type(HARD_CODED[k])(float(v))
                        source[k] = "attn-train --help"
                    except ValueError:
                        warnings.append("attn-train --help: cannot read %s's default %r: HARD-CODED" % (k, v))
            except Exception as exc:  # a broken binary should not stop a yardstick run, but it must be said
                warnings.append("attn-train --help failed (%s): HARD-CODED defaults" % exc)
            env = args.env or opts["env"]
            try:
                probe_meta = probe_attn_train(args.attn_train, env, args.optim)
                knobs = {"lr": "optim.lr", "epsilon": "optim.epsilon", "max_grad_norm": "optim.max_grad_norm",
                         "beta1": "optim.beta1", "beta2": "optim.beta2", "weight_decay": "optim.weight_decay",
                         "lr_end": "optim.lr_end", "optim": "optim.kind"}
                for k, mk in knobs.items():
                    if mk in probe_meta:
                        v = probe_meta[mk] if k == "optim" else float(probe_meta[mk])
                        if source[k] == "attn-train --help" and v != opts[k]:
                            warnings.append("%s: --help says %r, attn-train's checkpoint %r; using the checkpoint"
                                            % (k, opts[k], v))
                        opts[k], source[k] = v, "attn-train probe checkpoint"
            except Exception as exc:
                warnings.append("attn-train probe run failed (%s): optimizer knobs from --help/HARD-CODED" % exc)
    for k in list(HARD_CODED):
        v = getattr(args, k, None)
        if v is not None:
            opts[k], source[k] = (int(v) if isinstance(HARD_CODED[k], int) else v), "command line"
    # Whether attn-train decays by default: its probe checkpoint has a non-zero schedule length if it does.
    probe_decays = probe_meta is not None and float(probe_meta.get("optim.lr_decay_steps", "0")) > 0
    if args.lr_decay is None:
        opts["lr_decay"] = probe_decays
        source["lr_decay"] = "attn-train probe checkpoint" if probe_meta is not None else "HARD-CODED (off)"
    else:
        opts["lr_decay"], source["lr_decay"] = bool(args.lr_decay), "command line"
    opts["normalize_advantages"] = not args.no_advantage_norm
    source["normalize_advantages"] = "command line" if args.no_advantage_norm else "attn-train's default (on)"
    return opts, source, probe_meta, warnings


# ---- the environments: the original MinAtar -------------------------------------------------------------

class MinAtarEnvs:
    """B copies of minatar.Environment with attn-train's episode protocol: a time limit that truncates, and a
    fresh game at every episode start (seeded from the run's seed, the index and the episode number; the
    sticky-action memory back to no-op, as our games' attn_minatar_reset does)."""

    def __init__(self, game, B, sticky, max_steps, seed):
        import logging
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # MinAtar warns that it cannot render without matplotlib
        from minatar import Environment
        logging.getLogger().setLevel(level)
        self.envs = [Environment(game, sticky_action_prob=sticky, difficulty_ramping=True) for _ in range(B)]
        self.B, self.max_steps, self.seed = B, max_steps, seed
        self.episode = [0] * B
        self.steps = [0] * B
        self.channels = self.envs[0].state_shape()[2]
        self.actions = self.envs[0].num_actions()  # the full set of 6

    def reset(self, b):
        e = self.envs[b]
        s = np.random.SeedSequence([self.seed, b, self.episode[b]]).generate_state(1)[0]
        self.episode[b] += 1
        e.seed(int(s))       # one RandomState for the sticky coin and the game, as MinAtar's seed() does
        e.reset()
        e.last_action = 0    # a fresh game: the sticky memory starts at no-op
        self.steps[b] = 0
        return e.state()

    def step(self, b, action):
        e = self.envs[b]
        reward, terminated = e.act(int(action))
        self.steps[b] += 1
        truncated = self.max_steps > 0 and self.steps[b] >= self.max_steps
        return e.state(), float(reward), bool(terminated), bool(truncated)


def frames_tensor(states):
    return torch.from_numpy(np.stack(states).astype(np.uint8))  # B×10×10×C, 0/1


# ---- the agent's initialisation (docs/architecture.md, "Initialisation") ------------------------------------

def initialise(model, gen):
    """Vision weights (conv stack and ConvLSTM) uniform in +-sqrt(6/fan_in), every other weight in
    +-1/sqrt(fan_in) (fan_in = in·k·k for a convolution, the row length for a linear map), the policy head's
    weights times 0.01; biases uniform in +-1/sqrt(fan_in) of their layer's weight (the policy LSTM's: of
    weight_hh, H_p), the policy and value heads' biases 0."""
    with torch.no_grad():
        fan_in = None
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                # Parameters come weight first, then bias, per layer, so fan_in is this layer's.
                if name in ("policy.bias", "value.bias"):
                    p.zero_()
                else:
                    p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(fan_in))
                continue
            fan_in = p[0].numel()
            bound = math.sqrt(6.0 / fan_in) if name.startswith("vision.") else 1.0 / math.sqrt(fan_in)
            p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
            if name == "policy.weight":
                p.mul_(0.01)


# ---- the rollout ----------------------------------------------------------------------------------------

class Rollout:
    """attn_rollout's contract (docs/training.md, Rollouts): T steps of B environments, with the recurrent
    state at the start of the unroll, behaviour logits and values, the value of each truncated episode's
    final observation, and the bootstrap value after the last step. The acting state, the observations, the
    previous actions and rewards and the running returns carry over from one collect to the next."""

    def __init__(self, model, envs, T, seed):
        self.model, self.envs, self.T, self.B = model, envs, T, envs.B
        self.gen = torch.Generator().manual_seed(seed * 1000003 + 17)
        self.started = False
        self.frames = self.episodes = 0
        self.running = np.zeros(self.B)

    def start(self):
        B = self.B
        self.obs = frames_tensor([self.envs.reset(b) for b in range(B)])
        self.first = torch.ones(B, dtype=torch.uint8)
        self.prev_action = torch.full((B,), reference_model.NO_ACTION, dtype=torch.long)
        self.prev_reward = torch.zeros(B)
        self.state = self.model.zero_state(B)
        self.started = True

    @torch.no_grad()
    def collect(self):
        if not self.started:
            self.start()
        T, B, m = self.T, self.B, self.model
        A = self.envs.actions
        self.init_state = tuple(s.clone() for s in self.state)
        self.obs_buf = torch.empty((T,) + tuple(self.obs.shape), dtype=torch.uint8)
        self.first_buf = torch.empty(T, B, dtype=torch.uint8)
        self.prev_action_buf = torch.empty(T, B, dtype=torch.long)
        self.prev_reward_buf = torch.empty(T, B)
        self.actions = torch.empty(T, B, dtype=torch.long)
        self.rewards = torch.zeros(T, B)
        self.terminated = torch.zeros(T, B, dtype=torch.bool)
        self.truncated = torch.zeros(T, B, dtype=torch.bool)
        self.truncation_values = torch.zeros(T, B)
        self.logits = torch.empty(T, B, A)
        self.values = torch.empty(T, B)
        self.finished = []
        for t in range(T):
            self.obs_buf[t], self.first_buf[t] = self.obs, self.first
            self.prev_action_buf[t], self.prev_reward_buf[t] = self.prev_action, self.prev_reward
            logits, value, _, state = m.step(self.obs, self.prev_reward, self.prev_action, self.first, self.state)
            action = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=self.gen)[:, 0]
            self.logits[t], self.values[t], self.actions[t] = logits, value, action
            next_obs, first = [], torch.zeros(B, dtype=torch.uint8)
            for b in range(B):
                o, r, term, trunc = self.envs.step(b, action[b].item())
                self.rewards[t, b] = r
                self.terminated[t, b] = term
                self.truncated[t, b] = trunc and not term  # termination wins when both are set
                self.running[b] += r
                next_obs.append(o)
            self.frames += B
            cut = self.truncated[t]
            if cut.any():  # V(final observation) with the state the episode had; the acting state does not move
                _, v_final, _, _ = m.step(frames_tensor(next_obs), self.rewards[t], action,
                                          torch.zeros(B, dtype=torch.uint8), state)
                self.truncation_values[t] = torch.where(cut, v_final, torch.zeros(B))
            for b in range(B):
                if self.terminated[t, b] or self.truncated[t, b]:
                    self.finished.append(float(self.running[b]))
                    self.running[b] = 0.0
                    self.episodes += 1
                    next_obs[b] = self.envs.reset(b)
                    first[b] = 1
            self.obs = frames_tensor(next_obs)
            self.first = first
            self.prev_action = torch.where(first.bool(), torch.full_like(action, reference_model.NO_ACTION), action)
            self.prev_reward = torch.where(first.bool(), torch.zeros(B), self.rewards[t])
            self.state = state
        _, self.bootstrap, _, _ = m.step(self.obs, self.prev_reward, self.prev_action, self.first, self.state)


# ---- the loss -----------------------------------------------------------------------------------------

def gae(rewards, values, bootstrap, terminated, truncated, truncation_values, gamma, lam):
    """docs/training.md, "A2C with GAE(λ)" and "Episode boundaries": δ_t = r_t + γ V_next(t) − V(x_t),
    Â_t = δ_t + γλ Â_{t+1}, the second term dropped after either flag and after the last step; V_next is 0
    after a termination, the stored value of the final observation after a truncation, else the next step's
    value or the bootstrap. Returns (advantages, λ-returns), float64, T×B."""
    T, B = rewards.shape
    r, v = rewards.double(), values.double()
    adv = torch.zeros(T, B, dtype=torch.float64)
    carry = torch.zeros(B, dtype=torch.float64)
    for t in reversed(range(T)):
        v_next = bootstrap.double() if t == T - 1 else v[t + 1]
        v_next = torch.where(truncated[t], truncation_values[t].double(), v_next)
        v_next = torch.where(terminated[t], torch.zeros(B, dtype=torch.float64), v_next)
        boundary = terminated[t] | truncated[t]
        delta = r[t] + gamma * v_next - v[t]
        carry = delta + gamma * lam * torch.where(boundary, torch.zeros(B, dtype=torch.float64), carry)
        adv[t] = carry
    return adv, adv + v


def ppo_loss(model, ro, idx, adv, ret, o):
    """The clipped surrogate on the minibatch of environments `idx`, replayed from their stored initial state
    (truncated BPTT: the stored state is a constant). Mean over the T·|idx| samples of
    policy term + baseline_cost·½(ret − V)² − entropy_cost·H(π)."""
    state0 = tuple(s[idx] for s in ro.init_state)
    logits, values, _, _ = model.unroll(ro.obs_buf[:, idx], ro.prev_reward_buf[:, idx],
                                        ro.prev_action_buf[:, idx], ro.first_buf[:, idx], state0)
    logp = torch.log_softmax(logits, dim=2)
    a = ro.actions[:, idx].unsqueeze(2)
    logp_a = logp.gather(2, a).squeeze(2)
    logmu_a = torch.log_softmax(ro.logits[:, idx], dim=2).gather(2, a).squeeze(2)
    ratio = torch.exp(logp_a - logmu_a)
    A = adv[:, idx].float()
    if o["normalize_advantages"]:  # population std (÷N), + 1e-8
        A = (A - A.mean()) / (A.std(unbiased=False) + 1e-8)
    eps = o["clip"]
    policy = -torch.min(ratio * A, torch.clamp(ratio, 1 - eps, 1 + eps) * A).mean()
    value = 0.5 * ((ret[:, idx].float() - values) ** 2).mean()
    entropy = -(torch.exp(logp) * logp).sum(dim=2).mean()
    total = policy + o["baseline_cost"] * value - o["entropy_cost"] * entropy
    with torch.no_grad():
        stats = {"loss": total.item(), "policy_loss": policy.item(), "value_loss": value.item(),
                 "entropy": entropy.item(), "approx_kl": (logmu_a - logp_a).mean().item(),
                 "clip_fraction": ((ratio - 1).abs() > eps).float().mean().item()}
    return total, stats


class Learner:
    """attn_learner_update for PPO: advantages once per collection from the behaviour values, then
    ppo_epochs × ppo_minibatches optimizer steps on shuffled groups of whole environments."""

    def __init__(self, model, o):
        self.model, self.o = model, o
        self.params = [p for p in model.parameters()]
        kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[o["optim"]]
        extra = {"weight_decay": o["weight_decay"]} if o["optim"] == "adamw" else {}
        self.opt = kind(self.params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["epsilon"], **extra)
        self.steps = 0       # optimizer steps taken (the schedule's position), attn_optimizer_steps
        self.skipped = 0
        self.decay_steps = 0
        if o["lr_decay"]:    # every update consumes envs × unroll frames and makes epochs × minibatches steps
            self.decay_steps = math.ceil(o["frames"] / (o["envs"] * o["unroll"])) * o["ppo_epochs"] * o["ppo_minibatches"]

    def current_lr(self):
        """lr_t = lr + (lr_end − lr)·min(1, t/decay_steps), t = steps taken so far (the next step's rate)."""
        lr = self.o["lr"]
        if self.decay_steps > 0:
            lr += (self.o["lr_end"] - lr) * min(1.0, self.steps / self.decay_steps)
        return lr

    def update(self, ro):
        o, B = self.o, ro.B
        M = o["ppo_minibatches"]
        r = ro.rewards
        if o["reward_clip"] > 0:
            r = r.clamp(-o["reward_clip"], o["reward_clip"])
        adv, ret = gae(r, ro.values, ro.bootstrap, ro.terminated, ro.truncated, ro.truncation_values,
                       o["discount"], o["gae_lambda"])
        last_epoch, skipped_now = [], 0
        for epoch in range(o["ppo_epochs"]):
            # A new permutation per epoch, from a generator seeded by the run's seed and the step count.
            shuffle = torch.Generator().manual_seed(o["seed"] * 7919 + self.steps)
            perm = torch.randperm(B, generator=shuffle)
            for k in range(M):
                idx = perm[k * (B // M):(k + 1) * (B // M)]
                total, stats = ppo_loss(self.model, ro, idx, adv, ret, o)
                self.opt.zero_grad(set_to_none=False)
                total.backward()
                norm = self.clip_gradients()
                stats["grad_norm"] = norm
                if not (math.isfinite(norm) and math.isfinite(stats["loss"])):
                    self.skipped += 1   # our learner's rule: no step, weights and slots untouched
                    skipped_now += 1
                else:
                    for g in self.opt.param_groups:
                        g["lr"] = self.current_lr()
                    self.opt.step()
                    self.steps += 1
                if epoch == o["ppo_epochs"] - 1:
                    last_epoch.append(stats)
        out = {k: sum(s[k] for s in last_epoch) / len(last_epoch) for k in last_epoch[0]}
        out["skipped"] = 1 if skipped_now else 0
        return out

    def clip_gradients(self):
        """The global L2 norm in double; above max_grad_norm every gradient is scaled by max/‖g‖ (exactly our
        rule; torch's clip_grad_norm_ would divide by ‖g‖ + 1e-6). Returns the norm before clipping."""
        sq = 0.0
        for p in self.params:
            if p.grad is not None:
                sq += float(p.grad.double().pow(2).sum())
        norm = math.sqrt(sq) if math.isfinite(sq) else float("nan")
        limit = self.o["max_grad_norm"]
        if limit > 0 and math.isfinite(norm) and norm > limit:
            for p in self.params:
                if p.grad is not None:
                    p.grad.mul_(limit / norm)
        return norm


# ---- the run ------------------------------------------------------------------------------------------

METRICS_FORMAT = ('{"update": %d, "frames": %d, "seconds": %.2f, "fps": %.1f, "episodes": %d, '
                  '"return_mean": %.4f, "loss": %.6g, "policy_loss": %.6g, "value_loss": %.6g, '
                  '"entropy": %.6g, "approx_kl": %.6g, "clip_fraction": %.6g, "grad_norm": %.6g, '
                  '"lr": %.6g, "skipped": %d}\n')  # attn-train's line, key for key and format for format


def save_model(path, model, cfg):
    meta = {"format": "attnagent", "format_version": "1",
            "config": json.dumps({k: cfg[k] for k in CONFIG_ORDER}, separators=(",", ":"))}
    tmp = path + ".tmp"
    safetensors_io.write(tmp, {k: v.float() for k, v in model.state_dict().items()}, meta)
    os.replace(tmp, path)


def main(argv=None):
    args = build_parser().parse_args(argv)
    o, source, probe_meta, warnings = resolve_options(args)
    for w in warnings:
        print("torch_train: WARNING: " + w, file=sys.stderr)
    if not o["env"].startswith("minatar:"):
        sys.exit("torch_train: --env must be minatar:GAME, not %r" % o["env"])
    game = o["env"][len("minatar:"):]
    if o["algo"] != "ppo":
        sys.exit("torch_train: attn-train's algo is %r (%s); only ppo is implemented here"
                 % (o["algo"], source["algo"]))
    if o["optim"] not in ("adam", "adamw"):
        sys.exit("torch_train: attn-train's optimizer is %r (%s); only adam and adamw are implemented here"
                 % (o["optim"], source["optim"]))
    if o["envs"] < 1 or o["unroll"] < 1 or o["frames"] < 1 or o["ppo_epochs"] < 1 or o["ppo_minibatches"] < 1 \
            or o["envs"] % o["ppo_minibatches"]:
        sys.exit("torch_train: --envs, --unroll, --frames, --ppo-epochs, --ppo-minibatches must be positive and "
                 "--ppo-minibatches must divide --envs")
    o["frames"] = int(o["frames"])
    out = args.out or os.path.join("runs", "torch_" + game)
    os.makedirs(out, exist_ok=True)
    if o["threads"] > 0:
        torch.set_num_threads(o["threads"])
        torch.set_num_interop_threads(1)

    envs = MinAtarEnvs(game, o["envs"], o["sticky"], o["max_episode_steps"], o["seed"])
    if probe_meta and "config" in probe_meta:
        cfg = json.loads(probe_meta["config"])
        source["network"] = "attn-train probe checkpoint"
    else:
        cfg = dict(MINATAR_PRESET)
        source["network"] = "HARD-CODED minatar preset"
    cfg.update(obs_c=envs.channels, num_actions=envs.actions)
    if probe_meta and "config" in probe_meta and json.loads(probe_meta["config"])["obs_c"] != envs.channels:
        sys.exit("torch_train: attn-train's %s has %s channels, MinAtar's %d" % (game, cfg["obs_c"], envs.channels))
    torch.manual_seed(o["seed"])
    model = reference_model.Agent(cfg).float()
    if args.init_checkpoint:
        tensors, _ = safetensors_io.read(args.init_checkpoint)
        model.load_state_dict({k: v.float() for k, v in tensors.items() if not k.startswith(("optim.", "train."))})
        source["init"] = args.init_checkpoint
    elif args.init == "attn":
        initialise(model, torch.Generator().manual_seed(o["seed"]))
        source["init"] = "docs/architecture.md (He vision, policy x0.01, biases +-1/sqrt(fan_in), heads' 0)"
    else:
        source["init"] = "PyTorch defaults (reference_model.py)"
    o.update(config=cfg)
    with open(os.path.join(out, "options.json"), "w") as f:
        json.dump({"options": o, "source": source, "warnings": warnings}, f, indent=1, sort_keys=True)
    print("torch_train: %s, ppo/%s, %d environments × %d steps, %d frames, %d threads, %d parameters, out %s"
          % (o["env"], o["optim"], o["envs"], o["unroll"], o["frames"], torch.get_num_threads(),
             sum(p.numel() for p in model.parameters()), out))
    print("  " + ", ".join("%s=%s [%s]" % (k, o[k], source[k]) for k in sorted(HARD_CODED) + ["lr_decay",
                                                                                            "normalize_advantages"]))
    sys.stdout.flush()

    ro = Rollout(model, envs, o["unroll"], o["seed"])
    learner = Learner(model, o)
    recent = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    start, last_print = time.monotonic(), -1e9
    tty = sys.stdout.isatty()
    metrics = open(os.path.join(out, "metrics.jsonl"), "w")
    try:
        while ro.frames < o["frames"] and not stop:
            ro.collect()
            recent = (recent + ro.finished)[-100:]
            s = learner.update(ro)
            t = time.monotonic() - start
            fps = ro.frames / (t if t > 0 else 1)
            mean = sum(recent) / len(recent) if recent else 0.0
            metrics.write(METRICS_FORMAT % (learner.steps, ro.frames, t, fps, ro.episodes, mean, s["loss"],
                                            s["policy_loss"], s["value_loss"], s["entropy"], s["approx_kl"],
                                            s["clip_fraction"], s["grad_norm"], learner.current_lr(), s["skipped"]))
            metrics.flush()
            if t - last_print >= (0.5 if tty else 10.0) or ro.frames >= o["frames"]:
                last_print = t
                print("%sframes %9d  %6.0f f/s  return(100) %7.2f  episodes %6d  loss %8.4f  entropy %.3f%s"
                      % ("\r" if tty else "", ro.frames, fps, mean, ro.episodes, s["loss"], s["entropy"],
                         "  " if tty else "\n"), end="")
                sys.stdout.flush()
    except KeyboardInterrupt:
        stop.append(1)
    if tty:
        print()
    metrics.close()
    save_model(os.path.join(out, "checkpoint.safetensors"), model, cfg)
    t = time.monotonic() - start
    mean = sum(recent) / len(recent) if recent else 0.0
    print("torch_train: %s at %d frames in %.1f s: %.1f frames/s, return(100) %.3f, %d episodes, %d skipped; "
          "metrics %s" % ("interrupted" if stop else "finished", ro.frames, t, ro.frames / max(t, 1e-9), mean,
                          ro.episodes, learner.skipped, os.path.join(out, "metrics.jsonl")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
