#!/usr/bin/env bash
# t0192-nhd-train.sh - training from the workbench: train.launch tokenizes
# a version (once per version and tokenizer: a second launch reuses the
# cached token shards), runs nh-train launch detached with a fault
# injected, streams train.metrics and train.supervisor events (checked
# against schemas/protocol), and keeps them in train.records. nhd is
# SIGKILLed mid-run: the run goes on without it, the next nhd reattaches
# and the job succeeds with every step recorded once. job.cancel stops a
# run (SIGTERM to its supervisor, no rank left) and job.resume continues
# it from its checkpoint. dataset.lineage shows the runs on the version.
. "$NH_TOP/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are not ours to check for leaks (and nhd
# passes its environment on to nh-train)
export ASAN_OPTIONS=detect_leaks=0
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"
unset NH_FAULT
make_poem_tokens # poems.jsonl, tok, toks
cp "$NH_TOP/trainer/configs/tiny.json" model.json

# phase 1: launch with a rank killed at step 9; SIGKILL nhd after step 5
nhd_start ./d nhd1.out --import-root "$PWD"
"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" <<'PYEOF' >phase1 || fail "phase 1 failed"
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
URL, ADMIN, DIR = sys.argv[1:4]

async def main():
    c = await nhtest.Client.open(URL, ADMIN)
    imp = await c.ok("dataset.import", {"name": "poems",
                     "paths": [DIR + "/poems.jsonl"]})
    await c.fail("train.launch", {"ref": "poems", "model": DIR + "/model.json"},
                 "bad_request", valid=False)
    await c.fail("train.launch", {"ref": "poems", "model": "/etc/passwd",
                 "vocab": 300}, "bad_request")
    await c.fail("train.launch", {"ref": "nope", "model": {}, "vocab": 300},
                 "not_found")
    job = await c.ok("train.launch", {"ref": "poems", "model": DIR + "/model.json",
                     "tokenizer": DIR + "/tok", "np": 2, "steps": 24, "seq": 32,
                     "batch": 4, "lr": 3e-3, "ckpt_every": 3, "threads": 1,
                     "fault": "kill:rank=1:step=8"})
    assert job["kind"] == "train" and job["input"] == imp["version"], job
    await c.ok("subscribe", {"topic": "job/%d" % job["job"]})
    await c.event(lambda e: e["event"] == "train.metrics" and
                  e["data"]["record"].get("step", 0) >= 5, timeout=120)
    print(job["job"], imp["version"])

nhtest.run(main())
PYEOF
read -r jid version <phase1
nhd_kill
launcher=$(sed -n "s/.*job $jid: nh-train launch started (pid \([0-9]*\)).*/\1/p" nhd.err | tail -1)
[ -n "$launcher" ] || fail "no launcher pid logged: $(cat nhd.err)"
kill -0 "$launcher" 2>/dev/null || fail "nh-train launch died with nhd"

# phase 2: a new nhd reattaches; the run finishes with every step
nhd_start ./d nhd2.out --import-root "$PWD"
grep -q "job $jid: reattached" nhd.err || fail "no reattach: $(cat nhd.err)"
"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" "$jid" "$version" <<'PYEOF' >phase2 || fail "phase 2 failed"
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
URL, ADMIN, DIR, JID, VERSION = sys.argv[1:6]
JID = int(JID)

async def records(c, job):
    r = await c.ok("train.records", {"job": job, "limit": 10000})
    assert [x["seq"] for x in r["records"]] == list(range(len(r["records"])))
    return r

