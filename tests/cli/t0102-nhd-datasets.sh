#!/usr/bin/env bash
# t0102-nhd-datasets.sh - nhd's first table ops: user.add / user.revoke
# (admin), dataset.import (engineer, "forbidden" for a reviewer), repeat
# imports giving the same version id, dataset.list / dataset.versions,
# "not_found" for a missing shard, objects and manifest on disk.
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d out

cp "$NH_TOP/tests/fixtures/en-web.jsonl" a.jsonl
cp "$NH_TOP/tests/fixtures/zh-web.jsonl" b.jsonl
docs=$(cat a.jsonl b.jsonl | wc -l)
bytes=$(cat a.jsonl b.jsonl | wc -c)

"$PY" - "$NHD_PORT" "$(cat d/admin.token)" "$PWD" "$docs" "$bytes" \
    <<'PYEOF' >version || fail "dataset checks failed"
import asyncio, json, os, re, sqlite3, sys
import websockets
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import proto_check

URL = "ws://127.0.0.1:%s/ws" % sys.argv[1]
ADMIN, DIR = sys.argv[2], sys.argv[3]
DOCS, BYTES = int(sys.argv[4]), int(sys.argv[5])
SHARDS = [DIR + "/a.jsonl", DIR + "/b.jsonl"]
n = 0

def connect():
    return websockets.connect(URL, subprotocols=["naohai.v1"],
                              max_size=None, compression=None)

async def call(ws, op, **args):
    global n
    n += 1
    await ws.send(json.dumps({"id": n, "op": op, "args": args}))
    r = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert r["id"] == n, r
    # every reply, and every ok result, against schemas/protocol
    proto_check.check("response", r, op)
    return r

def ok(r):
    assert r["ok"] is True, r
    return r["result"]

def err(r, code):
    assert r["ok"] is False and r["error"]["code"] == code, r
    return r["error"]["message"]

async def login(token):
    ws = await connect()
    ok(await call(ws, "auth", token=token))
    return ws

async def main():
    adm = await login(ADMIN)
    eng_tok = ok(await call(adm, "user.add", name="eng", role="engineer"))
    assert eng_tok["role"] == "engineer", eng_tok
    rev_tok = ok(await call(adm, "user.add", name="rev",
                            role="reviewer"))["token"]
    err(await call(adm, "user.add", name="eng", role="engineer"), "exists")
    err(await call(adm, "user.add", name="x", role="boss"), "bad_request")
    err(await call(adm, "user.add", name="x"), "bad_request")
    err(await call(adm, "user.revoke", name="nobody"), "not_found")

    rev = await login(rev_tok)
    err(await call(rev, "dataset.import", name="web", paths=SHARDS),
        "forbidden")
    err(await call(rev, "user.add", name="y", role="admin"), "forbidden")
    r = ok(await call(rev, "dataset.list"))
    assert r == {"datasets": []}, r

    eng = await login(eng_tok["token"])
    r = ok(await call(eng, "dataset.import", name="web", paths=SHARDS))
    vid = r["version"]
    assert re.fullmatch("[0-9a-f]{32}", vid), r
    assert r == {"dataset": "web", "version": vid, "docs": DOCS,
                 "bytes": BYTES, "shards": 2}, r
    r = ok(await call(eng, "dataset.import", name="web", paths=SHARDS))
    assert r["version"] == vid, r
    r = ok(await call(rev, "dataset.versions", name="web"))
    assert len(r["versions"]) == 1, r
    v = r["versions"][0]
    assert v["id"] == vid and v["parent"] is None, v
    assert v["docs"] == DOCS and v["bytes"] == BYTES, v
    assert isinstance(v["created"], int), v

    # a different import chains onto the first
    r = ok(await call(eng, "dataset.import", name="web", paths=SHARDS[:1]))
    vid2 = r["version"]
    assert vid2 != vid and r["shards"] == 1, r
    r = ok(await call(rev, "dataset.versions", name="web"))
    assert [x["id"] for x in r["versions"]] == [vid2, vid], r
    assert r["versions"][0]["parent"] == vid, r
    ok(await call(eng, "dataset.import", name="other", paths=SHARDS))
    r = ok(await call(rev, "dataset.list"))
    ds = r["datasets"]
    assert [d["name"] for d in ds] == ["other", "web"], r
    assert ds[0]["versions"] == 1 and ds[0]["docs"] == DOCS, r
    assert ds[0]["bytes"] == BYTES, r
    assert ds[1]["versions"] == 2 and ds[1]["latest"] == vid2, r

    msg = err(await call(eng, "dataset.import", name="web",
                         paths=[DIR + "/missing.jsonl"]), "not_found")
    assert "missing.jsonl" in msg, msg
    err(await call(eng, "dataset.import", name="web"), "bad_request")
    err(await call(eng, "dataset.import", name="web", paths=[1]),
        "bad_request")
    err(await call(rev, "dataset.versions", name="nope"), "not_found")
    err(await call(rev, "dataset.versions"), "bad_request")

    # a dataset row without versions (no op makes one; written straight
    # into the database): listed with nothing in it, no versions
    db = sqlite3.connect(DIR + "/d/naohai.db", timeout=10)
    db.execute("INSERT INTO datasets (name) VALUES ('bare')")
    db.commit()
    db.close()
    r = ok(await call(rev, "dataset.versions", name="bare"))
    assert r == {"versions": []}, r
    r = ok(await call(rev, "dataset.list"))
    assert [d["name"] for d in r["datasets"]] == ["bare", "other", "web"], r
    assert r["datasets"][0] == {"name": "bare", "versions": 0,
                                "latest": None, "docs": 0, "bytes": 0}, r
    assert r["datasets"][2]["latest"] == vid2, r

    ok(await call(adm, "user.revoke", name="rev"))
    async with connect() as ws:
        err(await call(ws, "auth", token=rev_tok), "bad_token")
    for ws in (adm, rev, eng):
        await ws.close()
    print(vid)

