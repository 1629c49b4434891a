#!/usr/bin/env bash
# t0193-nh-train.sh - nh train: launch --wait prints the steps, the
# injected fault and the restart as they stream, and exits 0 when the run
# finished; --vocab trains a tokenizer on the version; train ls, show,
# stop and resume; nh dataset lineage shows the runs under the version.
. "$NH_TOP/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0 # Open MPI's allocations (see t0192)
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"
unset NH_FAULT
make_poem_tokens
nhd_start ./d out --import-root "$PWD"
NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER= NH_TOKEN=
"$NH" login --server "$NHD_URL" --token "$(cat d/admin.token)" >/dev/null
"$NH" dataset import poems poems.jsonl --server-paths >/dev/null
M="$NH_TOP/trainer/configs/tiny.json"

"$NH" train launch poems --model "$M" --tokenizer tok --np 2 --steps 16 \
    --seq 32 --batch 4 --lr 3e-3 --ckpt-every 4 --threads 1 \
    --fault kill:rank=1:step=6 --wait >w.out 2>w.err || fail "$(cat w.err)"
grep -q "^step 16  loss " w.out || fail "no step 16: $(cat w.out)"
grep -q "^fault: signal of rank 1 at step 6 " w.out || fail "$(cat w.out)"
grep -q "^restart: attempt 2 resumed from step 4, 2 steps redone" w.out ||
    fail "$(cat w.out)"
grep -q "^summary: finished at step 16, 1 restarts" w.out || fail "$(cat w.out)"
expect_eq "last line" "job 1 succeeded" "$(tail -1 w.out)"
# every step printed once per attempt that ran it
expect_eq "step lines" 18 "$(grep -c '^step ' w.out)"

# a tokenizer of 300 ids trained on the version
"$NH" train launch poems --model "$M" --vocab 300 --steps 3 --seq 16 \
    --batch 2 --threads 1 --wait --json >v.out 2>v.err || fail "$(cat v.err)"
expect_eq "json step lines" 3 "$(grep -c '"source":"metrics","record":{"step"' v.out)"
s=0; "$NH" train launch nope --model "$M" --vocab 300 >b.out 2>b.err || s=$?
expect_eq "unknown dataset" 1 "$s"
grep -q "^nh: error: not_found: " b.err || fail "$(cat b.err)"

"$NH" train ls >ls.out
grep -Eq "^ *1  succeeded  poems@[0-9a-f]{8} +16 +[0-9.]+ +1$" ls.out ||
    fail "train ls: $(cat ls.out)"
grep -Eq "^ *2  succeeded  poems@[0-9a-f]{8} +3 " ls.out ||
    fail "train ls: $(cat ls.out)"
"$NH" train show 1 >show.out
grep -q "^restarts  1$" show.out || fail "$(cat show.out)"
grep -q "^fault: signal of rank 1 at step 6" show.out || fail "$(cat show.out)"
s=0; "$NH" train show 99 2>/dev/null || s=$?
expect_eq "unknown run" 1 "$s"

# stop a long run, then resume it to the end
"$NH" train launch poems --model "$M" --tokenizer tok --steps 800 --seq 32 \
    --batch 4 --ckpt-every 5 --threads 1 >l.out
RUN=$(sed -n 's/^job \([0-9]*\) .*/\1/p' l.out)
for _ in $(seq 300); do
    "$NH" train show "$RUN" | grep -q "^last step" && break
    sleep 0.1
done
"$NH" train stop "$RUN" >stop.out
expect_eq "stop" "job $RUN cancelled" "$(cat stop.out)"
s=0; "$NH" train watch "$RUN" >sw.out 2>&1 || s=$?
expect_eq "watch a stopped run" 1 "$s"
grep -q "^summary: stopped" sw.out || fail "$(cat sw.out)"
"$NH" train resume "$RUN" >/dev/null
"$NH" train watch "$RUN" >rw.out 2>&1 || fail "$(tail rw.out)"
grep -q "^step 800 " rw.out || fail "$(tail rw.out)"

"$NH" dataset lineage poems >lin.out
grep -q "train job 1 succeeded  step 16  loss " lin.out || fail "$(cat lin.out)"
grep -q "train job $RUN succeeded  step 800" lin.out || fail "$(cat lin.out)"
nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
