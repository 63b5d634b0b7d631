#!/usr/bin/env bash
# The all-pairs matrix with --topology on a 6-host virtual cluster split into
# two leaves (leafA: h0-h2, leafB: h3-h5 in a topology.conf): healthy, no
# leaf suspect; then every cross-leaf link out of leafA throttled (what a
# slow leafA uplink does to the traffic leaving it), and the record's
# leaf_anomalies names exactly leafA's uplink, upward, confirmed by the
# serial re-tests, first in the verdict.  With two leaves leafA's uplink cannot be told from
# leafB's downlink; the sending leaf is named (patterns/PAIRS.md).
# Run by ctest as integration.cluster_topology6, or by hand (root):
# FABSCOPE=build/fabscope bash tests/cluster/pairs_topology6.sh.  About 4 to 8
# minutes: the re-tests move data over the throttled links.
HOSTS=6
source "$(dirname "${BASH_SOURCE[0]}")/accept_common.sh"

cat >"$TMP/topo.conf" <<'CONF'
SwitchName=leafA Nodes=h[0-2]
SwitchName=leafB Nodes=h[3-5]
SwitchName=spine0 Switches=leafA,leafB
CONF

# pairs NAME: one run over the mpi fabric; the record in $TMP/NAME.json
pairs() {
	local name=$1
	set +e
	timeout 600 "$VC" mpirun -np "$HOSTS" "$FABSCOPE" run --fabric mpi --pattern pairs \
		--topology "$TMP/topo.conf" --output "$TMP/$name.json" --pairs-csv none \
		>"$TMP/$name.out" 2>&1
	RC=$?
	set -e
	grep -E '^# (leaf|pairs verdict)' "$TMP/$name.out" || true
}

# leafinfo NAME: "leaves L0,L1,..." then one line per leaf suspect
leafinfo() {
	python3 - "$TMP/$1.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
rec = [r for r in doc["records"] if r.get("pattern") == "pairs"][0]
print("leaves " + ",".join(str(x) for x in rec["leaves"]))
for s in rec.get("leaf_suspects", []):
    print("suspect " + s)
for s in rec.get("leaf_anomalies", []):
    print("confirmed " + s)
print("verdict " + rec.get("verdict", ""))
PY
}

pairs healthy
[[ $RC -eq 0 ]] || { cat "$TMP/healthy.out"; fail "healthy run: exit code $RC"; }
info=$(leafinfo healthy) || fail "malformed results"
grep -qx "leaves leafA,leafA,leafA,leafB,leafB,leafB" <<<"$info" || fail "leaves: $info"
grep -q '^suspect' <<<"$info" && fail "healthy cluster has a leaf suspect: $info"
ok "healthy: each host's leaf recorded, no leaf suspect"

for a in h0 h1 h2; do
	for b in h3 h4 h5; do
		"$VC" degrade-link "$a" "$b" "$DEGRADE_RATE" >/dev/null
	done
done
pairs uplink
info=$(leafinfo uplink) || fail "malformed results"
echo "$info"
n=$(grep -c '^suspect' <<<"$info" || true)
[[ $n -eq 1 ]] || fail "expected exactly one leaf suspect, got $n: $info"
grep -q '^confirmed leafA uplink slow upward (cross-leaf out .*; confirmed 2/2$' <<<"$info" ||
	fail "the throttled leaf is not confirmed as leafA's uplink: $info"
grep -q '^verdict leafA uplink slow upward' <<<"$info" || fail "the verdict does not start with leafA: $info"
ok "every cross-leaf link out of leafA at $DEGRADE_RATE: named as leafA uplink slow upward, confirmed"
