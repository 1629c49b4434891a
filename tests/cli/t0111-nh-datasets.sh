#!/usr/bin/env bash
# t0111-nh-datasets.sh - nh's dataset commands that need the upload,
# show, read, tag, diff and lineage ops: import by upload then export
# gives back the original bytes, cat is the concatenation, a tag names a
# version, diff counts, lineage prints the chain.
# PENDING: enabled (renamed to .sh) once nhd has those ops.
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d nhd.out
NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER= NH_TOKEN=
"$NH" login --server "$NHD_URL" --token "$(cat d/admin.token)" >/dev/null

cp "$NH_TOP/tests/fixtures/en-web.jsonl" a.jsonl
cp "$NH_TOP/tests/fixtures/zh-web.jsonl" b.jsonl
# a file over one upload chunk (512 KiB), so the upload takes several
for i in $(seq 400); do cat a.jsonl; done >big.jsonl

"$NH" dataset import web a.jsonl b.jsonl big.jsonl --json >imp.json
V1=$(json imp.json 'j["version"]')
expect_eq "shards" 3 "$(json imp.json 'j["shards"]')"
expect_eq "docs" "$(cat a.jsonl b.jsonl big.jsonl | wc -l)" \
    "$(json imp.json 'j["docs"]')"

# the same upload again resumes at its end and gives the same version
"$NH" dataset import web a.jsonl b.jsonl big.jsonl --json >imp2.json
expect_eq "same version" "$V1" "$(json imp2.json 'j["version"]')"

"$NH" dataset export web out
expect_same a.jsonl out/part-00000.jsonl
expect_same b.jsonl out/part-00001.jsonl
expect_same big.jsonl out/part-00002.jsonl
ls -A out | grep -q tmp && fail "temporary file left in out/"
"$NH" dataset export "web@${V1:0:8}" out2 --json >exp.json
expect_eq "export files" 3 "$(json exp.json 'len(j["files"])')"

"$NH" dataset cat web >cat.out
cat a.jsonl b.jsonl big.jsonl >cat.expect
expect_same cat.expect cat.out

# a second version, a tag, show by tag
"$NH" dataset import web a.jsonl --json >imp3.json
V2=$(json imp3.json 'j["version"]')
"$NH" dataset tag "web@$V1" first >/dev/null
"$NH" dataset show web@first --json >show.json
expect_eq "tag resolves" "$V1" "$(json show.json 'j["version"]')"
expect_eq "tag listed" "['first']" "$(json show.json 'j["tags"]')"
"$NH" dataset show web >show.out
grep -q "^version: *$V2$" show.out || fail "show: $(cat show.out)"

# diff: V2 has only a.jsonl's lines
"$NH" dataset diff web@first web --json >diff.json
expect_eq "added" 0 "$(json diff.json 'j["added"]')"
expect_eq "removed" "$(cat b.jsonl big.jsonl | wc -l)" "$(json diff.json 'j["removed"]')"
"$NH" dataset diff web@first web >diff.out
grep -q "^added: *0$" diff.out || fail "diff: $(cat diff.out)"

# lineage: V1 with V2 below it
"$NH" dataset lineage web >lin.out
grep -q "^${V1:0:12} " lin.out || fail "lineage root: $(cat lin.out)"
grep -q "[└├]─ ${V2:0:12} " lin.out || fail "lineage child: $(cat lin.out)"
grep -q "\[first\]" lin.out || fail "lineage tags: $(cat lin.out)"

s=0; "$NH" dataset show web@zzzzzz 2>err || s=$?
expect_eq "bad ref" 1 "$s"
grep -q "^nh: error: not_found: " err || fail "bad ref: $(cat err)"

nhd_stop
exit 0
