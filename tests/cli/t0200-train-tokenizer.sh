# t0200-train-tokenizer.sh - nh-train tokenizer train/encode/decode and tokenize
#
# Trains a BPE tokenizer on real Chinese text (Tang poems from fortunes-zh
# and the zh fixture), round-trips text, random bytes and invalid UTF-8
# through the CLI, tokenizes JSONL shards (plain, zstd, a directory) and
# checks the manifest and every shard with an independent Python reader
# that decodes the tokens with its own reading of the tokenizer file.
. "$NH_TOP/tests/cli/lib.sh"
T="$NH_BIN/nh-train"

# usage
"$T" --help | grep -q "tokenizer train" || fail "--help"
"$T" --version | grep -q "^nh-train " || fail "--version"
rc=0; "$T" frobnicate 2>err || rc=$?
expect_eq "unknown command status" 2 "$rc"
grep -q "unknown command 'frobnicate'" err || fail "unknown command message"

# training text: poems (plain text) and the zh fixture (JSONL)
POEMS=/usr/share/games/fortunes/tang300.u8
[ -r "$POEMS" ] || fail "fortunes-zh is not installed (scripts/deps)"
cp "$POEMS" poems.txt
cp "$NH_TOP/tests/fixtures/zh-web.jsonl" zh.jsonl
"$T" tokenizer train --vocab 3000 --output tok -q --input poems.txt zh.jsonl \
    2>train.log || fail "train"
grep -q "vocabulary 3000" train.log || fail "vocabulary: $(cat train.log)"
head -n 1 tok | grep -qx "nh-bpe 1" || fail "tokenizer magic"
"$T" tokenizer info tok >info
grep -qx "vocab 3000" info || fail "info vocab"
grep -qx "special 256 <|endoftext|>" info || fail "info special"
# the same inputs in another order give the same tokenizer
"$T" tokenizer train --vocab 3000 --output tok2 -q zh.jsonl poems.txt 2>/dev/null
expect_same tok tok2

# round trips through the CLI
rt() {
    "$T" tokenizer encode tok "$1" >ids || fail "encode $1"
    "$T" tokenizer decode tok ids >back || fail "decode $1"
    expect_same "$1" back
}
rt poems.txt
head -c 20000 /dev/urandom >random.bin
rt random.bin
printf 'bad \xff\xfe utf-8 \xc3\x28 \xed\xa0\x80 \x00 nul 😀 中文 <|endoftext|>' >odd.bin
rt odd.bin
: >empty
rt empty
expect_eq "empty encodes to nothing" "" "$(cat ids)"
# compression on the training text: well over one byte a token
"$T" tokenizer encode --stats tok poems.txt 2>stats >/dev/null
"$PY" - stats <<'PYEOF' || fail "bytes/token: $(cat stats)"
import sys
f = open(sys.argv[1]).read().split()
bpt = float(f[f.index("bytes/token") + 1])
sys.exit(0 if bpt > 2.0 else 1)
PYEOF
# special names: text by default, the token with --special
printf 'a<|endoftext|>b' | "$T" tokenizer encode tok | grep -qw 256 &&
    fail "special name encoded as the token without --special"
expect_eq "--special" "97 256 98" \
    "$(printf 'a<|endoftext|>b' | "$T" tokenizer encode --special tok)"
# --lines: one line of ids per line, newlines not encoded
printf '第一行\n第二行\n' | "$T" tokenizer encode --lines tok >lines
expect_eq "--lines" 2 "$(wc -l <lines)"

# tokenize: a plain shard, a zstd shard and a directory of shards
mkdir -p in/sub
"$PY" - <<'PYEOF'
import json
poems = open("poems.txt", encoding="utf-8").read().split("%\n")
docs = [{"id": "p%d" % i, "text": p} for i, p in enumerate(poems) if p.strip()]
docs.append({"id": "odd", "text": "含有<|endoftext|>的文字 and emoji 😀\u0001"})
docs.append({"id": "empty", "text": ""})
with open("in/a.jsonl", "w") as f:
    for d in docs[:150]:
        f.write(json.dumps(d, ensure_ascii=False) + "\n")
with open("b.jsonl", "w") as f:
    for d in docs[150:]:
        f.write(json.dumps(d, ensure_ascii=False) + "\n")
