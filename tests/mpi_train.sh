#!/usr/bin/env bash
# attn-train as one job of 2 MPI ranks (docs/distributed.md):
#   1. exact resume: a job stopped at 640 frames and resumed to 1280 ends on the same metrics line (frames,
#      episodes, return mean, loss, entropy, gradient norm...) as one that ran straight to 1280;
#   2. a checkpoint of 2 ranks is refused, untouched, by a job of 3 and by a single process;
#   3. SIGTERM to one rank only: both stop after the same update and save one consistent checkpoint (exit 0),
#      which resumes;
#   4. one rank killed with SIGKILL mid-run: the job ends within 30 s with an error, and the last checkpoint still
#      loads in full (fault_check) and resumes;
#   5. one rank stopped (SIGSTOP, a hang the launcher cannot see): the other gives up after ATTN_MPI_TIMEOUT
#      seconds with a message naming the timeout;
#   6. SIGTERM to mpirun, as Ctrl-C or a batch system's stop (Open MPI): one consistent checkpoint. Open MPI 4's
#      mpirun does not pass SIGTERM on at once: it sends the ranks SIGCONT, sleeps odls_base_sigkill_timeout
#      seconds (default 1), sends SIGTERM, sleeps as long again, then SIGKILL. With 5 s the ranks get SIGTERM
#      5 s after mpirun did, have 5 s to save, and mpirun ends about 10 s after the signal.
#
#   mpi_train.sh ATTN_TRAIN FAULT_CHECK SCRATCH_DIR
set -euo pipefail
train=$1 check=$2 scratch=$3
source "$(dirname "$0")/mpi_run.sh"
mpi_setup
rm -rf "$scratch" && mkdir -p "$scratch"

die() { echo "FAIL: $*" >&2; exit 1; }
job=
cleanup() { if [[ -n $job ]]; then kill -KILL "$job" 2> /dev/null || true; pkill -KILL -P "$job" 2> /dev/null || true; fi; }
trap cleanup EXIT

