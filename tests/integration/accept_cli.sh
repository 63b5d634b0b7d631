#!/usr/bin/env bash
# `fabscope accept` from the command line, no root needed: every shipped
# spec validates (--dry-run); bad specs (YAML syntax error, unknown key,
# wrong type, threshold without a unit) give one message with line and
# column and exit code 2, also under mpirun (one message, not one per rank);
# a loopback spec with an injected slow link runs in-process, fails with
# exit code 1 and writes results and JUnit files naming the link.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"

# expect_error FILE EXPECTED-STDERR [launcher...]: exit code 2, exactly that.
expect_error() {
	local spec=$1 want=$2 got rc
	shift 2
	got=$("$@" "$FABSCOPE" accept "$spec" --output "$tmp/none.json" 2>&1 >/dev/null |
		grep '^fabscope')
	rc=${PIPESTATUS[0]}
	[[ $rc -eq 2 ]] || fail "$spec: exit code $rc, expected 2"
	[[ $got == "$want" ]] || fail "$spec: got [$got], expected [$want]"
	[[ ! -e $tmp/none.json ]] || fail "$spec: a results file was written"
}

for spec in "$SRC"/scripts/specs/*.yaml; do
	"$FABSCOPE" accept "$spec" --dry-run >/dev/null || fail "$spec does not validate"
done

printf 'name: x\ntests:\n  - name: a\n    fabrics: [tcp]\n    pattern: latency\n    checks:\n      - latency_p50: {max: 50us\n' >"$tmp/syntax.yaml"
printf 'name: x\ntests:\n  - name: p2p\n    fabirc: [tcp]\n    pattern: latency\n' >"$tmp/key.yaml"
printf 'name: x\ntests:\n  - name: p2p\n    fabrics: [tcp]\n    pattern: latency\n    iters: [1, 2]\n' >"$tmp/type.yaml"
printf 'name: x\ntests:\n  - name: p2p\n    fabrics: [tcp]\n    pattern: latency\n    checks:\n      - latency_p50: {max: 50}\n' >"$tmp/unit.yaml"
printf 'name: x\ntests:\n  - name: bw\n    fabrics: [loopback]\n    pattern: bandwidth\n    options: {window: 0}\n' >"$tmp/range.yaml"
printf 'name: x\ntests:\n  - name: a2a\n    fabrics: [loopback]\n    pattern: alltoall\n    sizes: {min: 8, max: 1T}\n' >"$tmp/mem.yaml"

expect_error "$tmp/syntax.yaml" "fabscope: error: $tmp/syntax.yaml:8:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at line 7, column 22)"
expect_error "$tmp/key.yaml" "fabscope: error: $tmp/key.yaml:4:5: unknown key 'fabirc' in test 'p2p' (expected one of: name, description, fabrics, pattern, sizes, impl, iters, warmup, timeout, options, checks, required)"
expect_error "$tmp/type.yaml" "fabscope: error: $tmp/type.yaml:6:12: 'iters' in test 'p2p': expected an integer, got a list"
expect_error "$tmp/unit.yaml" "fabscope: error: $tmp/unit.yaml:7:28: 'max' in check 'latency_p50' of test 'p2p': threshold '50' has no unit: expected a time such as 50us, 2ms or 1s"
expect_error "$tmp/range.yaml" "fabscope: error: $tmp/range.yaml:6:23: invalid value '0' for --window: must be between 1 and 4096 in test 'bw'"
# A size that cannot fit in memory: refused before anything is allocated.
got=$("$FABSCOPE" accept "$tmp/mem.yaml" --output "$tmp/none.json" 2>&1 >/dev/null | grep '^fabscope')
rc=${PIPESTATUS[0]}
[[ $rc -eq 2 && $got == "fabscope: error: $tmp/mem.yaml:6:12: test 'a2a' on fabric loopback: pattern alltoall (impl pairwise) at "*" bytes needs "*"(MemAvailable): lower --max" ]] ||
	fail "mem.yaml: rc $rc, got [$got]"

command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (scripts/setup-deps installs it)"; exit 1; }
if true; then
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	expect_error "$tmp/key.yaml" "fabscope: error: $tmp/key.yaml:4:5: unknown key 'fabirc' in test 'p2p' (expected one of: name, description, fabrics, pattern, sizes, impl, iters, warmup, timeout, options, checks, required)" \
		mpirun -np 2 --oversubscribe --bind-to none
fi

cat >"$tmp/lb.yaml" <<'YAML'
name: lb
tests:
  - name: mat
    fabrics: loopback
    pattern: pairs
    options: {lb-slow-link: "2:0:0.2", pairs-bw-size: 64K, pairs-repeats: 2, pairs-lat-iters: 10}
    checks:
      - no_anomaly: true
YAML
"$FABSCOPE" accept "$tmp/lb.yaml" --output "$tmp/lb.json" --junit "$tmp/lb.xml" >"$tmp/lb.out" 2>&1
rc=$?
[[ $rc -eq 1 ]] || fail "loopback slow link: exit code $rc, expected 1"
grep -qx 'verdict: FAIL: 1 of 2 checks failed; suspects: lb2->lb0 (link slow, high latency)' "$tmp/lb.out" ||
	fail "loopback slow link: verdict line missing: $(tail -3 "$tmp/lb.out")"
grep -q '"acceptance"' "$tmp/lb.json" || fail "loopback slow link: no acceptance object"
grep -q '<testcase classname="mat.loopback" name="no_anomaly"' "$tmp/lb.xml" ||
	fail "loopback slow link: JUnit testcase missing"
grep -q '<failure type="fabscope.check"' "$tmp/lb.xml" || fail "loopback slow link: no JUnit failure"

((failed == 0)) && echo "ok - accept command line"
exit "$failed"
