#!/usr/bin/env bash
# attn-train's return mean after --resume equals an uninterrupted run's: the last 100 episode returns travel
# in the checkpoint. Run A trains straight to 3000 frames; run B stops at 2800 and resumes to 3000 (fewer than 100 episodes after the resume); their last
# metrics lines must agree on frames, episodes and return_mean. Run C resumes from a checkpoint older than its
# metrics log (as after a kill between checkpoints): the lines past the checkpoint are dropped, so its log is
# run A's, line for line (the time fields aside), not two histories of the same frames.
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

# C: B's first part, its checkpoint kept; resumed to 3000; then that older checkpoint put back and resumed again.
"$train" "${common[@]}" --frames 2800 --out "$scratch/c" > "$scratch/c1.log"
cp "$scratch/c/checkpoint.safetensors" "$scratch/c_2800.safetensors"
"$train" "${common[@]}" --frames 3000 --out "$scratch/c" --resume > "$scratch/c2.log"
cp "$scratch/c_2800.safetensors" "$scratch/c/checkpoint.safetensors"
"$train" "${common[@]}" --frames 3000 --out "$scratch/c" --resume > "$scratch/c3.log"
grep -q "dropped [1-9][0-9]* lines" "$scratch/c3.log" || { echo "FAIL: no lines reported dropped"; cat "$scratch/c3.log"; exit 1; }
python3 - "$scratch/a/metrics.jsonl" "$scratch/c/metrics.jsonl" <<'PY'
import json, sys
def lines(p):
    return [{k: v for k, v in json.loads(l).items() if k not in ("seconds", "fps") and not k.startswith("t_")}
            for l in open(p)]
a, c = lines(sys.argv[1]), lines(sys.argv[2])
print(f"run A: {len(a)} lines; run C, resumed twice, once from an older checkpoint: {len(c)} lines")
if a != c:
    sys.exit("FAIL: the twice-resumed log differs from the uninterrupted one")
PY
