"""Compares the C agent with the independent PyTorch reference, preset by preset.

Usage: compare.py DUMP_CASE SCRATCH_DIR [--no-run] [--presets a,b]
       compare.py --selftest      (only the reference's own checks, reference_model.selftest)

Runs DUMP_CASE SCRATCH_DIR, which writes <preset>_weights.safetensors (the C model's checkpoint) and
<preset>_case.safetensors (inputs, upstream gradients, and the C results) for each preset. For each preset the
reference model is built from the checkpoint's configuration, loads its weights, replays the unroll in float64
from the same carried-in state, and backpropagates loss = Σ dlogits·logits + Σ dvalues·values.

Every tensor is compared with   err = max|c − ref| / max(max|ref|, 1e-6)
i.e. the largest absolute difference relative to the reference tensor's largest magnitude (an ∞-norm relative
error); every tensor must have err <= 1e-4. Exit status: 0 all passed, 1 any failure, 77 (skip) without torch.
"""

import argparse
import os
import subprocess
import sys
import time

try:
    import numpy  # noqa: F401  (torch's dependency; named so a missing numpy also skips loudly)
    import torch
except ImportError as exc:
    print("=" * 78)
    print("SKIPPED: python3-torch not installed (%s); the PyTorch reference comparison did NOT run." % exc)
    print("Install it with: apt-get install python3-torch   (and run with /usr/bin/python3)")
    print("=" * 78)
    sys.exit(77)

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model  # noqa: E402
import safetensors_io  # noqa: E402

PRESETS = ["minatar", "atari84", "atari"]
TOLERANCE = 1e-4
STATE_PARTS = ["vision_h", "vision_c", "core_h", "core_c"]


def rel_err(c, ref):
    c = c.to(torch.float64)
    scale = max(ref.abs().max().item(), 1e-6) if ref.numel() else 1e-6
    return ((c - ref).abs().max().item() if ref.numel() else 0.0) / scale, scale


class Report:
    def __init__(self):
        self.rows = []
        self.failures = []

    def problem(self, preset, what):
        self.failures.append("%s: %s" % (preset, what))
        print("FAIL %s: %s" % (preset, what))

    def compare(self, preset, name, c, ref):
        if tuple(c.shape) != tuple(ref.shape):
            self.problem(preset, "%s has shape %s in C but %s in the reference"
                         % (name, tuple(c.shape), tuple(ref.shape)))
            return
        if c.dtype != torch.float32:
            self.problem(preset, "%s is %s in C, expected float32" % (name, c.dtype))
        if not torch.isfinite(c).all():
            self.problem(preset, "%s has non-finite values in C" % name)
            return
        err, scale = rel_err(c, ref)
        ok = err <= TOLERANCE
        self.rows.append((preset, name, "x".join(str(s) for s in ref.shape), scale, err, ok))
        if not ok:
            self.failures.append("%s: %s err %.3e > %.0e" % (preset, name, err, TOLERANCE))

    def print_table(self):
        print("%-8s %-30s %-16s %11s %11s  %s" % ("preset", "tensor", "shape", "max|ref|", "rel err", "status"))
        for preset, name, shape, scale, err, ok in self.rows:
            print("%-8s %-30s %-16s %11.4e %11.4e  %s" % (preset, name, shape, scale, err, "ok" if ok else "FAIL"))
        for preset in dict.fromkeys(r[0] for r in self.rows):
            worst = max((r for r in self.rows if r[0] == preset), key=lambda r: r[4])
            print("%s: worst rel err %.3e (%s)" % (preset, worst[4], worst[1]))


