#!/usr/bin/env bash
# t0152-tui-train.sh - the workbench's training screen under tmux against a
# real nhd and a real train job: from the jobs screen, Enter on a train
# job opens it; its steps stream in (the step line moves on and the loss
# and lr plots fill), the injected fault and the restart show in the
# timeline, the job ends succeeded with the summary's goodput; a second
# run is stopped with X from the screen.
. "$NH_TOP/tests/cli/lib.sh"
. "$NH_TOP/tests/cli/tui-lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0 # Open MPI's allocations (see t0190)
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"
unset NH_FAULT
make_poem_tokens
nhd_start ./d out --import-root "$PWD"
NH="$NH_BIN/nh"
TOKEN=$(cat d/admin.token)
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER=$NHD_URL NH_TOKEN=$TOKEN
"$NH" dataset import poems poems.jsonl --server-paths >/dev/null
M="$NH_TOP/trainer/configs/tiny.json"

tui_start
wait_screen '^ naohai . datasets' "title"
keys J
wait_screen '^ naohai . jobs' "jobs screen"
"$NH" train launch poems --model "$M" --tokenizer tok --np 2 --steps 60 \
    --seq 32 --batch 4 --lr 3e-3 --ckpt-every 10 --threads 1 \
    --fault kill:rank=1:step=25 >l.out
wait_screen "^ +1  train +(queued|running)" "train job listed"
keys Enter
wait_screen '^job 1  train' "train screen"
wait_screen '^dataset poems@[0-9a-f]{12}$' "its version"
wait_screen '^step [0-9]+  loss [0-9.]+  lr [0-9.e-]+  [0-9]+ tokens/s  MFU [0-9.]+$' \
    "a step line"
wait_screen '^fault +signal of rank 1 at step 25, found in ' "the fault"
wait_screen '^restart +attempt 2 from step 20, 5 steps redone, [0-9.]+ s lost' \
    "the restart"
wait_screen '^job 1  train +succeeded' "the end"
wait_screen '^step 60  loss ' "the last step"
wait_screen '^summary +finished, 1 restarts, goodput 0\.[0-9]+$' "summary"
# the plots: labels, their range, and points
grep -qE '^loss +\|' screen.txt || fail "no loss plot: $(cat screen.txt)"
grep -qE '^lr +\|' screen.txt || fail "no lr plot: $(cat screen.txt)"
expect_eq "points" yes "$(grep -cE '\|.*\*' screen.txt | awk '{print ($1 > 10) ? "yes" : "no"}')"
keys q
wait_screen '^ naohai . jobs' "back to jobs"

# X stops a running train job from its screen
"$NH" train launch poems --model "$M" --tokenizer tok --steps 100000 \
    --seq 32 --batch 4 --threads 1 >l2.out
wait_screen "^ +2  train +(queued|running)" "second job listed"
keys Home Enter # the newest job is the first row
wait_screen '^job 2  train' "second train screen"
wait_screen '^step [0-9]+  loss ' "second run steps"
keys X
wait_screen '^job 2  train +cancelled' "stopped"
wait_screen '^stopped$' "the supervisor's record"
keys q q
expect_eq "exit status" 0 "$(wait_rc)"
nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
