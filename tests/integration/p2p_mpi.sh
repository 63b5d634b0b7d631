#!/usr/bin/env bash
# latency and bandwidth over the mpi fabric under mpirun -np 2: the run
# passes, data is verified, and the figures sit inside generous envelopes
# (a shared 2-core machine: sanity, not performance).
set -euo pipefail
# shellcheck source=tests/integration/lib/mpi.sh
source "$(dirname "$0")/lib/mpi.sh"
mpirun -np 2 --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
  "$FABSCOPE" run --fabric mpi --pattern latency,bandwidth --min 8 --max 1M \
  --iters 200 --warmup 20 --output "$tmp/r.json" > "$tmp/out.txt"
cat "$tmp/out.txt"
grep -q "verdict: PASS" "$tmp/out.txt"
python3 - "$tmp/r.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "fabscope-results/3" and d["status"] == "complete", d["status"]
m = d["meta"]
assert m["nranks"] == 2 and len(m["ranks"]) == 2 and m["timer"]["resolution_ns"] > 0
assert "fabrics" in m and "mpi" in m["fabrics"]
recs = d["records"]
lat = [r for r in recs if r["pattern"] == "latency"]
bw = [r for r in recs if r["pattern"] == "bandwidth"]
assert len(lat) == 18 and len(bw) == 18, (len(lat), len(bw))
for r in recs:
    assert r["status"] == "ok" and r["wrong"] == 0, r
    t = r["time_us"]
    assert 0 < t["min"] <= t["p50"] <= t["p99"] <= t["max"], t
small = lat[0]["time_us"]["p50"]
assert 0.05 < small < 500, small          # 8 B one-way: shared memory, sub-ms
big = bw[-1]["algbw_GBps"]
assert 0.01 < big < 200, big              # 1 MiB stream: MB/s to tens of GB/s
print(f"p2p_mpi: 8 B p50 {small:.2f} us, 1 MiB uni {big:.2f} GB/s")
PY
