# t0214-train-run-plan.sh - nh-train run: gradient accumulation and --plan
#
# trainer/configs/tiny.json on real text. Gradient accumulation
# (--micro-batches M) gives the loss curve of one big batch within 1e-5
# relative, in one process and under mpirun with 2 ranks and ZeRO-1.
# `run --plan` of a dp 2 plan of `nh-train plan --json` takes the global
# batch, micro-batches, --zero and --recompute from it (config.json
# records them) and trains exactly as the same options given by hand;
# `--plan FILE#K` takes plan K; a dp 1 x tp 2 plan runs tensor parallel
# and matches one process. Refused, with messages naming both sides:
# a rank count that is not dp x tp x pp, options that contradict the
# plan, pipeline parallel plans (not built yet), recompute that
# differs per stage, a plan for another model, a plan number past the end
# (exit status 2, so that nh-train launch does not restart them).
. "$NH_TOP/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0 # Open MPI's own allocations
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"
T="$NH_BIN/nh-train"
CFG="$NH_TOP/trainer/configs/tiny.json"
MPI="mpirun --oversubscribe -np 2"

make_poem_tokens # poems.jsonl, tok, toks

ARGS="--config $CFG --data toks --steps 6 --seq 32 --lr 3e-3 --threads 1
      --eval-every 3 --batch 8"
# close LOSSES_A LOSSES_B: the same steps and evals, losses within 1e-5
close() {
    "$PY" - "$1" "$2" <<'PYEOF' || fail "$1 against $2"
import json, sys
def losses(p):
    return [(l.get("event", "step"), l["step"], l["loss"])
            for l in map(json.loads, open(p)) if "loss" in l]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert len(a) == 8 and [x[:2] for x in a] == [x[:2] for x in b], (a, b)
for x, y in zip(a, b):
    assert abs(x[2] - y[2]) <= 1e-5 * abs(x[2]), (x, y)
PYEOF
}
steps() { grep -o '"step":[0-9]*,"loss":[^,}]*' "$1"; }

# accumulation against one batch of 8
# shellcheck disable=SC2086
"$T" run $ARGS --out one >/dev/null 2>err || fail "$(cat err)"
# shellcheck disable=SC2086
"$T" run $ARGS --micro-batches 4 --out acc >/dev/null 2>err || fail "$(cat err)"
close one/metrics.jsonl acc/metrics.jsonl
expect_eq "micro_batches recorded" 4 \
    "$(json acc/config.json 'j["run"]["micro_batches"]')"
# shellcheck disable=SC2086
$MPI "$T" run $ARGS --micro-batches 2 --zero 1 --out acc2 >/dev/null 2>err ||
    fail "$(cat err)"
close one/metrics.jsonl acc2/metrics.jsonl
rc=0
# shellcheck disable=SC2086
"$T" run $ARGS --micro-batches 3 --out x 2>err >/dev/null || rc=$?
expect_eq "uneven micro-batches" 1 "$rc"
grep -q "batch 8 does not divide into 1 x 3 equal micro-batches" err ||
    fail "$(cat err)"

# a plan for 2 ranks: global batch 8, micro-batch 2 (2 a rank), ZeRO-1,
# selective recompute
cat >c2.json <<'JEOF'
{"devices": 2, "devices_per_node": 2, "memory_gib": 1, "peak_tflops": 0.05,
 "efficiency": 0.5, "intra_node_gbs": 1, "inter_node_gbs": 1, "hbm_gbs": 10,
 "precision": "fp32"}
JEOF
"$T" plan --model "$CFG" --cluster c2.json --global-batch 8 --seq 32 \
    --dp 2 --micro-batch 2 --zero 1 --recompute selective --json \
    >plan.json 2>err || fail "plan: $(cat err)"
validate plan.json "$NH_TOP/schemas/plan.schema.json" || fail "plan schema"
expect_eq "plan" "2 1 1 2 2 True ['selective']" \
    "$(json plan.json '" ".join(str(j["plans"][0][k]) for k in ("dp", "tp", "pp", "micro_batch", "micro_batches", "optimizer_sharding", "recompute"))')"
PARGS="--config $CFG --data toks --steps 6 --lr 3e-3 --threads 1
       --eval-every 3"
# shellcheck disable=SC2086
$MPI "$T" run $PARGS --plan plan.json --out p >/dev/null 2>err ||
    fail "$(cat err)"
expect_eq "plan's options" "8 32 2 1 selective 2 plan.json" \
    "$(json p/config.json '" ".join(str(j["run"][k]) for k in ("batch", "seq", "micro_batches", "zero", "recompute", "ranks", "plan"))')"
# shellcheck disable=SC2086
$MPI "$T" run $ARGS --micro-batches 2 --zero 1 --recompute selective \
    --out byhand >/dev/null 2>err || fail "$(cat err)"
