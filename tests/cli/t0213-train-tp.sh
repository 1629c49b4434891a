# t0213-train-tp.sh - nh-train run --tp: tensor parallel, alone and with
# data parallel and ZeRO
#
# trainer/configs/tiny.json (4 heads, ffn 172: tp 2 and 4 divide both) on
# real text at the same global batch: --tp 2 on 2 ranks, --tp 4 on 4,
# --tp 2 on 4 ranks (2 data x 2 tensor) with and without --zero 1, and
# with --recompute full, all give the single process's loss at every step
# and eval within 1e-5 relative. Checkpoints are in the single-process
# layout: a 2x2 run with --zero 1 resumed from its step-6 checkpoint gives
# its own later losses bit for bit, and one process continues from it
# within 1e-5. A --tp that does not divide the heads or the ranks is
# refused with a message.
. "$NH_TOP/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0 # Open MPI's allocations are not ours
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"
T="$NH_BIN/nh-train"
CFG="$NH_TOP/trainer/configs/tiny.json"
MPI="mpirun --oversubscribe"

make_poem_tokens # poems.jsonl, tok, toks

ARGS="--config $CFG --data toks --steps 12 --batch 6 --seq 32 --lr 3e-3
      --threads 1 --eval-every 6"
losses() { grep -o '"step":[0-9]*,"loss":[^,}]*' "$1"; }

# shellcheck disable=SC2086
"$T" run $ARGS --out one >/dev/null 2>err || fail "$(cat err)"
run_np() { # NAME NP ARGS...
    local o=$1 np=$2
    shift 2
    # shellcheck disable=SC2086
    $MPI -np "$np" "$T" run $ARGS --out "$o" "$@" >"$o.out" 2>"$o.err" ||
        fail "$o: $(cat "$o.err")"
    train_losses_close one/metrics.jsonl "$o/metrics.jsonl" 14
}
run_np tp2 2 --tp 2
run_np tp4 4 --tp 4
run_np dp2tp2 4 --tp 2 --bucket-mb 0.01
run_np dp2tp2z 4 --tp 2 --zero 1 --bucket-mb 0.01 --ckpt-every 3
run_np tp2full 2 --tp 2 --recompute full
grep -q '"ranks": 4, "tp": 2, "zero": 1' dp2tp2z/config.json ||
    fail "config.json: $(cat dp2tp2z/config.json)"
grep -q '"params":131904' dp2tp2z/metrics.jsonl || fail "peak line params"

# resume the 2x2 sharded run from step 6: its own losses, bit for bit
cp -r dp2tp2z again
rm -r again/ckpt/step-00000009 again/ckpt/step-00000012
echo step-00000006 >again/ckpt/latest
# shellcheck disable=SC2086
$MPI -np 4 "$T" run $ARGS --out again --tp 2 --zero 1 --bucket-mb 0.01 \
    --ckpt-every 3 --resume >/dev/null 2>err2 || fail "$(cat err2)"
grep -q "resuming from checkpoint 'step-00000006'" err2 || fail "$(cat err2)"
losses dp2tp2z/metrics.jsonl >l1
losses again/metrics.jsonl >l2
expect_same l1 l2
# and one process from the same checkpoint
cp -r dp2tp2z solo
rm -r solo/ckpt/step-00000009 solo/ckpt/step-00000012
echo step-00000006 >solo/ckpt/latest
# shellcheck disable=SC2086
"$T" run $ARGS --out solo --ckpt-every 3 --resume >/dev/null 2>err3 ||
    fail "$(cat err3)"
train_losses_close dp2tp2z/metrics.jsonl solo/metrics.jsonl 14

# refusals
rc=0
# shellcheck disable=SC2086
$MPI -np 3 "$T" run $ARGS --out bad --tp 2 >/dev/null 2>err4 || rc=$?
[ "$rc" -ne 0 ] || fail "--tp 2 on 3 ranks ran"
grep -q "nh-train: run: --tp 2 does not divide the 3 ranks" err4 ||
    fail "$(cat err4)"
rc=0
# shellcheck disable=SC2086
$MPI -np 3 "$T" run $ARGS --out bad --tp 3 >/dev/null 2>err5 || rc=$?
[ "$rc" -ne 0 ] || fail "--tp 3 with 4 heads ran"
grep -q "tensor parallel 3 must divide the heads (4)" err5 || fail "$(cat err5)"
echo "t0213 ok"
