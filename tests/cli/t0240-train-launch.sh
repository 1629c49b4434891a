# t0240-train-launch.sh - nh-train launch: the supervisor and fault recovery
#
# trainer/configs/tiny.json on real text, 2 ranks under mpirun through
# `nh-train launch`. Faults injected with NH_FAULT: a rank killed with
# SIGKILL after step 7, a rank hung after step 5 (found by the heartbeat
# timeout), and a corrupt newest checkpoint before a kill (the resume
# falls back past it): each run finishes with the uninterrupted run's
# losses bit for bit, leaves no rank running, and records the fault and
# the restart in supervisor.jsonl. --ckpt-every auto picks Young's
# interval and still resumes exactly. A run that fails every attempt
# exhausts --max-restarts (exit 1); `launch --plan` runs a dp plan of
# `nh-train plan --json` with its ranks and batch and the same losses;
# --launcher slurm, a bad plan and a run contradicting its plan are clear
# errors.
. "$NH_TOP/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are not ours to check for leaks
export ASAN_OPTIONS=detect_leaks=0
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"
T="$NH_BIN/nh-train"
CFG="$NH_TOP/trainer/configs/tiny.json"
unset NH_FAULT

make_poem_tokens # poems.jsonl, tok, toks

ARGS="--config $CFG --data toks --steps 12 --seq 32 --lr 3e-3 --threads 1
      --eval-every 6 --batch 6"
L="$T launch --np 2 --backoff 0.1"
losses() { grep -o '"step":[0-9]*,"loss":[^,}]*' "$1"; }
# no process of nh-train left with RUN_DIR $1 on its command line
no_orphans() {
    if pgrep -f -- "--out $1" >/dev/null; then
        pgrep -af -- "--out $1" >&2
        fail "ranks of '$1' still running"
    fi
}
# check RUN_DIR CAUSE RANK STEP RESUMED_FROM: supervisor.jsonl of one fault
check() {
    "$PY" - "$@" <<'PYEOF' || fail "$1/supervisor.jsonl: $(cat "$1/supervisor.jsonl")"
import json, sys
d, cause, rank, step, frm = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
ev = [json.loads(l) for l in open(d + "/supervisor.jsonl")]
kinds = [e["event"] for e in ev]
assert kinds == ["start", "fault", "start", "restart", "finish", "summary"], kinds
assert [e["attempt"] for e in ev] == [1, 1, 2, 2, 2, 2]
assert all(e["time"] > 1e9 for e in ev)
assert ev[0]["ranks"] == 2 and ev[0]["resume"] is False and ev[2]["resume"] is True
f, r, s = ev[1], ev[3], ev[5]
assert f["cause"] == cause and f["rank"] == rank and f["step"] == step, f
if cause == "signal":
    assert f["signal"] == 9 and f["exit_code"] is None, f
assert f["detection_s"] >= 0, f
assert r["resumed_from"] == frm and r["steps_redone"] == step - frm, r
assert r["recovery_s"] > 0 and r["backoff_s"] == 0.1, r
assert ev[4]["step"] == 12
assert s["status"] == "finished" and s["restarts"] == 1 and s["attempts"] == 2
assert s["step"] == 12 and s["steps_redone"] == step - frm and s["ranks"] == 2
assert 0 < s["useful_step_s"] < s["wall_s"] and 0 < s["goodput"] < 1, s
assert 0 < s["device_hours"] <= 2 * s["wall_s"] / 3600 + 1e-9, s
# the step seconds of the final metrics, each step once
m = [json.loads(l) for l in open(d + "/metrics.jsonl")]
u = sum(x["seconds"] for x in m if "event" not in x)
assert abs(u - s["useful_step_s"]) < 2e-3, (u, s)
print("%s: %s of rank %d at step %d, resumed from %d, detection %.3f s, "
      "recovery %.2f s, goodput %.3f" % (d, cause, rank, step, frm,
      f["detection_s"], r["recovery_s"], s["goodput"]))
PYEOF
}

# uninterrupted, through the supervisor
# shellcheck disable=SC2086
$L -- run $ARGS --ckpt-every 3 --out "$PWD/ref" >ref.out 2>ref.err ||
    fail "$(cat ref.err)"
