# t0004: bad input never stops a run and never passes silently
. "$NH_TOP/tests/cli/lib.sh"

mkdir in
cp "$NH_TOP/tests/fixtures/en-web.jsonl" in/good.jsonl
{
    head -n 1 "$NH_TOP/tests/fixtures/en-web.jsonl"
    echo '{"id": "trunc", "text": "cut off'
    echo '[1, 2, 3]'
    echo '{"id": "notext", "body": "no text field here"}'
    echo '{"id": "numtext", "text": 42}'
    printf '{"id": "badutf8-meta", "text": "fine", "meta": {"x": "\xff\xfe"}}\n'
    echo '{"id": "trailing", "text": "x"} garbage'
    echo '{"id": "nul", "text": "before\u0000after"}'
    echo '{"id": "not-nul", "text": "a literal \\u0000 is text"}'
    echo ''
    printf '{"id": "big", "text": "%s"}\n' "$(head -c 3000 /dev/zero | tr '\0' 'a')"
    tail -n 1 "$NH_TOP/tests/fixtures/en-web.jsonl"
} > in/bad.jsonl
printf 'ELF\0\0\0binary\0data' > in/blob.txt
printf '\x28\xb5\x2f\xfd garbage that is not zstd' > in/corrupt.jsonl.zst
printf '{"id":"bad-utf8-text","text":"caf\xe9 au lait and more words here"}\n' > in/latin1.jsonl

cat > cfg.json <<'CFG'
{"max_doc_bytes": 2048, "stages": [{"op": "normalize"}, {"op": "dedup.exact"}]}
CFG
"$NH_CLEAN" run --progress none -q -c cfg.json -o out in

cat_shards out/removed > removed.jsonl
"$PY" - out/stats.json removed.jsonl <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
rm = s["read"]["removed"]
want = {"invalid_json": 3, "missing_text": 2, "invalid_utf8": 1,
        "line_too_long": 1, "binary_file": 1, "unreadable_file": 1,
        "nul_character": 1}
for k, v in want.items():
    assert rm.get(k) == v, (k, rm)
removed = [json.loads(l) for l in open(sys.argv[2])]
read = [r for r in removed if r["removed_by"] == "read"]
assert len(read) == sum(want.values()), len(read)
trunc = [r for r in read if r["reason"] == "invalid_json" and "cut off" in r.get("raw", "")]
assert trunc and trunc[0]["file"] == "in/bad.jsonl" and trunc[0]["line"] == 2, trunc
big = [r for r in read if r["reason"] == "line_too_long"][0]
assert big["truncated"] is True and len(big["raw"]) == 2048, big
nt = [r for r in read if r["reason"] == "missing_text"]
assert {r["id"] for r in nt} == {"notext", "numtext"}, nt
un = [r for r in read if r["reason"] == "unreadable_file"][0]
assert un["file"] == "in/corrupt.jsonl.zst" and "zstd" in un["error"], un
# the text with a Latin-1 byte was repaired by normalize, not dropped
kept = s["output"]["docs"]
assert kept >= 7, kept
PYEOF
cat_shards out/data | grep -q 'caf\\ufffd\|caf�' || fail "invalid UTF-8 in text was not repaired"
cat_shards out/data | "$PY" -c 'import sys, json; [json.loads(l) for l in sys.stdin]'

# without a normalize stage, invalid UTF-8 text is rejected instead
echo '{"stages": [{"op": "dedup.exact"}]}' > cfg2.json
"$NH_CLEAN" run --progress none -q -c cfg2.json -o out2 in/latin1.jsonl
expect_eq "invalid_utf8 without normalize" 1 "$(json out2/stats.json 'j["read"]["removed"]["invalid_utf8"]')"
