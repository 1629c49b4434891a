#!/usr/bin/env bash
# t0101-nhd-basic.sh - nhd starts, serves /health and the naohai.v1
# envelope (auth, ping, bad_request, unknown_op, unauthenticated, bad
# tokens, too_large), keeps serving other connections, stops on SIGTERM
# with status 0, and prints the admin token on first start only.
. "$NH_TOP/tests/cli/lib.sh"
NHD="$NH_BIN/nhd"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# start_nhd OUTFILE: run nhd in the background, wait for /health
start_nhd() {
    "$NHD" --data ./d --listen "127.0.0.1:$PORT" >"$1" 2>>nhd.err &
    pid=$!
    "$PY" - "$PORT" <<'PYEOF' || fail "nhd did not answer /health"
import json, sys, time, urllib.request
url = "http://127.0.0.1:%s/health" % sys.argv[1]
for _ in range(200):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            j = json.load(r)
            assert j["ok"] is True and isinstance(j["version"], str), j
            sys.exit(0)
    except (OSError, ValueError):
        time.sleep(0.05)
sys.exit(1)
PYEOF
}

# stop_nhd: SIGTERM, expect status 0 within 5 s
stop_nhd() {
    kill -TERM "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "nhd still running 5 s after SIGTERM"
    rc=0
    wait "$pid" || rc=$?
    pid=""
    expect_eq "nhd exit status" 0 "$rc"
}

start_nhd out1
[ -f d/admin.token ] || fail "no d/admin.token"
expect_eq "admin.token mode" 600 "$(stat -c %a d/admin.token)"
token=$(cat d/admin.token)
grep -q "$token" out1 || fail "token not printed on first start"

"$PY" - "$PORT" "$token" <<'PYEOF' || fail "protocol checks failed"
import asyncio, json, sys
import websockets

URL = "ws://127.0.0.1:%s/ws" % sys.argv[1]
TOKEN = sys.argv[2]

def connect():
    return websockets.connect(URL, subprotocols=["naohai.v1"],
                              max_size=None, compression=None)

async def call(ws, msg):
    await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))

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
        r = await call(ws, {"id": 2, "op": "ping"})
        assert r == {"id": 2, "ok": True, "result": {"pong": True}}, r
        expect_error(await call(ws, '{"id": 3, "op": '), "bad_request", None)
        expect_error(await call(ws, {"id": 4}), "bad_request", 4)
        expect_error(await call(ws, {"id": 5, "op": "x", "args": []}),
                     "bad_request", 5)
        expect_error(await call(ws, {"id": 6, "op": "no.such.op"}),
                     "unknown_op", 6)
        r = await call(ws, {"id": 7, "op": "ping"})
        assert r["ok"] is True, r
    # 2: an op before auth
    async with connect() as ws:
        expect_error(await call(ws, {"id": 1, "op": "dataset.list"}),
                     "unauthenticated", 1)
        expect_error(await call(ws, {"id": 2, "op": "auth", "args": {}}),
                     "bad_request", 2)
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
        expect_error(await call(ws, big), "too_large", None)
        await expect_closed(ws)
    # a WebSocket elsewhere than /ws, or without the subprotocol, is refused
    for url, sub in ((URL.replace("/ws", "/other"), ["naohai.v1"]),
                     (URL, None)):
        try:
            async with websockets.connect(url, subprotocols=sub) as ws:
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

stop_nhd

# a restart on the same data directory prints no new token
start_nhd out2
grep -q . out2 && fail "token printed again on restart: $(cat out2)"
expect_eq "admin.token unchanged" "$token" "$(cat d/admin.token)"
stop_nhd
if grep -iE ': error|sanitizer|runtime error' nhd.err; then
    fail "nhd logged errors"
fi
exit 0
