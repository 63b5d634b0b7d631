#!/bin/bash
# The tcp fabric under a real mpirun:
#   1. 2 ranks, latency and bandwidth up to 64 KiB with verified data; the
#      results must say which interface was used and why;
#   2. every pattern `fabscope list` shows, on 4 ranks (oversubscribed),
#      small sizes, verified data;
#   3. a --tcp-if that matches nothing: tcp is skipped with the reason, no
#      hang.
# Fails when mpirun or python3 is missing (scripts/setup-deps installs
# both); exit 77 (skipped) when `fabscope list` does not show tcp as built
# and usable (the reason is printed).
set -u

# shellcheck source=tests/integration/lib/mpi.sh
source "$(dirname "$0")/lib/mpi.sh"
command -v python3 >/dev/null || { echo "FAIL: python3 not found (scripts/setup-deps installs it)"; exit 1; }
fabric_usable_or_skip tcp

fail() {
	echo "FAIL: $*"
	exit 1
}

# run NAME NP ARGS...: one mpirun of fabscope over tcp; results in $tmp/NAME.json
run() {
	local name=$1 np=$2
	shift 2
	echo "== tcp run '$name': $np ranks: $*"
	timeout 300 mpirun -np "$np" --oversubscribe --bind-to none "$fabscope" run --fabric tcp \
		--output "$tmp/$name.json" "$@"
	local rc=$?
	[ $rc -eq 0 ] || fail "mpirun fabscope run --fabric tcp ($name) exited with $rc"
}

# 1. The basic run, and the interface choice recorded in the results.
run basic 2 --pattern latency,bandwidth --max 64K --iters 50
{
	python3 - "$tmp/basic.json" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
tcp = doc.get("meta", {}).get("fabrics", {}).get("tcp")
if not isinstance(tcp, dict):
    sys.exit("FAIL: no meta.fabrics.tcp description in " + sys.argv[1])
for key in ("interface", "address", "selected_by", "sndbuf", "rcvbuf", "nodelay"):
    if key not in tcp:
        sys.exit("FAIL: meta.fabrics.tcp has no %r: %r" % (key, tcp))
if tcp["nodelay"] is not True or tcp["sndbuf"] <= 0 or tcp["rcvbuf"] <= 0:
    sys.exit("FAIL: unexpected socket settings: %r" % tcp)
print("tcp used %s (%s, %s)" % (tcp["interface"], tcp["address"], tcp["selected_by"]))
PY
}

# 2. Every pattern there is, on 4 ranks.
patterns=$(awk '/^patterns:/ { p = 1; next } /^[^[:space:]]/ { p = 0 } p && NF { print $1 }' \
	<<<"$list" | paste -sd, -)
[ -n "$patterns" ] || fail "no patterns in '$fabscope list'"
run all 4 --pattern "$patterns" --max 16K --iters 10 --warmup 2 --point-time 1s \
	--tcp-if 127.0.0.0/8

# 3. No usable interface: the fabric is reported as skipped, with the
#    reason; the run, in which the only fabric asked for measured nothing,
#    does not pass: exit 2 with one error line naming the fabric and why.
echo "== tcp run with --tcp-if 203.0.113.0/24 (no such interface)"
timeout 120 mpirun -np 2 --oversubscribe "$fabscope" run --fabric tcp --tcp-if 203.0.113.0/24 \
	--pattern latency --max 8 --iters 5 --output "$tmp/bad.json" >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
cat "$tmp/bad.out" "$tmp/bad.err"
[ $rc -ne 124 ] || fail "a bad --tcp-if made the run hang"
[ $rc -ne 0 ] || fail "a run whose only fabric was skipped exited 0"
grep -q '^# verdict: PASS' "$tmp/bad.out" && fail "a run that measured nothing said PASS"
[ "$(grep -c 'error:' "$tmp/bad.err")" = 1 ] || fail "expected one error line"
grep -q 'fabscope: error: nothing was measured: every fabric was skipped (tcp: no IPv4 interface matches --tcp-if 203.0.113.0/24' \
	"$tmp/bad.err" || fail "the reason for the bad --tcp-if is not in the error line"
python3 - "$tmp/bad.json" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
recs = [r for r in doc.get("records", []) if r.get("fabric") == "tcp"]
if not recs or any(r.get("status") != "skipped" or
                   "no IPv4 interface matches" not in r.get("reason", "") for r in recs):
    sys.exit("FAIL: expected tcp records 'skipped' with the reason, got %r" % recs)
if doc.get("status") != "skipped":
    sys.exit("FAIL: results status %r, want 'skipped'" % doc.get("status"))
PY
# Beside a fabric that measures, the run passes and its verdict names the
# fabric it skipped.
timeout 120 mpirun -np 2 --oversubscribe "$fabscope" run --fabric mpi,tcp \
	--tcp-if 203.0.113.0/24 --pattern latency --max 8 --iters 5 --output none >"$tmp/part.out" 2>&1
rc=$?
[ $rc = 0 ] || { cat "$tmp/part.out"; fail "mpi measured, tcp skipped: rc $rc, want 0"; }
grep -q '^# verdict: PASS (fabrics skipped: tcp: no IPv4 interface matches' "$tmp/part.out" ||
	{ cat "$tmp/part.out"; fail "the verdict does not name the skipped fabric"; }
# Without mpirun too (a singleton): exit code 2 itself.
"$fabscope" run --fabric tcp --tcp-if 203.0.113.0/24 --pattern latency --max 8 --iters 5 \
	--output none >/dev/null 2>"$tmp/bad1.err"
rc=$?
[ $rc = 2 ] || { cat "$tmp/bad1.err"; fail "singleton run whose only fabric was skipped: rc $rc, want 2"; }
echo "PASS"