def compare_preset(preset, scratch, report):
    weights, metadata = safetensors_io.read(os.path.join(scratch, preset + "_weights.safetensors"))
    case, case_meta = safetensors_io.read(os.path.join(scratch, preset + "_case.safetensors"))
    cfg = reference_model.config_from_metadata(metadata)
    model = reference_model.Agent(cfg).double()

    # The checkpoint must hold exactly the reference's parameters, by name, dtype and shape.
    expected = model.state_dict()
    if set(weights) != set(expected):
        report.problem(preset, "checkpoint tensors differ from the specification: missing %s, extra %s"
                       % (sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))))
        return
    for name, t in weights.items():
        if t.dtype != torch.float32 or tuple(t.shape) != tuple(expected[name].shape):
            report.problem(preset, "checkpoint tensor %s is %s %s, expected float32 %s"
                           % (name, t.dtype, tuple(t.shape), tuple(expected[name].shape)))
            return
    model.load_state_dict({k: v.double() for k, v in weights.items()}, strict=True)

    B, T = int(case_meta["batch"]), int(case_meta["steps"])
    obs = case["obs"]
    if obs.dtype != (torch.float32 if cfg["obs_type"] == "f32" else torch.uint8):
        report.problem(preset, "observations are %s but the configuration says %s" % (obs.dtype, cfg["obs_type"]))
        return
    state = model.state_from_public(*(case["init." + p] for p in STATE_PARTS))
    first = case["first"]
    logits, values, maps, final = model.unroll(obs, case["prev_reward"], case["prev_action"], first, state)
    dlogits, dvalues = case["dlogits"].double(), case["dvalues"].double()
    model.zero_grad()
    ((dlogits * logits).sum() + (dvalues * values).sum()).backward()

    print("%s: B=%d T=%d grid %dx%d, first steps at (t,b) %s" % (
        preset, B, T, model.h, model.w, [tuple(i) for i in first.nonzero().tolist()]))
    with torch.no_grad():
        report.compare(preset, "logits", case["out.logits"], logits)
        report.compare(preset, "values", case["out.values"], values)
        c_maps = case["out.maps"]
        if tuple(c_maps.shape) != tuple(maps.shape):
            report.compare(preset, "maps", c_maps, maps)
        else:
            for t in range(T):
                report.compare(preset, "maps[t=%d]" % t, c_maps[t], maps[t])
        for part, ref in zip(STATE_PARTS, model.state_to_public(final)):
            report.compare(preset, "final." + part, case["final." + part], ref)
        grads = {k[len("grad."):]: v for k, v in case.items() if k.startswith("grad.")}
        params = dict(model.named_parameters())
        if set(grads) != set(params):
            report.problem(preset, "gradient tensors differ from the parameters: missing %s, extra %s"
                           % (sorted(set(params) - set(grads)), sorted(set(grads) - set(params))))
        for name, p in params.items():
            if name in grads:
                report.compare(preset, "grad." + name, grads[name], p.grad)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump_case", nargs="?", help="the dump_case program")
    parser.add_argument("scratch", nargs="?", help="directory for the exchanged files")
    parser.add_argument("--selftest", action="store_true", help="run only the reference's self-checks")
    parser.add_argument("--no-run", action="store_true", help="reuse the files already in SCRATCH")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets to compare")
    args = parser.parse_args()
    if args.selftest:
        return reference_model.selftest()
    if not args.dump_case or not args.scratch:
        parser.error("DUMP_CASE and SCRATCH_DIR are required")

    start = time.time()
    if not args.no_run:
        os.makedirs(args.scratch, exist_ok=True)
        result = subprocess.run([args.dump_case, args.scratch])
        if result.returncode != 0:
            print("FAIL: %s exited with status %d" % (args.dump_case, result.returncode))
            return 1
    c_time = time.time() - start

    report = Report()
    for preset in args.presets.split(","):
        try:
            compare_preset(preset, args.scratch, report)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            report.problem(preset, "%s: %s" % (type(exc).__name__, exc))
    print()
    print("error = max|c - ref| / max(max|ref|, 1e-6) per tensor; bound %.0e" % TOLERANCE)
    report.print_table()
    print("time: C %.1f s, total %.1f s" % (c_time, time.time() - start))
    if report.failures:
        print("\nFAILED (%d):" % len(report.failures))
        for f in report.failures:
            print("  " + f)
        return 1
    print("\nPASSED: %d tensors within %.0e" % (len(report.rows), TOLERANCE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
