#!/usr/bin/env bash
# t0110-nh-basic.sh - the nh client against a real nhd: login and its
# config file (mode 0600), NH_SERVER / NH_TOKEN overriding it, exit
# codes 0/1/2, --json output checked against the op schemas, user
# add/revoke (a revoked token then fails), dataset import --server-paths,
# dataset ls / versions, and clear errors for a bad or dead server.
. "$NH_TOP/tests/cli/lib.sh"
nhd_start ./d out
NH="$NH_BIN/nh"
export XDG_CONFIG_HOME=$PWD/cfg
unset NH_SERVER NH_TOKEN
ADMIN=$(cat d/admin.token)

# check_json OP FILE: FILE is one JSON document, a valid OP result
check_json() {
    "$PY" - "$1" "$2" <<'PYEOF' || fail "$2: not a valid $1 result"
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import proto_check
res = json.load(open(sys.argv[2]))
proto_check.check("response", {"id": 1, "ok": True, "result": res},
                  sys.argv[1])
PYEOF
}

# rc CMD...: run CMD, print its exit status (never fails the test)
rc() {
    local s=0
    "$@" >rc.out 2>rc.err || s=$?
    echo "$s"
}

# ---- usage, help, version: exit 2 or 0, no server needed
expect_eq "nh alone" 2 "$(rc "$NH")"
grep -q "usage: nh" rc.err || fail "nh alone prints no usage"
expect_eq "nh --help" 0 "$(rc "$NH" --help)"
grep -q "dataset import" rc.out || fail "--help lists no commands"
expect_eq "nh --version" 0 "$(rc "$NH" --version)"
grep -q "^nh [0-9]" rc.out || fail "bad --version output"
expect_eq "nh help" 0 "$(rc "$NH" help dataset import)"
grep -q -- "--server-paths" rc.out || fail "help dataset import"
expect_eq "CMD --help" 0 "$(rc "$NH" job watch --help)"
grep -q "usage: nh job watch ID" rc.out || fail "job watch --help"
expect_eq "unknown command" 2 "$(rc "$NH" frobnicate)"
expect_eq "group alone" 2 "$(rc "$NH" dataset)"
expect_eq "too few args" 2 "$(rc "$NH" dataset versions)"
expect_eq "too many args" 2 "$(rc "$NH" dataset versions a b)"
expect_eq "unknown option" 2 "$(rc "$NH" dataset ls --bogus)"
expect_eq "missing value" 2 "$(rc "$NH" user add x --role)"
expect_eq "bad role" 2 "$(rc "$NH" user add x --role boss)"
expect_eq "bad job id" 2 "$(rc "$NH" job show abc)"

# ---- no token yet, then login
expect_eq "no token" 1 "$(rc "$NH" dataset ls)"
grep -q "nh login" rc.err || fail "no hint to log in: $(cat rc.err)"
expect_eq "login bad token" 1 \
    "$(rc "$NH" login --server "$NHD_URL" --token 0000)"
grep -q "^nh: error: bad_token: " rc.err || fail "bad token: $(cat rc.err)"
[ -e cfg/naohai/config ] && fail "a failed login wrote the config"
expect_eq "login" 0 "$(rc "$NH" login --server "$NHD_URL" --token "$ADMIN")"
expect_eq "config mode" 600 "$(stat -c %a cfg/naohai/config)"
grep -qx "server = $NHD_URL" cfg/naohai/config || fail "no server in config"
grep -qx "token = $ADMIN" cfg/naohai/config || fail "no token in config"
"$NH" login --server "$NHD_URL" --token "$ADMIN" --json >login.json
check_json auth login.json
expect_eq "login user" admin "$(json login.json 'j["user"]')"

# ---- users
"$NH" user add eng --role engineer --json >eng.json
check_json user.add eng.json
"$NH" user add rev --role reviewer --json >rev.json
ENG=$(json eng.json 'j["token"]')
REV=$(json rev.json 'j["token"]')
expect_eq "user add twice" 1 "$(rc "$NH" user add eng --role engineer)"
grep -q "^nh: error: exists: " rc.err || fail "user add twice: $(cat rc.err)"
"$NH" user add tmp --role reviewer >tmp.out
grep -q "user 'tmp' (reviewer) added" tmp.out || fail "user add output"
TMP=$(tail -n 1 tmp.out)

