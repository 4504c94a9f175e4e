#!/usr/bin/env bash
# Real Breakout through ale-py: a short training run with the atari84 preset, its checkpoint loaded back,
# attn-play writing an attention GIF of real frames, and an unknown game refused with a sentence.
# Skips (exit 77) only when the Python the bridge would use cannot import ale_py.
#   test_ale_real.sh ATTN_TRAIN ATTN_PLAY ALE_CHECK
set -eu
train=$1 play=$2 check=$3
py=${ATTN_PYTHON:-python3}
if ! why=$("$py" -c 'import ale_py, ale_py.roms; assert ale_py.roms.get_rom_path("breakout")' 2>&1); then
  echo "SKIP: $py cannot import ale_py with the Breakout ROM (install: $py -m pip install ale-py):"
  echo "$why" | tail -n 3
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ATTN_NUM_THREADS=2

# 1000 agent steps = 4000 emulator frames of Breakout; A2C keeps it to one pass over each unroll.
"$train" --env ale:breakout --envs 4 --unroll 10 --algo a2c --frames 1000 --checkpoint-every 400 \
  --out "$tmp/run" | tee "$tmp/train.log"
grep -q "finished at" "$tmp/train.log"
"$check" ckpt "$tmp/run/checkpoint.safetensors" 84 84 3 4
test "$(wc -l < "$tmp/run/metrics.jsonl")" -ge 25

"$play" --env ale:breakout --run "$tmp/run" --episodes 1 --sample --max-steps 40 --gif-steps 30 \
  --png-steps 0,10 | tee "$tmp/play.log"
grep -q "episode 0: score" "$tmp/play.log"
"$check" gif "$tmp/run/attention.gif" 30
test -s "$tmp/run/step_0010.png"
head -c 8 "$tmp/run/step_0010.png" | od -An -c | grep -q "P   N   G"

if "$train" --env ale:no_such_game --frames 10 --out "$tmp/bad" 2>"$tmp/bad.err"; then
  echo "FAIL: an unknown game was accepted"; exit 1
fi
cat "$tmp/bad.err"
grep -q 'unknown ALE game: .*no game "no_such_game"' "$tmp/bad.err"
echo "real Breakout: trained, checkpoint loads, GIF written"