async def main():
    c = await nhtest.Client.open(URL, ADMIN)
    await c.ok("subscribe", {"topic": "job/%d" % JID})
    end = await c.event(nhtest.job_done(JID), timeout=120)
    assert end["data"]["state"] == "succeeded", end
    r = await records(c, JID)
    steps = [x["record"]["step"] for x in r["records"]
             if x["source"] == "metrics" and "event" not in x["record"]]
    # steps 1..24 once each, plus the steps redone after the fault
    assert sorted(set(steps)) == list(range(1, 25)), steps
    sup = [x["record"] for x in r["records"] if x["source"] == "supervisor"]
    kinds = [s["event"] for s in sup]
    assert kinds == ["start", "fault", "start", "restart", "finish",
                     "summary"], kinds
    assert sup[1]["rank"] == 1 and sup[1]["step"] == 8, sup[1]
    assert sup[3]["resumed_from"] == 6 and sup[-1]["status"] == "finished"
    assert len(steps) == 24 + sup[3]["steps_redone"], steps
    run = r["run"]
    assert run["version"] == VERSION and run["restarts"] == 1, run
    assert run["last_step"] == 24 and run["pid"] is None, run
    g = await c.ok("job.get", {"job": JID})
    assert g["stats"]["status"] == "finished", g

    # the same version and tokenizer again: the cached shards, no tokenize
    j2 = await c.ok("train.launch", {"ref": "poems@" + VERSION[:8],
                    "model": json.load(open(DIR + "/model.json")),
                    "tokenizer": DIR + "/tok", "np": 1, "steps": 40,
                    "seq": 32, "batch": 4, "ckpt_every": 2, "threads": 1})
    await c.ok("subscribe", {"topic": "job/%d" % j2["job"]})
    await c.event(lambda e: e["event"] == "train.metrics" and
                  e["data"]["job"] == j2["job"] and
                  e["data"]["record"].get("step", 0) >= 4, timeout=120)
    # stop it: SIGTERM to its supervisor
    st = await c.ok("job.cancel", {"job": j2["job"]})
    assert st["state"] == "cancelled", st
    rs = await records(c, j2["job"])
    while rs["run"]["pid"] is not None:
        await asyncio.sleep(0.2)
        rs = await records(c, j2["job"])
    assert rs["run"]["tokens"] == run["tokens"], (rs["run"], run)
    sup = [x["record"]["event"] for x in rs["records"]
           if x["source"] == "supervisor"]
    assert sup[-1] == "summary" and "stopped" in sup, sup
    # resume: the same run from its newest checkpoint
    res = await c.ok("job.resume", {"job": j2["job"]})
    assert res["state"] in ("queued", "running"), res
    # (the stop's own job.state events may still be on their way)
    await c.event(lambda e: e["event"] == "job.state" and
                  e["data"]["job"] == j2["job"] and
                  e["data"]["state"] == "running")
    end = await c.event(nhtest.job_done(j2["job"]), timeout=120)
    assert end["data"]["state"] == "succeeded", end
    rs = await records(c, j2["job"])
    starts = [x["record"] for x in rs["records"]
              if x["source"] == "supervisor" and x["record"]["event"] == "start"]
    assert starts[0]["resume"] is False and starts[-1]["resume"] is True, starts
    steps = {x["record"]["step"] for x in rs["records"]
             if x["source"] == "metrics" and "event" not in x["record"]}
    assert steps == set(range(1, 41)), steps
    logs = await c.ok("job.logs", {"job": j2["job"]})
    assert not any("tokenize" in l["line"] for l in logs["lines"]), logs

    lin = await c.ok("dataset.lineage", {"ref": "poems"})
    node = [n for n in lin["nodes"] if n["id"] == VERSION][0]
    assert [(x["job"], x["state"]) for x in node["runs"]] == \
        [(JID, "succeeded"), (j2["job"], "succeeded")], node
    print(j2["job"])

nhtest.run(main())
PYEOF
j2=$(cat phase2)
expect_eq "token caches" 1 "$(ls d/tokens | wc -l)"
pgrep -f -- "--out $PWD/d/runs/" >/dev/null && fail "ranks left running"
[ -s "d/runs/$jid/metrics.jsonl" ] || fail "no metrics.jsonl in the run directory"
[ -e "d/jobs/$j2" ] && fail "a work directory is left"
nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
