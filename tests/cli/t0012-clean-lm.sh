# t0012: nh-clean lm train|score. 4-gram (and 2- and 1-gram) models trained on Chinese and
# English documents (JSONL and plain text) with --arpa; the per-document
# perplexities from the binary model agree within 1e-6 relative with an
# independent ARPA reader written here (tokenization as docs/LM.md states
# it, backoff p(w|h) = p(hw) if listed, else bow(h) p(w|h')); the ARPA
# probabilities of every continuation of several contexts sum to one;
# --percentiles matches the reader's; bad inputs get clear errors.
. "$NH_TOP/tests/cli/lib.sh"

# training and test documents: sentences of the fixtures, one per doc
"$PY" - "$NH_TOP/tests/fixtures" <<'PYEOF'
import json, re, sys, random
fx = sys.argv[1]
docs = []
for name in ("zh-web.jsonl", "en-web.jsonl"):
    for l in open(fx + "/" + name):
        t = json.loads(l)["text"]
        for s in re.split(r"(?<=[。！？.!?])\s*|\n", t):
            if s.strip():
                docs.append(s.strip())
random.seed(4)
random.shuffle(docs)
test = docs[:40]
train = docs[40:]
with open("train.jsonl", "w") as f:
    for i, d in enumerate(train[: len(train) // 2]):
        f.write(json.dumps({"id": "t%d" % i, "text": d}, ensure_ascii=False) + "\n")
with open("train.txt", "w") as f:
    for d in train[len(train) // 2:]:
        f.write(d + "\n")
test += ["Completely UNSEEN words here, zebra quokka", "没见过的字：龘靐齉",
         "我用 Linux 系统", "", "   ", "<s> a </s> b"]
with open("test.jsonl", "w") as f:
    for i, d in enumerate(test):
        f.write(json.dumps({"id": "d%d" % i, "text": d}, ensure_ascii=False) + "\n")
with open("test.txt", "w") as f:
    for d in test:
        f.write(d + "\n")
PYEOF

"$NH_CLEAN" lm train --order 4 --input train.jsonl --input train.txt \
    --output model.nhlm --arpa model.arpa > summary.txt ||
    fail "lm train failed"
grep -q '^documents ' summary.txt || fail "no summary: $(cat summary.txt)"
grep -q '^4-grams ' summary.txt || fail "no 4-gram count in the summary"
[ -s model.nhlm ] && [ -s model.arpa ] || fail "no model written"
[ ! -e model.nhlm.tmp ] || fail "temp file left behind"

"$NH_CLEAN" lm score model.nhlm test.jsonl > scores.tsv || fail "lm score failed"
"$NH_CLEAN" lm score model.nhlm < test.txt > scores-stdin.txt ||
    fail "lm score from stdin failed"
"$NH_CLEAN" lm score --percentiles model.nhlm test.jsonl > pct.txt ||
    fail "lm score --percentiles failed"

# orders 1 and 2 too (the edge cases of the backoff loop)
for o in 1 2; do
    "$NH_CLEAN" lm train --order $o --input train.jsonl --input train.txt \
        --output model$o.nhlm --arpa model$o.arpa --quiet ||
        fail "lm train --order $o failed"
    "$NH_CLEAN" lm score model$o.nhlm test.jsonl > scores$o.tsv
    "$NH_CLEAN" lm score model$o.nhlm < test.txt > scores-stdin$o.txt
    "$NH_CLEAN" lm score --percentiles model$o.nhlm test.jsonl > pct$o.txt
done

# the independent reader
cat > reader.py <<'PYEOF'
import json, math, sys, unicodedata
arpa, testf, scoresf, stdinf, pctf, want_order = sys.argv[1:]

def is_space(c):
    o = ord(c)
    if o < 0x80:
        return c in " \t\n\v\f\r\0"
    if o in (0x85, 0xFEFF, 0x200B):
        return True
    return unicodedata.category(c) in ("Zs", "Zl", "Zp")

def is_cjk(c):
    o = ord(c)
    rs = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF),
          (0x20000, 0x323AF), (0x3007, 0x3007), (0x3040, 0x30FF),
          (0x31F0, 0x31FF), (0xAC00, 0xD7AF), (0x1100, 0x11FF),
          (0x3100, 0x312F), (0x3130, 0x318F), (0x31A0, 0x31BF),
          (0xFF66, 0xFF9F), (0x1B000, 0x1B16F)]
    return any(a <= o <= b for a, b in rs)

def tokens(text):
    ncjk = nruns = 0
    run = False
    for c in text:
        if is_cjk(c):
            ncjk += 1; run = False
        elif is_space(c):
            run = False
        elif not run:
            nruns += 1; run = True
    if ncjk and ncjk >= nruns:
        return [c for c in text if not is_space(c)]
    out, cur = [], ""
    for c in text + " ":
        if is_space(c):
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += c.lower() if "A" <= c <= "Z" else c
    return out

# \data\ counts, then the n-gram sections
order = 0
counts = {}
grams = {}
section = None
for line in open(arpa, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line:
        continue
    if line == "\\data\\":
        section = "data"; continue
    if line == "\\end\\":
        section = "end"; continue
    if line.startswith("\\") and line.endswith("-grams:"):
        section = int(line[1:-7]); order = max(order, section); continue
    if section == "data":
        k, v = line[len("ngram "):].split("=")
        counts[int(k)] = int(v)
        continue
    f = line.split("\t")
    words = tuple(f[1].split(" "))
    assert len(words) == section, line
    grams[words] = (float(f[0]), float(f[2]) if len(f) > 2 else 0.0)
assert section == "end", "no \\end\\"
for n in counts:
    got = sum(1 for g in grams if len(g) == n)
    assert got == counts[n], "ngram %d: header %d, listed %d" % (n, counts[n], got)
assert order == int(want_order), order

def logp(hist, w):
    # ARPA backoff: p(w|h) = p(hw) if listed, else bow(h) * p(w|h')
    h = tuple(hist[-(order - 1):]) if order > 1 else ()
    while True:
        g = h + (w,)
        if g in grams:
            return grams[g][0]
        if not h:
            raise KeyError(w)
        b = grams[h][1] if h in grams else 0.0
        return b + logp(h[1:], w)

vocab = {g[0] for g in grams if len(g) == 1}

# literal "<s>" in a document is an unknown word (docs/LM.md)
def tokens_mapped(text):
    return ["<unk>" if t in ("<s>", "</s>") else t for t in tokens(text)]
def ppl(text):
    ws = ["<s>"]
    total = 0.0
    for t in tokens_mapped(text) + ["</s>"]:
        if t not in vocab:
            t = "<unk>"
        total += logp(ws, t)
        ws.append(t)
    return 10 ** (-total / (len(ws) - 1))

docs = [json.loads(l) for l in open(testf, encoding="utf-8")]
want = [ppl(d["text"]) for d in docs]
got = [l.rstrip("\n").split("\t") for l in open(scoresf, encoding="utf-8")]
assert len(got) == len(docs), (len(got), len(docs))
worst = 0.0
for d, w, (gid, gp) in zip(docs, want, got):
    assert gid == d["id"], (gid, d["id"])
    rel = abs(float(gp) - w) / w
    worst = max(worst, rel)
    assert rel < 1e-6, "%s: binary %s, ARPA %r (rel %g)" % (gid, gp, w, rel)
stdin = [float(l) for l in open(stdinf)]
assert len(stdin) == len(docs), (len(stdin), len(docs))
for s, w in zip(stdin, want):
    assert abs(s - w) / w < 1e-6, (s, w)
# unseen words and characters cost more than seen text
assert want[-6] > sorted(want[:40])[20] and want[-5] > sorted(want[:40])[20], want[-6:]

# normalization from the ARPA file alone: every continuation of a few
# contexts (empty, seen, unseen) sums to one
targets = sorted(v for v in vocab if v != "<s>")
ctxs = [(), ("<s>",), ("<unk>",)]
ctxs += [g[:-1] for g in list(grams)[::max(1, len(grams) // 25)] if len(g) > 1]
ctxs += [("<s>",) + g[:2] for g in list(grams)[::97] if len(g) == 3 and g[0] != "<s>"]
for h in ctxs:
    s = sum(10 ** logp(list(h), w) for w in targets)
    assert abs(s - 1) < 1e-5, (h, s)

def q(v, p):
    v = sorted(v)
    pos = p * (len(v) - 1)
    lo = int(pos)
    if lo + 1 >= len(v):
        return v[-1]
    return v[lo] + (pos - lo) * (v[lo + 1] - v[lo])
pct = dict(l.split("\t") for l in open(pctf).read().split("\n") if l)
for k, p in (("p30", 0.3), ("p60", 0.6)):
    assert abs(float(pct[k]) - q(want, p)) / q(want, p) < 1e-6, (k, pct[k], q(want, p))
print("ok: order %d, %d documents, worst relative difference %.2g, %d contexts sum to 1"
      % (order, len(docs), worst, len(ctxs)))
PYEOF
"$PY" reader.py model.arpa test.jsonl scores.tsv scores-stdin.txt pct.txt 4
for o in 1 2; do
    "$PY" reader.py model$o.arpa test.jsonl scores$o.tsv scores-stdin$o.txt \
        pct$o.txt $o
done

# bad inputs
expect_code() {
    local want=$1 pat=$2
    shift 2
    set +e
    "$@" > out.txt 2> err.txt
    local rc=$?
    set -e
    [ "$rc" = "$want" ] || fail "$*: exit $rc, want $want ($(cat err.txt))"
    grep -q -- "$pat" err.txt || fail "$*: no '$pat' in: $(cat err.txt)"
}
expect_code 1 "cannot open 'nope.nhlm'" "$NH_CLEAN" lm score nope.nhlm test.txt
head -c 1000 model.nhlm > short.nhlm
expect_code 1 "'short.nhlm' is not a usable language model: truncated" \
    "$NH_CLEAN" lm score short.nhlm test.txt
expect_code 1 "'model.arpa' is not a usable language model" \
    "$NH_CLEAN" lm score model.arpa test.txt
expect_code 2 "needs --input and --output" "$NH_CLEAN" lm train --input train.txt
expect_code 2 "'--order' must be a number" \
    "$NH_CLEAN" lm train --order 0 --input train.txt --output x.nhlm
expect_code 1 "cannot open 'missing.txt'" \
    "$NH_CLEAN" lm train --input missing.txt --output x.nhlm
printf '{"text": "a b"}\n{"id": 1}\n' > bad.jsonl
expect_code 1 "'bad.jsonl' line 2: no string field 'text'" \
    "$NH_CLEAN" lm train --input bad.jsonl --output x.nhlm
printf '\n\n' > empty.txt
expect_code 1 "no documents to train on" \
    "$NH_CLEAN" lm train --input empty.txt --output x.nhlm
[ ! -e x.nhlm ] || fail "a model was written on failure"
expect_code 2 "unknown lm command 'eval'" "$NH_CLEAN" lm eval
echo "t0012 ok"