PYEOF
zstd -q b.jsonl -o in/sub/b.jsonl.zst
cp "$NH_TOP/tests/fixtures/zh-web.jsonl" in/sub/c.jsonl
"$T" tokenize --tokenizer tok --output out -q in/a.jsonl in/sub ||
    fail "tokenize"
[ ! -e out/shard-00000.tok.tmp ] || fail "temp file left"
validate out/manifest.json "$NH_TOP/schemas/token-manifest.schema.json"
expect_eq "shards" 3 "$(json out/manifest.json 'len(j["shards"])')"
expect_eq "sources in order" "in/a.jsonl in/sub/b.jsonl.zst in/sub/c.jsonl" \
    "$(json out/manifest.json '" ".join(s["source"] for s in j["shards"])')"
expect_eq "tokenizer hash" "$(sed -n 's/^hash //p' info)" \
    "$(json out/manifest.json 'j["tokenizer"]["xxh3"]')"
i=0
for src in in/a.jsonl in/sub/b.jsonl.zst in/sub/c.jsonl; do
    sh=$(printf 'out/shard-%05d.tok' $i)
    expect_eq "source hash $src" "$(xxhsum -H2 "$src" 2>/dev/null | cut -d' ' -f1)" \
        "$(json out/manifest.json "j['shards'][$i]['source_xxh3']")"
    expect_eq "payload hash $sh" \
        "$(tail -c +65 "$sh" | xxhsum -H3 2>/dev/null | sed 's/.* = //')" \
        "$(json out/manifest.json "j['shards'][$i]['payload_xxh3']")"
    i=$((i + 1))
done

# the independent reader: header fields, counts, and every document
# decoded from its tokens with the merges of the tokenizer file
"$PY" - tok out in/a.jsonl in/sub/b.jsonl.zst in/sub/c.jsonl <<'PYEOF'
import json, struct, subprocess, sys
tok, out, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = open(tok, "rb").read().split(b"\n")
assert lines[0] == b"nh-bpe 1", lines[0]
vocab = int(lines[1].split()[1]); nsp = int(lines[2].split()[1])
merges = [tuple(map(int, l.split())) for l in lines[5 + nsp:-2]]
assert len(merges) == int(lines[3].split()[1]) == vocab - 256 - nsp
table = [bytes([i]) for i in range(256)]
table += [l.split()[2] for l in lines[5:5 + nsp]]
for a, b in merges:
    table.append(table[a] + table[b])
man = json.load(open(out + "/manifest.json"))
tot_docs = tot_toks = 0
for sh, src in zip(man["shards"], sources):
    data = open(out + "/" + sh["file"], "rb").read()
    (magic, ver, hsize, v, width, eot, flags, ntok, ndoc, phash,
     thash) = struct.unpack("<8sIIIIIIQQQQ", data[:64])
    assert magic == b"NHTOKENS" and ver == 1 and hsize == 64 and flags == 0
    assert v == vocab and width == 2 and eot == 256
    assert len(data) == 64 + 2 * ntok, (len(data), ntok)
    assert ntok == sh["tokens"] and ndoc == sh["documents"]
    assert "%016x" % phash == sh["payload_xxh3"]
    assert "%016x" % thash == man["tokenizer"]["xxh3"][16:]
    ids = struct.unpack("<%dH" % ntok, data[64:])
    assert ids[-1] == eot and ids.count(eot) == ndoc
    docs, cur = [], []
    for t in ids:
        if t == eot:
            docs.append(b"".join(cur)); cur = []
        else:
            cur.append(table[t])
    raw = subprocess.run(["zstd", "-dcq", src] if src.endswith(".zst")
                         else ["cat", src], capture_output=True).stdout
    want = [json.loads(l)["text"].encode() for l in raw.splitlines() if l]
    assert docs == want, (src, len(docs), len(want))
    tot_docs += ndoc; tot_toks += ntok
assert man["documents"] == tot_docs and man["tokens"] == tot_toks
PYEOF

# tokens check / read: the directory as one sequence of tokens
"$T" tokens check out >check || fail "tokens check"
expect_eq "check tokens" "$(json out/manifest.json 'j["tokens"]')" \
    "$(sed -n 's/^tokens //p' check)"
