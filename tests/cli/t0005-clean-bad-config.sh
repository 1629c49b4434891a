# t0005: a bad config is a clear error naming the field, exit 2, nothing written
. "$NH_TOP/tests/cli/lib.sh"

make_corpus corpus

check() { # NAME CONFIG EXPECTED-MESSAGE-PART
    printf '%s\n' "$2" > "$1.json"
    rc=0
    "$NH_CLEAN" run --progress none -c "$1.json" -o "out-$1" corpus 2> "$1.err" || rc=$?
    expect_eq "$1: exit status" 2 "$rc"
    grep -qF -- "$3" "$1.err" || fail "$1: message lacks '$3': $(cat "$1.err")"
    [ ! -e "out-$1" ] || fail "$1: output written for a bad config"
}

check unknown-op '{"stages": [{"op": "normalize"}, {"op": "frobnicate"}]}' "stages[1]: unknown op 'frobnicate'"
check wrong-type '{"stages": [{"op": "normalize", "nfkc": "yes"}]}' "stages[0] (normalize): 'nfkc' must be true or false"
check out-of-range '{"stages": [{"op": "filter.rules", "min_cjk_ratio": 7}]}' "'min_cjk_ratio' must be between"
check bad-choice '{"stages": [{"op": "pii", "action": "shred"}]}' "'action' must be one of"
check unknown-param '{"stages": [{"op": "dedup.exact", "fuzzy": true}]}' "unknown parameter 'fuzzy'"
check unknown-global '{"stages": [{"op": "pii"}], "shards": 3}' "unknown parameter 'shards'"
check no-stages '{"stages": []}' "'stages' must be a non-empty array"
check not-json '{"stages": [' "invalid JSON"
check bad-shard '{"shard_size": 10, "stages": [{"op": "pii"}]}' "'shard_size' must be between"

# check-config says the same without running anything
rc=0
"$NH_CLEAN" check-config wrong-type.json 2> cc.err || rc=$?
expect_eq "check-config exit status" 2 "$rc"
grep -q "'nfkc'" cc.err || fail "check-config message"
"$NH_CLEAN" check-config "$NH_TOP/pipeline/configs/default.json" | grep -q ok
