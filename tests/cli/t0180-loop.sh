#!/usr/bin/env bash
# t0180-loop.sh - the human-machine loop on the demo corpus (issue 6):
# reviewers' labels from a label campaign (simulated from the corpus's
# ground truth) train a classifier and a language model; a pipeline job
# with `classify` and `perplexity` makes a new version; the same review
# campaign design finds a measurably lower defect rate on it than on its
# parent. scripts/demo-loop does the loop (make demo runs it too); this
# test checks its figures and the new version's lineage and metadata.
. "$NH_TOP/tests/cli/lib.sh"
NH="$NH_BIN/nh"
"$NH_TOP/scripts/demo-corpus" --out corpus >corpus.log 2>&1 || fail "demo-corpus"
"$NH_TOP/scripts/demo-shards" corpus shards >shards.log 2>&1 || fail "demo-shards"
nhd_start ./d out
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER="$NHD_URL"
export NH_TOKEN=$(cat d/admin.token)

"$NH" dataset import demo shards/*.jsonl --json >imp.json || fail "import"
# the parent: extracted and normalized, the quality defects still in it
echo '{"stages": [{"op": "extract"}, {"op": "normalize"}, {"op": "dedup.exact"}]}' >light.json
"$NH" pipeline run demo --config light.json --wait --json >job.json || fail "light pipeline"
expect_eq "light job" succeeded "$(json job.json 'j["state"]')"
parent=$(json job.json 'j["output"]')

"$PY" "$NH_TOP/scripts/demo-loop" --url "$NHD_URL" --token "$NH_TOKEN" \
    --ref "demo@$parent" --truth corpus/.truth.jsonl --work loop \
    --nh "$NH" --nh-clean "$NH_CLEAN" --size 600 --json loop.json \
    >loop.log 2>&1 || { cat loop.log >&2; fail "demo-loop"; }
cat loop.log
"$PY" - loop.json <<'PY' || fail "the loop did not improve the version"
import json, sys
r = json.load(open(sys.argv[1]))
p, c = r["parent"], r["child"]
assert p["judged"] >= 500 and c["judged"] >= 500, r
assert p["defects"] >= 15, r                     # the parent has defects
assert c["rate"] < 0.6 * p["rate"], r           # much lower
assert r["p"] < 0.05, r                          # and not by chance
assert c["population"] >= 0.85 * p["population"], r   # good text stays
PY
# the new version: a child of the parent, every document labeled and scored
"$NH" dataset lineage demo --json >lin.json
"$PY" - lin.json "$parent" <<'PY' || fail "lineage"
import json, sys
j, parent = json.load(open(sys.argv[1])), sys.argv[2]
s = json.dumps(j)
assert parent in s, j
PY
"$NH" dataset cat demo >child.jsonl || fail "dataset cat"
"$PY" - child.jsonl <<'PY' || fail "meta.labels / meta.ppl missing"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
assert len(docs) > 1000, len(docs)
for d in docs:
    m = d["meta"]
    assert isinstance(m["labels"], dict) and m["labels"], d
    assert all(0 <= v <= 1 for v in m["labels"].values()), d
    assert m["ppl"] > 1 and m["ppl_bucket"] in ("head", "middle", "tail"), d
PY
nhd_stop
exit 0
