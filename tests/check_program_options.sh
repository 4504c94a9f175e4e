#!/usr/bin/env bash
# attn-train's and attn-play's own arguments (docs/testing.md, "Bad input").
#
#   bash tests/check_program_options.sh ATTN_TRAIN ATTN_PLAY SCRATCH_DIR
#
# Every numeric option given a value out of its range, not a number, or not a whole number must make the program
# exit 2, before it builds anything, with a message that names the option and the value; every error exit after
# setup (a --resume with no checkpoint, an unwritable picture) must exit 1. No run may print a sanitizer report:
# in the ASan + UBSan build (scripts/test.sh) that catches an out-of-range float-to-integer cast
# (-fsanitize=float-cast-overflow) and anything an error exit leaks (LeakSanitizer, which would also change the
# exit status to 23). attn-play must play the game a checkpoint was trained on (its "env" key) and refuse an
# --env that contradicts it.
set -uo pipefail
train=$1 play=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
cases=0 failures=0
# Open MPI leaks in MPI_Init/MPI_Finalize itself, from plugins it has unloaded by the time LeakSanitizer looks
# (nothing to suppress them by): an attn-train built with MPI (docs/distributed.md) is leak-checked only in a
# build without it (-Dmpi=disabled); everything else still is, and attn-play always.
train_env=()
if ldd "$train" 2> /dev/null | grep -q 'libmpi'; then
  echo "note: $train is linked with MPI: its runs are not leak-checked (build with -Dmpi=disabled for that)"
  train_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS}:detect_leaks=0")
fi

# expect STATUS TEXT PROGRAM ARGS...: PROGRAM exits with STATUS, and its stderr holds TEXT and no sanitizer report.
expect() {
  local want=$1 text=$2 rc=0 err
  shift 2
  cases=$((cases + 1))
  local run=("$@")
  [ "$1" != "$train" ] || run=("${train_env[@]}" "$@")
  err=$(timeout 120 "${run[@]}" 2>&1 > "$scratch/stdout") || rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$text" <<< "$err" ||
    grep -qE 'runtime error|Sanitizer|leaked' <<< "$err"; then
    failures=$((failures + 1))
    echo "FAIL: $* exited $rc (expected $want with \"$text\" and no sanitizer report); stderr:"
    sed 's/^/    /' <<< "$err"
  fi
}

# A training run small enough to take a second, so that a bad option that is not refused finishes quickly too.
base=(--out "$scratch/run" --frames 32 --envs 2 --unroll 4 --ppo-minibatches 2)
out_of_range() { expect 2 "$2: \"$3\" is out of range" "$1" "${@:4}" "$2" "$3"; }
not_a_number() { expect 2 "$2: \"$3\" is not a number" "$1" "${@:4}" "$2" "$3"; }

# The issue's cases: casts of out-of-range doubles (undefined), negative values once taken as "the default", a
# batch the library would refuse only after building a million games.
for case in "--frames 1e30" "--envs 1e10" "--envs 1048577" "--seed -1" "--checkpoint-every 1e19" "--sticky -1" \
  "--max-episode-steps -1" "--frames -5" "--unroll 65537" "--threads -1" "--threads 1e12" "--frame-skip 0" \
  "--discount 2" "--lambda -0.5" "--entropy-cost 1e39" "--ppo-epochs 0" "--ale-timeout 0" "--noop-max 1e6" \
  "--seed 18446744073709551616" "--seed 1e20" "--frames 9223372036854775808"; do
  read -r option value <<< "$case"
  out_of_range "$train" "$option" "$value" "${base[@]}"
done
for case in "--frames abc" "--frames 12x" "--lr nan" "--lr inf" "--frames 1e400" "--seed -x"; do
  read -r option value <<< "$case"
  not_a_number "$train" "$option" "$value" "${base[@]}"
