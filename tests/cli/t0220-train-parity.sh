#!/usr/bin/env bash
# t0220-train-parity: the C model against PyTorch on the same weights and batch
#
# build/tests/model-parity (tests/tools/model-parity.c) writes initial
# weights, one batch, the first loss, its gradients and a 10-step AdamW
# loss curve; tests/cli/model_parity.py recomputes them in PyTorch 1.13
# (/usr/bin/python3, python3-torch) and checks the loss within 1e-5
# relative, every gradient within 1e-4 relative norm and the loss after 10
# steps within 1e-4 relative. Untied (tiny.json with its own head) and tied.
. "$NH_TOP/tests/cli/lib.sh"

"$PY" -c 'import torch' 2>/dev/null ||
    fail "python3-torch is missing for $PY (scripts/deps installs it)"
PAR="$NH_BIN/tests/model-parity"
[ -x "$PAR" ] || fail "'$PAR' is not built"

for tied in false true; do
    sed "s/\"tied\": *[a-z]*/\"tied\": $tied/" \
        "$NH_TOP/trainer/configs/tiny.json" >cfg-$tied.json
    grep -q "\"tied\": $tied" cfg-$tied.json || fail "cannot set tied=$tied"
    mkdir -p out-$tied
    "$PAR" cfg-$tied.json out-$tied 4 32 7 || fail "model-parity failed"
    "$PY" "$NH_TOP/tests/cli/model_parity.py" cfg-$tied.json out-$tied \
        >report-$tied.txt || { cat report-$tied.txt >&2; fail "parity (tied=$tied)"; }
    cat report-$tied.txt
    grep -q '^parity: ok$' report-$tied.txt || fail "no parity verdict"
done

# the checker itself must notice a wrong gradient
"$PY" - out-false/grads.bin <<'PYEOF'
import sys
import array
a = array.array("f", open(sys.argv[1], "rb").read())
a = array.array("f", (x * 1.001 for x in a))  # every gradient 0.1% off
open(sys.argv[1], "wb").write(a.tobytes())
PYEOF
if "$PY" "$NH_TOP/tests/cli/model_parity.py" cfg-false.json out-false \
    >report-bad.txt; then
    cat report-bad.txt >&2
    fail "a corrupted gradient passed the parity check"
fi
grep -q 'parity: FAILED' report-bad.txt || fail "no failure verdict"
echo "ok"
