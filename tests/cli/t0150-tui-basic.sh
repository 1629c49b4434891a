#!/usr/bin/env bash
# t0150-tui-basic.sh - the workbench under tmux against a real nhd: the
# datasets screen lists datasets (a CJK name keeps the columns aligned),
# Enter shows the versions and lineage, the jobs screen follows a job
# started meanwhile to its end, `?` lists the keys, a resize redraws,
# the server going away shows "reconnecting" and coming back reloads,
# a bad keys file is reported with its line, `q` quits with status 0.
. "$NH_TOP/tests/cli/lib.sh"
. "$NH_TOP/tests/cli/tui-lib.sh"
nhd_start ./d out
NH="$NH_BIN/nh"
TOKEN=$(cat d/admin.token)
export XDG_CONFIG_HOME=$PWD/cfg NH_SERVER=$NHD_URL NH_TOKEN=$TOKEN

cp "$NH_TOP/tests/fixtures/en-web.jsonl" a.jsonl
cp "$NH_TOP/tests/fixtures/zh-web.jsonl" b.jsonl
"$NH" dataset import web a.jsonl b.jsonl --json >imp.json
V1=$(json imp.json 'j["version"]')
"$NH" dataset import 中文语料 b.jsonl >/dev/null
cat >cfg.json <<'JSON'
{"stages": [{"op": "normalize"}, {"op": "dedup.exact"}]}
JSON

tui_start
wait_screen '^ naohai . datasets' "title"
wait_screen "^web +1  ${V1:0:12} " "datasets screen"
grep -q '^中文语料' screen.txt || fail "CJK dataset not listed"
# the columns after a wide name line up with the ASCII row's
"$PY" - screen.txt <<'PYEOF' || fail "CJK row misaligned: $(cat screen.txt)"
import sys, unicodedata
def col(line, sub):
    i = line.index(sub)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in line[:i])
rows = open(sys.argv[1]).read().splitlines()
web = next(r for r in rows if r.startswith("web "))
zh = next(r for r in rows if r.startswith("中文语料"))
# the SIZE column ends at the same display column in both rows
assert col(web, web.split()[-1]) + len(web.split()[-1]) == \
       col(zh, zh.split()[-1]) + len(zh.split()[-1]), (web, zh)
PYEOF

# Enter: versions and the lineage tree
keys Enter
wait_screen '^web: 1 version' "dataset screen"
wait_screen "^${V1:0:12} .*  \*$" "lineage marks the selected version"
keys q
wait_screen '^ naohai . datasets' "back to datasets"

# jobs: a job started while the screen is open shows up and ends
keys J
wait_screen '^ naohai . jobs' "jobs screen"
"$NH" pipeline run web --config cfg.json --output web-clean --json >run.json
JOB=$(json run.json 'j["job"]')
wait_screen "^ +$JOB  pipeline +succeeded" "job row followed to its end"
keys Enter
wait_screen "^job $JOB  pipeline +succeeded" "job screen"
wait_screen '^normalize ' "stage table"
keys q
wait_screen '^ naohai . jobs' "back to jobs"

# help lists every key of the screen
keys '?'
wait_screen '^ naohai . help' "help"
grep -q 'Keys of the jobs screen' screen.txt || fail "help title"
grep -qE '^  k/up +previous job' screen.txt || fail "help: k/up"
grep -qE '^  \? +this help' screen.txt || fail "help: ?"
keys x
wait_screen '^ naohai . jobs' "help closed"

# resize: the title bar spans the new width
tmux -S "$TMUX_SOCK" resize-window -x 100 -y 30
wait_screen '^ naohai . jobs.{70,}q back *$' "redrawn at 100 columns"
[ "$(screen | wc -l)" -eq 30 ] || fail "not 30 rows"

# the server goes away and comes back on the same port
nhd_kill
wait_screen '^reconnecting' "reconnecting shown"
nhd_start ./d out2
# the old list stays on screen while down: wait for the status line
wait_gone '^reconnecting' "still reconnecting"
wait_screen "^ +$JOB  pipeline +succeeded" "reloaded after the reconnect"

# the command line, then q on the last screen quits with 0
keys : datasets Enter
wait_screen '^ naohai . datasets' ":datasets"
keys q
expect_eq "exit status" 0 "$(wait_rc)"

# a bad keys file: the error names the line
mkdir -p cfg/naohai
printf '# my keys\nx accept\nz frobnicate\n' >cfg/naohai/keys
s=0; "$NH" 2>err || s=$?
expect_eq "bad keys status" 1 "$s"
grep -q "keys:3: unknown action 'frobnicate'" err || fail "keys: $(cat err)"

# a remapped key works ('h' opens help), on a terminal without colours
printf 'h help\n' >cfg/naohai/keys
tui_start TERM=vt100
wait_screen '^ naohai . datasets' "restarted"
keys h
wait_screen '^ naohai . help' "remapped help key"
grep -qE '^  \?/h +this help' screen.txt || fail "help shows the remap"
keys x Q
expect_eq "exit status after Q" 0 "$(wait_rc)"
nhd_stop
exit 0
