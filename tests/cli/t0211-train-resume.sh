# t0211-train-resume.sh - nh-train run: checkpoints and exact resume
#
# Trains trainer/configs/tiny.json on real text with a checkpoint every 5
# steps. A run killed with SIGKILL at a random step and resumed (twice)
# must give the uninterrupted run's losses bit for bit; --keep prunes;
# a corrupt newest checkpoint is refused (checksum) in favour of the one
# before; a truncated one too; a changed --batch is refused.
. "$NH_TOP/tests/cli/lib.sh"
T="$NH_BIN/nh-train"
CFG="$NH_TOP/trainer/configs/tiny.json"

make_poem_tokens  # poems.jsonl, tok, toks

ARGS="--config $CFG --data toks --steps 30 --batch 4 --seq 32 --lr 3e-3
      --threads 1 --eval-every 10 --ckpt-every 5"
# the exact text of every step's and eval's loss, in order
losses() { grep -o '"step":[0-9]*,"loss":[^,}]*' "$1"; }
ckpts() { (cd "$1/ckpt" && ls -d step-*) | tr '\n' ' '; }

# shellcheck disable=SC2086
"$T" run $ARGS --out r1 >/dev/null 2>err1 || fail "run: $(cat err1)"
losses r1/metrics.jsonl >l1
expect_eq "lines" 33 "$(wc -l <l1)"
expect_eq "kept" "step-00000020 step-00000025 step-00000030 " "$(ckpts r1)"
expect_eq "latest" step-00000030 "$(cat r1/ckpt/latest)"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' \
    r1/ckpt/step-00000030/config.json || fail "checkpoint config.json"
head -c 6 r1/ckpt/step-00000030/state.bin | grep -q NHCKPT || fail "magic"

# kill -9 once the metrics reach step $1 (or the run ends), in r2
kill_at() {
    local pid n
    # shellcheck disable=SC2086
    "$T" run $ARGS --out r2 "${@:2}" >/dev/null 2>>err2 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        n=$(grep -o '"step":[0-9]*,"loss"' r2/metrics.jsonl 2>/dev/null |
            tail -1 | tr -dc 0-9)
        [ "${n:-0}" -ge "$1" ] && break
        sleep 0.02
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "killed at step ${n:-0} (asked $1)"
}
R1=$((6 + RANDOM % 15))
R2=$((R1 + 1 + RANDOM % 8))
kill_at "$R1"
kill_at "$R2" --resume
# shellcheck disable=SC2086
"$T" run $ARGS --out r2 --resume >/dev/null 2>>err2 || fail "resume: $(cat err2)"
grep -q "resuming from checkpoint 'step-" err2 || fail "no resume: $(cat err2)"
losses r2/metrics.jsonl >l2
expect_same l1 l2
expect_eq "peak lines" 1 "$(grep -c '"event":"peak"' r2/metrics.jsonl)"

# a flipped byte in the newest: refused by checksum, the one before used
S=r1/ckpt/step-00000030/state.bin
"$PY" - "$S" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x10
open(sys.argv[1], "wb").write(b)
PYEOF
# shellcheck disable=SC2086
"$T" run $ARGS --out r1 --resume >/dev/null 2>err3 || fail "resume: $(cat err3)"
grep -q "refusing checkpoint 'step-00000030': checksum mismatch" err3 ||
    fail "no checksum refusal: $(cat err3)"
grep -q "resuming from checkpoint 'step-00000025'" err3 ||
    fail "no fallback: $(cat err3)"
losses r1/metrics.jsonl >l3
expect_same l1 l3
# the rewritten step 30 is whole again
expect_eq "kept" "step-00000020 step-00000025 step-00000030 " "$(ckpts r1)"

# truncated newest, then a changed --batch: every checkpoint refused
truncate -s 1000 r1/ckpt/step-00000030/state.bin
rc=0
# shellcheck disable=SC2086
"$T" run $ARGS --out r1 --resume --batch 2 >/dev/null 2>err4 || rc=$?
expect_eq "status of a mismatched resume" 1 "$rc"
grep -q "refusing checkpoint 'step-00000030': truncated" err4 ||
    fail "no truncation refusal: $(cat err4)"
grep -q "refusing checkpoint 'step-00000025': config mismatch: batch=4 in the checkpoint, batch=2 now" err4 ||
    fail "no mismatch refusal: $(cat err4)"
grep -q "no usable checkpoint in 'r1/ckpt'" err4 || fail "$(cat err4)"
# nothing to resume from
rc=0
# shellcheck disable=SC2086
"$T" run $ARGS --out r9 --resume >/dev/null 2>err5 || rc=$?
expect_eq "status of a resume without checkpoints" 1 "$rc"
grep -q "no usable checkpoint in 'r9/ckpt'" err5 || fail "$(cat err5)"

# --keep 2
# shellcheck disable=SC2086
"$T" run $ARGS --out r4 --steps 12 --ckpt-every 3 --keep 2 >/dev/null 2>&1 ||
    fail "run --keep 2"
expect_eq "kept" "step-00000009 step-00000012 " "$(ckpts r4)"
# a fresh run in the same RUN_DIR drops the old run's later checkpoints
# shellcheck disable=SC2086
"$T" run $ARGS --out r4 --steps 4 --ckpt-every 2 >/dev/null 2>&1 ||
    fail "run over r4"
expect_eq "kept" "step-00000002 step-00000004 " "$(ckpts r4)"
expect_eq "latest" step-00000004 "$(cat r4/ckpt/latest)"
echo "t0211 ok"
