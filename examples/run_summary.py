#!/usr/bin/env python3
"""One line per attn-train run for docs/results.md: the mean return of the last 100 training episodes at given
frame counts, the frames/s, and the wall-clock minutes at which the return first reached a target.

    run_summary.py [--at 100000,1000000,...] [--target GAME=VALUE ...] RUN_DIR...

RUN_DIR holds attn-train's metrics.jsonl; the game is read from the directory name (GAME_sSEED) or the
--target keys. A return is reported at the first metrics line at or past each frame count ("—" when the run
has not got there). Wall time sums the "seconds" of every stretch of the run, so a resumed run counts only the
time it trained. Standard library only."""
import argparse
import json
import os
import re


def load(run):
    rows = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def wall_seconds(rows):
    """Per row, the training seconds so far: "seconds" restarts at 0 when a run resumes."""
    total, offset, last = [], 0.0, 0.0
    for r in rows:
        if r["seconds"] < last:
            offset += last
        last = r["seconds"]
        total.append(offset + last)
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--at", default="100000,250000,500000,1000000,2000000,5000000")
    p.add_argument("--target", action="append", default=[], help="GAME=VALUE: report minutes to reach VALUE")
    p.add_argument("runs", nargs="+")
    a = p.parse_args()
    at = [int(x) for x in a.at.split(",")]
    targets = dict((k, float(v)) for k, v in (t.split("=") for t in a.target))
    print("| run | " + " | ".join("%g M" % (x / 1e6) for x in at) + " | frames | frames/s | minutes to target |")
    print("|---" * (len(at) + 4) + "|")
    for run in a.runs:
        rows = load(run)
        name = os.path.basename(os.path.normpath(run))
        game = re.sub(r"_s\d+$", "", name)
        secs = wall_seconds(rows)
        cells = []
        for x in at:
            hit = next((r for r in rows if r["frames"] >= x), None)
            cells.append("%.2f" % hit["return_mean"] if hit else "—")
        last = rows[-1]
        fps = last["frames"] / secs[-1] if secs[-1] > 0 else 0
        reach = "—"
        if game in targets:
            i = next((i for i, r in enumerate(rows) if r["return_mean"] >= targets[game]), None)
            reach = "%.0f (%.2f M)" % (secs[i] / 60, rows[i]["frames"] / 1e6) if i is not None else "not reached"
        print("| %s | %s | %.2f M | %.0f | %s |" % (name, " | ".join(cells), last["frames"] / 1e6, fps, reach))


if __name__ == "__main__":
    main()
