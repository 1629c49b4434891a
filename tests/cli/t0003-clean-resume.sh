# t0003: a killed run, started again, ends with the same output
. "$NH_TOP/tests/cli/lib.sh"

make_corpus corpus
for i in 1 2 3 4 5 6; do
    cp corpus/en-web.jsonl "corpus/part-$i.jsonl"
done
"$NH_CLEAN" run --progress none -q -j 2 -o ref corpus

# killed by SIGKILL after three work units
rc=0
NH_FAULT=kill-after-units:3 "$NH_CLEAN" run --progress none -q -j 2 -o out corpus || rc=$?
expect_eq "killed exit status" 137 "$rc"
[ -d out/.work ] || fail "no work directory after the kill"
[ ! -e out/stats.json ] || fail "stats.json written by a killed run"
done_units=$(ls out/.work/*.s0.stats.json | wc -l)
[ "$done_units" -ge 3 ] || fail "expected >= 3 finished units, got $done_units"
"$NH_CLEAN" run --progress none -q -j 2 -o out corpus 2> resume.log
grep -q resuming resume.log || fail "no resume message"
for f in ref/data/* ref/removed/*; do
    expect_same "$f" "out/${f#ref/}"
done

# a power loss can leave a finished unit's work file short (they are not
# fsync'd): the resumed run notices and does that unit again
rm -rf out3
NH_FAULT=kill-after-units:4 "$NH_CLEAN" run --progress none -q -j 1 -o out3 corpus || true
victim=$(ls out3/.work/*.s0.jsonl | head -n 1)
truncate -s 10 "$victim"
"$NH_CLEAN" run --progress none -q -j 2 -o out3 corpus 2> damaged.log
grep -q 'damaged' damaged.log || fail "short work file not noticed: $(cat damaged.log)"
for f in ref/data/* ref/removed/*; do
    expect_same "$f" "out3/${f#ref/}"
done

# killed at a random moment, several times, then finished
for round in 1 2 3; do
    rm -rf out2
    for delay in 0.02 0.05 0.1; do
        "$NH_CLEAN" run --progress none -q -j 2 -o out2 corpus &
        pid=$!
        sleep $delay
        kill -9 $pid 2>/dev/null || true
        wait $pid 2>/dev/null || true
    done
    "$NH_CLEAN" run --progress none -q -j 1 -o out2 corpus
    for f in ref/data/* ref/removed/*; do
        expect_same "$f" "out2/${f#ref/}"
    done
done

# running a finished run again does nothing and changes nothing
before=$(cat out/stats.json | md5sum)
"$NH_CLEAN" run --progress none -q -o out corpus 2> again.log
grep -q 'nothing to do' again.log || fail "finished run not recognised"
expect_eq "stats unchanged" "$before" "$(cat out/stats.json | md5sum)"
