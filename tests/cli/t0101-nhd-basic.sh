#!/usr/bin/env bash
# t0101-nhd-basic.sh - nhd starts, serves /health and the naohai.v1
# envelope (auth, ping, bad_request, unknown_op, unauthenticated, bad
# tokens, too_large), keeps serving other connections, stops on SIGTERM
# with status 0, and prints the admin token on first start only. Every
# message sent and received is checked against schemas/protocol
# (tests/cli/proto_check.py); the malformed requests must fail that check.
. "$NH_TOP/tests/cli/lib.sh"
"$PY" "$NH_TOP/tests/cli/proto_check.py" >/dev/null ||
    fail "proto_check self-test failed"

nhd_start ./d out1
[ -f d/admin.token ] || fail "no d/admin.token"
expect_eq "admin.token mode" 600 "$(stat -c %a d/admin.token)"
token=$(cat d/admin.token)
grep -q "$token" out1 || fail "token not printed on first start"

"$PY" - "$NHD_PORT" "$token" "$NH_TOP" <<'PYEOF' || fail "protocol checks failed"
import asyncio, json, os, sys
import jsonschema
import websockets

URL = "ws://127.0.0.1:%s/ws" % sys.argv[1]
TOKEN = sys.argv[2]
sys.path.insert(0, os.path.join(sys.argv[3], "tests", "cli"))
import proto_check

def connect():
    return websockets.connect(URL, subprotocols=["naohai.v1"],
                              max_size=None, compression=None)

def expect_invalid_request(msg):
    try:
        ok = proto_check.is_valid("request", msg)
    except ValueError:  # not JSON at all
        ok = False
    assert not ok, "schema accepts malformed request %r" % repr(msg)[:200]

# call: send msg and return the reply, both checked against the schemas.
# A request that is bad on purpose must fail the check, and its reply is
# checked against the envelope only.
async def call(ws, msg, bad=False):
    op = None
    if bad:
        expect_invalid_request(msg)
    else:
        proto_check.check("request", msg)
        op = msg["op"]
    await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
    r = json.loads(await asyncio.wait_for(ws.recv(), 10))
    proto_check.check("response", r, op)
    return r

def expect_error(r, code, id_):
    assert r["ok"] is False and r["error"]["code"] == code, r
    assert r["id"] == id_, r
    assert isinstance(r["error"]["message"], str), r

async def expect_closed(ws):
    try:
        await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed:
        return
    raise AssertionError("connection not closed")

async def main():
    # 1: auth, ping, malformed JSON, bad envelope, unknown op
    async with connect() as ws:
        assert ws.subprotocol == "naohai.v1"
        r = await call(ws, {"id": 1, "op": "auth", "args": {"token": TOKEN}})
        assert r == {"id": 1, "ok": True,
                     "result": {"user": "admin", "role": "admin"}}, r
        auth_reply = r
        r = await call(ws, {"id": 2, "op": "ping"})
        assert r == {"id": 2, "ok": True, "result": {"pong": True}}, r
        # the check can fail: wrong shapes of these real replies are refused
        wrong = [("ping", dict(r, result={"pong": "yes"})),
                 ("auth", dict(auth_reply, result={"user": "admin",
                                                   "role": "root"})),
                 ("ping", dict(r, ok="true")),
                 (None, {k: v for k, v in r.items() if k != "id"})]
        for op, w in wrong:
            try:
                proto_check.check("response", w, op)
            except jsonschema.ValidationError:
                continue
            raise AssertionError("wrong reply shape accepted: %r" % w)
        expect_error(await call(ws, '{"id": 3, "op": ', bad=True),
                     "bad_request", None)
        expect_error(await call(ws, {"id": 4}, bad=True), "bad_request", 4)
        expect_error(await call(ws, {"id": 5, "op": "x", "args": []},
                                bad=True), "bad_request", 5)
        expect_error(await call(ws, {"id": 6, "op": "no.such.op"}),
                     "unknown_op", 6)
        r = await call(ws, {"id": 7, "op": "ping"})
        assert r["ok"] is True, r
    # 2: an op before auth
    async with connect() as ws:
        expect_error(await call(ws, {"id": 1, "op": "dataset.list"}),
                     "unauthenticated", 1)
        expect_error(await call(ws, {"id": 2, "op": "auth", "args": {}},
                                bad=True), "bad_request", 2)
    # 3: five bad tokens close the connection
    async with connect() as ws:
        for i in range(5):
            expect_error(await call(ws, {"id": i, "op": "auth",
                                         "args": {"token": "0" * 64}}),
                         "bad_token", i)
        await expect_closed(ws)
    # 4: a 2 MiB message gets too_large, then the connection closes
    async with connect() as ws:
        big = json.dumps({"id": 1, "op": "ping", "pad": "x" * (2 << 20)})
        expect_error(await call(ws, big, bad=True), "too_large", None)
        await expect_closed(ws)
    # a WebSocket elsewhere than /ws, or without the subprotocol, is refused
    for url, sub in ((URL.replace("/ws", "/other"), ["naohai.v1"]),
                     (URL, None)):
        try:
            async with websockets.connect(url, subprotocols=sub) as ws:
                expect_invalid_request("{}")
                await ws.send("{}")
                await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("connection to %s accepted" % url)
        except (websockets.InvalidHandshake, websockets.ConnectionClosed,
                OSError):
            pass
    # 5: the server still serves
    async with connect() as ws:
        r = await call(ws, {"id": 9, "op": "auth", "args": {"token": TOKEN}})
        assert r["ok"] is True, r
        r = await call(ws, {"id": 10, "op": "ping"})
        assert r == {"id": 10, "ok": True, "result": {"pong": True}}, r

asyncio.run(main())
PYEOF

nhd_stop

# a restart on the same data directory prints no new token
nhd_start ./d out2
grep -q . out2 && fail "token printed again on restart: $(cat out2)"
expect_eq "admin.token unchanged" "$token" "$(cat d/admin.token)"
nhd_stop
if grep -iE ': error|sanitizer|runtime error' nhd.err; then
    fail "nhd logged errors"
fi
exit 0
