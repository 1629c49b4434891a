#!/usr/bin/env bash
# t0190-nhd-augment.sh - augment jobs through nhd and nh-clean augment:
# augment.run on an imported version makes a new version (parent: the
# input) holding the originals and their augmented copies, every copy
# with its provenance (meta.augmented_from naming an original, the
# operator, its params, the seed); a review campaign on augmented
# documents only, shown by dataset.show with its result once judged; the
# same seed gives the same version, --only-new only the copies; bad
# operator files, ratios, refs and roles are refused. nh-clean augment
# on the command line gives the same bytes for the same seed. Every
# message is checked against schemas/protocol.
. "$NH_TOP/tests/cli/lib.sh"

cp "$NH_TOP/tests/fixtures/zh-web.jsonl" a.jsonl
cp "$NH_TOP/tests/fixtures/en-web.jsonl" b.jsonl
cp "$NH_TOP/docs/examples/augment-noise.json" ops.json

# the command line: same seed, same bytes; another seed, other bytes
"$NH_BIN/nh-clean" augment --ops ops.json -o o1 --seed 3 --ratio 2 a.jsonl b.jsonl >/dev/null ||
    fail "nh-clean augment failed"
"$NH_BIN/nh-clean" augment --ops ops.json -o o2 --seed 3 --ratio 2 a.jsonl b.jsonl >/dev/null ||
    fail "nh-clean augment failed"
"$NH_BIN/nh-clean" augment --ops ops.json -o o3 --seed 4 --ratio 2 a.jsonl b.jsonl >/dev/null ||
    fail "nh-clean augment failed"
cmp -s o1/data/part-00000.jsonl o2/data/part-00000.jsonl || fail "same seed, different output"
cmp -s o1/data/part-00000.jsonl o3/data/part-00000.jsonl && fail "another seed, same output"
echo '{"ops": [{"op": "span_mask", "rate": 7}]}' >bad.json
"$NH_BIN/nh-clean" augment --ops bad.json -o o4 a.jsonl 2>err.txt && fail "bad ops accepted"
grep -q "bad.json: ops\[0\] (span_mask): 'rate' must be between 0 and 1" err.txt ||
    fail "bad ops message: $(cat err.txt)"
"$NH_BIN/nh-clean" augment --ops ops.json -o o4 --ratio 101 a.jsonl 2>/dev/null && fail "ratio 101 accepted"

nhd_start ./d nhd.out --max-jobs 1

"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" <<'PYEOF' || fail "augment checks failed"
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest

URL, ADMIN, DIR = sys.argv[1:4]
OPS = json.load(open(DIR + "/ops.json"))

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

async def run_job(c, args):
    await c.ok("subscribe", {"topic": "jobs"})
    job = await c.ok("augment.run", args)
    assert job["kind"] == "augment", job
    end = await c.event(nhtest.job_done(job["job"]))
    assert end["data"]["state"] == "succeeded", end
    return end["data"]

