"""Compares the library's A2C/GAE, V-trace and PPO losses with PyTorch versions of the same formulas.

Usage: compare_losses.py DUMP_LOSSES SCRATCH_DIR [--no-run] [--cases a2c_0,ppo_1,...]

Runs DUMP_LOSSES SCRATCH_DIR, which writes <case>.safetensors for each case: the inputs (logits, values,
bootstrap, behaviour logits, actions, raw rewards, terminated/truncated flags, truncation values), the loss
configuration (metadata) and the C results (dlogits, dvalues, every attn_loss_stats field, and the targets:
adv/ret for A2C and PPO, vs/pg_weight for V-trace). This script recomputes everything in float64 from
docs/training.md ("Losses") and the papers -- GAE (Schulman et al. 2016), V-trace (Espeholt et al. 2018, eq. 1
and section 4.2), PPO's clipped surrogate (Schulman et al. 2017) -- without using the C code: the targets as
constants (computed under no_grad), the loss as one scalar of the logits and values, and dlogits/dvalues by
autograd.

Every tensor (and every statistic, as a 1-element tensor) is compared with
    err = max|c - ref| / max(max|ref|, 1e-6)
and must have err <= 1e-4. Exit status: 0 all passed, 1 any failure, 77 (skip) without torch.
"""

import argparse
import os
import subprocess
import sys
import time

try:
    import numpy as np
    import torch
except ImportError as exc:
    print("=" * 78)
    print("SKIPPED: python3-torch not installed (%s); the PyTorch loss comparison did NOT run." % exc)
    print("Install it with: apt-get install python3-torch   (and run with /usr/bin/python3)")
    print("=" * 78)
    sys.exit(77)

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

CASES = ["a2c_0", "a2c_1", "a2c_2", "a2c_3", "vtrace_0", "vtrace_1", "vtrace_2", "vtrace_3",
         "ppo_0", "ppo_1", "ppo_2", "ppo_3"]
