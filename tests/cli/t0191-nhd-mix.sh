#!/usr/bin/env bash
# t0191-nhd-mix.sh - corpus mixtures through nhd: mix.create on three
# versions of the demo corpus (scripts/demo-corpus) draws 2M estimated
# tokens in 0.5/0.3/0.2 proportions: each source's share of the tokens is
# within 0.5% of its target, the small source is up-sampled (epochs > 1)
# and the large one down-sampled, the documents in the version match the
# report, the version's parents and lineage hold every source, the same
# seed gives the same version and another seed another; bad sources,
# weights, targets and roles are refused; nh mix create/show. Every
# message is checked against schemas/protocol.
. "$NH_TOP/tests/cli/lib.sh"

"$NH_TOP/scripts/demo-corpus" --out corpus >corpus.log 2>&1 || fail "demo-corpus"
nhd_start ./d nhd.out --max-jobs 1

"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" <<'PYEOF' || fail "mix checks failed"
import collections, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest

URL, ADMIN, DIR = sys.argv[1:4]

async def read_all(c, ref):
    show = await c.ok("dataset.show", {"ref": ref})
    docs = []
    for s in range(len(show["shards"])):
        off = 0
        while True:
            r = await c.ok("dataset.read", {"ref": ref, "shard": s, "offset": off})
            docs += [json.loads(l) for l in r["data"].split("\n") if l]
            off = r["next"]
            if r["eof"]:
                break
    return show, docs

async def mix(c, args):
    job = await c.ok("mix.create", args)
    assert job["kind"] == "mix", job
    end = await c.event(nhtest.job_done(job["job"]))
    assert end["data"]["state"] == "succeeded", end
    return end["data"]

