#!/usr/bin/env bash
# t0140-demo.sh - scripts/demo (what `make demo` runs) end to end on a
# small corpus: nhd on a fresh data dir, import, the default pipeline as
# a job, lineage, the job's stage table, demo-check's scores, the tiny
# model trained on the cleaned version through a killed rank; nhd gone
# afterwards, and still up with KEEP=1 (this test then stops it).
. "$NH_TOP/tests/cli/lib.sh"

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# section OUT TITLE: the lines of OUT after "== TITLE" up to the next "=="
section() {
    awk -v t="== $2" 'index($0, t) == 1 {on = 1; next} /^== / {on = 0} on' "$1"
}
port_open() {
    "$PY" -c 'import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1]))) == 0 else 1)' "$1"
}
KEPT_PID=""
trap '[ -n "$KEPT_PID" ] && kill -KILL "$KEPT_PID" 2>/dev/null; _nhd_cleanup' EXIT

run_demo() { # run_demo OUTFILE [VAR=VALUE...]
    local out=$1
    shift
    env DEMO_LOOP=0 DEMO_TRAIN=0 "$@" NH_BIN="$NH_BIN" DEMO_DIR="$PWD/demo" DEMO_PORT="$PORT" \
        DEMO_CORPUS_ARGS="--scale 1MB" bash "$NH_TOP/scripts/demo" >"$out" 2>&1
}

# --- a plain run: everything shown, nhd stopped
PORT=$(free_port)
# (nhd passes its environment to nh-train, whose ranks run under mpirun:
# Open MPI's own allocations are not ours to check for leaks)
s=0; run_demo out1 KEEP= DEMO_TRAIN=1 ASAN_OPTIONS=detect_leaks=0 || s=$?
[ $s -eq 0 ] || { tail -30 out1 >&2; fail "demo exited $s"; }
grep -q "^== starting nhd on 127.0.0.1:$PORT " out1 || fail "no nhd start line"
PID=$(sed -n 's/^   nhd pid \([0-9]*\),.*/\1/p' out1)
[ -n "$PID" ] || fail "no nhd pid in the output"

section out1 "nh dataset lineage" >lineage
expect_eq "lineage versions" 2 "$(grep -cE '^(└─ )?[0-9a-f]{12}  [0-9]+ docs' lineage)"
grep -qE '^└─ [0-9a-f]{12}  [0-9]+ docs .* job 1  \*$' lineage ||
    fail "lineage: $(cat lineage)"
KEPT=$(sed -n 's/^└─ [0-9a-f]\{12\}  \([0-9]*\) docs.*/\1/p' lineage)

section out1 "nh job show 1" >show
grep -qE '^state: +succeeded$' show || fail "job show: $(cat show)"
grep -qE '^STAGE +DOCS IN +DOCS OUT +REMOVED +MB IN +MB OUT +SECONDS +TOP REASONS$' show ||
    fail "no stage table: $(cat show)"
for st in read extract normalize repetition filter.rules pii dedup.exact; do
    grep -qE "^$st +[0-9]+ +[0-9]+ +[0-9]+ " show || fail "no row for $st"
done
# the last stage's docs out is the output version's size
expect_eq "dedup.exact docs out" "$KEPT" \
    "$(awk '$1 == "dedup.exact" {print $3}' show)"
grep -qE "^output: $KEPT documents" show || fail "output line: $(grep ^output show)"

section out1 "ground truth" >check
grep -qE "^output: $KEPT kept, [0-9]+ removed" check ||
    fail "demo-check output line: $(head -3 check)"
INJ=$(awk '$1 == "总计" {print $3}' check)
[ -n "$INJ" ] && [ "$INJ" -gt 0 ] || fail "demo-check total: $(grep 总计 check)"
grep -qE '^precision-ish: [0-9]+ of [0-9]+ removed docs .* recall: [0-9]+ of [0-9]+' check ||
    fail "no precision/recall line"
grep -q "export NH_SERVER=ws://127.0.0.1:$PORT NH_TOKEN=" out1 || fail "no connect hint"

section out1 "nh train launch" >train
grep -q "^fault: signal of rank 1 at step 170 " train || fail "train: $(cat train)"
grep -q "^restart: attempt 2 resumed from step 150, 20 steps redone" train ||
    fail "train: $(cat train)"
grep -q "^step 300  loss " train || fail "train: $(cat train)"
grep -q "^summary: finished at step 300, 1 restarts" train ||
    fail "train: $(cat train)"
grep -q "^job 2 succeeded$" train || fail "train: $(cat train)"
section out1 "the run under its version" >runs
grep -qE "^ +train job 2 succeeded  step 300  loss [0-9.]+$" runs ||
    fail "lineage with the run: $(cat runs)"

! kill -0 "$PID" 2>/dev/null || fail "nhd ($PID) still running"
! port_open "$PORT" || fail "port $PORT still open"
[ -s demo/var/admin.token ] || fail "no admin token"

# --- KEEP=1: nhd stays up on a fresh data dir; nh can talk to it
PORT=$(free_port)
s=0; run_demo out2 KEEP=1 || s=$?
[ $s -eq 0 ] || { tail -30 out2 >&2; fail "KEEP=1 demo exited $s"; }
KEPT_PID=$(sed -n 's/^nhd keeps running (KEEP=1): pid \([0-9]*\),.*/\1/p' out2)
[ -n "$KEPT_PID" ] || fail "no kept pid: $(tail -5 out2)"
grep -q "kill $KEPT_PID" out2 || fail "no stop hint"
kill -0 "$KEPT_PID" || fail "nhd not running with KEEP=1"
port_open "$PORT" || fail "nothing on port $PORT with KEEP=1"
NH_SERVER="ws://127.0.0.1:$PORT" NH_TOKEN=$(cat demo/var/admin.token) \
    XDG_CONFIG_HOME=$PWD/cfg "$NH_BIN/nh" dataset versions demo-web --json >v.json
expect_eq "versions after a fresh KEEP=1 run" 2 "$(json v.json 'len(j["versions"])')"
kill -TERM "$KEPT_PID"
for _ in $(seq 100); do
    kill -0 "$KEPT_PID" 2>/dev/null || break
    sleep 0.1
done
! kill -0 "$KEPT_PID" 2>/dev/null || fail "kept nhd did not stop on SIGTERM"
KEPT_PID=""
echo ok
