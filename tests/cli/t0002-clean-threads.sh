# t0002: --threads N gives byte-identical output for any N
. "$NH_TOP/tests/cli/lib.sh"

make_corpus corpus
for i in 1 2 3; do
    cp corpus/zh-web.jsonl "corpus/more-$i.jsonl"
done
for n in 1 2 4; do
    "$NH_CLEAN" run --progress none -q -j $n -o out$n corpus
done
for n in 2 4; do
    for f in out1/data/* out1/removed/*; do
        expect_same "$f" "out$n/${f#out1/}"
    done
    expect_eq "shard count" "$(ls out1/data | wc -l)" "$(ls out$n/data | wc -l)"
done
expect_eq "threads recorded" 4 "$(json out4/stats.json 'j["threads"]')"
