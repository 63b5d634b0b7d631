# Shared by tests/cluster/accept_*.sh (sourced, not a test of its own):
# preflight checks, a private virtual cluster of HOSTS hosts (default 4; set
# HOSTS before sourcing) torn down on exit, and helpers to run `fabscope
# accept` on it and read its verdict.  When the software HCA is built
# (FSC_BUILD/tests/ibdouble), every rank gets it, so the verbs fabric runs
# across the hosts too.
#
# Environment: FABSCOPE (the binary; default build/fabscope), FSC_SOURCE
# (the source tree), FSC_BUILD (the build tree; default: FABSCOPE's
# folder), FSC_ACCEPT_SPEC (default scripts/specs/quick.yaml), FSC_CLUSTER_KEEP
# (a folder that receives the run's results and terminal output on exit).
# Exit codes follow ctest: 0 pass, 1 fail, 77 skipped (not root, no network
# namespaces, no mpirun/tc/python3, or a virtual cluster that is not ours is
# already up).

set -euo pipefail

ACC_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${FSC_SOURCE:-$(cd "$ACC_HERE/../.." && pwd)}
VC=$SRC/scripts/vcluster
SPEC=${FSC_ACCEPT_SPEC:-$SRC/scripts/specs/quick.yaml}
FABSCOPE=${FABSCOPE:-$SRC/build/fabscope}
HOSTS=${HOSTS:-4}
# A degraded host or link: slow enough to be unmistakable next to healthy
# veth links (hundreds of MB/s), fast enough to keep the run short.
DEGRADE_RATE=${FSC_ACCEPT_DEGRADE_RATE:-50mbit}

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() { echo "ok - $*"; }

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
ip netns list >/dev/null 2>&1 || skip "'ip netns' is not available"
command -v unshare >/dev/null || skip "unshare not found"
command -v mpirun >/dev/null || fail "mpirun not found (scripts/setup-deps installs it)"
command -v tc >/dev/null || skip "tc not found"
command -v python3 >/dev/null || fail "python3 not found (reads the results JSON; scripts/setup-deps installs it)"
[[ -x $FABSCOPE ]] || skip "fabscope binary '$FABSCOPE' not found (set FABSCOPE)"
ip link show dev fscbr0 >/dev/null 2>&1 &&
	skip "a virtual cluster is already up; not disturbing it"

BLD=${FSC_BUILD:-$(dirname "$FABSCOPE")}
if [[ -e $BLD/tests/ibdouble/libibverbs.so.1 ]]; then
	export FSC_VCLUSTER_IBDOUBLE=$BLD/tests/ibdouble
else
	echo "(no software HCA in $BLD/tests/ibdouble: verbs is skipped)"
fi

TMP=$(mktemp -d)
export FSC_VCLUSTER_STATE=$TMP/state

acc_cleanup() {
	local rc=$?
	"$VC" down >/dev/null 2>&1 || true
	[[ -n ${FSC_CLUSTER_KEEP:-} ]] && mkdir -p "$FSC_CLUSTER_KEEP" && cp -r "$TMP"/. "$FSC_CLUSTER_KEEP"/
	rm -rf "$TMP"
	exit "$rc"
}
trap acc_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$VC" up "$HOSTS" >/dev/null || fail "vcluster up $HOSTS failed"

# accept NAME: run the spec on the hosts; RC gets the exit code, the
# results are $TMP/NAME.json and $TMP/NAME.xml, the terminal $TMP/NAME.out.
accept() {
	local name=$1 start=$SECONDS
	set +e
	timeout 900 "$VC" mpirun -np "$HOSTS" "$FABSCOPE" accept "$SPEC" \
		--output "$TMP/$name.json" --junit "$TMP/$name.xml" >"$TMP/$name.out" 2>&1
	RC=$?
	set -e
	grep -E '^(# \[|FAIL |suspect:|verdict:)' "$TMP/$name.out" || true
	echo "($name: exit code $RC in $((SECONDS - start)) s)"
}

# suspects NAME: one line per suspect of the verdict, "node HOST" or
# "link SRC->DST DIRECTION"; fails when the JSON or JUnit file is malformed.
suspects() {
	python3 - "$TMP/$1.json" "$TMP/$1.xml" <<'PY'
import json, sys
import xml.etree.ElementTree as ET

doc = json.load(open(sys.argv[1]))
acc = doc["acceptance"]
suites = ET.parse(sys.argv[2]).getroot()
cases = suites.findall("./testsuite/testcase")
assert len(cases) == acc["counts"]["checks"], "JUnit testcases != checks"
assert len([c for c in cases if c.find("failure") is not None]) == acc["counts"]["failed"]
for r in doc["records"]:
    assert "test" in r and r.get("attempt", 0) >= 1, "untagged record"
for s in acc["suspects"]:
    if s["kind"] == "node":
        print("node", s["host"])
    else:
        print("link %s->%s %s" % (s["src"], s["dst"], s["direction"]))
PY
}

# seen_everywhere NAME: succeeds when every suspect of the verdict was
# seen by the pairs test of every fabric that ran it (one with a record
# that was not skipped); prints what is missing otherwise.
seen_everywhere() {
	python3 - "$TMP/$1.json" <<'PY'
import json, sys

doc = json.load(open(sys.argv[1]))
ran = sorted({"pairs/" + r["fabric"] for r in doc["records"]
              if r.get("test") == "pairs" and r.get("status") != "skipped"})
bad = 0
for s in doc["acceptance"]["suspects"]:
    missing = [w for w in ran if w not in s.get("seen_in", [])]
    if missing:
        print("%s not seen in %s (seen in %s)" % (s.get("text", s), ", ".join(missing),
              ", ".join(s.get("seen_in", []))))
        bad = 1
print("pairs ran over: " + ", ".join(ran))
sys.exit(bad)
PY
}

# verdict NAME: PASS, FAIL or NOT RUN from the results JSON.
verdict() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["acceptance"]["verdict"])' \
		"$TMP/$1.json"
}
