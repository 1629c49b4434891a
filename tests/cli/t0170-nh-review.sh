#!/usr/bin/env bash
# t0170-nh-review.sh - nh review/label create, ls, next, submit, stats,
# export, close against a real nhd; --json output, exit codes, a re-sent
# submit counted once, two reviewers on an overlapping item.
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d out
NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER="$NHD_URL" NH_TOKEN=
ADMIN=$(cat d/admin.token)
export NH_TOKEN=$ADMIN

"$NH" dataset import web "$NH_TOP"/tests/fixtures/en-web.jsonl \
    "$NH_TOP"/tests/fixtures/zh-web.jsonl --json >imp.json
V=$(json imp.json 'j["version"]')
"$NH" user add eng --role engineer --json >eng.json
"$NH" user add rv1 --role reviewer --json >rv1.json
"$NH" user add rv2 --role reviewer --json >rv2.json
ENG=$(json eng.json 'j["token"]')
RV1=$(json rv1.json 'j["token"]')
RV2=$(json rv2.json 'j["token"]')

# usage errors: exit 2, nothing sent
for bad in "review create web" "review create web --size 3 --margin 0.1" \
    "review create web --size x" "review create web --size 3 --allocation z" \
    "review create web --size 3 --audit 1" "label create web --size 3" \
    "review submit 1 1" "review submit 1 1 --verdict maybe" \
    "review submit 1 1 --verdict accept --score 9" "review next x" \
    "label export 1 f --format csv" "review stats"; do
    s=0; "$NH" $bad >/dev/null 2>err || s=$?
    expect_eq "usage: $bad" 2 "$s"
done

# a reviewer cannot create
s=0; NH_TOKEN=$RV1 "$NH" review create web --size 4 2>err || s=$?
expect_eq "reviewer create" 1 "$s"
grep -q "^nh: error: " err || fail "reviewer create: $(cat err)"

NH_TOKEN=$ENG "$NH" review create "web@$V" --size 6 --strata source --seed 7 \
    --overlap 1 --raters 2 --threshold 0.5 --name check --json >c.json
C=$(json c.json 'j["campaign"]')
expect_eq "kind" review "$(json c.json 'j["kind"]')"
expect_eq "size" 6 "$(json c.json 'j["size"]')"
expect_eq "population" 19 "$(json c.json 'j["population"]')"
expect_eq "design" stratified "$(json c.json 'j["design"]')"
expect_eq "name" check "$(json c.json 'j["name"]')"
NH_TOKEN=$ENG "$NH" review create web --margin 0.2 --confidence 0.9 --json >c2.json
json c2.json 'j["size"] > 0 and j["size"] <= 19' | grep -q True ||
    fail "margin size: $(cat c2.json)"
NH_TOKEN=$ENG "$NH" review create web --size 2 >c3.out
grep -q "^review campaign [0-9]* .* on web@.*: random, 2 of 19 documents" c3.out ||
    fail "create human: $(cat c3.out)"

"$NH" review ls --json >ls.json
expect_eq "ls count" 3 "$(json ls.json 'len(j["campaigns"])')"
"$NH" review ls >ls.out
grep -q "^ *$C  check  web@" ls.out || fail "ls: $(cat ls.out)"
"$NH" label ls --json >lls.json
expect_eq "no label campaigns" 0 "$(json lls.json 'len(j["campaigns"])')"

# reviewer 1 judges everything; reviewer 2 the same items (overlap 1)
judge() { # TOKEN VERDICT: judge every item left for this reviewer
    local tok=$1 verdict=$2 n=0 item
    while :; do
        NH_TOKEN=$tok "$NH" review next "$C" --json >next.json
        [ "$(json next.json 'j["item"] is None')" = True ] && break
        item=$(json next.json 'j["item"]["item"]')
        NH_TOKEN=$tok "$NH" review submit "$C" "$item" --verdict "$verdict" \
            --score 4 --note "n $n" --json >sub.json
        expect_eq "verdict" "$verdict" "$(json sub.json 'j["judgment"]["verdict"]')"
        expect_eq "not duplicate" False "$(json sub.json 'j["duplicate"]')"
        n=$((n + 1))
        [ $n -le 20 ] || fail "review next never ran dry"
    done
    echo $n
}
NH_TOKEN=$RV1 "$NH" review next "$C" >next.out
grep -q "^item [0-9]*  doc [a-z]*-[0-9]*  stratum [a-z]*-web" next.out ||
    fail "next human: $(cat next.out)"
sed -n '/^---$/,$p' next.out | grep -q . || fail "next shows no text"
I1=$(sed -n 's/^item \([0-9]*\) .*/\1/p' next.out)
# the same request id twice: one judgment, the second marked duplicate
NH_TOKEN=$RV1 "$NH" review submit "$C" "$I1" --verdict accept \
    --request-id r-1 --json >s1.json
NH_TOKEN=$RV1 "$NH" review submit "$C" "$I1" --verdict accept \
    --request-id r-1 >s2.out
