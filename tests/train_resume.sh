#!/usr/bin/env bash
# attn-train's return mean after --resume equals an uninterrupted run's: the last 100 episode returns travel
# in the checkpoint. Run A trains straight to 3000 frames; run B stops at 2800 and resumes to 3000 (fewer than 100 episodes after the resume); their last
# metrics lines must agree on frames, episodes and return_mean.
set -euo pipefail
train=$1 scratch=$2
rm -rf "$scratch" && mkdir -p "$scratch"
# A constant rate: with the default decay over --frames, a run stopped at 2800 frames has another schedule.
common=(--env minatar:breakout --envs 4 --unroll 10 --threads 1 --seed 7 --checkpoint-every 1000000 --no-lr-decay)
"$train" "${common[@]}" --frames 3000 --out "$scratch/a" > "$scratch/a.log"
"$train" "${common[@]}" --frames 2800 --out "$scratch/b" > "$scratch/b1.log"
"$train" "${common[@]}" --frames 3000 --out "$scratch/b" --resume > "$scratch/b2.log"
last() { tail -1 "$1" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["frames"], d["episodes"], d["return_mean"])'; }
a=$(last "$scratch/a/metrics.jsonl") b=$(last "$scratch/b/metrics.jsonl")
echo "uninterrupted: frames episodes return_mean = $a"
echo "resumed:       frames episodes return_mean = $b"
[ "$a" = "$b" ] || { echo "FAIL: the resumed run's return mean differs"; exit 1; }
