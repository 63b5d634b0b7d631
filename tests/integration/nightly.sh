#!/usr/bin/env bash
# scripts/nightly on loopback acceptance specs: the first night starts the
# history (exit 0), an identical night passes against it, a night whose
# links lost 10% of their bandwidth exits 1 with a report and a Prometheus
# file that say so; the history then holds all three runs.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"

spec() { # FILE LB-BW
	cat >"$1" <<YAML
name: nightly-lb
tests:
  - name: p2p
    fabrics: loopback
    pattern: bandwidth
    sizes: {min: 4K, max: 256K, factor: 4}
    iters: 20
    options: {lb-bw: "$2"}
    checks:
      - no_wrong_data: true
YAML
}
spec "$tmp/good.yaml" 10
spec "$tmp/slow.yaml" 9

night() { # SPEC -> exit code
	"$SRC/scripts/nightly" "$1" --db "$tmp/h.db" --out "$tmp/out" --prom "$tmp/fabscope.prom" \
		>"$tmp/night.out" 2>&1
}
night "$tmp/good.yaml"
rc=$?
[[ $rc -eq 0 ]] || fail "first night: exit $rc: $(cat "$tmp/night.out")"
grep -q "this run starts the history" "$tmp/night.out" || fail "first night: $(cat "$tmp/night.out")"
sleep 1 # the run files are named by the second
night "$tmp/good.yaml"
rc=$?
[[ $rc -eq 0 ]] || fail "identical night: exit $rc: $(cat "$tmp/night.out")"
grep -q "fabscope_compare_regression 0" "$tmp/fabscope.prom" || fail "identical night: prom file"
sleep 1
night "$tmp/slow.yaml"
rc=$?
[[ $rc -eq 1 ]] || fail "slow night: exit $rc, expected 1: $(cat "$tmp/night.out")"
grep -q "^# verdict: REGRESSION (4 regressions" "$tmp/night.out" || fail "slow night: $(cat "$tmp/night.out")"
grep -q "fabscope_compare_regression 1" "$tmp/fabscope.prom" || fail "slow night: prom file"
ls "$tmp"/out/report-*.html >/dev/null 2>&1 || fail "no report written"
grep -q '<h1 id="verdict">REGRESSION</h1>' "$(ls -t "$tmp"/out/report-*.html | head -1)" ||
	fail "the last report does not lead with REGRESSION"
[[ $("$FABSCOPE" history --db "$tmp/h.db" list | grep -c 'complete') -eq 3 ]] ||
	fail "history: $("$FABSCOPE" history --db "$tmp/h.db" list)"
exit $failed
