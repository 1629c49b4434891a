#!/usr/bin/env bash
# t0112-nh-jobs.sh - nh pipeline run --wait makes a new version; job
# ls/show/logs; two concurrent `nh job watch` of one job both see it end.
# PENDING: enabled (renamed to .sh) once nhd has pipeline.run and jobs.
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d out
NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER= NH_TOKEN=
"$NH" login --server "$NHD_URL" --token "$(cat d/admin.token)" >/dev/null

cp "$NH_TOP/tests/fixtures/en-web.jsonl" a.jsonl
cp "$NH_TOP/tests/fixtures/zh-web.jsonl" b.jsonl
"$NH" dataset import web a.jsonl b.jsonl --json >imp.json
V1=$(json imp.json 'j["version"]')
cat >cfg.json <<'JSON'
{"stages": [{"op": "normalize"}, {"op": "dedup.exact"}]}
JSON

"$NH" pipeline run web --config cfg.json --output web-clean --wait --json \
    >run.json 2>run.err
expect_eq "state" succeeded "$(json run.json 'j["state"]')"
expect_eq "input" "$V1" "$(json run.json 'j["input"]')"
OUT=$(json run.json 'j["output"]')
JOB=$(json run.json 'j["job"]')
"$NH" dataset versions web-clean --json >v.json
expect_eq "new version" "$OUT" "$(json v.json 'j["versions"][0]["id"]')"

"$NH" job ls --json >ls.json
expect_eq "job listed" "$JOB" "$(json ls.json 'j["jobs"][0]["job"]')"
"$NH" job ls >ls.out
grep -q "^ *$JOB  pipeline *succeeded" ls.out || fail "job ls: $(cat ls.out)"
"$NH" job show "$JOB" --json >show.json
expect_eq "show state" succeeded "$(json show.json 'j["state"]')"
"$NH" job logs "$JOB" --json >logs.json
json logs.json 'len(j["lines"])' >/dev/null
s=0; "$NH" job cancel "$JOB" 2>err || s=$?
expect_eq "cancel finished job" 1 "$s"
grep -q "^nh: error: conflict: " err || fail "cancel: $(cat err)"

# two watchers of one job both see it end
"$NH" pipeline run web --config cfg.json --output web-2 --json >run2.json
J2=$(json run2.json 'j["job"]')
"$NH" job watch "$J2" --json >w1.json 2>w1.err &
p1=$!
"$NH" job watch "$J2" --json >w2.json 2>w2.err &
p2=$!
wait $p1 || fail "first watcher failed: $(cat w1.err)"
wait $p2 || fail "second watcher failed: $(cat w2.err)"
expect_eq "watch 1" succeeded "$(json w1.json 'j["state"]')"
expect_eq "watch 2" succeeded "$(json w2.json 'j["state"]')"
# watching an ended job returns at once
"$NH" job watch "$J2" >w3.out
grep -q "^job $J2 succeeded" w3.out || fail "watch ended job: $(cat w3.out)"
s=0; "$NH" job watch 99999 2>err || s=$?
expect_eq "watch unknown" 1 "$s"

nhd_stop
exit 0
