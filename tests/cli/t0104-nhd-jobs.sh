#!/usr/bin/env bash
# t0104-nhd-jobs.sh - pipeline jobs through nhd: pipeline.run on an
# imported version runs nh-clean as a child; two clients watching the job
# both see its progress and its end; the output is a new version whose
# parent is the input, with the job's stats (checked against
# schemas/stats.schema.json), log lines and removed-document shards;
# roles, a bad config, conflicts, subscribe errors. Every message is
# checked against schemas/protocol.
. "$NH_TOP/tests/cli/lib.sh"

for f in a b c; do cp "$NH_TOP/tests/fixtures/zh-web.jsonl" "$f.jsonl"; done
cp "$NH_TOP/tests/fixtures/en-web.jsonl" d.jsonl
# slow units, so that the job is surely running while watchers join
NH_FAULT=unit-delay-ms:200 nhd_start ./d nhd.out --max-jobs 1

"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" <<'PYEOF' >job.json || fail "job checks failed"
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest

URL, ADMIN, DIR = sys.argv[1:4]

async def main():
    admin = await nhtest.Client.open(URL, ADMIN)
    eng_tok = (await admin.ok("user.add", {"name": "eng", "role": "engineer"}))["token"]
    rev_tok = (await admin.ok("user.add", {"name": "rev", "role": "reviewer"}))["token"]
    eng = await nhtest.Client.open(URL, eng_tok)
    rev = await nhtest.Client.open(URL, rev_tok)
    imp = await eng.ok("dataset.import", {"name": "web", "paths":
                       [DIR + "/%s.jsonl" % f for f in "abcd"]})
    config = {"stages": [{"op": "normalize"}, {"op": "filter.rules"},
                         {"op": "dedup.exact"}], "compression": "zstd"}

    # a reviewer may watch but not run
    await rev.fail("pipeline.run", {"ref": "web", "config": config}, "forbidden")
    await rev.ok("subscribe", {"topic": "jobs"})
    # a config nh-clean would refuse is refused before anything is queued
    e = await eng.fail("pipeline.run", {"ref": "web", "config":
                       {"stages": [{"op": "no.such.stage"}]}}, "bad_request")
    assert "no.such.stage" in e["message"], e
    await eng.fail("pipeline.run", {"ref": "nope", "config": config}, "not_found")
    await eng.fail("pipeline.run", {"ref": "web", "config": config,
                   "output": "bad name"}, "bad_request")
    await eng.fail("subscribe", {"topic": "job/12345"}, "not_found")
    await eng.fail("subscribe", {"topic": "job/x"}, "bad_request", valid=False)
    await eng.fail("job.get", {"job": 12345}, "not_found")
    await eng.fail("job.get", {"job": "1"}, "bad_request", valid=False)

    job = await eng.ok("pipeline.run", {"ref": "web", "config": config})
    jid = job["job"]
    assert job["state"] in ("queued", "running"), job
    assert job["input"] == imp["version"] and job["dataset"] == "web", job
    # a second watcher on the job's own topic
    watch = await nhtest.Client.open(URL, rev_tok)
    await watch.ok("subscribe", {"topic": "job/%d" % jid})
    first = await watch.event(lambda e: e["event"] == "job.state")
    assert first["data"]["job"] == jid, first

    end_rev = await rev.event(nhtest.job_done(jid))
    end_watch = await watch.event(nhtest.job_done(jid))
    assert end_rev["data"]["state"] == "succeeded", end_rev
    assert end_watch["data"] == end_rev["data"], (end_watch, end_rev)
    out = end_rev["data"]["output"]
    assert out and out != imp["version"], end_rev

    # both watchers saw the job's progress, ending with all units done
    for c in (rev, watch):
        prog = [e["data"]["progress"] for e in c.seen
                if e["event"] == "job.progress" and e["data"]["job"] == jid]
        assert prog and prog[-1]["units_done"] == 4, prog
    got = await rev.ok("job.get", {"job": jid})
    assert got["state"] == "succeeded" and got["output"] == out, got
    assert got["progress"]["units_total"] == 4, got["progress"]
    assert got["progress"]["units_done"] == 4, got["progress"]
    assert got["user"] == "eng", got
    assert got["args"]["config"]["compression"] == "none", got["args"]
    assert got["removed"] and got["removed"][0]["docs"] > 0, got["removed"]

    vers = (await rev.ok("dataset.versions", {"name": "web"}))["versions"]
    byid = {v["id"]: v for v in vers}
    assert byid[out]["parent"] == imp["version"], vers
    assert byid[out]["docs"] == got["stats"]["output"]["docs"], (vers, got["stats"])
    assert byid[out]["docs"] + sum(r["docs"] for r in got["removed"]) \
        == imp["docs"], (vers, got["removed"], imp)

    # logs: nh-clean -q writes little; the op answers with what there is
    logs = await rev.ok("job.logs", {"job": jid})
    assert logs["job"] == jid and len(logs["lines"]) == got["log_lines"], logs

    # finished jobs cannot be cancelled or resumed
    await eng.fail("job.cancel", {"job": jid}, "conflict")
    await eng.fail("job.resume", {"job": jid}, "conflict")
    await rev.fail("job.cancel", {"job": jid}, "forbidden")

    # a second job writes to another dataset; its lineage crosses over
    job2 = await eng.ok("pipeline.run", {"ref": "web@" + imp["version"][:8],
                        "config": config, "output": "web-clean"})
    await eng.ok("subscribe", {"topic": "job/%d" % job2["job"]})
    end2 = await eng.event(nhtest.job_done(job2["job"]))
    assert end2["data"]["state"] == "succeeded", end2
    v2 = (await rev.ok("dataset.versions", {"name": "web-clean"}))["versions"]
    assert len(v2) == 1 and v2[0]["parent"] == imp["version"], v2

    lst = await rev.ok("job.list")
    assert [j["job"] for j in lst["jobs"]] == [job2["job"], jid], lst
    assert lst["max_running"] == 1 and lst["running"] == 0, lst
    only = await rev.ok("job.list", {"state": "failed"})
    assert only["jobs"] == [], only
    await eng.ok("unsubscribe", {"topic": "job/%d" % job2["job"]})
    print(json.dumps({"job": jid, "output": out, "stats": got["stats"]}))

nhtest.run(main())
PYEOF

json job.json 'j["stats"]' | "$PY" -c 'import ast,json,sys; json.dump(ast.literal_eval(sys.stdin.read()), open("stats.json","w"))'
validate stats.json "$NH_TOP/schemas/stats.schema.json"
# the job's work directory is gone once its output is a version
jid=$(json job.json 'j["job"]')
[ ! -e "d/jobs/$jid" ] || fail "d/jobs/$jid left behind"
nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