# 4 environments × 8 steps per rank, PPO with 2 minibatches: an update is 64 frames of the job.
common=(--env minatar:breakout --envs 4 --unroll 8 --ppo-minibatches 2 --threads 1 --seed 7 --no-lr-decay)
run2() { "${mpi_launch[@]}" -np 2 "$train" "${common[@]}" "$@"; }
# The last metrics line without the wall-clock fields (seconds, fps, and the update's t_* breakdown).
last_line() { tail -1 "$1" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.pop("seconds"); d.pop("fps"); [d.pop(k) for k in list(d) if k.startswith("t_")]; print(json.dumps(d, sort_keys=True))'; }

echo "--- 1. exact resume"
run2 --frames 1280 --out "$scratch/a" > "$scratch/a.log" 2>&1 || { cat "$scratch/a.log"; die "run a"; }
run2 --frames 640 --out "$scratch/b" > "$scratch/b1.log" 2>&1 || { cat "$scratch/b1.log"; die "run b"; }
run2 --frames 1280 --out "$scratch/b" --resume > "$scratch/b2.log" 2>&1 || { cat "$scratch/b2.log"; die "resume b"; }
grep -q "allreduce: 2 ranks" "$scratch/a.log" || die "no allreduce summary: attn-train was not built with MPI?"
a=$(last_line "$scratch/a/metrics.jsonl") b=$(last_line "$scratch/b/metrics.jsonl")
echo "uninterrupted: $a"
echo "resumed:       $b"
[[ $a == "$b" ]] || die "the resumed job's last update differs from the uninterrupted one's"
[[ $(ls "$scratch/b/ranks") == "u160.rank1.safetensors" ]] || die "rank files: $(ls "$scratch/b/ranks")"

echo "--- 2. another rank count"
sum=$(md5sum "$scratch/b/checkpoint.safetensors")
if "${mpi_launch[@]}" -np 3 "$train" "${common[@]}" --frames 2000 --out "$scratch/b" --resume > "$scratch/c3.log" 2>&1; then
    die "a job of 3 ranks resumed a checkpoint of 2"
fi
grep -q "written by 2 ranks, this job has 3" "$scratch/c3.log" || { cat "$scratch/c3.log"; die "no clear refusal for 3"; }
if "$train" "${common[@]}" --frames 2000 --out "$scratch/b" --resume > "$scratch/c1.log" 2>&1; then
    die "a single process resumed a checkpoint of 2 ranks"
fi
grep -q "written by a job of 2 ranks" "$scratch/c1.log" || { cat "$scratch/c1.log"; die "no clear refusal for 1"; }
[[ $(md5sum "$scratch/b/checkpoint.safetensors") == "$sum" ]] || die "a refused resume changed the checkpoint"

# The pid of rank $1 of the job started last: a descendant of the launcher with that rank in its environment.
rank_pid() {
    local want=$1 p pids=$job found=
    for _ in 1 2 3 4; do
        local next=
        for p in $pids; do next+=" $(pgrep -P "$p" || true)"; done
        pids=$next
        for p in $pids; do
            [[ $(cat "/proc/$p/comm" 2> /dev/null) == attn-train ]] || continue
            if tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qE "^(OMPI_COMM_WORLD_RANK|PMI_RANK)=$want$"; then
                found=$p
            fi
        done
        [[ -n $found ]] && break
    done
    echo "$found"
}
# Starts a long job in the background ($job, its log $log) and waits until it has logged $1 updates.
start_job() {
    local updates=$1 out=$2
    shift 2
    log=$scratch/$(basename "$out").log
    run2 --frames 10000000 --out "$out" "$@" > "$log" 2>&1 &
    job=$!
    for _ in $(seq 600); do
        [[ -f $out/metrics.jsonl && $(wc -l < "$out/metrics.jsonl") -ge $updates ]] && return 0
        kill -0 "$job" 2> /dev/null || { cat "$log"; die "the job ended early"; }
        sleep 0.1
    done
    die "the job logged no $updates updates in 60 s"
}
# Waits for the job to end, at most $1 seconds; sets $rc and $took.
wait_job() {
    local limit=$1 t0=$SECONDS
    for _ in $(seq $((limit * 10))); do kill -0 "$job" 2> /dev/null || break; sleep 0.1; done
    kill -0 "$job" 2> /dev/null && die "the job still runs $limit s later"
    rc=0
    wait "$job" || rc=$?
    took=$((SECONDS - t0))
    job=
}
# The main checkpoint's optimizer steps must name an existing rank file: the set is one.
consistent() {
    local dir=$1 steps
    steps=$(python3 - "$dir/checkpoint.safetensors" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n))["__metadata__"]
print(meta["host.rank_states"])
EOF
)
    [[ -f $dir/$steps.rank1.safetensors ]] || die "the checkpoint names $steps, which is not there: $(ls "$dir/ranks")"
    "$check" "$dir/checkpoint.safetensors" 4 8 > /dev/null || die "the main checkpoint does not load"
    "$check" "$dir/$steps.rank1.safetensors" 4 8 > /dev/null || die "rank 1's checkpoint does not load"
}
resumes() {
    local out=$1 frames
    frames=$(tail -1 "$out/metrics.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["frames"])')
    run2 --frames $((frames + 128)) --out "$out" --resume > "$out.resume.log" 2>&1 || { cat "$out.resume.log"; die "resume of $out"; }
    grep -q "finished at" "$out.resume.log" || die "the resumed job of $out did not finish"
}

echo "--- 3. SIGTERM to rank 1 alone"
start_job 5 "$scratch/t" --checkpoint-every 100000000
kill -TERM "$(rank_pid 1)"
wait_job 60
[[ $rc -eq 0 ]] || { cat "$log"; die "exit status $rc after SIGTERM to one rank"; }
grep -q "interrupted at" "$log" || die "no interrupted line"
consistent "$scratch/t/ranks/.."
resumes "$scratch/t"

echo "--- 4. SIGKILL to rank 1"
start_job 6 "$scratch/k" --checkpoint-every 64
kill -KILL "$(rank_pid 1)"
wait_job 30
echo "job ended $took s after the kill with status $rc"
[[ $rc -ne 0 ]] || die "the job reported success after a rank was killed"
grep -qiE "signal 9|killed|no answer" "$log" || { cat "$log"; die "no clear error after the kill"; }
consistent "$scratch/k/ranks/.."
resumes "$scratch/k"

echo "--- 5. a hung rank (SIGSTOP), ATTN_MPI_TIMEOUT=3"
ATTN_MPI_TIMEOUT=3 start_job 3 "$scratch/h" --checkpoint-every 100000000
hung=$(rank_pid 1)
kill -STOP "$hung"
wait_job 60
echo "job ended $took s after the stop with status $rc"
kill -KILL "$hung" 2> /dev/null || true
[[ $rc -ne 0 ]] || die "the job reported success with a hung rank"
grep -q "no answer from the other ranks for 3 s" "$log" || { cat "$log"; die "no timeout message"; }

if "${mpi_launch[0]}" --version 2>&1 | grep -q "Open MPI"; then
    # (SIGINT itself cannot be tested from here: a script's background jobs start with SIGINT ignored.)
    echo "--- 6. SIGTERM to mpirun (odls_base_sigkill_timeout 5)"
    log=$scratch/i.log
    "${mpi_launch[@]}" --mca odls_base_sigkill_timeout 5 -np 2 "$train" "${common[@]}" --frames 10000000 \
        --checkpoint-every 100000000 --out "$scratch/i" > "$log" 2>&1 &
    job=$!
    for _ in $(seq 600); do [[ -f $scratch/i/metrics.jsonl && $(wc -l < "$scratch/i/metrics.jsonl") -ge 5 ]] && break; sleep 0.1; done
    kill -TERM "$job"
    wait_job 40
    echo "mpirun ended $took s after its SIGTERM with status $rc"
    grep -q "interrupted at" "$log" || { cat "$log"; die "no checkpoint after SIGTERM to mpirun"; }
    consistent "$scratch/i/ranks/.."
fi
echo "mpi_train: all checks passed"
