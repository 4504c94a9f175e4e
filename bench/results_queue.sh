#!/usr/bin/env bash
# Runs the trainings of docs/results.md two at a time, one thread each, with attn-train's defaults and
# --frames 5000000 (so every run follows a 5 M-frame learning-rate schedule, whatever frame it is stopped at).
# Each job is stopped with SIGINT (attn-train saves and exits) once it passes its own stop frame; a job whose
# directory holds a checkpoint is resumed, so the same job file continues a queue another session left.
#   bash bench/results_queue.sh JOBFILE [RUNS_DIR]      JOBFILE lines: GAME SEED STOP_FRAMES
#   TRAIN=./build/examples/attn-train (default)
set -u
train=${TRAIN:-./build/examples/attn-train}
jobs_file=$1 runs=${2:-runs}
mkdir -p "$runs"
run_job() {
  local game=$1 seed=$2 stop=$3 dir=$runs/${1}_s${2}
  local resume=()
  [ -f "$dir/checkpoint.safetensors" ] && resume=(--resume)
  "$train" --env "minatar:$game" --seed "$seed" --frames 5000000 --threads 1 --checkpoint-every 100000 \
    --out "$dir" "${resume[@]}" >> "$dir.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 20
    local f
    f=$(tail -n 1 "$dir/metrics.jsonl" 2>/dev/null | sed -n 's/.*"frames": \([0-9]*\).*/\1/p')
    if [ -n "$f" ] && [ "$f" -ge "$stop" ]; then kill -INT "$pid"; wait "$pid"; break; fi
  done
  wait "$pid" 2>/dev/null
  echo "$(date +%H:%M) done $game seed $seed: $(tail -n 1 "$dir/metrics.jsonl" | cut -c1-120)"
}
mapfile -t lines < "$jobs_file"
running=0
for line in "${lines[@]}"; do
  [ -z "$line" ] && continue
  # shellcheck disable=SC2086 # GAME SEED STOP as three words
  run_job $line &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n; running=1; fi
done
wait
