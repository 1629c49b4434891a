# t0008: dedup.minhash removes planted near duplicates (reason
# near_duplicate, duplicate_of the first of the cluster, a cluster number),
# keeps unrelated documents, gives byte-identical output for -j1 and -j2,
# counts clusters by size in stats.json, and with "keep": "quality" keeps
# the member with the highest meta.quality
. "$NH_TOP/tests/cli/lib.sh"

mkdir -p corpus
# originals in a.jsonl; in b.jsonl (a later unit) one near copy of each
# Chinese and English original (a few characters or one word changed), a
# long unrelated document, and the originals' exact copies in c.jsonl
"$PY" - "$NH_TOP/tests/fixtures" corpus <<'PYEOF'
import json, sys
fx, out = sys.argv[1], sys.argv[2]
zh = {json.loads(l)["id"]: json.loads(l)["text"] for l in open(fx + "/zh-web.jsonl")}
en = {json.loads(l)["id"]: json.loads(l)["text"] for l in open(fx + "/en-web.jsonl")}
zh_long = "\n".join(zh[k] for k in ("zh-0", "zh-1", "zh-2"))
en_long = "\n".join(en[k] for k in ("en-0", "en-1", "en-2"))
# (zh-3..5 repeat zh-0..2 with the paragraphs swapped: not unrelated)
other = ("今年春天雨水偏多，南方不少地区的茶园推迟了采摘。茶农说，头茬茶的产量"
         "比往年少了两成，但是因为生长期长，叶片更厚，香气也更足。镇上的合作社"
         "请来农业大学的老师，教大家怎样在雨季防治病虫害，怎样把采下的鲜叶及时"
         "摊晾，避免发酵变质。不少年轻人也回到村里，用手机直播介绍自家的茶叶，"
         "订单从全国各地发来，快递车每天下午准时到村口收货。")
def zh_variant(t):
    s = list(t)
    for at in (100, 400, 700):
        while not ("\u4e00" <= s[at] <= "\u9fff"):
            at += 1
        s[at] = "鑫"
    return "".join(s)
words = en_long.split(" ")
words[150] = "zebra"
en_near = " ".join(words)
assert zh_variant(zh_long) != zh_long and en_near != en_long
def w(name, recs):
    with open(out + "/" + name, "w") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
w("a.jsonl", [{"id": "zh-orig", "text": zh_long, "meta": {"quality": 0.5}},
              {"id": "en-orig", "text": en_long, "meta": {"quality": 0.9}}])
w("b.jsonl", [{"id": "other", "text": other},
              {"id": "zh-near", "text": zh_variant(zh_long), "meta": {"quality": 0.7}},
              {"id": "en-near", "text": en_near, "meta": {"quality": 0.2}}])
w("c.jsonl", [{"id": "zh-copy", "text": zh_long, "meta": {"quality": 0.7}}])
PYEOF
cat > mh.json <<'JSON'
{"stages": [{"op": "normalize"}, {"op": "dedup.minhash", "threshold": 0.8}]}
JSON
validate mh.json "$NH_TOP/schemas/pipeline.schema.json"
for n in 1 2; do
    "$NH_CLEAN" run --progress none -q -j $n -c mh.json -o out$n corpus
done
for f in out1/data/* out1/removed/*; do
    expect_same "$f" "out2/${f#out1/}"
done
cat_shards out1/data > kept.jsonl
cat_shards out1/removed > removed.jsonl
"$PY" - kept.jsonl removed.jsonl <<'PYEOF'
import json, sys
kept = sorted(json.loads(l)["id"] for l in open(sys.argv[1]))
removed = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
assert kept == ["en-orig", "other", "zh-orig"], kept
assert sorted(removed) == ["en-near", "zh-copy", "zh-near"], sorted(removed)
want = {"zh-near": "zh-orig", "en-near": "en-orig", "zh-copy": "zh-orig"}
for i, r in removed.items():
    assert r["reason"] == "near_duplicate", r
    assert r["removed_by"] == "dedup.minhash", r
    assert r["duplicate_of"] == want[i], r
# clusters numbered 1, 2 in input order of their first dropped member
# (zh-near, then en-near); zh-copy shares zh-near's
assert removed["zh-near"]["cluster"] == 1, removed["zh-near"]
assert removed["en-near"]["cluster"] == 2, removed["en-near"]
assert removed["zh-copy"]["cluster"] == 1, removed["zh-copy"]
PYEOF
expect_eq "clusters in stats" 2 \
    "$(json out1/stats.json '[s for s in j["stages"] if s["op"] == "dedup.minhash"][0]["clusters"]')"
expect_eq "cluster sizes in stats" '{"2": 1, "3": 1, "4-7": 0, "8-15": 0, "16+": 0}' \
    "$(json out1/stats.json 'json.dumps([s for s in j["stages"] if s["op"] == "dedup.minhash"][0]["cluster_sizes"])')"
expect_eq "no clusters for other stages" "None" \
    "$(json out1/stats.json '[s for s in j["stages"] if s["op"] == "normalize"][0].get("clusters")')"
expect_eq "near duplicates in stats" 3 \
    "$(json out1/stats.json '[s for s in j["stages"] if s["op"] == "dedup.minhash"][0]["removed"]["near_duplicate"]')"
validate out1/stats.json "$NH_TOP/schemas/stats.schema.json"

# keep: quality keeps the highest meta.quality of each cluster, the first
# of equal ones (zh-near and zh-copy both 0.7: zh-near)
cat > mhq.json <<'JSON'
{"stages": [{"op": "normalize"}, {"op": "dedup.minhash", "keep": "quality"}]}
JSON
validate mhq.json "$NH_TOP/schemas/pipeline.schema.json"
for n in 1 2; do
    "$NH_CLEAN" run --progress none -q -j $n -c mhq.json -o outq$n corpus
done
for f in outq1/data/* outq1/removed/*; do
    expect_same "$f" "outq2/${f#outq1/}"
done
cat_shards outq1/data > keptq.jsonl
cat_shards outq1/removed > removedq.jsonl
"$PY" - keptq.jsonl removedq.jsonl <<'PYEOF'
import json, sys
kept = sorted(json.loads(l)["id"] for l in open(sys.argv[1]))
removed = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
assert kept == ["en-orig", "other", "zh-near"], kept
want = {"zh-orig": "zh-near", "zh-copy": "zh-near", "en-near": "en-orig"}
assert {i: r["duplicate_of"] for i, r in removed.items()} == want, removed
assert removed["zh-orig"]["cluster"] == removed["zh-copy"]["cluster"] == 1
assert removed["en-near"]["cluster"] == 2
PYEOF
validate outq1/stats.json "$NH_TOP/schemas/stats.schema.json"
if "$NH_CLEAN" run --progress none -q -c <(echo '{"stages": [{"op": "dedup.minhash", "keep": "best"}]}') -o bad corpus 2>err; then
    fail "keep: best accepted"
fi
grep -q "'keep'" err || fail "no mention of 'keep': $(cat err)"

# a bad parameter is a config error naming the field
if "$NH_CLEAN" run --progress none -q -c <(echo '{"stages": [{"op": "dedup.minhash", "bands": 4}]}') -o bad corpus 2>err; then
    fail "bands without rows accepted"
fi
grep -q "'rows'" err || fail "no mention of 'rows': $(cat err)"
