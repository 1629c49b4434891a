# t0007: usage errors, --help, progress lines
. "$NH_TOP/tests/cli/lib.sh"

"$NH_CLEAN" --help | grep -q 'usage: nh-clean run'
"$NH_CLEAN" run --help | grep -q -- '--threads'
"$NH_CLEAN" stages | grep -q '^pii$'

st() { rc=0; "$@" > /dev/null 2> err.txt || rc=$?; echo $rc; }
expect_eq "no args" 2 "$(st "$NH_CLEAN")"
expect_eq "no output" 2 "$(st "$NH_CLEAN" run x.jsonl)"
grep -q -- '--output' err.txt || fail "missing --output not explained"
expect_eq "no input" 2 "$(st "$NH_CLEAN" run -o out)"
expect_eq "missing input" 2 "$(st "$NH_CLEAN" run -o out nope.jsonl)"
grep -q "cannot read input 'nope.jsonl'" err.txt || fail "missing input message"
echo hi > data.csv
expect_eq "unknown type" 2 "$(st "$NH_CLEAN" run -o out data.csv)"
grep -q "unknown input type" err.txt || fail "unknown type message"
mkdir empty
expect_eq "empty directory" 2 "$(st "$NH_CLEAN" run -o out empty)"
grep -q "no input files" err.txt || fail "empty input message"
[ ! -e out ] || fail "output written for no input"
expect_eq "bad threads" 2 "$(st "$NH_CLEAN" run -j 0 -o out data.csv)"
expect_eq "unknown command" 2 "$(st "$NH_CLEAN" frob)"

make_corpus corpus
mkdir busy && echo x > busy/file
expect_eq "non-empty output" 2 "$(st "$NH_CLEAN" run -o busy corpus)"
grep -q "is not empty" err.txt || fail "non-empty output message"

# JSON progress: every stdout line is JSON, the last one says done
"$NH_CLEAN" run --progress json -o out corpus > progress.jsonl
"$PY" - progress.jsonl <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[-1]["event"] == "done" and lines[-1]["output"] == "out", lines[-1]
prog = [l for l in lines if l["event"] == "progress"]
assert prog, "no progress lines"
last = prog[-1]
assert last["bytes_done"] == last["bytes_total"] > 0, last
for k in ("phase", "docs", "units_done", "units_total", "seconds"):
    assert k in last, k
PYEOF

# a different config on a finished output directory is refused
echo '{"stages": [{"op": "pii"}]}' > other.json
expect_eq "other config" 2 "$(st "$NH_CLEAN" run -c other.json -o out corpus)"
grep -q "another config" err.txt || fail "other-config message"
