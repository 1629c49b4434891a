# t0011: nh-clean classifier train/test/predict round trip on a three-way
# problem built from the fixtures (Chinese ads, Chinese web text, English
# web text; held-out sentences for the test file): fastText text format
# and gzipped JSONL both train; test's P@1 agrees with predict's output;
# predict --k --prob prints sorted probabilities; a line without a label is
# skipped with a warning naming file:line; bad usage, missing and corrupt
# files get clear errors
. "$NH_TOP/tests/cli/lib.sh"

"$PY" - "$NH_TOP/tests/fixtures" <<'PYEOF'
import json, random, re, sys
fx = sys.argv[1]
rng = random.Random(5)
def sentences(name):
    out = []
    for l in open(fx + "/" + name, encoding="utf-8"):
        t = json.loads(l)["text"]
        out += [" ".join(s.split()) for s in re.split(r"(?<=[。！？.!?])\s*", t) if len(s.strip()) > 8]
    return sorted(set(out))
zh, en = sentences("zh-web.jsonl"), sentences("en-web.jsonl")
ads_open = ["【限时特惠】", "【爆款秒杀】", "【新人专享】", "【今日福利】"]
ads_body = ["点击下方链接立即领取新人红包，", "扫码加微信好友领取无门槛优惠券，", "复制口令打开购物软件马上抢购，"]
ads_prod = ["蓝牙耳机", "智能手表", "保温水杯", "充电宝", "运动鞋", "电饭煲", "台灯", "羽绒服"]
ads_tail = ["只要九块九，数量有限先到先得！", "全场包邮，错过今天再等一年！", "库存不多，手慢无！"]
def ad(test):
    p = ads_prod[6:] if test else ads_prod[:6]
    return rng.choice(ads_open) + rng.choice(ads_body) + rng.choice(p) + rng.choice(ads_tail)
def split(xs):
    return [x for i, x in enumerate(xs) if i % 5], [x for i, x in enumerate(xs) if i % 5 == 0]
zh_tr, zh_te = split(zh)
en_tr, en_te = split(en)
def make(n, test):
    out = []
    for i in range(n):
        c = ("ad", "zh", "en")[i % 3]
        t = ad(test) if c == "ad" else rng.choice(zh_te if test else zh_tr) if c == "zh" else rng.choice(en_te if test else en_tr)
        out.append((c, t))
    return out
train, test = make(600, False), make(150, True)
with open("train.txt", "w") as f:
    for i, (c, t) in enumerate(train):
        if i == 10:
            f.write("this line has no label\n\n")
        f.write("__label__%s %s\n" % (c, t))
with open("train.jsonl", "w") as f:
    for c, t in train:
        f.write(json.dumps({"label": c if len(t) % 2 else [c], "text": t}, ensure_ascii=False) + "\n")
with open("test.txt", "w") as f:
    for c, t in test:
        f.write("__label__%s %s\n" % (c, t))
with open("gold.txt", "w") as f:
    for c, t in test:
        f.write(c + "\n")
with open("text.txt", "w") as f:
    for c, t in test:
        f.write(t + "\n")
PYEOF
gzip -k train.jsonl

OPTS="--dim 16 --bucket 100000 --wordNgrams 2 --epoch 10 --lr 0.5 --thread 2"
# shellcheck disable=SC2086
"$NH_CLEAN" classifier train --input train.txt --output m.ftc $OPTS > train.out 2> train.err
grep -q '^examples 600, .* labels 3, threads 2' train.out || fail "train summary: $(cat train.out)"
grep -q "warning: 1 line skipped; the first: 'train.txt':11: no __label__ token" train.err ||
    fail "skip warning: $(cat train.err)"
[ -s m.ftc ] && [ ! -e m.ftc.tmp ] || fail "model not written"

"$NH_CLEAN" classifier test m.ftc test.txt > test.out
grep -q '^N	150$' test.out || fail "N: $(cat test.out)"
p1=$(awk -F'\t' '$1 == "P@1" {print $2}' test.out)
r1=$(awk -F'\t' '$1 == "R@1" {print $2}' test.out)
expect_eq "P@1 = R@1 with one label each" "$p1" "$r1"
"$PY" -c "import sys; sys.exit(float('$p1') < 0.8)" || fail "P@1 $p1 below 0.8"
for l in ad zh en; do
    grep -Eq "^$l +50 +[0-9]+ +[0-9]+ +[01]\.[0-9]{4} " test.out || fail "no row for $l: $(cat test.out)"
done

