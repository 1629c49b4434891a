# lib.sh - helpers for CLI tests (sourced; runs in a fresh temp directory)
#
# NH_BIN is the directory holding the tools under test, NH_TOP the
# repository. A test exits non-zero on the first failed check.
set -eu
: "${NH_TOP:?}" "${NH_BIN:?}"
NH_CLEAN="$NH_BIN/nh-clean"
PY=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# expect_file_eq A B: byte-identical files
expect_same() {
    cmp -s "$1" "$2" || { diff <(head -c 2000 "$1") <(head -c 2000 "$2") | head -20 >&2; fail "'$1' and '$2' differ"; }
}

# json FILE EXPR: print a value from a JSON file (python expression on j)
json() {
    "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# cat_shards DIR: all records of a shard directory, in order
cat_shards() {
    local f
    for f in "$1"/part-*; do
        [ -e "$f" ] || continue
        case "$f" in
        *.zst) zstd -dc -q "$f" ;;
        *) cat "$f" ;;
        esac
    done
}

# validate FILE SCHEMA: JSON Schema check with python3-jsonschema
validate() {
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys, jsonschema
inst = json.load(open(sys.argv[1]))
schema = json.load(open(sys.argv[2]))
jsonschema.validate(inst, schema)
PYEOF
}

# make_corpus DIR: a small mixed corpus in every input format
make_corpus() {
    local d=$1
    mkdir -p "$d/web" "$d/notes"
    cp "$NH_TOP/tests/fixtures/zh-web.jsonl" "$d/zh-web.jsonl"
    cp "$NH_TOP/tests/fixtures/en-web.jsonl" "$d/en-web.jsonl"
    gzip -c "$NH_TOP/tests/fixtures/zh-web.jsonl" > "$d/zh-copy.jsonl.gz"
    zstd -q -c "$NH_TOP/tests/fixtures/en-web.jsonl" > "$d/en-copy.jsonl.zst"
    cp "$NH_TOP"/tests/fixtures/*.html "$d/web/"
    cp "$NH_TOP"/tests/fixtures/*.txt "$d/notes/"
}

# make_poem_tokens: real Chinese text (the Tang poems of fortunes-zh) as
# poems.jsonl, a 400-token tokenizer tok trained on it, and the token
# directory toks, with $NH_BIN/nh-train (for the trainer tests)
make_poem_tokens() {
    local T="$NH_BIN/nh-train" POEMS=/usr/share/games/fortunes/tang300.u8
    [ -r "$POEMS" ] || fail "fortunes-zh is not installed (scripts/deps)"
    "$PY" - "$POEMS" <<'PYEOF' >poems.jsonl
import json, sys
for d in open(sys.argv[1], encoding="utf-8").read().split("\n%\n"):
    if d.strip():
        print(json.dumps({"text": d}, ensure_ascii=False))
PYEOF
    "$T" tokenizer train --vocab 400 --output tok -q poems.jsonl 2>/dev/null ||
        fail "tokenizer train"
    "$T" tokenize --tokenizer tok --output toks -q poems.jsonl || fail "tokenize"
}

# train_losses_close A B N: two metrics.jsonl files have the same N step
# and eval lines, every loss within 1e-5 relative (prints the worst)
train_losses_close() {
    "$PY" - "$1" "$2" "$3" <<'PYEOF' || fail "$1 and $2 differ"
import json, sys
def load(p):
    out = []
    for l in open(p):
        j = json.loads(l)
        if "loss" in j:
            out.append((j.get("event", "step"), j["step"], j["loss"]))
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
n = int(sys.argv[3])
assert len(a) == len(b) == n, (len(a), len(b), n)
worst = 0
for x, y in zip(a, b):
    assert x[:2] == y[:2], (x, y)
    worst = max(worst, abs(x[2] - y[2]) / abs(x[2]))
print("%s vs %s: worst relative loss difference %.3g" % (sys.argv[1],
                                                         sys.argv[2], worst))
assert worst <= 1e-5, worst
PYEOF
}

# ---- nhd on an ephemeral loopback port ------------------------------------
# nhd_start [DATA_DIR [OUTFILE [EXTRA NHD ARGS...]]]: pick a free port
# (NHD_PORT, unless already set), start nhd in the background (NHD_PID),
# wait for GET /health, and stop it with SIGKILL when the test exits.
# NHD_URL is the WebSocket URL, NHD_HTTP the HTTP base.
NHD="$NH_BIN/nhd"
NHD_PID=""
_nhd_cleanup() {
    if [ -n "$NHD_PID" ]; then kill -KILL "$NHD_PID" 2>/dev/null || true; fi
}
trap _nhd_cleanup EXIT

nhd_start() {
    local dir=${1:-./d} out=${2:-nhd.out}
    shift 2 2>/dev/null || shift $#
    : "${NHD_PORT:=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')}"
    NHD_URL="ws://127.0.0.1:$NHD_PORT/ws"
    NHD_HTTP="http://127.0.0.1:$NHD_PORT"
    "$NHD" --data "$dir" --listen "127.0.0.1:$NHD_PORT" "$@" >"$out" 2>>nhd.err &
    NHD_PID=$!
    "$PY" - "$NHD_PORT" <<'PYEOF' || fail "nhd did not answer /health"
import json, sys, time, urllib.request
url = "http://127.0.0.1:%s/health" % sys.argv[1]
for _ in range(200):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            j = json.load(r)
            assert j["ok"] is True and isinstance(j["version"], str), j
            sys.exit(0)
    except (OSError, ValueError):
        time.sleep(0.05)
sys.exit(1)
PYEOF
}

# nhd_stop: SIGTERM, expect exit status 0 within 5 s
nhd_stop() {
    local rc=0
    kill -TERM "$NHD_PID"
    for _ in $(seq 50); do
        kill -0 "$NHD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$NHD_PID" 2>/dev/null && fail "nhd still running 5 s after SIGTERM"
    wait "$NHD_PID" || rc=$?
    NHD_PID=""
    expect_eq "nhd exit status" 0 "$rc"
}

# nhd_kill: SIGKILL and reap
nhd_kill() {
    kill -KILL "$NHD_PID" 2>/dev/null || true
    wait "$NHD_PID" 2>/dev/null || true
    NHD_PID=""
}
