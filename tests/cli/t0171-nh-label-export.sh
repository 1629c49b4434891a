#!/usr/bin/env bash
# t0171-nh-label-export.sh - nh label export writes labeled documents as
# fastText lines and as JSONL (review.items with "with_text": true).
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d out
NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER="$NHD_URL"
export NH_TOKEN=$(cat d/admin.token)

"$NH" dataset import web "$NH_TOP"/tests/fixtures/en-web.jsonl --json >imp.json
"$NH" label create web --size 3 --labels spam,ad --seed 1 --json >lc.json
L=$(json lc.json 'j["campaign"]')
k=0
while :; do
    "$NH" label next "$L" --json >ln.json
    [ "$(json ln.json 'j["item"] is None')" = True ] && break
    it=$(json ln.json 'j["item"]["item"]')
    case $k in
    0) "$NH" label submit "$L" "$it" --label spam,ad >/dev/null ;;
    1) "$NH" label submit "$L" "$it" --label ad >/dev/null ;;
    *) "$NH" label submit "$L" "$it" >/dev/null ;;
    esac
    k=$((k + 1))
done
expect_eq "labeled" 3 "$k"

"$NH" label export "$L" train.txt --format fasttext --json >ft.json
expect_eq "fasttext lines" 2 "$(json ft.json 'j["lines"]')"
expect_eq "unlabeled" 1 "$(json ft.json 'j["unlabeled"]')"
"$PY" - train.txt "$NH_TOP/tests/fixtures/en-web.jsonl" <<'PY' || fail "fasttext"
import json, re, sys
texts = {" ".join(json.loads(l)["text"].split()) for l in open(sys.argv[2])}
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "" and len(lines) == 3, lines
labels = []
for l in lines[:-1]:
    m = re.match(r"((?:__label__\w+ )+)(.*)$", l)
    assert m, l
    assert m.group(2) in texts, l
    labels.append(sorted(m.group(1).split()))
assert sorted(labels) == [["__label__ad"], ["__label__ad", "__label__spam"]], labels
PY
"$NH" label export "$L" train.jsonl --format jsonl --json >js.json
expect_eq "jsonl lines" 3 "$(json js.json 'j["lines"]')"
"$PY" - train.jsonl "$NH_TOP/tests/fixtures/en-web.jsonl" <<'PY' || fail "jsonl"
import json, sys
docs = {d["id"]: d["text"] for d in map(json.loads, open(sys.argv[2]))}
rows = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(len(r["labels"]) for r in rows) == [0, 1, 2], rows
for r in rows:
    assert set(r) == {"id", "text", "labels"}, r
    assert docs[r["id"]] == r["text"], r
PY
# both exports train a classifier directly (the unlabeled row is skipped)
for f in train.txt train.jsonl; do
    "$NH_CLEAN" classifier train --input $f --output m.ftc --epoch 1 \
        --threads 1 >train.out 2>&1 || { cat train.out >&2; fail "classifier train on $f"; }
    grep -q "examples 2," train.out || fail "$f: $(cat train.out)"
done
nhd_stop
exit 0
