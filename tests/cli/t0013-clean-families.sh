#!/usr/bin/env bash
# t0013-clean-families.sh - near-duplicate removal and augmentation
# families: b's augmented copy (full-width punctuation, which normalize
# undoes in English text) is not removed as a duplicate of b by
# dedup.exact or dedup.minhash, while c, a copy of a under another id, and
# c's copy (equal to a's copy; a's Chinese copy stays distinct after
# normalize) and a second original with b's id and text still are; with
# "families": false b's copy is removed too.
. "$NH_TOP/tests/cli/lib.sh"

"$PY" - <<'PYEOF'
import json
zh = "这是第一篇文章,内容足够长,用来测试去重!它有好几句话?这样规则过滤不会删掉它." * 3
en = "Second document, long enough for the rules. It has several sentences! And more words here." * 3
docs = [{"id": "a", "text": zh}, {"id": "b", "text": en}, {"id": "c", "text": zh}]
with open("in.jsonl", "w") as f:
    for d in docs:
        f.write(json.dumps(d, ensure_ascii=False) + "\n")
# an original that only shares b's id (the same file imported twice)
with open("zz-again.jsonl", "w") as f:
    f.write(json.dumps(docs[1], ensure_ascii=False) + "\n")
PYEOF
echo '{"ops": [{"op": "punct_width", "to": "full"}]}' >ops.json
"$NH_BIN/nh-clean" augment --ops ops.json -o aug --seed 1 in.jsonl >/dev/null ||
    fail "augment failed"
cp zz-again.jsonl aug/data/

ids() { cat "$1"/* 2>/dev/null | "$PY" -c '
import json, sys
print(" ".join(sorted(json.loads(l)["id"] + ("<" + json.loads(l)["duplicate_of"] if "duplicate_of" in json.loads(l) else "") for l in sys.stdin)))'; }

for stage in dedup.exact dedup.minhash; do
    for fam in true false; do
        echo "{\"stages\": [{\"op\": \"normalize\"}, {\"op\": \"$stage\", \"families\": $fam}]}" >cfg.json
        rm -rf out
        "$NH_BIN/nh-clean" run -q -c cfg.json -o out aug/data >/dev/null ||
            fail "$stage families=$fam: run failed"
        echo "$stage $fam kept: $(ids out/data)" >>actual
        echo "$stage $fam removed: $(ids out/removed)" >>actual
    done
done
cat >expect <<'EOF2'
dedup.exact true kept: a a#a0 b b#a0
dedup.exact true removed: b<b c#a0<a#a0 c<a
dedup.exact false kept: a a#a0 b
dedup.exact false removed: b#a0<b b<b c#a0<a#a0 c<a
dedup.minhash true kept: a a#a0 b b#a0
dedup.minhash true removed: b<b c#a0<a#a0 c<a
dedup.minhash false kept: a a#a0 b
dedup.minhash false removed: b#a0<b b<b c#a0<a#a0 c<a
EOF2
diff -u expect actual || fail "families"
echo '{"stages": [{"op": "dedup.exact", "families": 3}]}' >bad.json
"$NH_BIN/nh-clean" check-config bad.json 2>err.txt && fail "families: 3 accepted"
grep -q "'families'" err.txt || fail "bad families message: $(cat err.txt)"
exit 0
