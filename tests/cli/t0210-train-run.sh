# t0210-train-run.sh - nh-train run: one-process training on token shards
#
# Tokenizes real Chinese text (Tang poems from fortunes-zh) with a small
# tokenizer, trains trainer/configs/tiny.json for 40 steps and checks every
# JSON line's fields, that the loss falls, that the learning rate follows
# warmup and cosine, that runs are reproducible by seed, and the errors
# for bad inputs.
. "$NH_TOP/tests/cli/lib.sh"
T="$NH_BIN/nh-train"
CFG="$NH_TOP/trainer/configs/tiny.json"

make_poem_tokens  # poems.jsonl, tok, toks

ARGS="--config $CFG --data toks --steps 40 --batch 4 --seq 32 --lr 3e-3
      --threads 1 --eval-every 20"
# shellcheck disable=SC2086
"$T" run $ARGS --out r1 >out1 2>err1 || fail "run: $(cat err1)"
[ -s err1 ] && fail "stderr not a terminal, yet: $(cat err1)"
expect_same out1 r1/metrics.jsonl

# every line, the schedule, the loss
"$PY" - out1 r1/config.json <<'PYEOF' || fail "metrics"
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
cfg = json.load(open(sys.argv[2]))
assert cfg["model"]["vocab"] == 512 and cfg["model"]["dim"] == 64, cfg
run = cfg["run"]
assert run["steps"] == 40 and run["batch"] == 4 and run["seq"] == 32, run
assert run["warmup"] == 4 and abs(run["min_lr"] - 3e-4) < 1e-12, run
assert run["train_tokens"] + run["heldout_tokens"] > 10000, run
assert lines[0]["event"] == "peak" and lines[0]["gflops"] > 0, lines[0]
steps = [l for l in lines if "event" not in l]
evals = [l for l in lines if l.get("event") == "eval"]
assert len(lines) == 1 + 40 + 2, len(lines)
assert [s["step"] for s in steps] == list(range(1, 41))
keys = {"step", "loss", "lr", "grad_norm", "tokens_per_s", "gflops", "mfu",
        "seconds", "max_rss_mb"}
for s in steps:
    assert set(s) == keys, s
    for k in keys:
        assert isinstance(s[k], (int, float)) and math.isfinite(s[k]), s
    assert s["loss"] > 0 and s["grad_norm"] > 0 and s["seconds"] > 0, s
    assert s["tokens_per_s"] > 0 and s["gflops"] > 0 and s["mfu"] > 0, s
    i = s["step"] - 1
    if i < 4:
        want = 3e-3 * (i + 1) / 4
    else:
        p = (i - 4) / 36
        want = 3e-4 + (3e-3 - 3e-4) * (1 + math.cos(math.pi * p)) / 2
    assert abs(s["lr"] - want) < 1e-9, (s, want)
assert [e["step"] for e in evals] == [20, 40], evals
for e in evals:
    assert set(e) == {"event", "step", "loss"} and e["loss"] > 0, e
first = steps[0]["loss"]
assert abs(first - math.log(512)) < 0.5, first  # near uniform at start
last = sum(s["loss"] for s in steps[-5:]) / 5
assert last < 0.85 * first, (first, last)
assert evals[1]["loss"] < evals[0]["loss"] < first, evals
PYEOF

losses() { grep -v event "$1" | "$PY" -c '
import json, sys
for l in sys.stdin: print(json.loads(l)["loss"])'; }
# the same seed: bit-identical losses; another seed: different ones
# shellcheck disable=SC2086
"$T" run $ARGS --out r2 >out2 2>/dev/null || fail "run 2"
losses out1 >l1
losses out2 >l2
expect_same l1 l2
# shellcheck disable=SC2086
"$T" run $ARGS --seed 7 --out r3 >out3 2>/dev/null || fail "run 3"
losses out3 >l3
cmp -s l1 l3 && fail "seed 7 gave the losses of seed 1"

# bad inputs
bad() { # bad STATUS PATTERN ARGS...
    local want=$1 pat=$2 rc=0
    shift 2
    "$T" run "$@" >/dev/null 2>err || rc=$?
    expect_eq "status of run $*" "$want" "$rc"
    grep -q -- "$pat" err || fail "run $*: expected '$pat', got: $(cat err)"
}
bad 1 "cannot open 'nodir/manifest.json'" --config "$CFG" --data nodir --out x
sed 's/"vocab": 512/"vocab": 300/' "$CFG" >small.json
bad 1 "model vocabulary 300 of 'small.json' is smaller than the tokenizer's 400" \
    --config small.json --data toks --out x
bad 1 "cannot open 'none.json'" --config none.json --data toks --out x
bad 2 "unknown option '--frob'" --config "$CFG" --data toks --out x --frob
bad 2 "bad value 'ten' for --steps" --config "$CFG" --data toks --out x \
    --steps ten
bad 2 "bad value '0' for --batch" --config "$CFG" --data toks --out x \
    --batch 0
bad 2 "missing '--out'" --config "$CFG" --data toks
bad 1 "--seq 65 is longer than the model's 64" --config "$CFG" --data toks \
    --out x --seq 65
bad 1 "cannot create 'no/such/dir'" --config "$CFG" --data toks \
    --out no/such/dir --steps 1 --batch 1 --seq 8
"$T" run --help | grep -q -- "--eval-every" || fail "run --help"
echo "t0210 ok"