losses ref/metrics.jsonl >l0
expect_eq "steps and evals" 14 "$(wc -l <l0)"
expect_eq "records" "start finish summary" \
    "$("$PY" -c 'import json,sys; print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' ref/supervisor.jsonl)"
grep -q "nh-train: launch: finished at step 12 after 0 restarts" ref.err ||
    fail "$(cat ref.err)"
expect_eq "stdout lines" 15 "$(wc -l <ref.out)"
no_orphans "$PWD/ref"

# rank 1 killed after step 7: resumes from step 6
# shellcheck disable=SC2086
NH_FAULT=kill:rank=1:step=7 $L -- run $ARGS --ckpt-every 3 --out "$PWD/k" \
    >/dev/null 2>k.err || fail "$(cat k.err)"
grep -q "nh-train: run: rank 1: NH_FAULT: SIGKILL after step 7" k.err ||
    fail "$(cat k.err)"
grep -q "launch: attempt 1: rank 1 killed by signal 9 at step 7" k.err ||
    fail "$(cat k.err)"
losses k/metrics.jsonl >l1
expect_same l0 l1
check k signal 1 7 6
no_orphans "$PWD/k"

# rank 0 hangs after step 5: the heartbeat timeout finds it; from step 3
# shellcheck disable=SC2086
NH_FAULT=hang:rank=0:step=5 $L --heartbeat-timeout 4 --grace 2 -- \
    run $ARGS --ckpt-every 3 --out "$PWD/h" >/dev/null 2>h.err ||
    fail "$(cat h.err)"
grep -q "launch: attempt 1: rank 0 sent no heartbeat for .* at step 5: hang" \
    h.err || fail "$(cat h.err)"
losses h/metrics.jsonl >l2
expect_same l0 l2
check h hang 0 5 3
no_orphans "$PWD/h"

# the checkpoint of step 6 corrupted, then rank 0 killed after step 7:
# the resume refuses step 6 and goes back to step 3
# shellcheck disable=SC2086
NH_FAULT=corrupt-ckpt:step=5,kill:rank=0:step=7 $L -- \
    run $ARGS --ckpt-every 3 --out "$PWD/c" >/dev/null 2>c.err ||
    fail "$(cat c.err)"
grep -q "flipped a byte of checkpoint 'step-00000006'" c.err ||
    fail "$(cat c.err)"
grep -q "refusing checkpoint 'step-00000006': checksum mismatch" c.err ||
    fail "$(cat c.err)"
grep -q "resuming from checkpoint 'step-00000003'" c.err || fail "$(cat c.err)"
losses c/metrics.jsonl >l3
expect_same l0 l3
check c signal 0 7 3
no_orphans "$PWD/c"

# --ckpt-every auto: Young's interval from the measured times
# shellcheck disable=SC2086
"$T" run $ARGS --ckpt-every auto --mtbf 0.05 --out a1 >/dev/null 2>a1.err ||
    fail "$(cat a1.err)"
"$PY" - a1 <<'PYEOF' || fail "ckpt_interval"
import json, math, os, sys
d = sys.argv[1]
ci = [json.loads(l) for l in open(d + "/metrics.jsonl") if "ckpt_interval" in l]
assert len(ci) == 1 and ci[0]["step"] == 1, ci
c = ci[0]
k = math.sqrt(2 * c["ckpt_seconds"] * c["mtbf"]) / c["step_seconds"]
want = 1 if not k >= 1 else min(12, math.floor(k + 0.5))
assert c["every"] == want and c["mtbf"] == 0.05, (c, k)
steps = sorted(int(s[5:]) for s in os.listdir(d + "/ckpt") if s.startswith("step-"))
assert steps and all(s % c["every"] == 0 or s == 1 for s in steps), steps
print("auto: every %d steps (delta %.4f s, step %.4f s)" % (c["every"],
      c["ckpt_seconds"], c["step_seconds"]))
PYEOF
# and a kill resumes exactly, one rank
# shellcheck disable=SC2086
"$T" run $ARGS --out one >/dev/null 2>one.err || fail "$(cat one.err)"
# shellcheck disable=SC2086
NH_FAULT=kill:step=8 $T launch --np 1 --backoff 0.1 -- run $ARGS \
    --ckpt-every auto --mtbf 0.05 --out "$PWD/a2" >/dev/null 2>a2.err ||
    fail "$(cat a2.err)"
