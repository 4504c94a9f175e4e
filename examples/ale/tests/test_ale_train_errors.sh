#!/usr/bin/env bash
# attn-train on ALE environments that fail: it must stop with a sentence and exit status 1 — never hang, never
# crash — and leave the last good checkpoint loadable. Uses the fake server (no ale-py needed), plus a Python
# whose `import ale_py` fails.
#   test_ale_train_errors.sh ATTN_TRAIN ALE_CHECK FIXTURES_DIR
set -u
train=$1 check=$2 fixtures=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
export ATTN_NUM_THREADS=2

# A small, fast run: 2 environments × 4 steps per update, a checkpoint every update.
run() {
  local out=$1; shift
  timeout 240 "$train" --env ale:breakout --envs 2 --unroll 4 --algo a2c --frames 100000 --checkpoint-every 8 \
    --out "$tmp/$out" "$@" >"$tmp/$out.stdout" 2>"$tmp/$out.stderr"
}

expect_stop() {  # name needle: exit status 1 (not a signal, not the timeout) and the needle in stderr
  local name=$1 needle=$2 rc=$3
  if [ "$rc" -ne 1 ]; then fail "$name: exit status $rc, expected 1"; cat "$tmp/$name.stderr"; return; fi
  if ! grep -q -- "$needle" "$tmp/$name.stderr"; then fail "$name: no \"$needle\" in:"; cat "$tmp/$name.stderr"; return; fi
  echo "ok: $name stopped: $(grep -m1 -o 'ALE server.*\|ale-py is.*\|cannot start.*' "$tmp/$name.stderr" | cut -c1-200)"
}

# 1. The server crashes after 40 answers (~10 updates): stop, and the checkpoint of the last update loads.
FAKE_ALE_MODE=crash FAKE_ALE_AFTER=40 ATTN_ALE_SERVER="$fixtures/fake_server.py" run crash --ale-procs 1; rc=$?
expect_stop crash "killed by signal 11" $rc
if [ -f "$tmp/crash/checkpoint.safetensors" ]; then
  "$check" ckpt "$tmp/crash/checkpoint.safetensors" 84 84 3 4 || fail "crash: the last checkpoint does not load"
  ls "$tmp/crash" | grep -v -e '^checkpoint.safetensors$' -e '^metrics.jsonl$' && fail "crash: stray files left"
else
  fail "crash: no checkpoint was written before the crash"
fi

# 2. The server hangs mid-episode: the timeout turns it into an error.
FAKE_ALE_MODE=hang FAKE_ALE_AFTER=20 ATTN_ALE_SERVER="$fixtures/fake_server.py" run hang --ale-timeout 2; rc=$?
expect_stop hang "did not answer within 2.0 s" $rc

# 3. Garbage from the server.
FAKE_ALE_MODE=garbage FAKE_ALE_AFTER=10 ATTN_ALE_SERVER="$fixtures/fake_server.py" run garbage; rc=$?
expect_stop garbage "malformed message" $rc

# 4. No interpreter at all, and a Python without ale-py: both say how to install it.
ATTN_PYTHON=/nonexistent/python3 run nopython; rc=$?
expect_stop nopython "pip install ale-py" $rc
PYTHONPATH="$fixtures/no_ale_py" run noale; rc=$?
expect_stop noale "ale-py is not installed" $rc
grep -q -- "-m pip install ale-py" "$tmp/noale.stderr" || fail "noale: no install command in the message"

# 5. A Python that really lacks ale_py (Debian's, on machines where ale-py went to another Python).
if [ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c 'import ale_py' 2>/dev/null; then
  ATTN_PYTHON=/usr/bin/python3 run debian; rc=$?
  expect_stop debian "ale-py is not installed for the Python \"/usr/bin/python3\"" $rc
else
  echo "note: /usr/bin/python3 has ale_py or is missing; the fake-import case above covers the message"
fi

# 6. Ctrl-C: the trainer finishes its update, saves, exits 0, and no server outlives it. Started directly in
# the background (no `timeout` between), so $! is the trainer itself.
FAKE_ALE_MODE=ok FAKE_ALE_PIDFILE="$tmp/pids" ATTN_ALE_SERVER="$fixtures/fake_server.py" \
  "$train" --env ale:breakout --envs 2 --unroll 4 --algo a2c --frames 100000 --checkpoint-every 8 \
  --out "$tmp/sigint" >"$tmp/sigint.stdout" 2>"$tmp/sigint.stderr" &
trainer=$!
for _ in $(seq 600); do  # up to 60 s for the first checkpoint
  [ -f "$tmp/sigint/checkpoint.safetensors" ] && break
  sleep 0.1
done
kill -INT "$trainer"
for _ in $(seq 600); do  # up to 60 s to finish the update, save and stop
  kill -0 "$trainer" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$trainer" 2>/dev/null; then fail "sigint: still running 60 s after Ctrl-C"; kill -KILL "$trainer"; fi
wait "$trainer"; rc=$?
if [ "$rc" -ne 0 ] || ! grep -q "^interrupted at" "$tmp/sigint.stdout"; then
  fail "sigint: exit status $rc"; cat "$tmp/sigint.stdout" "$tmp/sigint.stderr"
else
  "$check" ckpt "$tmp/sigint/checkpoint.safetensors" 84 84 3 4 || fail "sigint: the checkpoint does not load"
  sleep 0.5
  for pid in $(cat "$tmp/pids"); do
    kill -0 "$pid" 2>/dev/null && fail "sigint: server $pid outlived the trainer"
  done
  echo "ok: sigint saved and stopped $(wc -l < "$tmp/pids") servers"
fi

[ "$failures" -eq 0 ] && echo "all ALE trainer error paths stop cleanly" || exit 1
