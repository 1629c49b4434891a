# t0006: size-capped output shards, plain and zstd
. "$NH_TOP/tests/cli/lib.sh"

make_corpus corpus
echo '{"shard_size": 4096, "stages": [{"op": "normalize"}]}' > plain.json
echo '{"shard_size": 4096, "compression": "zstd", "stages": [{"op": "normalize"}]}' > zstd.json
"$NH_CLEAN" run --progress none -q -c plain.json -o plain corpus
"$NH_CLEAN" run --progress none -q -c zstd.json -o zst corpus

n=$(ls plain/data | wc -l)
[ "$n" -ge 3 ] || fail "expected several shards, got $n"
for f in plain/data/*; do
    size=$(stat -c %s "$f")
    lines=$(wc -l < "$f")
    # a shard holds at most 4096 bytes unless one document alone is larger
    [ "$size" -le 4096 ] || [ "$lines" -eq 1 ] || fail "$f: $size bytes in $lines lines"
done
ls zst/data | grep -q '\.jsonl\.zst$' || fail "no .zst shards"
cat_shards plain/data > a.jsonl
cat_shards zst/data > b.jsonl
expect_same a.jsonl b.jsonl
expect_eq "docs in stats" "$(wc -l < a.jsonl)" "$(json zst/stats.json 'j["output"]["docs"]')"

# with a trailing dedup stage the merge applies its decisions: plain and
# zstd output hold the same shards
cfg='"shard_size": 4096, "stages": [{"op": "normalize"}, {"op": "dedup.exact"}]'
echo "{$cfg}" > dp.json
echo "{\"compression\": \"zstd\", $cfg}" > dz.json
"$NH_CLEAN" run --progress none -q -j 3 -c dp.json -o dp corpus
"$NH_CLEAN" run --progress none -q -j 3 -c dz.json -o dz corpus
expect_eq "shard count" "$(ls dp/data | wc -l)" "$(ls dz/data | wc -l)"
[ "$(ls dp/data | wc -l)" -ge 3 ] || fail "expected several shards"
for f in dp/data/*; do
    b=$(basename "$f")
    zstd -dc -q "dz/data/$b.zst" > "z-$b"
    expect_same "$f" "z-$b"
done
cat_shards dp/removed > rp.jsonl
cat_shards dz/removed > rz.jsonl
expect_same rp.jsonl rz.jsonl
grep -q exact_duplicate rp.jsonl || fail "no duplicates removed"