async def main():
    admin = await nhtest.Client.open(URL, ADMIN)
    eng_tok = (await admin.ok("user.add", {"name": "eng", "role": "engineer"}))["token"]
    rev_tok = (await admin.ok("user.add", {"name": "rev", "role": "reviewer"}))["token"]
    eng = await nhtest.Client.open(URL, eng_tok)
    rev = await nhtest.Client.open(URL, rev_tok)
    await eng.ok("subscribe", {"topic": "jobs"})
    ver, ids = {}, {}
    for name, f in (("en", "en-docs.jsonl"), ("zh", "zh-man.jsonl.zst"),
                    ("po", "zh-poems.jsonl.gz")):
        os.system("cd %s/corpus && (zstdcat -f %s 2>/dev/null || zcat -f %s) > %s.plain.jsonl"
                  % (DIR, f, f, name))
        imp = await eng.ok("dataset.import", {"name": name, "paths":
                           [DIR + "/corpus/%s.plain.jsonl" % name]})
        ver[name] = imp["version"]
        _, docs = await read_all(rev, name)
        ids[name] = {d["id"] for d in docs}
    assert not (ids["en"] & ids["zh"]) and not (ids["zh"] & ids["po"])

    W = {"en": 0.5, "zh": 0.3, "po": 0.2}
    srcs = [{"ref": n + "@" + ver[n], "weight": W[n]} for n in ("en", "zh", "po")]
    # refusals
    await rev.fail("mix.create", {"name": "m", "sources": srcs, "target": 1e6}, "forbidden")
    await eng.fail("mix.create", {"name": "m", "sources": [{"ref": "nope", "weight": 1}],
                                  "target": 1e6}, "not_found")
    await eng.fail("mix.create", {"name": "m", "sources": [{"ref": "en", "weight": 0}],
                                  "target": 1e6}, "bad_request", valid=False)
    await eng.fail("mix.create", {"name": "m", "sources": [], "target": 1e6},
                   "bad_request", valid=False)
    await eng.fail("mix.create", {"name": "m", "sources": srcs, "target": 0},
                   "bad_request", valid=False)
    await eng.fail("mix.create", {"name": "m", "sources": srcs, "target": 1e6,
                                  "by": "lines"}, "bad_request", valid=False)
    await eng.fail("mix.create", {"name": "bad name", "sources": srcs, "target": 1e6},
                   "bad_request")
    # a source that would need too many epochs fails the job, not nhd
    end = await eng.ok("mix.create", {"name": "huge", "sources": srcs, "target": 1e12})
    bad = await eng.event(nhtest.job_done(end["job"]))
    assert bad["data"]["state"] == "failed", bad

    end = await mix(eng, {"name": "m1", "sources": srcs, "target": 2000000, "seed": 1})
    show, docs = await read_all(rev, "m1")
    assert show["parents"] == [ver["en"], ver["zh"], ver["po"]], show["parents"]
    assert show["parent"] == ver["en"], show
    rep = show["mix"]
    assert rep["by"] == "tokens" and rep["target"] == 2000000, rep
    tot = sum(s["tokens"] for s in rep["sources"])
    assert abs(tot - 2000000) / 2000000 < 0.005, tot
    for s, n in zip(rep["sources"], ("en", "zh", "po")):
        assert s["version"] == ver[n] and s["ref"] == n + "@" + ver[n], s
        assert abs(s["tokens"] / tot - W[n]) < 0.005, (n, s, tot)
        assert abs(s["share"] - W[n]) < 0.005, s
    byname = {n: s for s, n in zip(rep["sources"], ("en", "zh", "po"))}
    assert byname["en"]["epochs"] > 1 and byname["zh"]["epochs"] < 1, byname
    # the version holds what the report says
    count = collections.Counter()
    for d in docs:
        src = [n for n in ids if d["id"] in ids[n]]
        assert len(src) == 1, d["id"]
        count[src[0]] += 1
    for n in ids:
        assert count[n] == byname[n]["docs"], (n, count, byname[n])
    assert len(docs) == show["docs"] == rep["total"]["docs"], (len(docs), show["docs"])
    # lineage: every parent
    lin = await rev.ok("dataset.lineage", {"ref": "m1"})
    node = [x for x in lin["nodes"] if x["id"] == show["version"]][0]
    assert node["parents"] == show["parents"], node
    assert {ver["en"], ver["zh"], ver["po"]} <= {x["id"] for x in lin["nodes"]}, lin

    # the same seed, the same draw; another seed, another
    await mix(eng, {"name": "m2", "sources": srcs, "target": 2000000, "seed": 1})
    s2 = await rev.ok("dataset.show", {"ref": "m2"})
    assert [x["object"] for x in s2["shards"]] == [x["object"] for x in show["shards"]]
    await mix(eng, {"name": "m3", "sources": srcs, "target": 2000000, "seed": 2})
    s3 = await rev.ok("dataset.show", {"ref": "m3"})
    assert [x["object"] for x in s3["shards"]] != [x["object"] for x in show["shards"]]
    # by documents
    await mix(eng, {"name": "m4", "sources": srcs, "target": 1000, "by": "docs"})
    s4 = await rev.ok("dataset.show", {"ref": "m4"})
    assert s4["docs"] == 1000 and [round(x["docs"]) for x in s4["mix"]["sources"]] == [500, 300, 200], s4["mix"]
    print(json.dumps(ver))

nhtest.run(main())
PYEOF

NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER= NH_TOKEN=
"$NH" login --server "$NHD_URL" --token "$(cat d/admin.token)" >/dev/null
"$NH" mix create m5 --source en:0.5 --source zh:0.3 --source po:0.2 --tokens 1000000 \
    --seed 1 --wait --json >run.json 2>run.err || fail "nh mix create: $(cat run.err)"
expect_eq "nh mix state" succeeded "$(json run.json 'j["state"]')"
"$NH" mix show m5 >show.out || fail "nh mix show"
grep -q "^m5@[0-9a-f]*: tokens 1000000, seed 1" show.out || fail "mix show: $(cat show.out)"
expect_eq "mix show rows" 3 "$(grep -c '^\(en\|zh\|po\) ' show.out)"
"$NH" mix show m5 --json >show.json
expect_eq "mix show json" 3 "$(json show.json 'len(j["sources"])')"
expect_eq "mix share error" True "$(json show.json 'j["max_share_error"] < 0.005')"
s=0; "$NH" mix show en 2>err || s=$?
expect_eq "mix show of a plain version" 1 "$s"
s=0; "$NH" mix create m6 --source en --tokens 5 2>err || s=$?
expect_eq "bad --source" 2 "$s"
nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
