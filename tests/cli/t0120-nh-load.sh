#!/usr/bin/env bash
# t0120-nh-load.sh - bench/nh-load against a real nhd: 20 connections for
# 2 s over dataset.list, dataset.versions and ping on an imported
# dataset. Every connection must authenticate, every request succeed,
# some be counted; subscribe answers (held or "unknown_op") must account
# for every connection. A bad token must make every connection fail and
# nh-load exit 1. No timing is checked.
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d out
cp "$NH_TOP/tests/fixtures/en-web.jsonl" a.jsonl

"$PY" - "$NHD_URL" "$(cat d/admin.token)" "$PWD/a.jsonl" >rev.token <<'PYEOF' ||
import asyncio, json, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1], subprotocols=["naohai.v1"]) as ws:
        async def call(i, op, **args):
            await ws.send(json.dumps({"id": i, "op": op, "args": args}))
            r = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert r["id"] == i and r["ok"] is True, r
            return r["result"]
        await call(1, "auth", token=sys.argv[2])
        await call(2, "dataset.import", name="web", paths=[sys.argv[3]])
        print((await call(3, "user.add", name="load", role="reviewer"))["token"])

asyncio.run(main())
PYEOF
    fail "setup failed"

rc=0
"$NH_BIN/nh-load" --url "$NHD_URL" --token "$(cat rev.token)" \
    --connections 20 --seconds 2 --warmup 0.5 \
    --ops dataset.list,dataset.versions:web,ping --json >load.json 2>load.err ||
    rc=$?
cat load.json load.err
expect_eq "nh-load exit status" 0 "$rc"
expect_eq "connections" 20 "$(json load.json 'j["connections"]')"
expect_eq "authenticated" 20 "$(json load.json 'j["authenticated"]')"
expect_eq "errors" 0 "$(json load.json 'j["errors"]')"
expect_eq "subscribe answers" 20 \
    "$(json load.json 'j["subscribed"] + j["subscribe_unsupported"]')"
[ "$(json load.json 'j["requests"]')" -gt 0 ] || fail "no requests counted"
[ "$(json load.json 'j["p50_ms"] <= j["p99_ms"] <= j["max_ms"]')" = True ] ||
    fail "percentiles out of order"

# a token nhd does not know: every connection fails its auth
rc=0
"$NH_BIN/nh-load" --url "$NHD_URL" --token nope --connections 3 \
    --seconds 1 --json >bad.json 2>bad.err || rc=$?
expect_eq "nh-load exit status, bad token" 1 "$rc"
expect_eq "authenticated, bad token" 0 "$(json bad.json 'j["authenticated"]')"
expect_eq "connection failures" 3 "$(json bad.json 'j["connection_failures"]')"
grep -q "auth refused" bad.err || fail "no 'auth refused' message"

# usage errors exit 2
rc=0
"$NH_BIN/nh-load" --url "http://x" --token t 2>/dev/null || rc=$?
expect_eq "nh-load exit status, bad url" 2 "$rc"
nhd_stop
