#!/usr/bin/env bash
# Kills attn-train with SIGKILL at seeded random moments, some of them deliberately inside a checkpoint write,
# and checks after every kill that the last checkpoint still loads completely (tests/fault_check.c runs
# attn_training_load on it), that its frame counter never goes back, that the temporary files a killed write
# leaves behind do not disturb the next run, and that `--resume` continues from where the checkpoint says.
#
#   fault_kill.sh ATTN_TRAIN FAULT_CHECK SCRATCH_DIR [SEED] [ROUNDS]
#
# How a kill lands inside a write: st_write (lib/safetensors.c) writes `<path>.tmp.<pid>.<n>`, fsyncs it and renames
# it over `<path>`. Every other round sleeps a random time, then busy-polls for a file of that name (the
# trainer's pid is known) and kills the moment it appears. A round counts as mid-write only when the temporary
# file is still there after the trainer died: the write had started and the rename had not happened.
set -euo pipefail
train=$1 check=$2 scratch=$3 seed=${4:-20261126} rounds=${5:-24}
for exe in "$train" "$check"; do
    [[ -x $exe ]] || { echo "fault_kill: $exe is not built (build the whole project first)"; exit 1; }
done
rm -rf "$scratch" && mkdir -p "$scratch"
run=$scratch/run ckpt=$scratch/run/checkpoint.safetensors
RANDOM=$seed # bash's generator: the same seed gives the same delays and the same choice of rounds

# Small and fast: one update is 4 × 5 = 20 frames and every update ends with a checkpoint.
envs=4 unroll=5
args=(--env minatar:breakout --algo a2c --envs $envs --unroll $unroll --threads 1 --checkpoint-every 20
      --out "$run" --seed 7)

die() { echo "FAIL: $*" >&2; exit 1; }
# A failing check must not leave a trainer running (it would keep writing into the scratch directory).
pid=
cleanup() { if [[ -n $pid ]]; then kill -KILL "$pid" 2> /dev/null || true; fi; }
trap cleanup EXIT

# Starts the trainer in the background; sets $pid and $log.
start() {
    log=$scratch/round_$1.log
    "$train" "${args[@]}" "${@:2}" > "$log" 2>&1 &
    pid=$!
}

# Waits until the trainer has written line $1 pattern to its log (or died), polling.
wait_for_line() {
    local pattern=$1 i
    for ((i = 0; i < 3000; i++)); do
        grep -qs -- "$pattern" "$log" && return 0
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.01
    done
    cat "$log"
    die "the trainer never printed \"$pattern\""
}

# Kills the trainer and reaps it; fails unless SIGKILL is what ended it.
kill_now() {
    kill -KILL "$pid" 2> /dev/null || true
    local rc=0
    wait "$pid" || rc=$?
    ((rc == 128 + 9)) || { cat "$log"; die "the trainer exited with $rc before the kill"; }
}

checked_frames() {
    local out
    out=$("$check" "$ckpt" $envs $unroll) || die "round $1: the checkpoint left by the kill does not load"
    echo "$out"
}

# Round 0 creates the first checkpoint; no kill may happen before one exists.
start 0 --frames 1000000000
for ((i = 0; i < 3000; i++)); do [[ -e $ckpt ]] && break; sleep 0.01; done
[[ -e $ckpt ]] || die "no first checkpoint"
kill_now
frames=$(checked_frames 0)
echo "round 0: first checkpoint at $frames frames"

mid_write=0 random_mid=0 begin=$SECONDS
for ((r = 1; r <= rounds; r++)); do
    start "$r" --frames 1000000000 --resume
    # Resume itself must work from whatever the last kill left, and start from the checkpoint's own counter.
    wait_for_line "resumed from"
    grep -q "resumed from $ckpt at $frames frames" "$log" || { cat "$log"; die "round $r: resumed elsewhere than $frames"; }
    tmp_glob="$ckpt.tmp.$pid.*"
    delay=$((RANDOM % 300)) # milliseconds
    sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
    aim=$((r % 2 == 0))
    if ((aim)); then
        # Busy-poll for the first sign of a save: its temporary file appearing, or (a save that is not atomic)
        # the checkpoint itself truncated. A write lasts milliseconds; a sleep between polls could miss it.
        give_up=$((${EPOCHREALTIME/./} + 10000000))
        until compgen -G "$tmp_glob" >/dev/null || [[ ! -s $ckpt ]] || ((${EPOCHREALTIME/./} > give_up)); do :; done
    fi
    kill_now
    landed=0
    if compgen -G "$tmp_glob" >/dev/null; then
        landed=1
        mid_write=$((mid_write + 1))
        ((aim)) || random_mid=$((random_mid + 1))
    fi
    new=$(checked_frames "$r")
    ((new >= frames)) || die "round $r: the checkpoint went back from $frames to $new frames"
    echo "round $r: killed after ${delay} ms$( ((aim)) && echo ' aiming at a write'); mid-write: $landed;" \
         "checkpoint at $new frames"
    frames=$new
    # Only checkpoint.safetensors, metrics.jsonl and temporaries of killed trainers may be in the directory.
    for f in "$run"/*; do
        case ${f##*/} in
            checkpoint.safetensors | metrics.jsonl) ;;
            checkpoint.safetensors.tmp.*) ;;
            *) die "round $r: unexpected file $f" ;;
        esac
    done
done
elapsed=$((SECONDS - begin))

# The log a killed trainer leaves holds whole lines only (attn-train flushes after each one).
while IFS= read -r line; do
    [[ $line == '{'*'}' ]] || die "metrics.jsonl has a torn line: $line"
done < "$run/metrics.jsonl"

# A last run resumes past the stale temporaries and finishes normally, 200 frames further on.
target=$((frames + 200))
start final --frames $target --resume
rc=0
wait "$pid" || rc=$?
((rc == 0)) || { cat "$log"; die "the final resumed run exited with $rc"; }
grep -q "resumed from $ckpt at $frames frames" "$log" || { cat "$log"; die "the final run did not resume at $frames"; }
final=$(checked_frames final)
((final >= target)) || die "the final run stopped at $final frames, short of $target"
stale=$(find "$run" -name 'checkpoint.safetensors.tmp.*' | wc -l)
echo "final run: resumed at $frames frames, finished at $final; $stale stale temporary files left by killed writes"
echo "$rounds rounds in ${elapsed}s: $mid_write killed mid-write ($random_mid of them by an unaimed kill)," \
     "$((rounds / 2)) aimed at a write"
# The aiming must actually work, or the rounds above prove nothing about interrupted writes.
((mid_write >= rounds / 4)) || die "only $mid_write of $rounds kills landed inside a checkpoint write"