steps p/metrics.jsonl >lplan
steps byhand/metrics.jsonl >lh
expect_same lplan lh
close one/metrics.jsonl p/metrics.jsonl
# options that agree with the plan are fine
# shellcheck disable=SC2086
$MPI "$T" run $PARGS --plan plan.json --batch 8 --zero 1 --seq 32 \
    --recompute selective --micro-batches 2 --out p2 >/dev/null 2>err ||
    fail "$(cat err)"
# plan K of several: the second of the fastest two without sharding
"$T" plan --model "$CFG" --cluster c2.json --global-batch 8 --seq 32 \
    --dp 2 --zero 0 --top 2 --json >plans.json 2>err || fail "$(cat err)"
want=$(json plans.json '"%d %d" % (j["plans"][1]["micro_batches"], j["plans"][1]["optimizer_sharding"])')
# shellcheck disable=SC2086
$MPI "$T" run $PARGS --steps 2 --plan 'plans.json#2' --out k2 >/dev/null \
    2>err || fail "$(cat err)"
expect_eq "plan 2" "$want" \
    "$(json k2/config.json '"%d %d" % (j["run"]["micro_batches"], j["run"]["zero"])')"

# refusals: exit status 2 (bad usage: launch does not restart) and why
refuse() { # refuse PATTERN [mpi] ARGS...
    local pat=$1 rc=0
    shift
    if [ "$1" = mpi ]; then
        shift
        # shellcheck disable=SC2086
        $MPI "$T" run $PARGS --out x "$@" >/dev/null 2>err || rc=$?
    else
        # shellcheck disable=SC2086
        "$T" run $PARGS --out x "$@" >/dev/null 2>err || rc=$?
    fi
    expect_eq "status of run $*" 2 "$rc"
    grep -q -- "$pat" err || fail "run $*: wanted '$pat', got: $(cat err)"
}
refuse "plan 'plan.json' needs dp x tp x pp = 2 ranks; this run has 1" \
    --plan plan.json
refuse "\-\-batch 6 contradicts plan 'plan.json': global batch 8 (dp 2 x micro-batch 2 x 2 micro-batches)" \
    mpi --plan plan.json --batch 6
refuse "\-\-zero 0 contradicts plan 'plan.json': optimizer sharding on (--zero 1)" \
    mpi --plan plan.json --zero 0
refuse "\-\-recompute full contradicts plan 'plan.json': recompute selective" \
    mpi --plan plan.json --recompute full
refuse "\-\-micro-batches 1 contradicts plan 'plan.json': 2 micro-batches" \
    mpi --plan plan.json --micro-batches 1
refuse "\-\-seq 16 contradicts plan 'plan.json': sequences of 32" \
    mpi --plan plan.json --seq 16
refuse "'plans.json': no plan 3 (it has 2)" mpi --plan 'plans.json#3'
"$PY" - <<'PYEOF' || fail "edit plans"
import json
j = json.load(open("plan.json"))
p = j["plans"][0]
json.dump(dict(j, plans=[dict(p, tp=2, dp=1)]), open("tp.json", "w"))
json.dump(dict(j, plans=[dict(p, pp=2, dp=1, layers_per_stage=[1, 1],
                              recompute=["selective", "none"])]),
          open("pp.json", "w"))
json.dump(dict(j, plans=[dict(p, recompute=["full", "none"])]),
          open("mixed.json", "w"))
json.dump(dict(j, model=dict(j["model"], dim=128)), open("other.json", "w"))
json.dump(dict(j, plans=[{k: v for k, v in p.items() if k != "micro_batch"}]),
          open("broken.json", "w"))
PYEOF
# a tensor-parallel plan runs (dp 1 x tp 2: batch 4 in 2 micro-batches)
$MPI "$T" run $PARGS --plan tp.json --out tpp >/dev/null 2>err ||
    fail "$(cat err)"
expect_eq "tp plan's options" "4 2 2 selective" \
    "$(json tpp/config.json '" ".join(str(j["run"][k]) for k in ("batch", "micro_batches", "tp", "recompute"))')"
# shellcheck disable=SC2086
"$T" run $PARGS --batch 4 --micro-batches 2 --seq 32 --recompute selective \
    --out tphand >/dev/null 2>err || fail "$(cat err)"
close tphand/metrics.jsonl tpp/metrics.jsonl
refuse "\-\-tp 1 contradicts plan 'tp.json': tp 2" mpi --plan tp.json --tp 1
refuse "plan 'pp.json' has pp 2: pipeline parallel is not built yet" \
    mpi --plan pp.json
refuse "plan 'mixed.json' recomputes differently per stage" mpi --plan mixed.json
refuse "plan 'other.json' is for another model (layers 2, dim 128" \
    mpi --plan other.json
refuse "'broken.json': plans\[0\]: no integer 'micro_batch'" mpi --plan broken.json
refuse "cannot open 'nope.json': No such file or directory" --plan nope.json
echo "t0214 ok"