asyncio.run(main())
PYEOF

vid=$(cat version)
[ -f "d/manifests/$vid.json" ] || fail "no manifest d/manifests/$vid.json"
expect_eq "manifest dataset" web "$(json "d/manifests/$vid.json" 'j["dataset"]')"
for f in a.jsonl b.jsonl; do
    h=$(json "d/manifests/$vid.json" \
        '[s["hash"] for s in j["shards"]][0 if "'$f'" == "a.jsonl" else 1]')
    obj="d/objects/${h:0:2}/$h"
    [ -f "$obj" ] || fail "no object $obj"
    expect_same "$f" "$obj"
done
ls d/manifests | grep -q tmp- && fail "temporary manifest left behind"

# a FIFO among the paths is refused without stalling a DB worker
mkfifo fifo.jsonl
ln -s /etc/passwd passwd-link
"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD" <<'PYEOF' || fail "fifo import"
import asyncio, os, sys
import websockets
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
URL, ADMIN, DIR = sys.argv[1:4]
async def main():
    c = await nhtest.Client.open(URL, ADMIN)
    for _ in range(3):  # more than the DB workers
        e = await c.fail("dataset.import", {"name": "f", "paths":
                         [DIR + "/fifo.jsonl"]}, "not_found", timeout=10)
        assert "not a file" in e["message"], e
    await c.ok("dataset.list", timeout=10)
    # server paths: only below the import root (nhd's working directory),
    # never the data directory, whatever a symlink says
    for path, why in ((DIR + "/d/admin.token", "inside nhd's data directory"),
                      (DIR + "/d/naohai.db", "inside nhd's data directory"),
                      ("/etc/passwd", "outside the import root"),
                      (DIR + "/passwd-link", "outside the import root")):
        e = await c.fail("dataset.import", {"name": "x", "paths": [path]},
                         "bad_request")
        assert why in e["message"], (path, e)
    # revoking a user ends the sessions it has open
    tok = (await c.ok("user.add", {"name": "tmp", "role": "reviewer"}))["token"]
    t = await nhtest.Client.open(URL, tok)
    await t.ok("dataset.list")
    await c.ok("user.revoke", {"name": "tmp"})
    try:
        await t.call("dataset.list", timeout=10)
        raise AssertionError("a revoked session still answered")
    except websockets.ConnectionClosed:
        pass
nhtest.run(main())
PYEOF

nhd_stop
if grep -iE ': error|sanitizer|runtime error' nhd.err; then
    fail "nhd logged errors"
fi
exit 0