expect_eq "check shards" 3 "$(sed -n 's/^shards //p' check)"
n0=$(json out/manifest.json 'j["shards"][0]["tokens"]')
"$T" tokens read out $((n0 - 5)) 10 >across || fail "tokens read"
"$PY" - out $((n0 - 5)) 10 across <<'PYEOF' || fail "tokens read across shards"
import json, struct, sys
out, start, n, got = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ids = []
for sh in json.load(open(out + "/manifest.json"))["shards"]:
    data = open(out + "/" + sh["file"], "rb").read()[64:]
    ids += struct.unpack("<%dH" % (len(data) // 2), data)
sys.exit(0 if list(map(int, open(got).read().split())) == ids[start:start + n] else 1)
PYEOF
total=$(json out/manifest.json 'j["tokens"]')
rc=0; "$T" tokens read out $((total - 1)) 2 >/dev/null 2>err || rc=$?
expect_eq "read past the end" 1 "$rc"
cp -r out bad1
printf '\x01' | dd of=bad1/shard-00001.tok bs=1 seek=100 conv=notrunc 2>/dev/null
rc=0; "$T" tokens check bad1 >/dev/null 2>err || rc=$?
expect_eq "flipped payload" 1 "$rc"
grep -q "checksum mismatch" err || fail "payload message: $(cat err)"
cp -r out bad2
sed -i 's/"tokens": \([0-9]*\), "payload/"tokens": 1\1, "payload/' bad2/manifest.json
rc=0; "$T" tokens check bad2 >/dev/null 2>err || rc=$?
expect_eq "manifest counts" 1 "$rc"
grep -q "does not match the manifest" err || fail "count message: $(cat err)"
cp -r out bad3
rm bad3/shard-00002.tok
rc=0; "$T" tokens check bad3 >/dev/null 2>err || rc=$?
expect_eq "missing shard" 1 "$rc"
grep -q "cannot open '.*shard-00002.tok'" err || fail "missing shard message"

# bad inputs: nothing half-written, a message naming the problem
rc=0; "$T" tokenizer train --output x poems.txt 2>err || rc=$?
expect_eq "no --vocab" 2 "$rc"
rc=0; "$T" tokenizer train --vocab 100 --output x poems.txt 2>err || rc=$?
expect_eq "vocab too small" 2 "$rc"
grep -q "vocabulary size 100 out of range" err || fail "vocab message"
[ ! -e x ] || fail "tokenizer written on error"
rc=0; "$T" tokenizer train --vocab 1000 --output x nope.txt 2>err || rc=$?
expect_eq "missing input" 1 "$rc"
grep -q "cannot open 'nope.txt'" err || fail "missing input message"
sed '5s/^/1/' tok >corrupt.tok
rc=0; "$T" tokenizer encode corrupt.tok poems.txt >/dev/null 2>err || rc=$?
expect_eq "corrupt tokenizer" 1 "$rc"
grep -q "checksum mismatch" err || fail "corrupt tokenizer message"
rc=0; echo "1 2 3000" | "$T" tokenizer decode tok >/dev/null 2>err || rc=$?
expect_eq "id out of range" 1 "$rc"
grep -q "token id 3000 out of range" err || fail "range message"
rc=0; echo "1 x" | "$T" tokenizer decode tok >/dev/null 2>err || rc=$?
expect_eq "bad id" 1 "$rc"
printf '{"id": "1", "text": "好"}\n{"id": "2"}\n' >bad.jsonl
rc=0; "$T" tokenize --tokenizer tok --output out2 bad.jsonl 2>err || rc=$?
expect_eq "doc without text" 1 "$rc"
grep -q "'bad.jsonl' line 2" err || fail "bad doc message: $(cat err)"
[ ! -e out2/manifest.json ] && [ ! -e out2/shard-00000.tok ] &&
    [ ! -e out2/shard-00000.tok.tmp ] || fail "partial output left"
rc=0; "$T" tokenize --tokenizer tok --output out3 poems.txt 2>err || rc=$?
expect_eq "not jsonl" 2 "$rc"
rc=0; "$T" tokenize --tokenizer nope --output out3 b.jsonl 2>err || rc=$?
expect_eq "missing tokenizer" 2 "$rc"
echo "t0200 ok"
