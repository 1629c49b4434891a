#!/usr/bin/env bash
# t0103-nhd-versions.sh - refs, dataset.show / .lineage / .diff / .tag /
# .read, resumable uploads and import by upload, UTF-8 checks on import,
# and roles, against a real nhd; every message checked with proto_check.
# Upload hashes come from xxh128sum (the same XXH3-128 spelling as nhd).
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d out

# a and b share three documents; b adds two and drops two
for i in 1 2 3 4 5; do printf '{"text":"doc %s 文档"}\n' "$i"; done > a.jsonl
{ sed -n 3,5p a.jsonl; printf '{"text":"new 1"}\n{"text":"new 2"}\n'; } > b.jsonl
# a bigger shard to page through: lines of many lengths, one of 10 KB,
# multibyte text, and no newline at the very end
"$PY" - <<'PYEOF'
import json
with open("big.jsonl", "w", encoding="utf-8") as f:
    for i in range(3000):
        t = ("行%d " % i) * (i % 37) + "x" * (i % 101)
        if i == 1500:
            t = "長" * 10000
        f.write(json.dumps({"i": i, "text": t}, ensure_ascii=False))
        if i != 2999:
            f.write("\n")
PYEOF
# an upload of ~1.3 MB, and bad UTF-8 on line 3
cat big.jsonl big.jsonl > up.jsonl  # 5999 lines: big has no final newline
printf '{"t":"a"}\n{"t":"b"}\n{"t":"\377"}\n' > bad.jsonl
up_hash=$(xxh128sum up.jsonl | cut -d' ' -f1)
[ ${#up_hash} -eq 32 ] || fail "xxh128sum gave '$up_hash'"

"$PY" - "$NHD_PORT" "$(cat d/admin.token)" "$PWD" "$up_hash" \
    <<'PYEOF' || fail "version checks failed"
import asyncio, base64, json, os, re, sqlite3, sys
import websockets
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import proto_check

URL = "ws://127.0.0.1:%s/ws" % sys.argv[1]
ADMIN, DIR, UP_HASH = sys.argv[2], sys.argv[3], sys.argv[4]
n = 0

def connect():
    return websockets.connect(URL, subprotocols=["naohai.v1"],
                              max_size=None, compression=None)

async def call(ws, op, **args):
    global n
    n += 1
    req = {"id": n, "op": op, "args": args}
    await ws.send(json.dumps(req))
    r = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert r["id"] == n, r
    proto_check.check("response", r, op)
    return r

async def valid_call(ws, op, **args):
    # requests we mean to be well-formed are checked too
    proto_check.check("request", {"id": 0, "op": op, "args": args})
    return await call(ws, op, **args)

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

def lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()

async def main():
    adm = await login(ADMIN)
    eng = await login(ok(await call(adm, "user.add", name="eng",
                                    role="engineer"))["token"])
    rev = await login(ok(await call(adm, "user.add", name="rev",
                                    role="reviewer"))["token"])
    A, B = DIR + "/a.jsonl", DIR + "/b.jsonl"

    # ---- two imports, versions, show, lineage -------------------------
    v1 = ok(await valid_call(eng, "dataset.import", name="web",
                             paths=[A]))["version"]
    v2 = ok(await valid_call(eng, "dataset.import", name="web",
                             paths=[B]))["version"]
    assert v1 != v2
    vs = ok(await valid_call(rev, "dataset.versions", name="web"))["versions"]
    assert [v["id"] for v in vs] == [v2, v1], vs
    assert all(v["job"] is None and v["tags"] == [] for v in vs), vs
    s = ok(await valid_call(rev, "dataset.show", ref="web"))
    assert s["version"] == v2 and s["parent"] == v1, s
    assert s["dataset"] == "web" and s["docs"] == 5 and s["job"] is None, s
    assert s["config_hash"] is None and s["tool_version"], s
    assert len(s["shards"]) == 1 and s["shards"][0]["docs"] == 5, s
    assert s["shards"][0]["bytes"] == os.path.getsize(B), s
    s1 = ok(await valid_call(rev, "dataset.show", ref="web@" + v1))
    assert s1["version"] == v1 and s1["parent"] is None, s1
    lin = ok(await valid_call(rev, "dataset.lineage", ref="web"))
    assert lin["root"] == v2, lin
    nodes = {x["id"]: x for x in lin["nodes"]}
    assert set(nodes) == {v1, v2}, lin
    assert nodes[v2]["parent"] == v1 and nodes[v1]["parent"] is None, lin
    assert all(x["dataset"] == "web" for x in lin["nodes"]), lin

    # ---- refs: prefix, tag, moving a tag, unknown ---------------------
    s = ok(await valid_call(rev, "dataset.show", ref="web@" + v1[:8]))
    assert s["version"] == v1, s
    t = ok(await valid_call(eng, "dataset.tag", ref="web@" + v1[:6],
                            tag="prod"))
    assert t == {"dataset": "web", "tag": "prod", "version": v1}, t
    s = ok(await valid_call(rev, "dataset.show", ref="web@prod"))
    assert s["version"] == v1 and s["tags"] == ["prod"], s
    t = ok(await valid_call(eng, "dataset.tag", ref="web", tag="prod"))
    assert t["version"] == v2, t
    s = ok(await valid_call(rev, "dataset.show", ref="web@prod"))
    assert s["version"] == v2, s
    vs = ok(await valid_call(rev, "dataset.versions", name="web"))["versions"]
    assert vs[0]["tags"] == ["prod"] and vs[1]["tags"] == [], vs
    err(await call(rev, "dataset.show", ref="web@staging"), "not_found")
    err(await call(rev, "dataset.show", ref="nope"), "not_found")
    err(await call(rev, "dataset.show", ref="web@ffffff"
                   if not v1.startswith("ffffff") and
                   not v2.startswith("ffffff") else "web@eeeeee"),
        "not_found")
    err(await call(rev, "dataset.show", ref="web@"), "bad_request")
    err(await call(rev, "dataset.show"), "bad_request")
    err(await call(eng, "dataset.tag", ref="web", tag="abcdef12"),
        "bad_request")
    err(await call(eng, "dataset.tag", ref="web", tag="a b"), "bad_request")

    # ---- diff ---------------------------------------------------------
    d = ok(await valid_call(rev, "dataset.diff", a="web@" + v1, b="web"))
    assert d["a"] == v1 and d["b"] == v2, d
    assert (d["added"], d["removed"], d["common"]) == (2, 2, 3), d
    la, lb = lines(A), lines(B)
    assert sorted(d["added_sample"]) == sorted(set(lb) - set(la)), d
    assert sorted(d["removed_sample"]) == sorted(set(la) - set(lb)), d
    d = ok(await valid_call(rev, "dataset.diff", a="web", b="web@" + v1,
                            sample=1))
    assert (d["added"], d["removed"], d["common"]) == (2, 2, 3), d
    assert len(d["added_sample"]) == 1 and len(d["removed_sample"]) == 1, d
    assert d["added_sample"][0] in set(la) - set(lb), d
    d = ok(await valid_call(rev, "dataset.diff", a="web", b="web"))
    assert (d["added"], d["removed"], d["common"]) == (0, 0, 5), d
    err(await call(rev, "dataset.diff", a="web", b="nope"), "not_found")
    err(await call(rev, "dataset.diff", a="web", b="web", sample=1000),
        "bad_request")

    # ---- read: paging reassembles the shard byte for byte -------------
    big = ok(await valid_call(eng, "dataset.import", name="big",
                              paths=[DIR + "/big.jsonl"]))
    assert big["docs"] == 3000, big
    with open(DIR + "/big.jsonl", "rb") as f:
        want = f.read()
    got, off, pages = b"", 0, 0
    while True:
        r = ok(await valid_call(rev, "dataset.read", ref="big", shard=0,
                                offset=off, max_bytes=4096))
        assert r["offset"] == off and r["shards"] == 1, r
        page = r["data"].encode("utf-8")
        assert r["next"] == off + len(page), r
        assert len(page) <= 4096 or page.count(b"\n") <= 1, len(page)
        assert len(page) > 0, r
        got += page
        off = r["next"]
        pages += 1
        if r["eof"]:
            break
    assert got == want, (len(got), len(want))
    assert pages > 20, pages
    r = ok(await valid_call(rev, "dataset.read", ref="big", shard=0,
                            offset=0))
    assert r["data"].encode() == want and r["eof"] is True, len(r["data"])
    r = ok(await valid_call(rev, "dataset.read", ref="big", shard=0,
                            offset=len(want)))
    assert r["data"] == "" and r["eof"] is True, r
    err(await call(rev, "dataset.read", ref="big", shard=0, offset=1),
        "bad_request")
    err(await call(rev, "dataset.read", ref="big", shard=0,
                   offset=len(want) + 1), "bad_request")
    err(await call(rev, "dataset.read", ref="big", shard=1, offset=0),
        "not_found")
    err(await call(rev, "dataset.read", ref="big", shard=0, offset=0,
                   max_bytes=9 * 1024 * 1024), "bad_request")

    # ---- uploads: chunks, a disconnect, resume, finish, import --------
    with open(DIR + "/up.jsonl", "rb") as f:
        up = f.read()
    CH = 256 * 1024
    ws = await login_eng_again(adm)
    r = ok(await valid_call(ws, "upload.begin", size=len(up), hash=UP_HASH))
    uid, off = r["upload"], r["offset"]
    assert off == 0, r
    for _ in range(2):
        r = ok(await valid_call(ws, "upload.chunk", upload=uid, offset=off,
               data=base64.b64encode(up[off:off + CH]).decode()))
        assert r["offset"] == off + min(CH, len(up) - off), r
        off = r["offset"]
    # a chunk at the wrong offset is refused and changes nothing
    err(await call(ws, "upload.chunk", upload=uid, offset=off + 1,
                   data=base64.b64encode(b"x").decode()), "bad_request")
    err(await call(ws, "upload.chunk", upload=uid, offset=off,
                   data="not base64!"), "bad_request")
    err(await call(ws, "upload.finish", upload=uid), "bad_request")
    await ws.close()  # the disconnect
    ws = await login_eng_again(adm)
    r = ok(await valid_call(ws, "upload.begin", size=len(up), hash=UP_HASH))
    assert r == {"upload": uid, "offset": off}, (r, off)
    while off < len(up):
        r = ok(await valid_call(ws, "upload.chunk", upload=uid, offset=off,
               data=base64.b64encode(up[off:off + CH]).decode()))
        off = r["offset"]
    assert off == len(up)
    r = ok(await valid_call(ws, "upload.finish", upload=uid))
    assert r == {"upload": uid, "object": UP_HASH}, r
    r = ok(await valid_call(ws, "upload.finish", upload=uid))
    assert r["object"] == UP_HASH, r
    obj = DIR + "/d/objects/%s/%s" % (UP_HASH[:2], UP_HASH)
    with open(obj, "rb") as f:
        assert f.read() == up
    assert not os.path.exists(DIR + "/d/uploads/%s.part" % uid)
    imp = ok(await valid_call(ws, "dataset.import", name="uploaded",
                              uploads=[uid]))
    assert imp["docs"] == 5999 and imp["bytes"] == len(up), imp
    s = ok(await valid_call(rev, "dataset.show", ref="uploaded"))
    assert s["shards"][0]["object"] == UP_HASH, s
    err(await call(ws, "dataset.import", name="x", uploads=["0" * 32]),
        "not_found")

    # a wrong hash is rejected at finish and the upload discarded
    data = b'{"t":"z"}\n'
    r = ok(await valid_call(ws, "upload.begin", size=len(data),
                            hash="0" * 32))
    bad_id = r["upload"]
    ok(await valid_call(ws, "upload.chunk", upload=bad_id, offset=0,
                        data=base64.b64encode(data).decode()))
    msg = err(await call(ws, "upload.finish", upload=bad_id), "bad_request")
    assert "hash" in msg, msg
    err(await call(ws, "upload.finish", upload=bad_id), "not_found")
    assert not os.path.exists(DIR + "/d/uploads/%s.part" % bad_id)
    # an unfinished upload cannot be imported
    r = ok(await valid_call(ws, "upload.begin", size=5, hash="1" * 32))
    err(await call(ws, "dataset.import", name="x", uploads=[r["upload"]]),
        "bad_request")
    # too much data for the declared size
    err(await call(ws, "upload.chunk", upload=r["upload"], offset=0,
                   data=base64.b64encode(b"123456").decode()), "bad_request")

    # ---- invalid UTF-8 import is refused, naming file and line ---------
    msg = err(await call(eng, "dataset.import", name="bad",
                         paths=[DIR + "/bad.jsonl"]), "bad_request")
    assert "bad.jsonl" in msg and "line 3" in msg, msg
    err(await call(rev, "dataset.show", ref="bad"), "not_found")
    err(await call(eng, "dataset.import", name="a@b", paths=[A]),
        "bad_request")

    # ---- roles ----------------------------------------------------------
    err(await call(rev, "dataset.tag", ref="web", tag="x"), "forbidden")
    err(await call(rev, "upload.begin", size=1, hash="2" * 32), "forbidden")
    err(await call(rev, "upload.chunk", upload=uid, offset=0, data=""),
        "forbidden")
    err(await call(rev, "upload.finish", upload=uid), "forbidden")
    err(await call(rev, "dataset.import", name="web", paths=[A]),
        "forbidden")

    # ---- an ambiguous prefix: a second version sharing v1's first 10
    # digits, written straight into the database -------------------------
    fake = v1[:10] + ("0" if v1[10] != "0" else "1") + v1[11:]
    db = sqlite3.connect(DIR + "/d/naohai.db", timeout=10)
    db.execute("INSERT INTO versions (id, dataset_id, tool_version, docs,"
               " bytes, created) SELECT ?, dataset_id, 't', 0, 0, 0"
               " FROM versions WHERE id = ?", (fake, v1))
    db.commit()
    db.close()
    msg = err(await call(rev, "dataset.show", ref="web@" + v1[:10]),
              "bad_request")
    assert "ambiguous" in msg, msg
    s = ok(await valid_call(rev, "dataset.show", ref="web@" + v1[:11]))
    assert s["version"] == v1, s
    s = ok(await valid_call(rev, "dataset.show", ref="web"))
    assert s["version"] == v2, s

    for w in (adm, eng, rev, ws):
        await w.close()

ENG = {}

async def login_eng_again(adm):
    # a fresh engineer connection (a new token each time is fine)
    global ENG
    if "tok" not in ENG:
        ENG["tok"] = ok(await call(adm, "user.add", name="eng2",
                                   role="engineer"))["token"]
    return await login(ENG["tok"])

asyncio.run(main())
PYEOF

nhd_stop
if grep -iE ': error|sanitizer|runtime error' nhd.err; then
    fail "nhd logged errors"
fi
exit 0
