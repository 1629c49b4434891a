# t0212-train-dp.sh - nh-train run under mpirun: data and optimizer parallel
#
# trainer/configs/tiny.json on real text at the same global batch:
# 1, 2 and 3 ranks (--oversubscribe), with and without --zero 1, with
# tiny gradient buckets (many collectives in flight) and the default ones,
# and a batch that does not divide evenly, all give the single process's
# loss at every step and eval within 1e-5 relative. A run of 2 ranks with
# --zero 1 killed (SIGKILL to one rank) at a random step and resumed gives
# the uninterrupted run's losses bit for bit; its checkpoints hold the
# whole optimizer state, so one process can continue from them too.
. "$NH_TOP/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are not ours to check for leaks
export ASAN_OPTIONS=detect_leaks=0
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"
T="$NH_BIN/nh-train"
CFG="$NH_TOP/trainer/configs/tiny.json"
MPI="mpirun --oversubscribe"

make_poem_tokens # poems.jsonl, tok, toks

ARGS="--config $CFG --data toks --steps 12 --seq 32 --lr 3e-3 --threads 1
      --eval-every 6"
losses() { grep -o '"step":[0-9]*,"loss":[^,}]*' "$1"; }
close() { train_losses_close "$1" "$2" 14; }

for B in 6 7; do
    # shellcheck disable=SC2086
    "$T" run $ARGS --batch $B --out one$B >/dev/null 2>err || fail "$(cat err)"
    for np in 1 2 3; do
        for z in 0 1; do
            for mb in 0.01 25; do
                o=r$B-$np-$z-$mb
                # shellcheck disable=SC2086
                $MPI -np $np "$T" run $ARGS --batch $B --zero $z \
                    --bucket-mb $mb --out $o >$o.out 2>$o.err ||
                    fail "-np $np --zero $z: $(cat $o.err)"
                close one$B/metrics.jsonl $o/metrics.jsonl
            done
        done
    done
done
# rank 0 alone writes: one peak line, the step lines, config with ranks
expect_eq "peak lines" 1 "$(grep -c '"event":"peak"' r6-3-1-25/metrics.jsonl)"
grep -q '"ranks":3' r6-3-1-25/metrics.jsonl || fail "peak line without ranks"
grep -q '"ranks": 3, "tp": 1, "zero": 1' r6-3-1-25/config.json || fail "config.json"
expect_eq "stdout lines" 15 "$(wc -l <r6-3-1-25.out)"
grep -q '"max_rss_mb":' r6-3-1-25/metrics.jsonl || fail "no max_rss_mb"

# a batch smaller than the ranks: one clear message
rc=0
# shellcheck disable=SC2086
$MPI -np 3 "$T" run $ARGS --batch 2 --out bad >/dev/null 2>err || rc=$?
[ "$rc" -ne 0 ] || fail "batch 2 on 3 ranks ran"
expect_eq "messages" 1 "$(grep -c 'nh-train: run:' err)"
grep -q "nh-train: run: --batch 2 is smaller than the 3 data-parallel ranks" err ||
    fail "$(cat err)"

# exact resume of 2 ranks with --zero 1 after SIGKILL of one rank
RA="$ARGS --batch 6 --zero 1 --bucket-mb 0.01 --ckpt-every 3"
# shellcheck disable=SC2086
$MPI -np 2 "$T" run $RA --out z1 >/dev/null 2>err || fail "$(cat err)"
losses z1/metrics.jsonl >l1
R=$((4 + RANDOM % 6))
# shellcheck disable=SC2086
$MPI -np 2 "$T" run $RA --out z2 >/dev/null 2>>err2 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
    n=$(grep -o '"step":[0-9]*,"loss"' z2/metrics.jsonl 2>/dev/null |
        tail -1 | tr -dc 0-9)
    [ "${n:-0}" -ge "$R" ] && break
    sleep 0.02
done
# one rank dies; mpirun stops the other
kill -9 "$(pgrep -P "$pid" -f nh-train | head -1)" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo "killed a rank at step ${n:-0} (asked $R)"
# shellcheck disable=SC2086
$MPI -np 2 "$T" run $RA --out z2 --resume >/dev/null 2>>err2 ||
    fail "resume: $(cat err2)"
grep -q "resuming from checkpoint 'step-" err2 || fail "no resume: $(cat err2)"
losses z2/metrics.jsonl >l2
expect_same l1 l2

# one process continues from the sharded run's step 9
cp -r z1 z3
rm -r z3/ckpt/step-00000012
echo step-00000009 >z3/ckpt/latest
# shellcheck disable=SC2086
"$T" run $ARGS --batch 6 --ckpt-every 3 --out z3 --resume >/dev/null 2>err3 ||
    fail "$(cat err3)"
grep -q "resuming from checkpoint 'step-00000009'" err3 || fail "$(cat err3)"
close z1/metrics.jsonl z3/metrics.jsonl
echo "t0212 ok"