expect_eq "first not duplicate" False "$(json s1.json 'j["duplicate"]')"
grep -q "^judgment $(json s1.json 'j["judgment"]["judgment"]') on item $I1: accept .*duplicate" s2.out ||
    fail "duplicate submit: $(cat s2.out)"
n1=$(judge "$RV1" accept)
expect_eq "rv1 judged the rest" 5 "$n1"
n2=$(judge "$RV2" reject)
expect_eq "rv2 judged all" 6 "$n2"

"$NH" review stats "$C" --json >st.json
expect_eq "judgments" 12 "$(json st.json 'j["judgments"]')"
# each item: one accept, one reject: a tie counts as reject
expect_eq "rejected" 6 "$(json st.json 'j["rejected"]')"
expect_eq "kappa method" cohen "$(json st.json 'j["kappa"]["method"]')"
expect_eq "decision" reject "$(json st.json 'j["decision"]')"
"$NH" review stats "$C" >st.out
grep -q "^pass rate 0.0% (0 accepted, 6 rejected), 95% interval \[0.0%, " st.out ||
    fail "stats human: $(cat st.out)"
grep -q "^  0 \[.*\] 1 " st.out || fail "no interval bar: $(cat st.out)"
grep -q "^stratified estimate 0.0%" st.out || fail "no stratified: $(cat st.out)"
grep -q "^zh-web  *14 " st.out || fail "no strata table: $(cat st.out)"
grep -q "^reviewer rv1: 6 judgments" st.out || fail "no reviewers: $(cat st.out)"
grep -q "^decision: reject (threshold 50.0%)" st.out || fail "decision: $(cat st.out)"

"$NH" review export "$C" items.jsonl --json >ex.json
expect_eq "export items" 6 "$(json ex.json 'j["items"]')"
"$PY" - items.jsonl <<'PY' || fail "export content"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 6, rows
for r in rows:
    assert r["doc_id"] and r["stratum"] in ("en-web", "zh-web"), r
    assert len(r["judgments"]) == 2, r
    assert sorted(j["verdict"] for j in r["judgments"]) == ["accept", "reject"], r
PY
ls | grep -q '\.tmp\.' && fail "temporary export file left"
s=0; "$NH" review export "$C" nodir/x.jsonl 2>err || s=$?
expect_eq "export to a missing dir" 1 "$s"
grep -q "^nh: error: cannot open 'nodir/x.jsonl.tmp" err || fail "export err: $(cat err)"

s=0; NH_TOKEN=$RV1 "$NH" review close "$C" 2>err || s=$?
expect_eq "reviewer close" 1 "$s"
NH_TOKEN=$ENG "$NH" review close "$C" --json >cl.json
expect_eq "closed" closed "$(json cl.json 'j["state"]')"
s=0; NH_TOKEN=$RV1 "$NH" review submit "$C" "$I1" --verdict reject 2>err || s=$?
expect_eq "submit to closed" 1 "$s"
s=0; "$NH" review stats 99999 2>err || s=$?
expect_eq "stats of unknown" 1 "$s"

# a label campaign
NH_TOKEN=$ENG "$NH" label create web --size 3 --labels spam,ad --seed 1 --json >lc.json
L=$(json lc.json 'j["campaign"]')
expect_eq "label kind" label "$(json lc.json 'j["kind"]')"
expect_eq "labels" spam,ad "$(json lc.json '",".join(j["labels"])')"
"$NH" label ls --json >lls.json
expect_eq "label ls" "$L" "$(json lls.json 'j["campaigns"][0]["campaign"]')"
k=0
while :; do
    NH_TOKEN=$RV1 "$NH" label next "$L" --json >ln.json
    [ "$(json ln.json 'j["item"] is None')" = True ] && break
    it=$(json ln.json 'j["item"]["item"]')
    case $k in
    0) NH_TOKEN=$RV1 "$NH" label submit "$L" "$it" --label spam --label ad --json >ls1.json ;;
    1) NH_TOKEN=$RV1 "$NH" label submit "$L" "$it" --label ad --json >ls1.json ;;
    *) NH_TOKEN=$RV1 "$NH" label submit "$L" "$it" --json >ls1.json ;;
    esac
    expect_eq "no verdict" True "$(json ls1.json 'j["judgment"]["verdict"] is None')"
    k=$((k + 1))
    [ $k -le 5 ] || fail "label next never ran dry"
done
expect_eq "labeled" 3 "$k"
s=0; NH_TOKEN=$RV1 "$NH" label submit "$L" 0 --label bogus 2>err || s=$?
expect_eq "unknown label" 1 "$s"
"$NH" label stats "$L" --json >ls.json
expect_eq "spam items" 1 "$(json ls.json '[l for l in j["labels"] if l["label"] == "spam"][0]["items"]')"
expect_eq "ad items" 2 "$(json ls.json '[l for l in j["labels"] if l["label"] == "ad"][0]["items"]')"
"$NH" label stats "$L" >ls.out
grep -q "^ad  *2  *66.7%" ls.out || fail "label table: $(cat ls.out)"
# label export needs the text: t0171-nh-label-export.sh.pending
nhd_stop
exit 0
