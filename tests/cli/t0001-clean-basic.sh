# t0001: a run over every input format: outputs, removed records, stats
. "$NH_TOP/tests/cli/lib.sh"

make_corpus corpus
"$NH_CLEAN" run --progress none -j 2 -o out corpus > summary.txt

[ -f out/stats.json ] || fail "no stats.json"
[ ! -e out/.work ] || fail "work directory left behind"
validate out/stats.json "$NH_TOP/schemas/stats.schema.json"

cat_shards out/data > kept.jsonl
cat_shards out/removed > removed.jsonl

# every output line is a JSON object with id and text; ids unique
"$PY" - kept.jsonl removed.jsonl <<'PYEOF'
import json, sys, collections
kept = [json.loads(l) for l in open(sys.argv[1])]
removed = [json.loads(l) for l in open(sys.argv[2])]
ids = [r["id"] for r in kept]
assert len(ids) == len(set(ids)), "duplicate ids in output"
assert all(isinstance(r["text"], str) and r["text"] for r in kept)
by = {r["id"]: r for r in kept}
# unknown fields ride along
assert by["en-0"]["extra"] == {"keep": [1, 2, 3]}, by["en-0"]
assert by["zh-0"]["meta"]["url"] == "https://example.cn/0"
# the .gz copy duplicates the plain file: exact dedup keeps the first
rm = collections.defaultdict(list)
for r in removed:
    rm[r["id"]].append(r)
    assert r["removed_by"] and r["reason"], r
dups = [r for r in removed if r["reason"] == "exact_duplicate"]
assert dups and all(r["removed_by"] == "dedup.exact" and r["duplicate_of"] for r in dups)
assert any(r["id"] == "zh-dup" and r["duplicate_of"] == "zh-0" for r in dups)
# HTML became text with its title, without script or navigation
page = by["corpus/web/page-zh.html"]
assert "香山红叶" in page["text"] and "tracking" not in page["text"], page
assert page["source"] == "web", page["source"]
assert by["corpus/notes/note-zh.txt"]["source"] == "notes"
assert "首页" not in page["text"]
# a .txt file is one document
assert "corpus/notes/note-zh.txt" in by
# the kept + removed documents account for every input document
print(len(kept), len(removed))
PYEOF

# stats add up: each stage's out equals the next stage's in
"$PY" - out/stats.json <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
prev = s["read"]["docs_out"]
for st in s["stages"]:
    assert st["docs_in"] == prev, (st["op"], st["docs_in"], prev)
    assert st["docs_in"] - st["docs_out"] == sum(st["removed"].values()), st
    prev = st["docs_out"]
assert prev == s["output"]["docs"], (prev, s["output"])
total_removed = sum(sum(st["removed"].values()) for st in s["stages"]) + sum(s["read"]["removed"].values())
assert total_removed == s["output"]["removed_docs"], (total_removed, s["output"])
assert s["inputs"]["files"] == 8, s["inputs"]
PYEOF

grep -q '^dedup.exact' summary.txt || fail "summary table lacks dedup.exact"
grep -q 'exact_duplicate' summary.txt || fail "summary table lacks reasons"

# nh-clean stats prints the same table
"$NH_CLEAN" stats out > again.txt
grep -q '^filter.rules' again.txt || fail "stats command output"
