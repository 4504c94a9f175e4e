"""Side by side: attn-bench against the same network in PyTorch (torch_bench.py), same work, same threads,
interleaved in one run, with the ratios, the GFLOP/s of both, and the machine's SGEMM rate. bench/compare.sh
builds what it needs and runs this; see docs/performance.md."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
from presets import flops_per_frame  # noqa: E402

# (preset, B, T): the configurations of the targets (docs/performance.md).
CONFIGS = [("minatar", 16, 20), ("minatar", 1, 20), ("atari84", 8, 8), ("atari", 4, 8)]
# (label, preset, B, T, metric, target ratio ours/PyTorch; for latency and memory PyTorch/ours)
TARGETS = [
    ("minatar B16 T20 acting", "minatar", 16, 20, "act_fps", 5.0),
    ("minatar B16 T20 training", "minatar", 16, 20, "train_fps", 5.0),
    ("minatar B1 step latency", "minatar", 1, 20, "step_latency_us", 10.0),
    ("atari84 B8 T8 training", "atari84", 8, 8, "train_fps", 1.8),
    ("atari B4 T8 training", "atari", 4, 8, "train_fps", 1.5),
]
LOWER_IS_BETTER = {"step_latency_us", "peak_rss_mb", "train_rss_mb"}


def run_json(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attn-bench", required=True)
    ap.add_argument("--sgemm-bench", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="write every measurement here")
    a = ap.parse_args()
    N = a.threads
    py = sys.executable

    print("machine: %s, %d online CPUs, load average %s" % (cpu_name(), os.cpu_count(), load()))
    sg = run_json([a.sgemm_bench, "--threads", str(N), "--seconds", str(a.seconds)])
    print("SGEMM (OpenBLAS, %d×%d×%d, the atari ConvLSTM gate GEMM at B = 4, %d threads): %.1f GFLOP/s"
          % (sg["m"], sg["n"], sg["k"], N, sg["gflops"]))

    runs = {}
    for rep in range(a.reps):
        for preset, B, T in CONFIGS:
            common = ["--preset", preset, "--batch", str(B), "--unroll", str(T), "--threads", str(N),
                      "--seconds", str(a.seconds)]
            # Alternate which side goes first, so a drift in the machine's load favours neither.
            sides = [("ours", [a.attn_bench] + common), ("torch", [py, os.path.join(HERE, "torch_bench.py")] + common)]
            if rep % 2:
                sides.reverse()
            for side, cmd in sides:
                r = run_json(cmd)
                runs.setdefault((preset, B, T, side), []).append(r)
                print("  rep %d %-5s %s" % (rep + 1, side, json.dumps(r)), flush=True)

    def med(preset, B, T, side, key):
        return statistics.median(r[key] for r in runs[(preset, B, T, side)])

    print()
    print("| configuration | libattnagent | PyTorch %s | ratio | target | met |" % torch_version(runs))
    print("|---|---|---|---|---|---|")
    all_met = True
    for label, preset, B, T, key, target in TARGETS:
        ours, theirs = med(preset, B, T, "ours", key), med(preset, B, T, "torch", key)
        ratio = theirs / ours if key in LOWER_IS_BETTER else ours / theirs
        met = ratio >= target
        all_met &= met
        unit = "µs" if key == "step_latency_us" else "frames/s"
        print("| %s | %.0f %s | %.0f %s | %.2f× | %.1f× | %s |" % (label, ours, unit, theirs, unit, ratio, target,
                                                                 "yes" if met else "NO"))
    for preset, B, T in CONFIGS:
        if B == 1:
            continue
        ours, theirs = med(preset, B, T, "ours", "train_rss_mb"), med(preset, B, T, "torch", "train_rss_mb")
        met = ours <= theirs
        all_met &= met
        print("| %s B%d T%d training memory (peak RSS added) | %.0f MB | %.0f MB | %.2f× | ≤ 1× | %s |"
              % (preset, B, T, ours, theirs, ours / theirs, "yes" if met else "NO"))

    print()
    print("| preset | B | T | phase | libattnagent GFLOP/s | % of SGEMM | PyTorch GFLOP/s | % of SGEMM |")
    print("|---|---|---|---|---|---|---|---|")
    for preset, B, T in CONFIGS:
        fwd, train = flops_per_frame(preset)
        for phase, key, per in (("acting", "act_fps", fwd), ("training", "train_fps", train)):
            o, t = med(preset, B, T, "ours", key) * per / 1e9, med(preset, B, T, "torch", key) * per / 1e9
            print("| %s | %d | %d | %s | %.1f | %.0f %% | %.1f | %.0f %% |"
                  % (preset, B, T, phase, o, 100 * o / sg["gflops"], t, 100 * t / sg["gflops"]))
    print()
    print("GFLOP/s count every convolution as its direct sum (bench/presets.py): an effective rate, which passes "
          "the SGEMM rate where Winograd does fewer multiplications (the ConvLSTM, from two environments on)")
    print("medians of %d interleaved runs of %.1f s per phase, %d threads each side; load average now %s"
          % (a.reps, a.seconds, N, load()))
    print("all targets met" if all_met else "some targets NOT met")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"sgemm": sg, "runs": [dict(k=list(k), results=v) for k, v in runs.items()]}, f, indent=1)
    return 0


def torch_version(runs):
    for (_, _, _, side), rs in runs.items():
        if side == "torch":
            return rs[0].get("torch", "")
    return ""


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def load():
    try:
        return "%.1f" % os.getloadavg()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("took %.0f s" % (time.time() - t0))
    sys.exit(rc)
