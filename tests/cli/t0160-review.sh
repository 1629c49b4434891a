#!/usr/bin/env bash
# t0160-review.sh - review campaigns through nhd (docs/REVIEW.md):
# random and stratified samples (sizes, strata, seeds, Cochran's n),
# concurrent reviewers and leases, idempotent submits with history, undo,
# skip, closed campaigns, the statistics against values computed here in
# plain Python (Wilson, rule of three, labels, Cohen's and Fleiss' kappa,
# the stratified estimate, the decision), review.stats events on
# review/ID, an audit campaign on what dedup.exact removed, and a label
# campaign. Every message is checked against schemas/protocol.
. "$NH_TOP/tests/cli/lib.sh"

# 600 documents from three sources (300 / 200 / 100)
"$PY" - <<'PYEOF' || fail "cannot write the inputs"
import json
with open("mix.jsonl", "w") as f:
    for i in range(600):
        src = "a" if i < 300 else "b" if i < 500 else "c"
        f.write(json.dumps({"id": "d%04d" % i, "source": src,
                            "text": "document number %d from %s" % (i, src)})
                + "\n")
# 40 documents, 10 of them exact duplicates of earlier ones
with open("dups.jsonl", "w") as f:
    for i in range(40):
        t = "duplicated text %d" % (i - 30) if i >= 30 else "text %d" % i
        if i < 10:
            t = "duplicated text %d" % i
        f.write(json.dumps({"id": "u%02d" % i, "text": t}) + "\n")
PYEOF
nhd_start ./d nhd.out

"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" <<'PYEOF' || fail "review checks failed"
import asyncio, json, math, os, sys
from statistics import NormalDist
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest

URL, ADMIN, DIR = sys.argv[1:4]
Z = NormalDist().inv_cdf(0.975)
SOURCE = {"d%04d" % i: ("a" if i < 300 else "b" if i < 500 else "c")
          for i in range(600)}

def close(a, b, tol=1e-9):
    return a is not None and b is not None and abs(a - b) <= tol

def wilson(k, n):
    p = k / n
    c = p + Z * Z / (2 * n)
    h = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    d = 1 + Z * Z / n
    return (c - h) / d, (c + h) / d

async def items_of(c, cid):
    out, after = [], -1
    while True:
        r = await c.ok("review.items", {"campaign": cid, "after": after,
                                        "limit": 7})
        if not r["items"]:
            return out
        assert [i["item"] for i in r["items"]] == \
            list(range(after + 1, after + 1 + len(r["items"]))), r
        out += r["items"]
        after = r["next"]

async def judge_all(c, cid, verdict_of, labels_of=None, rid="r"):
    """next + submit until null; verdict_of(doc) -> verdict. The items."""
    got = []
    while True:
        r = await c.ok("review.next", {"campaign": cid})
        it = r["item"]
        if it is None:
            return got
        got.append(it)
        args = {"campaign": cid, "item": it["item"],
                "request_id": "%s-%d" % (rid, it["item"])}
        v = verdict_of(it["doc"])
        if v is not None:
            args["verdict"] = v
        if labels_of:
            args["labels"] = labels_of(it["doc"])
        s = await c.ok("review.submit", args)
        assert s["duplicate"] is False and s["judgment"]["item"] == it["item"], s

