# t0230-train-plan.sh - nh-train plan: the parallel planner
#
# The shipped model and cluster files against published runs (PanGu-alpha
# 200B on 2,048 Ascend 910, a PengCheng-Mind-like 104-layer model on 3,456,
# GPT-3 175B on 1,024 A100 80GB; docs/PLANNER.md gives the sources), the
# JSON against schemas/plan.schema.json, the table, and the errors.
. "$NH_TOP/tests/cli/lib.sh"
T="$NH_BIN/nh-train"
C="$NH_TOP/trainer/configs"
SCHEMA="$NH_TOP/schemas/plan.schema.json"

# PanGu-alpha 200B: the published 16 data x 8 model x 16 pipeline with
# optimizer sharding is feasible and among the top 5
"$T" plan --model "$C/pangu-alpha-200b.json" \
    --cluster "$C/cluster-ascend910-2048.json" --global-batch 1024 --top 10 \
    --json >pangu.json 2>err || fail "pangu: $(cat err)"
validate pangu.json "$SCHEMA" || fail "pangu.json against the schema"
"$PY" - pangu.json <<'PYEOF' || fail "pangu plans"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["model"]["layers"] == 64 and j["cluster"]["devices"] == 2048, j
assert abs(j["model"]["parameters"] / 1e9 - 207) < 1, j["model"]
ps = j["plans"]
assert len(ps) == 10 and [p["rank"] for p in ps] == list(range(1, 11))
for p in ps:
    assert p["dp"] * p["tp"] * p["pp"] == 2048, p
    assert sum(p["layers_per_stage"]) == 64 and len(p["recompute"]) == p["pp"]
    assert p["dp"] * p["micro_batch"] * p["micro_batches"] == 1024, p
    assert p["memory_gib"]["total"] <= 32, p
    m = p["memory_gib"]
    parts = m["params"] + m["grads"] + m["optimizer"] + m["activations"] \
        + m["workspace"]
    assert abs(parts - m["total"]) < 1e-3, m
    assert abs(p["bubble"] - (p["pp"] - 1) / p["micro_batches"]) < 1e-5, p
steps = [p["step_seconds"] for p in ps]
assert steps == sorted(steps), steps
pub = [p for p in ps if (p["dp"], p["tp"], p["pp"]) == (16, 8, 16)
       and p["optimizer_sharding"]]
assert pub and pub[0]["rank"] <= 5, [(p["dp"], p["tp"], p["pp"]) for p in ps]
# without sharding the optimizer states it would not fit
assert pub[0]["memory_gib"]["optimizer"] * 16 + pub[0]["memory_gib"]["total"] \
    - pub[0]["memory_gib"]["optimizer"] > 32
print("pangu-alpha 16x8x16 rank", pub[0]["rank"], file=sys.stderr)
PYEOF

# the table of the same: header, the compressed layers of 16x8x16
"$T" plan --model "$C/pangu-alpha-200b.json" \
    --cluster "$C/cluster-ascend910-2048.json" --global-batch 1024 \
    --dp 16 --tp 8 --pp 16 --micro-batch 1 >table 2>err || fail "table"
grep -q "^rank .*layers/stage.*recompute.*mem GiB.*step s.*bubble.*MFU" table ||
    fail "table header: $(cat table)"
grep -Eq "^ +1 +16 +8 +16 +1x64 +4x16 +none +yes " table ||
    fail "table row: $(cat table)"
expect_eq "table lines" 3 "$(wc -l <table)"

# PengCheng-Mind-like: 128 devices per stage gives 27 stages of 3 or 4
# layers, 104 in all, the first and last lighter
"$T" plan --model "$C/pengcheng-mind-200b.json" \
    --cluster "$C/cluster-ascend910-3456.json" --devices-per-stage 128 \
    --sequence-parallel --global-batch 1536 --top 3 --json >pcm.json 2>err ||
    fail "pengcheng: $(cat err)"
validate pcm.json "$SCHEMA" || fail "pcm.json against the schema"
"$PY" - pcm.json <<'PYEOF' || fail "pengcheng plan"
import json, sys
p = json.load(open(sys.argv[1]))["plans"][0]
l = p["layers_per_stage"]
assert p["pp"] == 27 and p["dp"] * p["tp"] == 128 and len(l) == 27, p
assert sum(l) == 104 and set(l) == {3, 4}, l
assert l[0] == 3 and l[-1] == 3, l
assert p["sequence_parallel"], p
PYEOF

# GPT-3 175B on 1,024 A100 80GB: predicted MFU in the range Megatron-LM
# published (42.1% to 56.3%, Korthikanti et al. 2022), for the best plan
# and for Megatron's own split (tensor 8, pipeline 16; Narayanan et al.)
"$T" plan --model "$C/gpt3-175b.json" --cluster "$C/cluster-a100-1024.json" \
    --global-batch 1536 --top 1000 --json >gpt3.json 2>err ||
    fail "gpt3: $(cat err)"
