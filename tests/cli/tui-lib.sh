# tui-lib.sh - drive the workbench (`nh` with no arguments) inside tmux
# (sourced after lib.sh by tests/cli/t015*.sh)
#
# tui_start [ENV=VALUE...]: start nh in a detached 80x24 tmux session on
# a private socket, with NH_SERVER/NH_TOKEN from NHD_URL and TOKEN; its
# exit status lands in ./tui.rc. screen: the pane's text now.
# wait_screen REGEX [WHAT]: poll the pane until a line matches (fails
# with the screen after a generous deadline; no timing is asserted).
TMUX_SOCK=$PWD/tmux.sock
TUI_LSAN="suppressions=$NH_TOP/tests/lsan.supp:print_suppressions=0"
_tui_cleanup() {
    tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
    _nhd_cleanup
}
trap _tui_cleanup EXIT

tui_start() {
    rm -f tui.rc
    tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 80 -y 24 \
        "env NH_SERVER='$NHD_URL' NH_TOKEN='$TOKEN' LANG=C.UTF-8 LC_ALL=C.UTF-8 \
         TERM=screen-256color XDG_CONFIG_HOME='$PWD/cfg' \
         XDG_STATE_HOME='$PWD/state' LSAN_OPTIONS='$TUI_LSAN' $* \
         '$NH_BIN/nh' 2>'$PWD/tui.err'; echo \$? >'$PWD/tui.rc'; sleep 30"
}

screen() {
    tmux -S "$TMUX_SOCK" capture-pane -p
}

keys() {
    tmux -S "$TMUX_SOCK" send-keys "$@"
}

wait_screen() {
    local i
    for i in $(seq 300); do
        screen >screen.txt
        if grep -qE -- "$1" screen.txt; then return 0; fi
        sleep 0.1
    done
    cat screen.txt >&2
    cat tui.err >&2 2>/dev/null || true
    fail "${2:-screen}: no line matches '$1'"
}

# wait_rc: the exit status of nh after it quit
# wait_gone REGEX [WHAT]: until no line of the screen matches
wait_gone() {
    local i
    for i in $(seq 300); do
        screen >screen.txt
        if ! grep -qE -- "$1" screen.txt; then return 0; fi
        sleep 0.1
    done
    cat screen.txt >&2
    fail "${2:-screen}: a line still matches '$1'"
}

wait_rc() {
    local i
    for i in $(seq 300); do
        [ -s tui.rc ] && { cat tui.rc; return 0; }
        sleep 0.1
    done
    screen >&2
    fail "nh did not exit"
}
