#!/usr/bin/env bash
# alltoall (pairwise and native MPI_Alltoall) and pipeline over the mpi
# fabric under mpirun -np 2, 3, 4 and 5, plus pipelines of 2 stages on 4
# ranks (two chains, block and stride, forward and 1F1B): every run exits 0,
# every point is verified with zero wrong bytes, sizes below one byte per
# peer are recorded as skipped, and the pipeline records carry their
# per-stage and per-hop figures.  A shared 2-core machine: correctness, not
# performance.
set -euo pipefail
# shellcheck source=tests/integration/lib/mpi.sh
source "$(dirname "$0")/lib/mpi.sh"
command -v python3 >/dev/null || { echo "FAIL: python3 not found (scripts/setup-deps installs it)"; exit 1; }
fabric_usable_or_skip mpi

# run NAME NP ARGS...: one mpirun; its table goes to NAME.txt, results to
# NAME.json.
run() {
	local name=$1 np=$2
	shift 2
	if ! mpirun -np "$np" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
		"$FABSCOPE" run --fabric mpi --iters 20 --warmup 2 --timeout 60s \
		--output "$tmp/$name.json" "$@" >"$tmp/$name.txt" 2>&1; then
		cat "$tmp/$name.txt"
		echo "FAIL: $name (mpirun -np $np $*) exited non-zero"
		exit 1
	fi
	grep -q "verdict: PASS" "$tmp/$name.txt" || {
		cat "$tmp/$name.txt"
		echo "FAIL: $name: no PASS verdict"
		exit 1
	}
}

for np in 2 3 4 5; do
	run "np$np" "$np" --pattern alltoall,pipeline --impl all --min 1 --max 256K --factor 8
done
run chains_block 4 --pattern pipeline --pipe-stages 2 --min 7 --max 1M --factor 16
run chains_stride_1f1b 4 --pattern pipeline --pipe-stages 2 --pipe-layout stride \
	--pipe-backward on --pipe-microbatches 5 --min 7 --max 1M --factor 16
run np3_1f1b 3 --pattern pipeline --pipe-backward on --min 1000 --max 1000

python3 - "$tmp" <<'PY'
import json, sys, os
tmp = sys.argv[1]

def load(name):
    d = json.load(open(os.path.join(tmp, name + ".json")))
    assert d["status"] == "complete", (name, d["status"])
    return d["records"]

def check_pipeline(name, r, P, C, backward):
    assert r["status"] == "ok" and r["wrong"] == 0, (name, r)
    assert r["pipe_stages"] == P and r["chains"] == C, (name, r["pipe_stages"], r["chains"])
    assert len(r["stages"]) == P, name
    assert len(r["hops"]) == (P - 1) * C * (2 if backward else 1), (name, len(r["hops"]))
    assert all(len(s["ranks"]) == C for s in r["stages"]), name
    e = r["efficiency"]
    assert e is None or e > 0, (name, e)
    assert r["time_us"]["mean"] > 0, name

summary = []
for np in (2, 3, 4, 5):
    recs = load(f"np{np}")
    a2a = [r for r in recs if r["pattern"] == "alltoall"]
    pipe = [r for r in recs if r["pattern"] == "pipeline"]
    # 1, 8, 64, ..., 256K: 7 sizes; pairwise and native
    assert len(a2a) == 14 and len(pipe) == 7, (np, len(a2a), len(pipe))
    for r in a2a:
        if r["bytes"] < np:
            assert r["status"] == "skipped", r
            continue
        assert r["status"] == "ok" and r["wrong"] == 0, r
        assert abs(r["busbw_factor"] - (np - 1) / np) < 1e-9, r
    assert {r["impl"] for r in a2a if r["status"] == "ok"} == {"pairwise", "native"}, np
    for r in pipe:
        check_pipeline(f"np{np}", r, np, 1, False)
    big = [r for r in a2a if r["bytes"] == 262144]
    summary.append(f"np{np}: 256 KiB alltoall p50 " + ", ".join(
        f"{r['impl']} {r['time_us']['p50']:.0f} us" for r in big))
for r in load("chains_block"):
    check_pipeline("chains_block", r, 2, 2, False)
    assert [h["to_rank"] for h in r["hops"]] == [1, 3], r["hops"]
for r in load("chains_stride_1f1b"):
    check_pipeline("chains_stride_1f1b", r, 2, 2, True)
    assert r["microbatches"] == 5
    assert sorted((h["from_rank"], h["to_rank"]) for h in r["hops"]) == \
        [(0, 2), (1, 3), (2, 0), (3, 1)], r["hops"]
for r in load("np3_1f1b"):
    check_pipeline("np3_1f1b", r, 3, 1, True)
print("a2a_pipe_mpi: all points verified;", "; ".join(summary))
PY