validate gpt3.json "$SCHEMA" || fail "gpt3.json against the schema"
"$PY" - gpt3.json <<'PYEOF' || fail "gpt3 mfu"
import json, sys
j = json.load(open(sys.argv[1]))
ps = j["plans"]
assert len(ps) == j["feasible"], (len(ps), j["feasible"])
assert 0.421 <= ps[0]["mfu"] <= 0.563, ps[0]
meg = [p for p in ps if p["tp"] == 8 and p["pp"] == 16 and p["micro_batch"] == 1]
assert meg and 0.421 <= meg[0]["mfu"] <= 0.563, meg[:1]
# everything past the first ranks is slower
assert all(p["mfu"] <= ps[0]["mfu"] + 1e-9 for p in ps)
print("gpt3 best mfu %.3f (%dx%dx%d), megatron split rank %d mfu %.3f" % (
    ps[0]["mfu"], ps[0]["dp"], ps[0]["tp"], ps[0]["pp"], meg[0]["rank"],
    meg[0]["mfu"]), file=sys.stderr)
PYEOF

# our own trainer: fp32, a small model on four devices of one node
cat >small.json <<'JEOF'
{"devices": 4, "devices_per_node": 4, "memory_gib": 1, "peak_tflops": 0.1,
 "intra_node_gbs": 10, "inter_node_gbs": 1, "hbm_gbs": 20, "precision": "fp32"}
JEOF
"$T" plan --model "$C/tiny.json" --cluster small.json --global-batch 8 \
    --top 3 --json >tiny.json 2>err || fail "tiny: $(cat err)"
validate tiny.json "$SCHEMA" || fail "tiny.json against the schema"
expect_eq "tiny precision" fp32 "$(json tiny.json 'j["cluster"]["precision"]')"

# errors: status 1 with a message naming the file and why
bad() { # bad STATUS PATTERN ARGS...
    local want=$1 pat=$2 rc=0
    shift 2
    "$T" plan "$@" >out 2>err || rc=$?
    expect_eq "status of plan $*" "$want" "$rc"
    grep -q -- "$pat" err || fail "plan $*: wanted '$pat', got: $(cat err)"
    [ -s out ] && fail "plan $*: output on error: $(cat out)"
    return 0
}
M="$C/tiny.json"
bad 1 "cannot open 'nope.json': No such file or directory" \
    --model "$M" --cluster nope.json
printf '{"devices": 4,\n "devices_per_node": 4,,\n}\n' >broken.json
bad 1 "'broken.json': bad JSON at line 2 column 2[45]" --model "$M" \
    --cluster broken.json
printf '{"vocab": 512\n' >broken-model.json
bad 1 "'broken-model.json': bad JSON at line 2 column 1" \
    --model broken-model.json --cluster small.json
"$PY" -c 'import json; c = json.load(open("small.json")); del c["hbm_gbs"]
json.dump(c, open("nohbm.json", "w"))'
bad 1 "'nohbm.json': cluster: missing key 'hbm_gbs'" --model "$M" \
    --cluster nohbm.json
sed 's/"fp32"/"fp8"/' small.json >fp8.json
bad 1 "'fp8.json': cluster: 'precision' must be \"mixed\" or \"fp32\"" \
    --model "$M" --cluster fp8.json
sed 's/"fp32"/"fp32", "overhead_gib": -0.5/' small.json >neg.json
bad 1 "'neg.json': cluster: 'overhead_gib' must be >= 0" --model "$M" \
    --cluster neg.json
bad 2 "bad value 'some' for '--recompute'" --model "$M" --cluster small.json \
    --recompute some
sed 's/"memory_gib": 1/"memory_gib": 0.0001/' small.json >tinymem.json
bad 1 "none of the .* splits tried fits in 0.0001 GiB per device" \
    --model "$M" --cluster tinymem.json --global-batch 8
bad 1 "no split of 4 devices meets the constraints" --model "$M" \
    --cluster small.json --tp 3
bad 1 "no split of 4 devices meets the constraints" --model "$M" \
    --cluster small.json --global-batch 3 --dp 2
bad 2 "plan needs --model and --cluster" --model "$M"
bad 2 "bad value '0' for '--top'" --model "$M" --cluster small.json --top 0
bad 2 "bad option '--frobnicate'" --model "$M" --cluster small.json \
    --frobnicate
"$T" plan --help | grep -q "^usage: nh-train plan" || fail "plan --help"
"$T" --help | grep -q "nh-train plan --model" || fail "nh-train --help"
exit 0