grep -q "resuming from checkpoint" a2.err || fail "$(cat a2.err)"
expect_same <(losses one/metrics.jsonl) <(losses a2/metrics.jsonl)
no_orphans "$PWD/a2"

# every attempt fails: 1 restart, then exit 1
rc=0
# shellcheck disable=SC2086
$L --max-restarts 1 -- run $ARGS --data nowhere --out "$PWD/f" \
    >/dev/null 2>f.err || rc=$?
expect_eq "status when restarts run out" 1 "$rc"
grep -q "nh-train: launch: giving up after 1 restart" f.err || fail "$(cat f.err)"
expect_eq "faults" 2 "$(grep -c '"event":"fault"' f/supervisor.jsonl)"
grep -q '"status":"failed","attempts":2,"restarts":1' f/supervisor.jsonl ||
    fail "$(cat f/supervisor.jsonl)"

# errors
rc=0
"$T" launch --launcher slurm --np 2 -- run --out x 2>e1 || rc=$?
expect_eq "slurm status" 2 "$rc"
grep -q "launch: --launcher slurm is not yet supported" e1 || fail "$(cat e1)"
rc=0
"$T" launch -- run --out x 2>e2 || rc=$?
expect_eq "no --np" 2 "$rc"
echo '{"plans": [{"dp": 2, "pp": 1}]}' >bad-plan.json
rc=0
"$T" launch --plan bad-plan.json -- run --out x 2>e3 || rc=$?
expect_eq "bad plan status" 1 "$rc"
grep -q "'bad-plan.json': not the output of .nh-train plan --json. (no 'model')" e3 ||
    fail "$(cat e3)"
# a plan's ranks: a dp 2 plan of `nh-train plan --json` (global batch 6,
# 3 a rank) runs as 2 ranks, run takes the batch from it, and the losses
# are the uninterrupted run's
cat >c2.json <<'JEOF'
{"devices": 2, "devices_per_node": 2, "memory_gib": 1, "peak_tflops": 0.05,
 "intra_node_gbs": 1, "inter_node_gbs": 1, "hbm_gbs": 10, "precision": "fp32"}
JEOF
"$T" plan --model "$CFG" --cluster c2.json --global-batch 6 --seq 32 --dp 2 \
    --micro-batch 3 --zero 0 --json >plan.json 2>e4 || fail "$(cat e4)"
PARGS="--config $CFG --data toks --steps 12 --lr 3e-3 --threads 1
       --eval-every 6"
# shellcheck disable=SC2086
"$T" launch --plan plan.json -- run $PARGS --out "$PWD/p" >/dev/null 2>e4 ||
    fail "$(cat e4)"
grep -q "launch: plan 'plan.json': 2 ranks" e4 || fail "$(cat e4)"
expect_eq "plan ranks" "2 6" \
    "$(json p/config.json '"%d %d" % (j["run"]["ranks"], j["run"]["batch"])')"
losses p/metrics.jsonl >lplan
expect_same l0 lplan
no_orphans "$PWD/p"
# a run that contradicts the plan is rejected once, not restarted
rc=0
# shellcheck disable=SC2086
"$T" launch --plan plan.json -- run $PARGS --batch 4 --out "$PWD/q" \
    >/dev/null 2>e4 || rc=$?
expect_eq "--plan status" 2 "$rc"
grep -q "batch 4 contradicts plan 'plan.json'" e4 || fail "$(cat e4)"
grep -q "run rejected its arguments (exit status 2); not restarting" e4 ||
    fail "$(cat e4)"
expect_eq "plan attempts" 1 "$(grep -c '"event":"start"' q/supervisor.jsonl)"
rc=0
NH_FAULT=explode "$T" run $ARGS --out x >/dev/null 2>e5 || rc=$?
expect_eq "bad NH_FAULT" 1 "$rc"
grep -q "bad NH_FAULT 'explode'" e5 || fail "$(cat e5)"
echo "t0240 ok"
