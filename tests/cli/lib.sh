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
