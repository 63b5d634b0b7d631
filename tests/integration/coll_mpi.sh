#!/usr/bin/env bash
# allreduce, reducescatter, allgather and broadcast over the mpi fabric
# under mpirun -np 2, 3, 4 and 5: every impl (ours over MPI point-to-point
# and MPI's own), float32/int64/bfloat16 x sum/min, in place and not, sizes
# from one element through odd counts to 300000 B, checked every
# iteration.  Asserts exit 0, zero wrong elements, every impl run, and
# skips only where one is due (sizes below one element; native bfloat16,
# which MPI lacks; native reduce-scatter/all-gather of uneven chunks).
set -euo pipefail
# shellcheck source=tests/integration/lib/mpi.sh
source "$(dirname "$0")/lib/mpi.sh"
"$FABSCOPE" list 2>/dev/null | grep -qE '^ +mpi +built' || { echo "mpi fabric not built"; exit 77; }

for np in 2 3 4 5; do
	rc=0
	mpirun -np "$np" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
	  "$FABSCOPE" run --fabric mpi --pattern allreduce,reducescatter,allgather,broadcast \
	  --impl all --dtype float32,int64,bfloat16 --op sum,min --inplace both \
	  --min 2 --max 300000 --factor 11 --iters 3 --warmup 1 --check every \
	  --bcast-root $((np - 1)) --output "$tmp/r$np.json" > "$tmp/out$np.txt" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$tmp/out$np.txt"
		echo "coll_mpi: np $np exited with $rc"
		exit 1
	fi
	python3 - "$tmp/r$np.json" "$np" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
np_ = int(sys.argv[2])
recs = d["records"]
assert d["status"] == "complete", d["status"]
impls = {"allreduce": {"ring", "rd", "native"}, "reducescatter": {"ring", "native"},
         "allgather": {"ring", "native"}, "broadcast": {"chain", "tree", "native"}}
ok = {}
for r in recs:
    assert r["ranks"] == np_, r
    if r["status"] == "skipped":
        why = r.get("reason", "")
        assert (re.match(r"size \d+ B is smaller than one \w+ element", why)
                or (r["impl"] == "native" and r.get("dtype") == "bfloat16")
                or why.startswith("native reduce-scatter takes equal chunks")
                or why.startswith("native all-gather takes equal chunks")), r
        continue
    assert r["status"] == "ok" and r["wrong"] == 0, r
    assert r["check"] == "every", r
    ok.setdefault(r["pattern"], set()).add(r["impl"])
    # one element of a reduction: bfloat16 at 2 B
    if r.get("dtype") == "bfloat16" and r["bytes"] == 2:
        assert r["count"] == 1, r
for p, want in impls.items():
    assert ok.get(p) == want, (p, ok.get(p))
ones = [r for r in recs if r["pattern"] == "allreduce" and r.get("count") == 1
        and r["status"] == "ok"]
assert {r["impl"] for r in ones} == {"ring", "rd"}, ones
print(f"coll_mpi: np {np_}: {sum(r['status'] == 'ok' for r in recs)} points ok, "
      f"{sum(r['status'] == 'skipped' for r in recs)} skipped, 0 wrong")
PY
done
