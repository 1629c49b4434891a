#!/usr/bin/env bash
# t0105-nhd-jobs-crash.sh - jobs survive what happens around them: nhd
# killed with SIGKILL mid-job takes its nh-clean child with it, and the
# restarted nhd marks the job interrupted; job.resume continues it from
# its finished work units, even though the client that resumed it
# disconnects at once, and the version it makes has exactly the shards of
# an uninterrupted run of the same config on the same input. Also: the
# concurrency limit queues jobs with their queue position, and cancelling
# a queued and a running job (whose child is stopped and whose work
# directory is removed).
. "$NH_TOP/tests/cli/lib.sh"

for f in a b c d e f; do
    sed "s/\"text\": \"/\"text\": \"$f /" "$NH_TOP/tests/fixtures/zh-web.jsonl" >"$f.jsonl"
done
export CONFIG='{"stages": [{"op": "normalize"}, {"op": "repetition"}, {"op": "filter.rules"}, {"op": "dedup.exact"}]}'

# phase 1: start a slow job, SIGKILL nhd once two units are done
NH_FAULT=unit-delay-ms:400 nhd_start ./d nhd1.out --max-jobs 1
"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" <<'PYEOF' >phase1 || fail "phase 1 failed"
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
URL, ADMIN, DIR = sys.argv[1:4]

async def main():
    c = await nhtest.Client.open(URL, ADMIN)
    imp = await c.ok("dataset.import", {"name": "web", "paths":
                     [DIR + "/%s.jsonl" % f for f in "abcdef"]})
    job = await c.ok("pipeline.run", {"ref": "web",
                     "config": json.loads(os.environ["CONFIG"])})
    await c.ok("subscribe", {"topic": "job/%d" % job["job"]})
    await c.event(lambda e: e["event"] == "job.progress" and
                  e["data"]["progress"]["units_done"] >= 2)
    print(job["job"], imp["version"])

nhtest.run(main())
PYEOF
read -r jid input <phase1
child=$(sed -n "s/.*job $jid: started (pid \([0-9]*\)).*/\1/p" nhd.err | tail -1)
[ -n "$child" ] || fail "no child pid logged"
nhd_kill
for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
kill -0 "$child" 2>/dev/null && fail "nh-clean $child outlived nhd"
[ -d "d/jobs/$jid/out/.work" ] || fail "no work directory left to resume from"

# phase 2: queue and cancel, then resume the interrupted job
NH_FAULT=unit-delay-ms:400 nhd_start ./d nhd2.out --max-jobs 1
"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$jid" "$input" <<'PYEOF' >phase2 || fail "phase 2 failed"
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
URL, ADMIN, JID, INPUT = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
CONFIG = json.loads(os.environ["CONFIG"])

async def main():
    c = await nhtest.Client.open(URL, ADMIN)
    got = await c.ok("job.get", {"job": JID})
    assert got["state"] == "interrupted", got
    assert got["error"] == "nhd stopped during the job", got
    await c.ok("subscribe", {"topic": "jobs"})

    # the limit is one running job: the second waits in the queue
    j2 = await c.ok("pipeline.run", {"ref": "web", "config": CONFIG,
                    "output": "other"})
    await c.event(lambda e: e["event"] == "job.state" and
                  e["data"]["job"] == j2["job"] and
                  e["data"]["state"] == "running")
    j3 = await c.ok("pipeline.run", {"ref": "web", "config": CONFIG,
                    "output": "other"})
    assert j3["state"] == "queued" and j3["queue_position"] == 1, j3
    lst = await c.ok("job.list")
    assert lst["running"] == 1 and lst["queued"] == 1, lst
    c3 = await c.ok("job.cancel", {"job": j3["job"]})
    assert c3["state"] == "cancelled", c3
    c2 = await c.ok("job.cancel", {"job": j2["job"]})
    assert c2["state"] == "cancelled", c2
    await c.fail("job.resume", {"job": j2["job"]}, "conflict")

    # resume, and leave at once: the job goes on without its client
    r = await nhtest.Client.open(URL, ADMIN)
    res = await r.ok("job.resume", {"job": JID})
    assert res["state"] in ("queued", "running"), res
    await r.close()
    end = await c.event(nhtest.job_done(JID), timeout=120)
    assert end["data"]["state"] == "succeeded", end
    # nh-clean said it took up its own work again
    logs = await c.ok("job.logs", {"job": JID})
    assert any("resuming the run" in l["line"] for l in logs["lines"]), logs
    # the two cancelled jobs never made a version
    for j in (j2["job"], j3["job"]):
        g = await c.ok("job.get", {"job": j})
        assert g["state"] == "cancelled" and g["output"] is None, g
    print(j2["job"], end["data"]["output"])

nhtest.run(main())
PYEOF
read -r j2 resumed <phase2
[ ! -e "d/jobs/$j2" ] || fail "the cancelled job's directory is left"
nhd_stop

# phase 3: the same job uninterrupted, for comparison
nhd_start ./d nhd3.out
"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$input" <<'PYEOF' >phase3 || fail "phase 3 failed"
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
URL, ADMIN, INPUT = sys.argv[1:4]

async def main():
    c = await nhtest.Client.open(URL, ADMIN)
    job = await c.ok("pipeline.run", {"ref": "web@" + INPUT, "output": "ref",
                     "config": json.loads(os.environ["CONFIG"])})
    await c.ok("subscribe", {"topic": "job/%d" % job["job"]})
    end = await c.event(nhtest.job_done(job["job"]))
    assert end["data"]["state"] == "succeeded", end
    print(end["data"]["output"])

nhtest.run(main())
PYEOF
reference=$(cat phase3)
shards() { json "d/manifests/$1.json" '" ".join(s["hash"] for s in j["shards"])'; }
expect_eq "resumed shards" "$(shards "$reference")" "$(shards "$resumed")"
[ "$reference" != "$resumed" ] || fail "two jobs made one version id"
nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
