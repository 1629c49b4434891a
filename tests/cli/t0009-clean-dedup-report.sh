# t0009: nh-clean dedup-report lists the largest dedup.minhash clusters
# (kept document and the first removed members, the text cut to about 60
# display columns), honours --top and --members, and refuses bad usage
. "$NH_TOP/tests/cli/lib.sh"

mkdir -p corpus
# three Chinese originals from the fixtures; copies make clusters of 4
# (zh-0), 2 (zh-1) and 3 (zh-2) documents, listed largest first
"$PY" - "$NH_TOP/tests/fixtures" corpus <<'PYEOF'
import json, sys
fx, out = sys.argv[1], sys.argv[2]
zh = [json.loads(l)["text"] for l in open(fx + "/zh-web.jsonl")][:3]
recs = []
for k, n in ((0, 3), (1, 1), (2, 2)):
    recs.append({"id": "orig-%d" % k, "text": zh[k]})
for k, n in ((0, 3), (1, 1), (2, 2)):
    for c in range(n):
        recs.append({"id": "copy-%d-%d" % (k, c), "text": zh[k] + "。" * (c + 1)})
with open(out + "/a.jsonl", "w") as f:
    for r in recs:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
PYEOF
cat > mh.json <<'JSON'
{"stages": [{"op": "normalize"}, {"op": "dedup.minhash"}]}
JSON
"$NH_CLEAN" run --progress none -q -j 2 -c mh.json -o out corpus
"$NH_CLEAN" dedup-report out > all.txt
"$NH_CLEAN" dedup-report --top 2 --members 1 out > top.txt
"$PY" - all.txt top.txt "$NH_TOP/tests/fixtures/zh-web.jsonl" <<'PYEOF'
import json, sys, unicodedata
a = open(sys.argv[1], encoding="utf-8").read().split("\n")
t = open(sys.argv[2], encoding="utf-8").read().split("\n")
zh = [json.loads(l)["text"] for l in open(sys.argv[3])][:3]
assert a[0] == "3 cluster(s), 6 document(s) removed as near duplicates", a[0]
heads = [l for l in a if l.startswith("cluster ")]
assert [h.split(": ")[1] for h in heads] == ["4 documents", "3 documents", "2 documents"], heads
kept = [l.split()[1] for l in a if l.startswith("  kept ")]
assert kept == ["orig-0", "orig-2", "orig-1"], kept
rem = [l.split()[1] for l in a if l.startswith("  removed ")]
assert rem == ["copy-0-0", "copy-0-1", "copy-0-2", "copy-2-0", "copy-2-1", "copy-1-0"], rem
def cols(s):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)
for l in a:
    if l.startswith("  kept ") or l.startswith("  removed "):
        text = l.split(None, 2)[2]
        assert text.endswith("…"), l
        assert 55 <= cols(text) <= 61, (cols(text), l)
        # (normalize may have changed punctuation further on)
        assert any(z.startswith(text[:6]) for z in zh), l
assert t[0] == "3 cluster(s), 6 document(s) removed as near duplicates; the 2 largest:", t[0]
assert [l.split()[1] for l in t if l.startswith("  kept ")] == ["orig-0", "orig-2"], t
assert [l.split()[1] for l in t if l.startswith("  removed ")] == ["copy-0-0", "copy-2-0"], t
assert "  ... and 2 more" in t and "  ... and 1 more" in t, t
PYEOF

# bad usage
if "$NH_CLEAN" dedup-report --top x out >/dev/null 2>err; then fail "--top x accepted"; fi
grep -q "'--top'" err || fail "no mention of '--top': $(cat err)"
if "$NH_CLEAN" dedup-report out extra >/dev/null 2>&1; then fail "two dirs accepted"; fi
if "$NH_CLEAN" dedup-report nowhere >/dev/null 2>err; then fail "missing dir accepted"; fi
grep -q "cannot open 'nowhere/removed'" err || fail "bad message: $(cat err)"