async def main():
    admin = await nhtest.Client.open(URL, ADMIN)
    eng_tok = (await admin.ok("user.add", {"name": "eng", "role": "engineer"}))["token"]
    rev_tok = (await admin.ok("user.add", {"name": "rev", "role": "reviewer"}))["token"]
    eng = await nhtest.Client.open(URL, eng_tok)
    rev = await nhtest.Client.open(URL, rev_tok)
    imp = await eng.ok("dataset.import", {"name": "web", "paths":
                       [DIR + "/a.jsonl", DIR + "/b.jsonl"]})

    # refusals, before anything is queued
    await rev.fail("augment.run", {"ref": "web", "ops": OPS}, "forbidden")
    e = await eng.fail("augment.run", {"ref": "web", "ops":
                       {"ops": [{"op": "no_such_op"}]}}, "bad_request")
    assert "no_such_op" in e["message"], e
    e = await eng.fail("augment.run", {"ref": "web", "ops":
                       {"ops": [{"op": "window", "size": 2}]}}, "bad_request")
    assert "'size'" in e["message"], e
    await eng.fail("augment.run", {"ref": "web", "ops": OPS, "ratio": 500},
                   "bad_request", valid=False)
    await eng.fail("augment.run", {"ref": "nope", "ops": OPS}, "not_found")
    await eng.fail("augment.run", {"ref": "web", "ops": OPS,
                                   "output": "bad name"}, "bad_request")
    assert (await eng.ok("job.list"))["jobs"] == []

    end = await run_job(eng, {"ref": "web", "ops": OPS, "ratio": 2, "seed": 11,
                              "review_size": 10, "output": "web-aug"})
    assert end["input"] == imp["version"], end
    show, docs = await read_all(rev, "web-aug")
    assert show["parent"] == imp["version"] and show["parents"] == [imp["version"]], show
    orig = [d for d in docs if "augmented_from" not in (d.get("meta") or {})]
    aug = [d for d in docs if "augmented_from" in (d.get("meta") or {})]
    assert len(orig) == imp["docs"], (len(orig), imp)
    assert len(aug) >= imp["docs"], len(aug)
    ids = {d["id"] for d in orig}
    for d in aug:
        m = d["meta"]
        assert m["augmented_from"] in ids, d
        assert d["id"].startswith(m["augmented_from"] + "#a"), d
        assert m["augment_op"] in [o["op"] for o in OPS["ops"]], d
        assert isinstance(m["augment_params"], dict) and m["augment_seed"] == 11, d
    got = await eng.ok("job.get", {"job": end["job"]})
    assert got["stats"]["augmented"] == len(aug), got["stats"]
    assert got["stats"]["docs_in"] == imp["docs"], got["stats"]

    # the automatic campaign: augmented documents only, shown by dataset.show
    cid = show["review"]["campaign"]
    assert show["review"]["state"] == "open", show["review"]
    assert show["review"]["stats"]["items"] == 10, show["review"]
    assert show["review"]["stats"]["pass_rate"] is None, show["review"]
    aug_ids = {d["id"] for d in aug}
    n = 0
    while True:
        r = await rev.ok("review.next", {"campaign": cid})
        it = r["item"]
        if it is None:
            break
        assert it["doc"]["id"] in aug_ids, it["doc"]["id"]
        assert it["doc"]["meta"]["augmented_from"], it["doc"]
        await rev.ok("review.submit", {"campaign": cid, "item": it["item"],
                     "request_id": "x%d" % it["item"],
                     "verdict": "accept" if n % 5 else "reject"})
        n += 1
    assert n == 10, n
    show = await rev.ok("dataset.show", {"ref": "web-aug"})
    st = show["review"]["stats"]
    assert st["accepted"] == 8 and st["rejected"] == 2, st
    assert abs(st["pass_rate"] - 0.8) < 1e-9, st
    plain = await rev.ok("dataset.show", {"ref": "web"})
    assert plain["review"] is None and plain["parents"] == [], plain

    # the same seed: the same version; only_new: only the copies
    end2 = await run_job(eng, {"ref": "web@" + imp["version"], "ops": OPS,
                               "ratio": 2, "seed": 11, "review_size": 0,
                               "output": "web-aug2"})
    s2 = await rev.ok("dataset.show", {"ref": "web-aug2"})
    assert [s["object"] for s in s2["shards"]] == \
        [s["object"] for s in show["shards"]], (s2, show)
    assert s2["review"] is None, s2
    await run_job(eng, {"ref": "web", "ops": OPS, "ratio": 1, "seed": 11,
                        "only_new": True, "output": "web-new"})
    _, new = await read_all(rev, "web-new")
    assert new and all(d["meta"]["augmented_from"] for d in new), new[:2]
    print("ok")

nhtest.run(main())
PYEOF
# the client: nh augment run --wait, and its refusals
NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER= NH_TOKEN=
"$NH" login --server "$NHD_URL" --token "$(cat d/admin.token)" >/dev/null
"$NH" augment run web --ops ops.json --seed 11 --ratio 2 --review 0 \
    --output web-nh --wait --json >run.json 2>run.err || fail "nh augment run: $(cat run.err)"
expect_eq "nh augment state" succeeded "$(json run.json 'j["state"]')"
expect_eq "nh augment kind" augment "$(json run.json 'j["kind"]')"
"$NH" dataset show web-nh --json >show.json
"$NH" dataset show web-aug --json >show0.json
expect_eq "nh augment same shards" "$(json show0.json '[s["object"] for s in j["shards"]]')" \
    "$(json show.json '[s["object"] for s in j["shards"]]')"
s=0; "$NH" augment run web --ops bad.json 2>err || s=$?
expect_eq "bad ops exit" 1 "$s"
grep -q "^nh: error: bad_request: .*'rate' must be between 0 and 1" err || fail "bad ops: $(cat err)"
s=0; "$NH" augment run web 2>err || s=$?
expect_eq "no --ops exit" 2 "$s"

nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
