"""Link 6 of the training chain (docs/testing.md, "The training chain, link by link"): GAE, A2C, PPO and V-trace
on a recorded unroll of the built-in breakout, and the learner's own statistics on it, against NumPy and PyTorch.

Usage: chain_losses.py CHAIN_DUMP SCRATCH_DIR [--no-run]

Runs CHAIN_DUMP SCRATCH_DIR (tests/reference/chain_dump.c says what it records and writes), then:

  rec_gae      the advantages and lambda-returns PPO uses, recomputed here with a plain NumPy loop written from
               docs/training.md ("Episode boundaries", "A2C with GAE") -- not compare_losses.py's torch code;
  rec_a2c, rec_ppo, rec_vtrace
               every output and statistic, by compare_losses.py's float64 PyTorch reference (the same formulas
               it checks on random inputs, here on real rewards, terminations and truncations; rec_ppo and
               rec_vtrace are one minibatch of two environments gathered as the learner gathers them);
  rec_learner  attn_learner_update's statistics for A2C and V-trace (the whole batch) and PPO (one epoch of
               one-environment minibatches: the learner's mean over minibatches, each normalising its own
               advantages), against the same reference on the same batch and minibatches.

It also checks that the case can catch what it is for: PPO's minibatch has ratios inside and outside
[1 - eps, 1 + eps] with the clipped side chosen (zero gradient) somewhere but not everywhere.

Error measure and bound as compare_losses.py: max|c - ref| / max(max|ref|, 1e-6) <= 1e-4. Exit status 0 all
passed, 1 any failure, 77 (skip) without torch.
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
    print("SKIPPED: python3-torch not installed (%s); the training-chain loss comparison did NOT run." % exc)
    sys.exit(77)

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_losses  # noqa: E402
import safetensors_io  # noqa: E402

STATS = compare_losses.STATS


def numpy_gae(rewards, values, bootstrap, terminated, truncated, truncation_values, gamma, lam, reward_clip):
    """GAE(lambda), one environment and one step at a time, straight from docs/training.md: what follows step t
    is 0 after a termination (which wins over a truncation), the final observation's value after a truncation,
    else V(x_{t+1}) or the bootstrap after the last step; the recursion stops at an episode end and after the
    last step."""
    T, B = rewards.shape
    adv = np.zeros((T, B))
    for b in range(B):
        following = 0.0
        for t in range(T - 1, -1, -1):
            r = rewards[t, b]
            if reward_clip > 0:
                r = min(max(r, -reward_clip), reward_clip)
            if terminated[t, b]:
                next_value, carry = 0.0, 0.0
            elif truncated[t, b]:
                next_value, carry = truncation_values[t, b], 0.0
            elif t + 1 < T:
                next_value, carry = values[t + 1, b], following
            else:
                next_value, carry = bootstrap[b], 0.0
            delta = r + gamma * next_value - values[t, b]
            adv[t, b] = delta + gamma * lam * carry
            following = adv[t, b]
    return adv, adv + values


def meta_floats(meta):
    return {k: float(np.float32(float(meta[k]))) for k in ["discount", "gae_lambda", "reward_clip", "clip_range"]}


def check_gae(scratch, report):
    case, meta = safetensors_io.read(os.path.join(scratch, "rec_gae.safetensors"))
    f = meta_floats(meta)
    n = {k: case[k].double().numpy() for k in ["rewards", "values", "bootstrap", "truncation_values"]}
    adv, ret = numpy_gae(n["rewards"], n["values"], n["bootstrap"], case["terminated"].numpy() != 0,
                         case["truncated"].numpy() != 0, n["truncation_values"], f["discount"], f["gae_lambda"],
                         f["reward_clip"])
    print("rec_gae   %d steps x %d environments: %d non-zero rewards, %d terminations, %d truncations" % (
        n["rewards"].shape[0], n["rewards"].shape[1], int((n["rewards"] != 0).sum()),
        int(case["terminated"].sum()), int(case["truncated"].sum())))
    report.compare("rec_gae", "out.adv (numpy)", case["out.adv"], torch.from_numpy(adv))
    report.compare("rec_gae", "out.ret (numpy)", case["out.ret"], torch.from_numpy(ret))


def check_ppo_has_power(scratch, report):
    """The minibatch must exercise both branches of the clipped surrogate, or a clipping bug could pass."""
    case, meta = safetensors_io.read(os.path.join(scratch, "rec_ppo.safetensors"))
    eps = meta_floats(meta)["clip_range"]
    actions = case["actions"].long().unsqueeze(-1)
    logp = torch.log_softmax(case["logits"].double(), -1).gather(-1, actions).squeeze(-1)
    logmu = torch.log_softmax(case["behaviour_logits"].double(), -1).gather(-1, actions).squeeze(-1)
    ratio = (logp - logmu).exp()
    adv = case["out.adv"].double()
    if int(meta["normalize_advantages"]):  # the signs that decide the branch are the normalised ones
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
    outside = ((ratio - 1).abs() > eps).double().mean().item()
    zeroed = (((adv > 0) & (ratio > 1 + eps)) | ((adv < 0) & (ratio < 1 - eps))).double().mean().item()
    print("rec_ppo   ratios %.3f .. %.3f; %.2f outside [1 - eps, 1 + eps], %.2f on the clipped side" % (
        ratio.min().item(), ratio.max().item(), outside, zeroed))
    if not (0.05 < zeroed < 0.95 and outside < 0.95):
        report.problem("rec_ppo", "the minibatch does not exercise both branches of the clipped surrogate")


def check_learner(scratch, report):
    case, meta = safetensors_io.read(os.path.join(scratch, "rec_learner.safetensors"))
    B = int(meta["B"])
    for kind in ["a2c", "vtrace", "ppo"]:
        m = dict(meta, kind=kind)
        if kind == "ppo":
            # One environment per minibatch: the learner's statistics are the mean over them, whatever the order.
            parts = []
            for b in range(B):
                one = {k: (v[:, b:b + 1] if v.dim() >= 2 else v[b:b + 1]) for k, v in case.items()
                       if not k.startswith("learner.")}
                parts.append(compare_losses.reference(one, m))
            ref = {"stats." + s: torch.stack([p["stats." + s] for p in parts]).mean(0) for s in STATS}
        else:
            ref = compare_losses.reference(case, m)
        for s in STATS:
            report.compare("rec_learner", "%s.%s" % (kind, s), case["learner.%s.%s" % (kind, s)], ref["stats." + s])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chain_dump", help="the chain_dump program")
    parser.add_argument("scratch", help="directory for the exchanged files")
    parser.add_argument("--no-run", action="store_true", help="reuse the files already in SCRATCH")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    start = time.time()
    if not args.no_run:
        os.makedirs(args.scratch, exist_ok=True)
        result = subprocess.run([args.chain_dump, args.scratch])
        if result.returncode != 0:
            print("FAIL: %s exited with status %d" % (args.chain_dump, result.returncode))
            return 1

    report = compare_losses.Report()
    checks = [("rec_gae", lambda: check_gae(args.scratch, report)),
              ("rec_ppo", lambda: check_ppo_has_power(args.scratch, report))]
    checks += [(name, lambda name=name: compare_losses.compare_case(name, args.scratch, report))
               for name in ["rec_a2c", "rec_ppo", "rec_vtrace"]]
    checks += [("rec_learner", lambda: check_learner(args.scratch, report))]
    for name, check in checks:
        try:
            check()
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            report.problem(name, "%s: %s" % (type(exc).__name__, exc))
    print()
    print("error = max|c - ref| / max(max|ref|, 1e-6) per tensor; bound %.0e" % compare_losses.TOLERANCE)
    report.print_table()
    print("time: %.1f s" % (time.time() - start))
    if report.failures:
        print("\nFAILED (%d):" % len(report.failures))
        for f in report.failures:
            print("  " + f)
        return 1
    print("\nPASSED: %d tensors and statistics of the recorded breakout unroll within %.0e"
          % (len(report.rows), compare_losses.TOLERANCE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