async def main():
    admin = await nhtest.Client.open(URL, ADMIN)
    tok = {}
    tok["eng"] = (await admin.ok("user.add", {"name": "eng", "role": "engineer"}))["token"]
    for r in ("r1", "r2", "r3"):
        tok[r] = (await admin.ok("user.add", {"name": r, "role": "reviewer"}))["token"]
    eng = await nhtest.Client.open(URL, tok["eng"])
    r1 = await nhtest.Client.open(URL, tok["r1"])
    r2 = await nhtest.Client.open(URL, tok["r2"])
    r3 = await nhtest.Client.open(URL, tok["r3"])
    imp = await eng.ok("dataset.import", {"name": "mix", "paths": [DIR + "/mix.jsonl"]})
    assert imp["docs"] == 600, imp

    # ---- create: random --------------------------------------------------
    await r1.fail("review.create", {"ref": "mix", "size": 5}, "forbidden")
    c1 = await eng.ok("review.create", {"ref": "mix", "size": 50, "seed": 7})
    assert c1["design"] == "random" and c1["size"] == 50, c1
    assert c1["population"] == 600 and c1["strata"] is None, c1
    assert c1["state"] == "open" and c1["kind"] == "review", c1
    assert c1["version"] == imp["version"] and c1["dataset"] == "mix", c1
    assert c1["complete"] == 0 and c1["user"] == "eng" and c1["audit"] is None, c1
    ids1 = [i["doc_id"] for i in await items_of(r1, c1["campaign"])]
    assert len(ids1) == 50 and len(set(ids1)) == 50, ids1
    assert all(i in SOURCE for i in ids1), ids1
    c1b = await eng.ok("review.create", {"ref": "mix", "size": 50, "seed": 7})
    ids1b = [i["doc_id"] for i in await items_of(r1, c1b["campaign"])]
    assert ids1b == ids1, (ids1, ids1b)
    c1c = await eng.ok("review.create", {"ref": "mix", "size": 50, "seed": 8})
    ids1c = [i["doc_id"] for i in await items_of(r1, c1c["campaign"])]
    assert ids1c != ids1 and set(ids1c) != set(ids1), ids1c
    # larger than the population: all of it
    call = await eng.ok("review.create", {"ref": "mix", "size": 1000})
    assert call["size"] == 600 and call["population"] == 600, call

    # ---- create: stratified, proportional ----------------------------------
    c2 = await eng.ok("review.create", {"ref": "mix", "size": 60, "seed": 3,
                      "strata": "source", "threshold": 0.6})
    assert c2["design"] == "stratified" and c2["strata"] == "source", c2
    assert c2["allocation"] == "proportional" and c2["size"] == 60, c2
    st2 = await r1.ok("review.stats", {"campaign": c2["campaign"]})
    strata = {s["stratum"]: s for s in st2["stratified"]["strata"]}
    assert sum(s["N"] for s in strata.values()) == 600, strata
    assert {k: (v["N"], v["n"]) for k, v in strata.items()} == \
        {"a": (300, 30), "b": (200, 20), "c": (100, 10)}, strata
    it2 = await items_of(r1, c2["campaign"])
    for s in "abc":
        got = [i for i in it2 if i["stratum"] == s]
        assert len(got) == strata[s]["n"], (s, got)
        assert all(SOURCE[i["doc_id"]] == s for i in got), got

    # ---- create: margin (Cochran with the finite population correction) ----
    n0 = Z * Z * 0.25 / 0.05 ** 2
    want = math.ceil(n0 / (1 + (n0 - 1) / 600))
    c3 = await eng.ok("review.create", {"ref": "mix", "margin": 0.05})
    assert c3["size"] == want and c3["population"] == 600, (c3, want)

    # ---- create: errors ----------------------------------------------------
    await eng.fail("review.create", {"ref": "nope", "size": 5}, "not_found")
    await eng.fail("review.create", {"ref": "mix", "size": 5, "margin": 0.1},
                   "bad_request", valid=False)
    await eng.fail("review.create", {"ref": "mix", "labels": ["Bad Label"]},
                   "bad_request")
    await eng.fail("review.create", {"ref": "mix", "labels": ["ok", 3]},
                   "bad_request", valid=False)
    await eng.fail("review.create", {"ref": "mix", "size": 0}, "bad_request",
                   valid=False)
    await eng.fail("review.create", {"ref": "mix", "kind": "x"}, "bad_request",
                   valid=False)
    await eng.fail("review.create", {"ref": "mix", "strata": "source",
                   "allocation": "best"}, "bad_request", valid=False)
    await eng.fail("review.create", {"audit": {"job": 999, "stage": "dedup.exact"}},
                   "not_found")
    await r1.fail("review.get", {"campaign": 9999}, "not_found")
    await r1.fail("review.next", {"campaign": 9999}, "not_found")
    lst = await r1.ok("review.list")
    assert [c["campaign"] for c in lst["campaigns"]] == sorted(
        [c["campaign"] for c in (c1, c1b, c1c, call, c2, c3)], reverse=True), lst
    assert (await r1.ok("review.list", {"kind": "label"}))["campaigns"] == []

    # ---- concurrent reviewers ----------------------------------------------
    c4 = await eng.ok("review.create", {"ref": "mix", "size": 40, "seed": 11})
    cid4 = c4["campaign"]
    got = {}
    async def worker(c, name):
        mine = []
        while True:
            r = await c.ok("review.next", {"campaign": cid4})
            if r["item"] is None:
                return mine
            mine.append(r["item"]["item"])
            await c.ok("review.submit", {"campaign": cid4, "item": r["item"]["item"],
                       "request_id": name + str(r["item"]["item"]),
                       "verdict": "accept"})
    a, b = await asyncio.gather(worker(r1, "a"), worker(r2, "b"))
    assert not set(a) & set(b), (a, b)
    assert len(a) + len(b) == 40 and set(a) | set(b) == set(range(40)), (a, b)
    s4 = await r1.ok("review.stats", {"campaign": cid4})
    assert s4["judgments"] == 40 and s4["complete"] == 40, s4
    assert (await r1.ok("review.get", {"campaign": cid4}))["complete"] == 40

    # ---- resume and lease expiry -------------------------------------------
    c5 = await eng.ok("review.create", {"ref": "mix", "size": 1, "lease_seconds": 1})
    cid5 = c5["campaign"]
    x = await r1.ok("review.next", {"campaign": cid5})
    y = await r1.ok("review.next", {"campaign": cid5})
    assert x["item"]["item"] == y["item"]["item"] == 0, (x, y)
    assert x["item"]["doc"]["id"] == x["item"]["doc_id"], x
    assert x["item"]["mine"] is None and x["item"]["audit"] is None, x
    z = await r2.ok("review.next", {"campaign": cid5})
    assert z["item"] is None and z["remaining"] == 1, z
    await r2.fail("review.renew", {"campaign": cid5, "item": 0}, "not_found")
    for _ in range(100):  # the lease lasts 1 s: r2 gets the item after it
        z = await r2.ok("review.next", {"campaign": cid5})
        if z["item"] is not None:
            break
        await asyncio.sleep(0.2)
    assert z["item"] is not None and z["item"]["item"] == 0, z
    rn = await r2.ok("review.renew", {"campaign": cid5, "item": 0})
    assert rn["lease_expires"] >= z["item"]["lease_expires"], rn
    # a reviewer whose own lease expired gets the item again (a new lease)
    c5b = await eng.ok("review.create", {"ref": "mix", "size": 1, "lease_seconds": 1})
    x = await r1.ok("review.next", {"campaign": c5b["campaign"]})
    for _ in range(100):
        await asyncio.sleep(0.2)
        y = await r1.ok("review.next", {"campaign": c5b["campaign"]})
        assert y["item"] is not None, y
        if y["item"]["lease_expires"] > x["item"]["lease_expires"]:
            break
    assert y["item"]["item"] == 0, y
    assert y["item"]["lease_expires"] > x["item"]["lease_expires"], (x, y)

    # ---- submit: idempotence, history, undo, skip, closed ------------------
    c6 = await eng.ok("review.create", {"ref": "mix", "size": 3, "seed": 5})
    cid6 = c6["campaign"]
    it = (await r1.ok("review.next", {"campaign": cid6}))["item"]
    assert it["item"] == 0, it
    sub = {"campaign": cid6, "item": 0, "request_id": "q1", "verdict": "accept",
           "score": 4, "note": "fine", "labels": ["ad"]}
    j1 = await r1.ok("review.submit", sub)
    assert j1["duplicate"] is False and j1["judgment"]["verdict"] == "accept", j1
    assert j1["judgment"]["superseded"] is None and j1["judgment"]["user"] == "r1", j1
    assert j1["judgment"]["labels"] == ["ad"] and j1["judgment"]["score"] == 4, j1
    j1b = await r1.ok("review.submit", sub)
    assert j1b["duplicate"] is True and j1b["judgment"] == j1["judgment"], j1b
    assert (await items_of(r1, cid6))[0]["judgments"] == [j1["judgment"]]
    await r1.fail("review.submit", dict(sub, labels=["nope"]), "bad_request")
    await r1.fail("review.submit", {"campaign": cid6, "item": 0,
                  "request_id": "q9"}, "bad_request")
    await r1.fail("review.submit", dict(sub, item=99, request_id="q8"), "not_found")
    j2 = await r1.ok("review.submit", dict(sub, request_id="q2", verdict="reject"))
    hist = (await items_of(r1, cid6))[0]["judgments"]
    assert [h["judgment"] for h in hist] == [j1["judgment"]["judgment"],
                                             j2["judgment"]["judgment"]], hist
    assert hist[0]["superseded"] is not None and hist[1]["superseded"] is None, hist
    assert hist[0]["verdict"] == "accept" and hist[1]["verdict"] == "reject", hist
    s6 = await r1.ok("review.stats", {"campaign": cid6})
    assert s6["judgments"] == 1 and s6["rejected"] == 1 and s6["accepted"] == 0, s6
    # undo: the judgment is superseded, the item comes back to r1
    u = await r1.ok("review.undo", {"campaign": cid6})
    assert u["item"]["item"] == 0 and u["item"]["mine"] is None, u
    assert u["remaining"] == 3, u
    hist = (await items_of(r1, cid6))[0]["judgments"]
    assert all(h["superseded"] is not None for h in hist), hist
    assert (await r1.ok("review.next", {"campaign": cid6}))["item"]["item"] == 0
    # skip: the item goes to someone else
    await r1.ok("review.submit", {"campaign": cid6, "item": 0,
                "request_id": "q3", "verdict": "skip"})
    n1 = await r1.ok("review.next", {"campaign": cid6})
    assert n1["item"]["item"] == 1, n1
    n2 = await r2.ok("review.next", {"campaign": cid6})
    assert n2["item"]["item"] == 0, n2
    s6 = await r1.ok("review.stats", {"campaign": cid6})
    assert s6["skipped"] == 1 and s6["accepted"] + s6["rejected"] == 0, s6
    # closed
    cl = await eng.ok("review.close", {"campaign": cid6})
    assert cl["state"] == "closed", cl
    await r2.fail("review.submit", {"campaign": cid6, "item": 0,
                  "request_id": "q4", "verdict": "accept"}, "conflict")
    await r1.fail("review.next", {"campaign": cid6}, "conflict")
    await r1.fail("review.undo", {"campaign": cid6}, "conflict")
    await r1.fail("review.close", {"campaign": cid6}, "forbidden")
    # a resent submit of an earlier request still answers it
    again = await r1.ok("review.submit", dict(sub, request_id="q2", verdict="reject"))
    assert again["duplicate"] is True, again

    # ---- statistics on the stratified campaign, with events ---------------
    cid2 = c2["campaign"]
    await r3.ok("subscribe", {"topic": "review/%d" % cid2})
    ev0 = await r3.event(lambda e: e["event"] == "review.stats")
    assert ev0["topic"] == "review/%d" % cid2 and ev0["data"]["campaign"] == cid2, ev0
    assert ev0["data"]["stats"]["judgments"] == 0, ev0
    assert ev0["data"]["stats"]["pass_rate"] is None, ev0
    reject = lambda d: int(d["id"][1:]) % 4 == 0 or (d["source"] == "c" and
                                                     int(d["id"][1:]) % 2 == 0)
    lab = lambda d: ["spam"] if int(d["id"][1:]) % 5 == 0 else []
    done = await judge_all(r1, cid2, lambda d: "reject" if reject(d) else "accept",
                           lab)
    assert len(done) == 60, len(done)
    ev = await r3.event(lambda e: e["event"] == "review.stats" and
                        e["data"]["stats"]["judgments"] == 60)
    st = await r1.ok("review.stats", {"campaign": cid2})
    assert ev["data"]["stats"] == st, (ev, st)
    acc = sum(1 for i in done if not reject(i["doc"]))
    rej = 60 - acc
    assert (st["accepted"], st["rejected"], st["items"], st["complete"]) == \
        (acc, rej, 60, 60), st
    lo, hi = wilson(acc, 60)
    assert close(st["pass_rate"], acc / 60), st
    assert close(st["ci_low"], lo) and close(st["ci_high"], hi), (st, lo, hi)
    assert st["upper_3n"] is None, st
    want = "accept" if lo >= 0.6 else "reject" if hi < 0.6 else "continue"
    assert st["decision"] == want, (st, want)
    # stratified estimate: W_h = N_h / N, var = sum W^2 (1 - n/N) p(1-p)/(n-1)
    p_st, var = 0.0, 0.0
    for s, N in (("a", 300), ("b", 200), ("c", 100)):
        mine = [i for i in done if i["stratum"] == s]
        nh = len(mine)
        ph = sum(1 for i in mine if not reject(i["doc"])) / nh
        W = N / 600
        p_st += W * ph
        var += W * W * (1 - nh / N) * ph * (1 - ph) / (nh - 1)
        e = [x for x in st["stratified"]["strata"] if x["stratum"] == s][0]
        assert e["judged"] == nh and close(e["pass_rate"], ph), (e, ph)
    sd = st["stratified"]
    assert close(sd["estimate"], p_st), (sd, p_st)
    assert close(sd["ci_low"], max(0, p_st - Z * math.sqrt(var))), (sd, var)
    assert close(sd["ci_high"], min(1, p_st + Z * math.sqrt(var))), (sd, var)
    # labels: the share of judged items carrying each
    spam = sum(1 for i in done if lab(i["doc"]))
    ls = {l["label"]: l for l in st["labels"]}
    assert set(ls) == {"spam", "ad", "sensitive", "low_quality", "pii_leak",
                       "duplicate", "garbled"}, ls
    lo, hi = wilson(spam, 60)
    assert ls["spam"]["items"] == spam and close(ls["spam"]["rate"], spam / 60), ls
    assert close(ls["spam"]["ci_low"], lo) and close(ls["spam"]["ci_high"], hi), ls
    assert ls["ad"]["items"] == 0 and ls["ad"]["rate"] == 0, ls
    assert st["kappa"]["value"] is None and st["kappa"]["items"] == 0, st
    assert [(r["user"], r["judgments"]) for r in st["reviewers"]] == [("r1", 60)], st

    # ---- all accepted: the rule of three, the decision --------------------
    c7 = await eng.ok("review.create", {"ref": "mix", "size": 20, "seed": 9,
                      "threshold": 0.5})
    await judge_all(r2, c7["campaign"], lambda d: "accept")
    st = await r2.ok("review.stats", {"campaign": c7["campaign"]})
    lo, hi = wilson(20, 20)
    assert st["pass_rate"] == 1 and close(st["upper_3n"], 3 / 20), st
    assert close(st["ci_low"], lo) and close(st["ci_high"], hi), st
    assert st["stratified"] is None, st
    assert st["decision"] == ("accept" if lo >= 0.5 else "continue"), st
    assert st["decision"] == "accept", st

    # ---- Cohen's kappa: two raters on every item --------------------------
    c8 = await eng.ok("review.create", {"ref": "mix", "size": 12, "seed": 21,
                      "overlap": 1, "raters": 2})
    cid8 = c8["campaign"]
    va = lambda d: "reject" if int(d["id"][1:]) % 3 == 0 else "accept"
    vb = lambda d: "reject" if int(d["id"][1:]) % 2 == 0 else "accept"
    ga = await judge_all(r1, cid8, va, rid="a")
    gb = await judge_all(r2, cid8, vb, rid="b")
    assert len(ga) == len(gb) == 12, (len(ga), len(gb))
    assert (await r3.ok("review.next", {"campaign": cid8}))["item"] is None
    A = [1 if va(i["doc"]) == "reject" else 0 for i in ga]
    B = {i["item"]: (1 if vb(i["doc"]) == "reject" else 0) for i in gb}
    B = [B[i["item"]] for i in ga]
    n = len(A)
    po = sum(1 for x, y in zip(A, B) if x == y) / n
    pe = sum((sum(1 for x in A if x == c) / n) * (sum(1 for y in B if y == c) / n)
             for c in (0, 1))
    st = await r1.ok("review.stats", {"campaign": cid8})
    assert st["kappa"]["method"] == "cohen" and st["kappa"]["items"] == 12, st
    assert close(st["kappa"]["value"], (po - pe) / (1 - pe)), (st, po, pe)
    # majority per item, a tie counting as reject
    acc = sum(1 for x, y in zip(A, B) if x == 0 and y == 0)
    assert st["accepted"] == acc and st["rejected"] == 12 - acc, st

    # ---- Fleiss' kappa: three raters ---------------------------------------
    c9 = await eng.ok("review.create", {"ref": "mix", "size": 10, "seed": 33,
                      "overlap": 1, "raters": 3})
    cid9 = c9["campaign"]
    votes = {}
    for c, m, rid in ((r1, 2, "x"), (r2, 3, "y"), (r3, 5, "w")):
        f = lambda d, m=m: "reject" if int(d["id"][1:]) % m == 0 else "accept"
        for i in await judge_all(c, cid9, f, rid=rid):
            votes.setdefault(i["item"], []).append(1 if f(i["doc"]) == "reject" else 0)
    assert len(votes) == 10 and all(len(v) == 3 for v in votes.values()), votes
    N9 = len(votes)
    P = [(sum(v) ** 2 + (3 - sum(v)) ** 2 - 3) / 6 for v in votes.values()]
    p1 = sum(sum(v) for v in votes.values()) / (3 * N9)
    Pe = p1 ** 2 + (1 - p1) ** 2
    st = await r1.ok("review.stats", {"campaign": cid9})
    assert st["kappa"]["method"] == "fleiss" and st["kappa"]["items"] == 10, st
    if Pe < 1:
        assert close(st["kappa"]["value"], (sum(P) / N9 - Pe) / (1 - Pe)), st
    assert st["accepted"] == sum(1 for v in votes.values() if sum(v) <= 1), st

    # overlap 0.5: some items need two raters, some one
    c10 = await eng.ok("review.create", {"ref": "mix", "size": 200, "seed": 1,
                       "overlap": 0.5})
    need = [i["need"] for i in await items_of(r1, c10["campaign"])]
    assert 0 < need.count(2) < 200 and need.count(1) + need.count(2) == 200, need

    # ---- audit: what dedup.exact removed -----------------------------------
    dimp = await eng.ok("dataset.import", {"name": "dups", "paths": [DIR + "/dups.jsonl"]})
    job = await eng.ok("pipeline.run", {"ref": "dups", "config": {"stages":
                       [{"op": "normalize"}, {"op": "dedup.exact"}]}})
    await eng.ok("subscribe", {"topic": "job/%d" % job["job"]})
    end = await eng.event(nhtest.job_done(job["job"]))
    assert end["data"]["state"] == "succeeded", end
    ca = await eng.ok("review.create", {"audit": {"job": job["job"],
                      "stage": "dedup.exact"}, "size": 100})
    assert ca["design"] == "audit" and ca["population"] == 10, ca
    assert ca["audit"]["job"] == job["job"], ca
    assert ca["audit"]["stage"] == "dedup.exact" and ca["size"] == 10, ca
    seen = 0
    for it in await judge_all(r1, ca["campaign"], lambda d: "reject"):
        au = it["audit"]
        assert au["removed_by"] == "dedup.exact" and au["reason"], it
        k = int(it["doc"]["id"][1:])
        assert k >= 30 and au["duplicate_of"] == "u%02d" % (k - 30), it
        assert au["duplicate"]["id"] == au["duplicate_of"], it
        assert au["duplicate"]["text"] == it["doc"]["text"], it
        seen += 1
    assert seen == 10, seen
    st = await r1.ok("review.stats", {"campaign": ca["campaign"]})
    assert st["rejected"] == 10 and st["pass_rate"] == 0, st
    assert st["decision"] == "reject", st
    await eng.fail("review.create", {"audit": {"job": job["job"],
                   "stage": "no.such"}}, "bad_request")

    # ---- a label campaign ---------------------------------------------------
    cl = await eng.ok("review.create", {"ref": "mix", "kind": "label", "size": 6,
                      "labels": ["spam", "ok"], "seed": 2})
    assert cl["kind"] == "label" and cl["labels"] == ["spam", "ok"], cl
    it = (await r1.ok("review.next", {"campaign": cl["campaign"]}))["item"]
    await r1.fail("review.submit", {"campaign": cl["campaign"], "item": it["item"],
                  "request_id": "l0", "verdict": "accept"}, "bad_request")
    got = await judge_all(r1, cl["campaign"], lambda d: None,
                          lambda d: ["spam"] if int(d["id"][1:]) % 2 else ["ok"],
                          rid="l")
    assert len(got) == 6, got
    st = await r1.ok("review.stats", {"campaign": cl["campaign"]})
    spam = sum(1 for i in got if int(i["doc"]["id"][1:]) % 2)
    ls = {l["label"]: l for l in st["labels"]}
    assert ls["spam"]["items"] == spam and close(ls["spam"]["rate"], spam / 6), st
    assert ls["ok"]["items"] == 6 - spam, st
    assert st["decision"] == "continue" and st["pass_rate"] is None, st
    assert st["judgments"] == 6 and st["complete"] == 6, st
    assert (await r1.ok("review.list", {"kind": "label"}))["campaigns"][0]["campaign"] \
        == cl["campaign"]
    await r1.ok("unsubscribe", {"topic": "review/%d" % cid2})
    await r1.fail("subscribe", {"topic": "review/9999"}, "not_found")
    print("ok")

nhtest.run(main())
PYEOF

nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
