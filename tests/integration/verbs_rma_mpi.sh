#!/bin/bash
# One-sided transfers of the verbs fabric under a real mpirun, on the
# software HCA (tests/ibdouble; separate processes, so its traffic goes over
# TCP): the latency and bandwidth patterns' put and get implementations
# with every iteration's data verified (--check every), on 2, 3, 4 and 5
# ranks, rank 0 paired with the last rank (--peer).  Every record must be
# ok with no wrong byte, and each of the four (pattern, impl) pairs present.
# Exit 77 (skipped) when the double or the verbs fabric is not built.
set -u
# shellcheck source=tests/integration/lib/mpi.sh
source "$(dirname "$0")/lib/mpi.sh"
# shellcheck source=tests/integration/lib/ibdouble.sh
source "$(dirname "$0")/lib/ibdouble.sh"
fabric_usable_or_skip verbs
if ! grep -q '\[put/get\]' <<<"$line"; then
	echo "FAIL: fabscope list does not show verbs with one-sided transfers: $line"
	exit 1
fi

for np in 2 3 4 5; do
	max=4K
	[ "$np" = 2 ] && max=256K
	echo "== verbs put/get on $np ranks, rank 0 with rank $((np - 1)), up to $max"
	timeout 300 mpirun -np "$np" --oversubscribe --bind-to none \
		-x LD_LIBRARY_PATH -x IBDOUBLE_QUIET \
		"$fabscope" run --fabric verbs --pattern latency,bandwidth --impl put,get \
		--peer $((np - 1)) --min 0 --max "$max" --iters 20 --warmup 2 --window 16 \
		--check every --output "$tmp/np$np.json" >"$tmp/np$np.txt" 2>&1
	rc=$?
	tail -n 4 "$tmp/np$np.txt"
	if [ $rc -ne 0 ] || ! grep -q "verdict: PASS" "$tmp/np$np.txt"; then
		cat "$tmp/np$np.txt"
		echo "FAIL: mpirun -np $np fabscope run --fabric verbs (put, get) exited with $rc"
		exit 1
	fi
	python3 - "$tmp/np$np.json" "$np" <<'PY' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
np = int(sys.argv[2])
assert d["status"] == "complete", d["status"]
assert d["meta"]["nranks"] == np, d["meta"]["nranks"]
seen = {}
for r in d["records"]:
    if r["status"] != "ok" or r["wrong"] != 0:
        sys.exit("FAIL: %s %s %s B: status %s, %s wrong" %
                 (r["pattern"], r["impl"], r["bytes"], r["status"], r["wrong"]))
    seen[(r["pattern"], r["impl"])] = seen.get((r["pattern"], r["impl"]), 0) + 1
want = {(p, i) for p in ("latency", "bandwidth") for i in ("put", "get")}
if set(seen) != want:
    sys.exit("FAIL: expected records of %s, got %s" % (sorted(want), sorted(seen)))
print("np %d: %s" % (np, ", ".join("%s/%s %d points" % (p, i, n)
                                   for (p, i), n in sorted(seen.items()))))
PY
done
echo "PASS"
