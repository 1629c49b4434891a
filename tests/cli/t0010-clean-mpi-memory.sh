# t0010: the dedup global pass in bounded memory and under MPI.
# (1) --memory 1M forces the band keys of ~40,000 documents through
#     sorted runs on disk (stats: sorted_runs > 0) and gives the same
#     output as the default budget;
# (2) mpirun -np 2 and -np 3 (Open MPI, --oversubscribe; as root with the
#     variables Open MPI asks for) give the same set of kept documents,
#     the same removed records (duplicate_of, cluster) and the same
#     dedup counters as one process, each rank writing its own shards;
#     with more ranks than work units too; and with "verify": true.
. "$NH_TOP/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are not ours to check for leaks
export ASAN_OPTIONS=detect_leaks=0
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin, scripts/deps)"

mkdir -p small big
"$PY" - "$NH_TOP/tests/fixtures" small big <<'PYEOF'
import json, random, sys
fx, small, big = sys.argv[1:]
rng = random.Random(11)
base = [json.loads(l)["text"] for f in ("zh-web.jsonl", "en-web.jsonl")
        for l in open(fx + "/" + f)]
# small: 7 files of near copies of the fixtures (a few characters changed)
n = 0
for f in range(7):
    with open("%s/part-%d.jsonl" % (small, f), "w") as o:
        for i in range(60):
            w = list(rng.choice(base))
            for _ in range(rng.randint(0, 3)):
                w[rng.randrange(len(w))] = rng.choice("的一是在不了有和人这")
            o.write(json.dumps({"id": "d%d" % n, "text": "".join(w)},
                               ensure_ascii=False) + "\n")
            n += 1
# big: 40,000 short documents, 4,000 distinct, in 4 files
zh = "今年春天雨水偏多南方不少地区的茶园推迟了采摘茶农说头茬茶的产量比往年少"
for f in range(4):
    with open("%s/b%d.jsonl" % (big, f), "w") as o:
        for i in range(10000):
            k = rng.randrange(4000)
            t = "%s 第%d号 %s" % (zh[k % 20:], k, zh[:k % 17 + 8])
            o.write(json.dumps({"id": "b%d-%d" % (f, i), "text": t},
                               ensure_ascii=False) + "\n")
PYEOF

# (1) bounded memory
echo '{"stages": [{"op": "dedup.minhash"}]}' > mh.json
"$NH_CLEAN" run -q -j 2 -c mh.json -o big-mem big || fail "run with default memory"
"$NH_CLEAN" run -q -j 2 --memory 1M -c mh.json -o big-1m big || fail "run with --memory 1M"
expect_eq "runs with the default budget" 0 "$(json big-mem/stats.json "j['stages'][0]['sorted_runs']")"
runs=$(json big-1m/stats.json "j['stages'][0]['sorted_runs']")
[ "$runs" -ge 20 ] || fail "--memory 1M wrote $runs sorted runs, expected >= 20"
removed=$(json big-1m/stats.json "j['stages'][0]['docs_in'] - j['stages'][0]['docs_out']")
[ "$removed" -ge 30000 ] || fail "only $removed of 40000 removed"
cat_shards big-mem/data > a.jsonl; cat_shards big-1m/data > b.jsonl
expect_same a.jsonl b.jsonl
cat_shards big-mem/removed > a.rm; cat_shards big-1m/removed > b.rm
expect_same a.rm b.rm
"$NH_CLEAN" run -q --memory 12 -c mh.json -o bad big 2>err && fail "--memory 12 accepted"
grep -q -- "--memory must be" err || fail "no message for a bad --memory: $(cat err)"

# (2) MPI: 1, 2 and 3 ranks
summary() { # DIR: kept lines sorted, removed (id, duplicate_of, cluster), counters
    "$PY" - "$1" <<'PYEOF'
import glob, json, sys
d = sys.argv[1]
kept = sorted(l for f in sorted(glob.glob(d + "/data/part-*")) for l in open(f))
rm = sorted((r["id"], r.get("duplicate_of"), r.get("cluster"), r["reason"])
            for f in sorted(glob.glob(d + "/removed/part-*"))
            for r in map(json.loads, open(f)))
st = json.load(open(d + "/stats.json"))
stages = [(s["op"], s["docs_in"], s["docs_out"], s["bytes_in"], s["bytes_out"],
           s.get("clusters"), s.get("cluster_sizes")) for s in st["stages"]]
print(json.dumps([kept, rm, stages, st["output"]["docs"],
                  st["output"]["removed_docs"]], ensure_ascii=False))
PYEOF
}
for cfg in \
    '{"stages": [{"op": "normalize"}, {"op": "dedup.exact"}, {"op": "dedup.minhash"}]}' \
    '{"stages": [{"op": "dedup.minhash", "verify": true}, {"op": "filter.rules"}]}'; do
    echo "$cfg" > cfg.json
    rm -rf r1 r2 r3 one1 one3
    "$NH_CLEAN" run -q -c cfg.json -o r1 small || fail "one process"
    summary r1 > s1
    grep -q '"near_duplicate"' s1 || fail "nothing removed as near duplicate"
    for np in 2 3; do
        mpirun --oversubscribe -np $np "$NH_CLEAN" run -q -c cfg.json -o r$np small \
            > mpi.log 2>&1 || { cat mpi.log >&2; fail "mpirun -np $np"; }
        summary r$np > s$np
        expect_same s1 s$np
        expect_eq "ranks in stats.json" $np "$(json r$np/stats.json "j['ranks']")"
        for r in $(seq 0 $((np - 1))); do
            ls r$np/data/part-r00$r-00000.jsonl >/dev/null || fail "rank $r wrote no shard"
        done
        [ ! -e r$np/.work ] || fail "work files left behind"
        validate r$np/stats.json "$NH_TOP/schemas/stats.schema.json"
    done
    # more ranks than work units: one input file, three ranks
    "$NH_CLEAN" run -q -c cfg.json -o one1 small/part-0.jsonl || fail "one file"
    mpirun --oversubscribe -np 3 "$NH_CLEAN" run -q -c cfg.json -o one3 small/part-0.jsonl \
        > mpi.log 2>&1 || { cat mpi.log >&2; fail "3 ranks, 1 unit"; }
    summary one1 > o1; summary one3 > o3
    expect_same o1 o3
    # dedup-report counts near duplicates only (dedup.exact numbers its
    # clusters too), and reads the ranks' shards
    near=$(json r3/stats.json "sum(s['removed'].get('near_duplicate', 0) for s in j['stages'])")
    "$NH_CLEAN" dedup-report r3 --top 1 >rep.txt || fail "dedup-report"
    grep -q " $near document(s) removed as near duplicates" rep.txt ||
        fail "dedup-report: $(head -1 rep.txt), stats say $near"
    grep -q "(not in data/)" rep.txt && fail "dedup-report lost the kept text"
done
grep -q '"candidates_rejected"' r3/stats.json || fail "verify counters missing"
echo "ok"
