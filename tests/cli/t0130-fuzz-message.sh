#!/usr/bin/env bash
# t0130-fuzz-message.sh - a short libFuzzer run of fuzz/fuzz-message (nhd's
# message parsing and table ops against a real store) from the seed corpus
# in fuzz/corpus: every seed, then 15 s of mutations. Any response that
# is not a well-formed envelope, any sanitizer report or leak fails it;
# the crashing input is left in the test directory as crash-*.
. "$NH_TOP/tests/cli/lib.sh"
FUZZ="${NH_FUZZ:-$NH_TOP/build/fuzz}/fuzz-message"
[ -x "$FUZZ" ] || fail "no fuzz target '$FUZZ' (make build/fuzz/fuzz-message)"

mkdir new
"$FUZZ" -max_len=65536 -max_total_time=15 -artifact_prefix=./ \
    -print_final_stats=1 new "$NH_TOP/fuzz/corpus" >fuzz.log 2>&1 ||
    { tail -n 40 fuzz.log >&2; fail "fuzz-message found a crash"; }
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
seeds=$(ls "$NH_TOP/fuzz/corpus" | wc -l)
[ -n "$runs" ] && [ "$runs" -ge "$seeds" ] ||
    fail "fuzz-message ran '$runs' inputs, fewer than the $seeds seeds"
ls crash-* leak-* timeout-* 2>/dev/null && fail "artifacts left"
echo "fuzz-message: $runs inputs"