# ---- NH_TOKEN overrides the file: a reviewer may not import
cp "$NH_TOP/tests/fixtures/en-web.jsonl" a.jsonl
cp "$NH_TOP/tests/fixtures/zh-web.jsonl" b.jsonl
docs=$(cat a.jsonl b.jsonl | wc -l)
bytes=$(cat a.jsonl b.jsonl | wc -c)
expect_eq "reviewer import" 1 \
    "$(NH_TOKEN=$REV rc "$NH" dataset import web a.jsonl --server-paths)"
grep -q "^nh: error: forbidden: " rc.err || fail "forbidden: $(cat rc.err)"

# ---- dataset import --server-paths (relative paths made absolute)
NH_TOKEN=$ENG "$NH" dataset import web a.jsonl "$PWD/b.jsonl" \
    --server-paths --json >imp.json
check_json dataset.import imp.json
expect_eq "import docs" "$docs" "$(json imp.json 'j["docs"]')"
expect_eq "import bytes" "$bytes" "$(json imp.json 'j["bytes"]')"
expect_eq "import shards" 2 "$(json imp.json 'j["shards"]')"
V1=$(json imp.json 'j["version"]')
NH_TOKEN=$ENG "$NH" dataset import web a.jsonl --server-paths >imp2.out
grep -q "^web@[0-9a-f]\{32\}: 5 docs, 3.0 kB, 1 shards$" imp2.out ||
    fail "import output: $(cat imp2.out)"
V2=$(sed 's/^web@\([0-9a-f]*\):.*/\1/' imp2.out)
expect_eq "missing file" 1 \
    "$(NH_TOKEN=$ENG rc "$NH" dataset import web nope.jsonl --server-paths)"
grep -q "^nh: error: not_found: .*nope.jsonl" rc.err ||
    fail "missing file: $(cat rc.err)"

# ---- dataset ls / versions, human and --json
"$NH" dataset ls --json >ls.json
check_json dataset.list ls.json
expect_eq "ls names" "['web']" "$(json ls.json '[d["name"] for d in j["datasets"]]')"
expect_eq "ls latest" "$V2" "$(json ls.json 'j["datasets"][0]["latest"]')"
"$NH" dataset ls >ls.out
printf 'NAME  VERSIONS  LATEST        DOCS    SIZE\nweb          2  %s     5  3.0 kB\n' \
    "${V2:0:12}" >ls.expect
expect_same ls.expect ls.out
"$NH" --json dataset versions web >vers.json
check_json dataset.versions vers.json
expect_eq "versions" "['$V2', '$V1']" "$(json vers.json '[v["id"] for v in j["versions"]]')"
expect_eq "parent" "$V1" "$(json vers.json 'j["versions"][0]["parent"]')"
"$NH" dataset versions web >vers.out
expect_eq "versions lines" 3 "$(wc -l <vers.out)"
grep -q "^${V2:0:12}  ${V1:0:12}  " vers.out || fail "versions: $(cat vers.out)"
expect_eq "versions unknown" 1 "$(rc "$NH" dataset versions nope)"
grep -q "^nh: error: not_found: " rc.err || fail "not_found: $(cat rc.err)"
[ -s rc.out ] && fail "output on stdout after an error"

# ---- revoke: the revoked token fails with exit 1
"$NH" user revoke tmp --json >revoke.json
check_json user.revoke revoke.json
expect_eq "revoked token" 1 "$(NH_TOKEN=$TMP rc "$NH" dataset ls)"
grep -q "^nh: error: bad_token: " rc.err || fail "revoked: $(cat rc.err)"
expect_eq "revoke unknown" 1 "$(rc "$NH" user revoke nobody)"

# ---- NH_SERVER overrides the file; bad and dead servers
expect_eq "bad url" 1 "$(NH_SERVER=http://x rc "$NH" dataset ls)"
grep -q "^nh: error: bad server URL 'http://x'" rc.err ||
    fail "bad url: $(cat rc.err)"
dead=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
expect_eq "dead server" 1 "$(NH_SERVER=ws://127.0.0.1:$dead rc "$NH" dataset ls)"
grep -q "^nh: error: cannot connect to 'ws://127.0.0.1:$dead'" rc.err ||
    fail "dead server: $(cat rc.err)"
expect_eq "env server" 0 \
    "$(NH_SERVER=ws://127.0.0.1:$NHD_PORT rc "$NH" dataset ls --json)"

nhd_stop
if grep -iE ': error|sanitizer|runtime error' nhd.err; then
    fail "nhd logged errors"
fi
exit 0
