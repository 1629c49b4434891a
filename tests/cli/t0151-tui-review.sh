#!/usr/bin/env bash
# t0151-tui-review.sh - the review reader under tmux against a real nhd:
# a long Chinese document wraps at 80 columns with correct widths, search
# finds and steps through matches, <PHONE> is highlighted, label letters
# are shown; a reviewer judges items with single keys and a second client
# (python) sees the counts in review.stats; nhd stopped while a judgment
# is made and restarted: the judgment is re-sent and counted once, the
# reader resumes; review.items at the end has every judgment exactly once.
# PENDING: enabled (renamed to .sh) once nhd has the review.* ops
# (docs/REVIEW.md).
. "$NH_TOP/tests/cli/lib.sh"
. "$NH_TOP/tests/cli/tui-lib.sh"
nhd_start ./d out
NH="$NH_BIN/nh"
TOKEN=$(cat d/admin.token)
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER=$NHD_URL NH_TOKEN=$TOKEN

# call OP JSON: one checked call from a second client; prints the result
call() {
    "$PY" - "$NHD_URL" "$TOKEN" "$1" "${2:-{\}}" <<'PYEOF'
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.environ["NH_TOP"], "tests", "cli"))
import nhtest
async def main():
    c = await nhtest.Client.open(sys.argv[1], sys.argv[2])
    print(json.dumps(await c.ok(sys.argv[3], json.loads(sys.argv[4]))))
nhtest.run(main())
PYEOF
}

# one long Chinese document (300 characters, 600 columns) with a phone
# placeholder, for the wrapping and highlight checks
"$PY" - <<'PYEOF'
import json
zh = "".join("数据工程语料清洗"[i % 8] for i in range(300))
doc = {"text": "标题 <PHONE> 联系\n" + zh + "\n结束 needle Needle NEEDLE",
       "source": "zh-long"}
open("long.jsonl", "w").write(json.dumps(doc, ensure_ascii=False) + "\n")
PYEOF
"$NH" dataset import zhlong long.jsonl >/dev/null
call review.create '{"ref": "zhlong", "size": 1, "seed": 1}' >c1.json
C1=$(json c1.json 'j["campaign"]')

tui_start
wait_screen '^ naohai . datasets'
keys : "review $C1" Enter
wait_screen "^campaign $C1  item " "reader"
# the long paragraph: full lines of 80 columns (40 wide characters)
"$PY" - <<'PYEOF' || fail "CJK wrapping: $(cat screen.txt)"
import unicodedata
rows = open("screen.txt").read().splitlines()
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
body = [r for r in rows if r.startswith("数据工程")]
assert len(body) >= 5, body
assert all(w(r) == 80 for r in body[:-1]), [w(r) for r in body]
assert all(w(r) <= 80 for r in rows), [w(r) for r in rows]
PYEOF
# the placeholder is drawn with an attribute (an SGR sequence before it)
tmux -S "$TMUX_SOCK" capture-pane -p -e >esc.txt
grep -qP '\e\[[0-9;]*m<PHONE>' esc.txt || fail "<PHONE> not highlighted"
# search: three matches, n steps through them
keys / needle Enter
keys n
wait_screen 'match 2 of 3' "search next"
keys N N
wait_screen 'match 3 of 3' "search previous wraps"
keys s
wait_screen 'nothing left to review' "campaign done"
keys q

# a review campaign on the web dataset, two labels, every document
cp "$NH_TOP/tests/fixtures/en-web.jsonl" a.jsonl
"$NH" dataset import web a.jsonl --json >imp.json
N=$(json imp.json 'j["docs"]')
call review.create "{\"ref\": \"web\", \"size\": $N, \"seed\": 7, \"labels\": [\"toxic\", \"pii\"]}" >c2.json
C2=$(json c2.json 'j["campaign"]')
keys C
wait_screen "^ +$C2  review " "campaigns list"
keys : "campaign $C2" Enter
wait_screen '^pass rate' "statistics panel"
keys Enter
wait_screen "^campaign $C2  item " "reader"
grep -q '\[t\]toxic' screen.txt || fail "label letter for toxic"
grep -q '\[p\]pii' screen.txt || fail "label letter for pii"

# judge three: accept, reject with the label toxic, accept with score 4
item() { screen | sed -n "s/^campaign $C2  item \([0-9]*\) .*/\1/p"; }
I1=$(item); keys a
wait_screen "^campaign $C2  item [0-9]+ +$((N - 1)) left" "after accept"
I2=$(item); keys t r
wait_screen "^campaign $C2  item [0-9]+ +$((N - 2)) left" "after reject"
keys 4 a
wait_screen "^campaign $C2  item [0-9]+ +$((N - 3)) left" "after score"
call review.stats "{\"campaign\": $C2}" >s1.json
expect_eq "accepted" 2 "$(json s1.json 'j["accepted"]')"
expect_eq "rejected" 1 "$(json s1.json 'j["rejected"]')"

# undo the last one: the same item comes back, judged again below
keys u
wait_screen 'undone' "undo"
keys a
wait_screen "^campaign $C2  item [0-9]+ +$((N - 3)) left" "re-judged"

# the server goes away: a judgment made meanwhile waits in the outbox
I4=$(item)
nhd_stop
keys a
wait_screen 'judgment queued' "queued while down"
wait_screen '^reconnecting' "reconnecting"
[ -s state/naohai/outbox ] || fail "outbox file empty while down"
nhd_start ./d out2
wait_screen "^campaign $C2  item [0-9]+ +$((N - 4)) left" "resumed"
screen | grep -q "item $I4 " && fail "the judged item came back"
keys a
if [ "$N" -gt 5 ]; then
    wait_screen "^campaign $C2  item [0-9]+ +$((N - 5)) left" "after reconnect"
else
    wait_screen "nothing left to review" "after reconnect"
fi
[ -s state/naohai/outbox ] && fail "outbox not emptied"
keys Q
expect_eq "exit status" 0 "$(wait_rc)"

# every judgment once: 5 current, one superseded (the undo), none doubled
call review.items "{\"campaign\": $C2}" >items.json
"$PY" - items.json "$I1" "$I2" "$I4" <<'PYEOF' || fail "review.items: $(cat items.json)"
import json, sys
j = json.load(open(sys.argv[1]))
cur = {}
rids = []
for it in j["items"]:
    for jd in it["judgments"]:
        rids.append(jd.get("request_id"))
        if not jd.get("superseded"):
            assert it["item"] not in cur, ("two current judgments", it)
            cur[it["item"]] = jd
assert len(cur) == 5, cur
assert len(rids) == len(set(rids)), rids
assert cur[int(sys.argv[1 + 1])]["verdict"] == "accept"
assert cur[int(sys.argv[2 + 1])]["verdict"] == "reject"
assert cur[int(sys.argv[2 + 1])]["labels"] == ["toxic"]
assert cur[int(sys.argv[3 + 1])]["verdict"] == "accept"
PYEOF
call review.stats "{\"campaign\": $C2}" >s2.json
expect_eq "accepted at the end" 4 "$(json s2.json 'j["accepted"]')"
expect_eq "rejected at the end" 1 "$(json s2.json 'j["rejected"]')"
nhd_stop
exit 0