done
not_a_number "$train" --frames "" "${base[@]}"
not_a_number "$train" --frames " 64" "${base[@]}"
not_a_number "$train" --frames "64 " "${base[@]}"
expect 2 '--unroll: "2.5" is not a whole number' "$train" "${base[@]}" --unroll 2.5
# Every numeric option refuses a negative number and NaN by name.
for option in --lr --epsilon --max-grad-norm --entropy-cost --baseline-cost --discount --lambda --reward-clip \
  --ppo-epochs --ppo-minibatches --envs --unroll --frames --checkpoint-every --seed --threads --sticky \
  --max-episode-steps --frame-skip --noop-max --ale-procs --ale-timeout; do
  out_of_range "$train" "$option" -1e300 "${base[@]}"
  not_a_number "$train" "$option" nan "${base[@]}"
done
# Refused together, still before anything is built.
expect 2 "--envs 1048576 × --unroll 65536" "$train" "${base[@]}" --envs 1048576 --unroll 65536
expect 2 "--ppo-minibatches 4 must divide --envs 6" "$train" "${base[@]}" --envs 6 --ppo-minibatches 4
# Well-formed numbers in other notations are still read.
expect 0 "" "$train" "${base[@]}" --frames 3.2e1 --seed 1e3 --sticky 0
# After setup: no checkpoint to resume from (the model, optimizer, rollout and learner are built by then).
expect 1 "resume" "$train" "${base[@]}" --resume --out "$scratch/empty"

# A short run on asterix: attn-play must read its game from the checkpoint, not default to breakout.
expect 0 "" "$train" "${base[@]}" --env minatar:asterix --out "$scratch/asterix"
run=(--run "$scratch/asterix" --episodes 1 --max-steps 3 --gif "$scratch/a.gif" --png-dir "$scratch")
cases=$((cases + 1))
if ! timeout 120 "$play" "${run[@]}" > "$scratch/stdout" 2> "$scratch/stderr" ||
  ! grep -qF "minatar:asterix" "$scratch/stdout" || grep -qE 'runtime error|Sanitizer' "$scratch/stderr"; then
  failures=$((failures + 1))
  echo "FAIL: attn-play ${run[*]} did not play minatar:asterix, the checkpoint's game:"
  cat "$scratch/stdout" "$scratch/stderr"
fi
expect 2 "--env minatar:breakout: $scratch/asterix/checkpoint.safetensors was trained on minatar:asterix" \
  "$play" "${run[@]}" --env minatar:breakout
expect 2 "--env must be minatar:GAME or ale:GAME" "$play" "${run[@]}" --env asterix
for case in "--episodes 0" "--episodes 1e10" "--max-steps 1e10" "--max-steps 0" "--seed -1" "--sticky 2" \
  "--sticky -0.5" "--scale 1e9" "--delay -5" "--delay 65536" "--gif-steps -1" "--frame-skip 65" "--noop-max -1"; do
  read -r option value <<< "$case"
  out_of_range "$play" "$option" "$value" "${run[@]}"
done
for case in "--episodes 5x" "--scale nan" "--seed abc" "--sticky inf"; do
  read -r option value <<< "$case"
  not_a_number "$play" "$option" "$value" "${run[@]}"
done
# After setup (the model, the state, the game and the first picture built): a PNG that cannot be written (a
# directory stands where it would go; permissions would not stop root).
mkdir -p "$scratch/blocked/step_0000.png"
expect 1 "$scratch/blocked/step_0000.png" "$play" "${run[@]}" --png-dir "$scratch/blocked"
# A --png-dir that does not exist is made, as --out is; one under a file cannot be.
expect 0 "" "$play" "${run[@]}" --png-dir "$scratch/new/pngs"
cases=$((cases + 1))
[ -s "$scratch/new/pngs/step_0000.png" ] || { failures=$((failures + 1)); echo "FAIL: no PNG in a new --png-dir"; }
expect 1 "--png-dir $scratch/a.gif/pngs: cannot create it" "$play" "${run[@]}" --png-dir "$scratch/a.gif/pngs"
expect 1 "reading $scratch/nothing/checkpoint.safetensors" "$play" --run "$scratch/nothing"

echo "$cases cases, $failures failed"
[ "$failures" -eq 0 ]