# predict: one line out per line in; its P@1 is test's
"$NH_CLEAN" classifier predict m.ftc < text.txt > pred.txt
expect_eq "predict lines" 150 "$(wc -l < pred.txt)"
grep -Evq '^__label__(ad|zh|en)$' pred.txt && fail "bad predict line: $(grep -Ev '^__label__(ad|zh|en)$' pred.txt | head -1)"
"$PY" - "$p1" <<'PYEOF'
import sys
gold = [l.strip() for l in open("gold.txt")]
pred = [l.strip().replace("__label__", "") for l in open("pred.txt")]
p = sum(g == q for g, q in zip(gold, pred)) / len(gold)
assert abs(p - float(sys.argv[1])) < 1e-4, (p, sys.argv[1])
PYEOF
# the right label's probability, 0.7 on average (about 1/3 untrained)
"$NH_CLEAN" classifier predict m.ftc text.txt --k 3 --prob > prob3.txt
"$PY" - <<'PYEOF'
gold = [l.strip() for l in open("gold.txt")]
tot = 0
for g, l in zip(gold, open("prob3.txt")):
    f = l.split()
    tot += dict(zip(f[0::2], map(float, f[1::2])))["__label__" + g]
assert tot / len(gold) >= 0.7, tot / len(gold)
PYEOF
# labels in predict's input are ignored, as fastText does
"$NH_CLEAN" classifier predict m.ftc test.txt > pred2.txt
expect_same pred.txt pred2.txt
printf '扫码加微信好友领取无门槛优惠券，台灯只要九块九！\n\n' |
    "$NH_CLEAN" classifier predict m.ftc - --k 5 --prob > probs.txt
"$PY" - <<'PYEOF'
lines = open("probs.txt").read().split("\n")
assert len(lines) == 3 and lines[2] == "", lines
for l in lines[:2]:
    f = l.split()
    labs, probs = f[0::2], [float(x) for x in f[1::2]]
    assert len(labs) == 3 and sorted(labs) == ["__label__ad", "__label__en", "__label__zh"], l
    assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-4, l
assert lines[0].startswith("__label__ad ") and float(lines[0].split()[1]) > 0.9, lines[0]
PYEOF

# gzipped JSONL and hierarchical softmax
# shellcheck disable=SC2086
"$NH_CLEAN" classifier train --quiet -input train.jsonl.gz -output h.ftc $OPTS -loss hs > h.out
grep -q '^examples 600, .* labels 3' h.out || fail "jsonl train: $(cat h.out)"
"$NH_CLEAN" classifier test h.ftc test.txt --k 1 > h.test
p1h=$(awk -F'\t' '$1 == "P@1" {print $2}' h.test)
"$PY" -c "import sys; sys.exit(float('$p1h') < 0.8)" || fail "hs P@1 $p1h below 0.8"

# errors
st() { rc=0; "$@" > /dev/null 2> err.txt || rc=$?; echo $rc; }
expect_eq "no subcommand" 2 "$(st "$NH_CLEAN" classifier)"
expect_eq "unknown subcommand" 2 "$(st "$NH_CLEAN" classifier frob)"
expect_eq "no output" 2 "$(st "$NH_CLEAN" classifier train --input train.txt)"
grep -q -- '--output MODEL' err.txt || fail "missing --output not explained"
expect_eq "bad loss" 2 "$(st "$NH_CLEAN" classifier train --input train.txt --output x --loss ns)"
grep -q "'--loss' must be softmax or hs" err.txt || fail "bad loss message"
expect_eq "bad dim" 2 "$(st "$NH_CLEAN" classifier train --input train.txt --output x --dim 0)"
grep -q "dim 0 out of range" err.txt || fail "bad dim message: $(cat err.txt)"
expect_eq "missing input" 1 "$(st "$NH_CLEAN" classifier train --input nope.txt --output x)"
grep -q "cannot open 'nope.txt'" err.txt || fail "missing input message: $(cat err.txt)"
printf 'no labels here\nnor here\n' > unlabeled.txt
expect_eq "no labels" 1 "$(st "$NH_CLEAN" classifier train --input unlabeled.txt --output x)"
grep -q "no labeled lines in 'unlabeled.txt'" err.txt || fail "no labels message: $(cat err.txt)"
[ ! -e x ] || fail "model written after an error"
head -c 1000 m.ftc > trunc.ftc
expect_eq "truncated model (test)" 1 "$(st "$NH_CLEAN" classifier test trunc.ftc test.txt)"
grep -q "'trunc.ftc' is not a classifier model: truncated" err.txt || fail "truncated message: $(cat err.txt)"
expect_eq "not a model (predict)" 1 "$(st "$NH_CLEAN" classifier predict test.txt < text.txt)"
grep -q "'test.txt' is not a classifier model" err.txt || fail "not a model message: $(cat err.txt)"
expect_eq "missing labeled file" 1 "$(st "$NH_CLEAN" classifier test m.ftc nope.txt)"
grep -q "cannot open 'nope.txt'" err.txt || fail "missing labeled message: $(cat err.txt)"
