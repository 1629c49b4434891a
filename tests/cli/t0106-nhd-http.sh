#!/usr/bin/env bash
# t0106-nhd-http.sh - the read-only HTTP API (GET /api/datasets,
# /api/datasets/NAME/versions, /api/jobs, /api/jobs/ID with a bearer
# token; results shaped like the ops' and checked against their
# schemas), its errors (401, 403-free reads for a reviewer, 404, 405),
# keep-alive, a response large enough to go in several pieces; then
# --log with SIGHUP reopening the log file after a rotation; then TLS:
# /health over https and the protocol over wss, also through nh.
. "$NH_TOP/tests/cli/lib.sh"

printf '{"text":"a"}\n' >one.jsonl
nhd_start ./d nhd.out --log "$PWD/nhd.log"
"$PY" - "$NHD_URL" "$NHD_HTTP" "$(cat d/admin.token)" "$PWD" <<'PYEOF' || fail "http checks failed"
import asyncio, http.client, json, os, sys, urllib.parse
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest, proto_check

URL, HTTP, ADMIN, DIR = sys.argv[1:5]
host = urllib.parse.urlparse(HTTP).netloc

def get(conn, path, token=None, method="GET"):
    h = {"Authorization": "Bearer " + token} if token else {}
    conn.request(method, path, headers=h)
    r = conn.getresponse()
    body = r.read()
    return r.status, (json.loads(body) if body else None)

def as_op(op, result):
    proto_check.check("response", {"id": 1, "ok": True, "result": result}, op)

async def setup():
    c = await nhtest.Client.open(URL, ADMIN)
    rev = (await c.ok("user.add", {"name": "rev", "role": "reviewer"}))["token"]
    # enough versions that the list goes in more than one 64 KiB piece
    for i in range(450):
        with open(DIR + "/one.jsonl", "w") as f:
            f.write('{"text":"doc %d"}\n' % i)
        await c.ok("dataset.import", {"name": "web", "paths": [DIR + "/one.jsonl"]})
    job = await c.ok("pipeline.run", {"ref": "web", "config": {"stages": [{"op": "normalize"}]}})
    await c.ok("subscribe", {"topic": "job/%d" % job["job"]})
    await c.event(nhtest.job_done(job["job"]))
    return rev, job["job"]

rev, jid = nhtest.run(setup())
conn = http.client.HTTPConnection(host, timeout=30)   # one keep-alive connection
st, body = get(conn, "/api/datasets")
assert st == 401 and body["error"]["code"] == "unauthenticated", (st, body)
st, body = get(conn, "/api/datasets", "0" * 64)
assert st == 401 and body["error"]["code"] == "bad_token", (st, body)
st, body = get(conn, "/api/datasets", rev)
assert st == 200, (st, body)
as_op("dataset.list", body)
assert body["datasets"][0]["name"] == "web", body
st, body = get(conn, "/api/datasets/web/versions", rev)
assert st == 200 and len(body["versions"]) == 451, (st, len(body["versions"]))
as_op("dataset.versions", body)
assert len(json.dumps(body)) > 65536, len(json.dumps(body))
st, body = get(conn, "/api/datasets/nope/versions", rev)
assert st == 404 and body["error"]["code"] == "not_found", (st, body)
st, body = get(conn, "/api/jobs", rev)
assert st == 200 and body["jobs"][0]["job"] == jid, (st, body)
as_op("job.list", body)
st, body = get(conn, "/api/jobs?state=failed", rev)
assert st == 200 and body["jobs"] == [], (st, body)
st, body = get(conn, "/api/jobs/%d" % jid, rev)
assert st == 200 and body["state"] == "succeeded", (st, body)
as_op("job.get", body)
st, body = get(conn, "/api/jobs/999", rev)
assert st == 404, (st, body)
st, body = get(conn, "/nope", rev)
assert st == 404, (st, body)
conn.close()
conn = http.client.HTTPConnection(host, timeout=30)
conn.request("POST", "/api/datasets", body=b"{}")
assert conn.getresponse().status >= 400
PYEOF

# the log follows a rotation on SIGHUP
grep -q "listening on" nhd.log || fail "nothing logged to --log"
mv nhd.log nhd.log.1
kill -HUP "$NHD_PID"
for _ in $(seq 50); do [ -s nhd.log ] && break; sleep 0.1; done
grep -q "log reopened" nhd.log || fail "no new log after SIGHUP"
nhd_stop
grep -q "stopped" nhd.log || fail "shutdown not in the reopened log"

# TLS with a self-signed certificate
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
    -keyout key.pem -out cert.pem 2>/dev/null || fail "openssl failed"
NHD_PORT=
: "${NHD_PORT:=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')}"
"$NHD" --data ./d --listen "127.0.0.1:$NHD_PORT" --tls-cert cert.pem --tls-key key.pem >tls.out 2>>nhd.err &
NHD_PID=$!
"$PY" - "$NHD_PORT" "$(cat d/admin.token)" <<'PYEOF' || fail "tls checks failed"
import asyncio, json, os, ssl, sys, time, urllib.request
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
port, admin = sys.argv[1:3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for _ in range(100):
    try:
        with urllib.request.urlopen("https://127.0.0.1:%s/health" % port,
                                    context=ctx, timeout=2) as r:
            assert json.load(r)["ok"] is True
            break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("no /health over https")

async def main():
    import websockets
    ws = await websockets.connect("wss://127.0.0.1:%s/ws" % port, ssl=ctx,
                                  subprotocols=["naohai.v1"])
    c = nhtest.Client(ws)
    nhtest._open.append(c)
    r = await c.ok("auth", {"token": admin})
    assert r["role"] == "admin", r
nhtest.run(main())
PYEOF
NH_SERVER="wss://127.0.0.1:$NHD_PORT" NH_TOKEN=$(cat d/admin.token) NH_INSECURE=1 \
    "$NH_BIN/nh" dataset ls >ls.out || fail "nh over wss failed"
grep -q "^web " ls.out || fail "nh over wss: $(cat ls.out)"
NH_SERVER="wss://127.0.0.1:$NHD_PORT" NH_TOKEN=$(cat d/admin.token) \
    "$NH_BIN/nh" dataset ls >/dev/null 2>tls.err && fail "self-signed certificate accepted"
nhd_stop
if grep -iE 'sanitizer|runtime error' nhd.err; then fail "nhd logged errors"; fi
exit 0