TOLERANCE = 1e-4
STATS = ["total", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"]


# ---- The formulas -----------------------------------------------------------------------------------------

def clip_rewards(rewards, reward_clip):
    """Rewards clipped to [-reward_clip, reward_clip]; reward_clip = 0 means no clipping."""
    return rewards.clamp(-reward_clip, reward_clip) if reward_clip > 0 else rewards


def value_after(values, bootstrap, terminated, truncated, truncation_values):
    """[T][B]: what follows step t -- 0 after a termination (which wins over truncation), the final
    observation's value after a truncation, otherwise V(x_{t+1}), or the bootstrap after the last step."""
    T = values.shape[0]
    out = torch.empty_like(values)
    for t in range(T):
        out[t] = values[t + 1] if t + 1 < T else bootstrap
    out = torch.where(truncated, truncation_values, out)
    return torch.where(terminated, torch.zeros_like(out), out)


def continues(terminated, truncated):
    """[T][B]: 1 where the recursion may carry from t+1 into t (same episode and t+1 inside the unroll)."""
    T = terminated.shape[0]
    keep = (~(terminated | truncated)).double()
    keep[T - 1] = 0.0
    return keep


def gae(values, bootstrap, rewards, terminated, truncated, truncation_values, discount, lam, reward_clip):
    """GAE(lambda) advantages and lambda-returns (Schulman et al. 2016, eq. 16, truncated at boundaries)."""
    r = clip_rewards(rewards, reward_clip)
    nxt = value_after(values, bootstrap, terminated, truncated, truncation_values)
    delta = r + discount * nxt - values
    keep = continues(terminated, truncated)
    adv = torch.zeros_like(values)
    carry = torch.zeros_like(bootstrap)
    for t in reversed(range(values.shape[0])):
        adv[t] = delta[t] + discount * lam * keep[t] * carry
        carry = adv[t]
    return adv, adv + values


def truncate(x, bar):
    """min(bar, x), with bar = 0 meaning no truncation."""
    return x.clamp(max=bar) if bar > 0 else x


def vtrace(values, bootstrap, rewards, terminated, truncated, truncation_values, log_ratio, discount, rho_bar,
           c_bar, reward_clip):
    """V-trace targets v_s (IMPALA eq. 1 with lambda = 1, written as the backward recursion
    v_s - V(x_s) = delta_s + gamma c_s (v_{s+1} - V(x_{s+1}))), the policy-gradient weight
    rho_s (r_s + gamma v_{s+1} - V(x_s)) of section 4.2, and how many samples had pi/mu > rho_bar."""
    ratio = log_ratio.exp()
    rho = truncate(ratio, rho_bar)
    c = truncate(ratio, c_bar)
    r = clip_rewards(rewards, reward_clip)
    nxt = value_after(values, bootstrap, terminated, truncated, truncation_values)
    delta = rho * (r + discount * nxt - values)
    keep = continues(terminated, truncated)
    diff = torch.zeros_like(values)
    carry = torch.zeros_like(bootstrap)
    for s in reversed(range(values.shape[0])):
        diff[s] = delta[s] + discount * c[s] * keep[s] * carry
        carry = diff[s]
    vs = values + diff
    # v_{s+1} for the policy gradient: the next target inside the episode, else what follows the step.
    vs_next = value_after(vs, bootstrap, terminated, truncated, truncation_values)
    pg_weight = rho * (r + discount * vs_next - values)
    clipped = int((ratio > rho_bar).sum().item()) if rho_bar > 0 else 0
    return vs, pg_weight, clipped


def log_policy(logits, actions):
    """log pi (all actions), log pi(a_t), and the entropy H = -sum pi log pi, per sample."""
    logp = torch.log_softmax(logits, dim=-1)
    logp_a = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return logp_a, entropy


def reference(case, meta):
    """Everything the C side wrote, recomputed: a dict name -> float64 tensor."""
    kind = meta["kind"]
    f = {k: float(np.float32(float(meta[k]))) for k in
         ["discount", "gae_lambda", "entropy_cost", "baseline_cost", "rho_bar", "c_bar", "clip_range",
          "reward_clip"]}
    normalize = int(meta["normalize_advantages"]) != 0
    logits = case["logits"].double().requires_grad_(True)
    values = case["values"].double().requires_grad_(True)
    bootstrap = case["bootstrap"].double()
    behaviour_logits = case["behaviour_logits"].double()
    actions = case["actions"].long()
    rewards = case["rewards"].double()
    terminated = case["terminated"].bool()
    truncated = case["truncated"].bool()
    truncation_values = case["truncation_values"].double()
    n = values.numel()

    logp_a, entropy = log_policy(logits, actions)
    with torch.no_grad():
        logmu_a, _ = log_policy(behaviour_logits, actions)
    out = {}
    clip_fraction = torch.zeros((), dtype=torch.float64)

    if kind == "a2c":
        with torch.no_grad():
            adv, ret = gae(values.detach(), bootstrap, rewards, terminated, truncated, truncation_values,
                           f["discount"], f["gae_lambda"], f["reward_clip"])
        out["out.adv"], out["out.ret"] = adv, ret
        policy = -adv * logp_a
        target = ret
    elif kind == "vtrace":
        with torch.no_grad():
            vs, pg_weight, clipped = vtrace(values.detach(), bootstrap, rewards, terminated, truncated,
                                            truncation_values, logp_a.detach() - logmu_a, f["discount"],
                                            f["rho_bar"], f["c_bar"], f["reward_clip"])
        out["out.vs"], out["out.pg_weight"] = vs, pg_weight
        out["out.rho_clipped"] = torch.tensor([float(clipped)], dtype=torch.float64)
        policy = -pg_weight * logp_a
        target = vs
        clip_fraction = torch.tensor(clipped / n, dtype=torch.float64)
    elif kind == "ppo":
        # As the learner does: GAE once, over the values the behaviour policy recorded while acting.
        with torch.no_grad():
            adv, ret = gae(case["behaviour_values"].double(), bootstrap, rewards, terminated, truncated,
                           truncation_values, f["discount"], f["gae_lambda"], f["reward_clip"])
        out["out.adv"], out["out.ret"] = adv, ret
        if normalize:  # population std (divides by N), + 1e-8
            adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
        ratio = (logp_a - logmu_a).exp()
        eps = f["clip_range"]
        policy = -torch.minimum(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv)
        target = ret
        clip_fraction = ((ratio.detach() - 1).abs() > eps).double().mean()
    else:
        raise ValueError("unknown loss kind %r" % kind)

    policy_loss = policy.mean()
    value_loss = (0.5 * (target - values) ** 2).mean()
    mean_entropy = entropy.mean()
    total = policy_loss + f["baseline_cost"] * value_loss - f["entropy_cost"] * mean_entropy
    dlogits, dvalues = torch.autograd.grad(total, [logits, values])
    out["out.dlogits"], out["out.dvalues"] = dlogits, dvalues
    with torch.no_grad():
        stats = {"total": total, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": mean_entropy,
                 "approx_kl": (logmu_a - logp_a).mean(), "clip_fraction": clip_fraction}
        for k, v in stats.items():
            out["stats." + k] = v.detach().reshape(1)
        # Not the losses' business (the learner fills them): must stay at the caller's 0.
        out["stats.grad_norm"] = torch.zeros(1, dtype=torch.float64)
        out["stats.skipped"] = torch.zeros(1, dtype=torch.float64)
    return out


# ---- The comparison ---------------------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.rows = []
        self.failures = []

    def problem(self, case, what):
        self.failures.append("%s: %s" % (case, what))
        print("FAIL %s: %s" % (case, what))

    def compare(self, case, name, c, ref):
        if c is None:
            self.problem(case, "%s missing from the C dump" % name)
            return
        if tuple(c.shape) != tuple(ref.shape):
            self.problem(case, "%s has shape %s in C but %s in the reference"
                         % (name, tuple(c.shape), tuple(ref.shape)))
            return
        c = c.to(torch.float64)
        if not torch.isfinite(c).all():
            self.problem(case, "%s has non-finite values in C" % name)
            return
        scale = max(ref.abs().max().item(), 1e-6)
        err = (c - ref).abs().max().item() / scale
        ok = err <= TOLERANCE
        self.rows.append((case, name, "x".join(str(s) for s in ref.shape), scale, err, ok))
        if not ok:
            self.failures.append("%s: %s err %.3e > %.0e" % (case, name, err, TOLERANCE))

    def print_table(self):
        print("%-9s %-20s %-8s %11s %11s  %s" % ("case", "tensor", "shape", "max|ref|", "rel err", "status"))
        for case, name, shape, scale, err, ok in self.rows:
            print("%-9s %-20s %-8s %11.4e %11.4e  %s" % (case, name, shape, scale, err, "ok" if ok else "FAIL"))
        print()
        for kind in ["a2c", "vtrace", "ppo"]:
            rows = [r for r in self.rows if r[0].startswith(kind + "_")]
            if rows:
                worst = max(rows, key=lambda r: r[4])
                print("%-6s worst rel err %.3e (%s %s)" % (kind, worst[4], worst[0], worst[1]))


def compare_case(name, scratch, report):
    case, meta = safetensors_io.read(os.path.join(scratch, name + ".safetensors"))
    ref = reference(case, meta)
    term = [tuple(i) for i in case["terminated"].nonzero().tolist()]
    trunc = [tuple(i) for i in case["truncated"].nonzero().tolist()]
    print("%-9s %-6s gamma %s lambda %s rho_bar %s c_bar %s eps %s reward_clip %s normalize %s; "
          "terminated (t,b) %s, truncated %s" % (
              name, meta["kind"], meta["discount"], meta["gae_lambda"], meta["rho_bar"], meta["c_bar"],
              meta["clip_range"], meta["reward_clip"], meta["normalize_advantages"], term, trunc))
    # Targets first (diagnosis), then gradients and statistics.
    order = [k for k in ref if k.startswith("out.") and k not in ("out.dlogits", "out.dvalues")]
    order += ["out.dlogits", "out.dvalues"] + [k for k in ref if k.startswith("stats.")]
    for key in order:
        report.compare(name, key, case.get(key), ref[key])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump_losses", help="the dump_losses program")
    parser.add_argument("scratch", help="directory for the exchanged files")
    parser.add_argument("--no-run", action="store_true", help="reuse the files already in SCRATCH")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases to compare")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)

    start = time.time()
    if not args.no_run:
        os.makedirs(args.scratch, exist_ok=True)
        result = subprocess.run([args.dump_losses, args.scratch])
        if result.returncode != 0:
            print("FAIL: %s exited with status %d" % (args.dump_losses, result.returncode))
            return 1

    report = Report()
    for name in args.cases.split(","):
        try:
            compare_case(name, args.scratch, report)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            report.problem(name, "%s: %s" % (type(exc).__name__, exc))
    print()
    print("error = max|c - ref| / max(max|ref|, 1e-6) per tensor; bound %.0e" % TOLERANCE)
    report.print_table()
    print("time: %.1f s" % (time.time() - start))
    if report.failures:
        print("\nFAILED (%d):" % len(report.failures))
        for f in report.failures:
            print("  " + f)
        return 1
    print("\nPASSED: %d tensors and statistics in %d cases within %.0e"
          % (len(report.rows), len(args.cases.split(",")), TOLERANCE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
