#!/bin/bash
# The UCX fabric under a real mpirun: 2 ranks run the latency and bandwidth
# patterns up to 64 KiB with verified data, once with UCX's own transport
# choice and once with UCX_TLS=tcp, and the results must record the chosen
# transports per endpoint (tcp only in the second run).  Then one-sided
# transfers: the latency and bandwidth patterns' put and get on 2, 3, 4 and
# 5 ranks (rank 0 with the last rank), every iteration's data verified.
# Exit 77 (skipped) when mpirun is missing or `fabscope list` does not show
# ucx as built and usable (the reason is printed).
set -u

# shellcheck source=tests/integration/lib/mpi.sh
source "$(dirname "$0")/lib/mpi.sh"
fabric_usable_or_skip ucx

# run NAME [ENV=VALUE...]: one mpirun; results in $tmp/NAME.json
run() {
	local name=$1
	shift
	echo "== ucx run '$name' $*"
	env "$@" timeout 180 mpirun -np 2 --oversubscribe "$fabscope" run --fabric ucx \
		--pattern latency,bandwidth --max 64K --iters 50 --output "$tmp/$name.json"
	local rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: mpirun fabscope run --fabric ucx ($name) exited with $rc"
		exit 1
	fi
}

# check NAME PREFIX: every endpoint lists transports, each starting with
# PREFIX (empty: any tl/device name).
check() {
	python3 - "$tmp/$1.json" "$2" <<'PY' || exit 1
import json, sys
path, prefix = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
found = []
def walk(o):
    if isinstance(o, dict):
        if "endpoints" in o and "ucx_version" in o:
            found.append(o)
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(doc)
if not found:
    sys.exit("FAIL: no ucx description (ucx_version, endpoints) in " + path)
for d in found:
    if len(d["endpoints"]) < 2:
        sys.exit("FAIL: expected an endpoint per rank, got %d" % len(d["endpoints"]))
    for ep in d["endpoints"]:
        tr = ep.get("transports", "")
        names = [t for t in tr.split(",") if t]
        if not names or tr == "unknown" or any("/" not in t for t in names):
            sys.exit("FAIL: endpoint to rank %s has no transports: %r" % (ep.get("peer"), tr))
        if prefix and any(not t.startswith(prefix) for t in names):
            sys.exit("FAIL: endpoint to rank %s uses %s, expected only %s*" %
                     (ep.get("peer"), tr, prefix))
        print("rank %s -> %s: %s" % (ep.get("peer"), ep.get("host"), tr))
PY
}

run default
check default ""
run tcp UCX_TLS=tcp
check tcp "tcp/"

for np in 2 3 4 5; do
	max=4K
	[ "$np" = 2 ] && max=256K
	echo "== ucx put/get on $np ranks, rank 0 with rank $((np - 1)), up to $max"
	timeout 300 mpirun -np "$np" --oversubscribe "$fabscope" run --fabric ucx \
		--pattern latency,bandwidth --impl put,get --peer $((np - 1)) --min 0 \
		--max "$max" --iters 20 --warmup 2 --window 16 --check every \
		--output "$tmp/rma$np.json" >"$tmp/rma$np.txt" 2>&1
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q "verdict: PASS" "$tmp/rma$np.txt"; then
		cat "$tmp/rma$np.txt"
		echo "FAIL: mpirun -np $np fabscope run --fabric ucx (put, get) exited with $rc"
		exit 1
	fi
	python3 - "$tmp/rma$np.json" "$np" <<'PY' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
np = int(sys.argv[2])
assert d["meta"]["nranks"] == np, d["meta"]["nranks"]
seen = set()
for r in d["records"]:
    if r["status"] != "ok" or r["wrong"] != 0:
        sys.exit("FAIL: %s %s %s B: status %s, %s wrong" %
                 (r["pattern"], r["impl"], r["bytes"], r["status"], r["wrong"]))
    seen.add((r["pattern"], r["impl"]))
want = {(p, i) for p in ("latency", "bandwidth") for i in ("put", "get")}
if seen != want:
    sys.exit("FAIL: expected records of %s, got %s" % (sorted(want), sorted(seen)))
print("%d ranks: %d records ok" % (np, len(d["records"])))
PY
done
echo "PASS"
