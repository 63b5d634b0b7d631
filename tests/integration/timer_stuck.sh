#!/usr/bin/env bash
# A CLOCK_MONOTONIC that never advances (tests/stuckclock, preloaded): the
# timer self-test of `run` and `accept` finds that nothing can be timed,
# and each stops with exit code 2 and one error line naming the rank and
# host, before measuring anything.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"

shim=${FSC_BUILD:-$SRC/build}/tests/libfsc_stuckclock.so
[[ -f $shim ]] || { echo "FAIL: no preload library at $shim" >&2; exit 1; }
why="CLOCK_MONOTONIC did not advance over 100000 readings, so nothing can be timed"

# stuck CMD...: exit code 2 and exactly one line on stderr, matching $want.
stuck() {
	local got rc
	got=$(LD_PRELOAD=$shim timeout 120 "$@" 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 2 ]] || fail "$*: exit code $rc, expected 2 ($got)"
	[[ $(printf '%s\n' "$got" | wc -l) -eq 1 ]] || fail "$*: more than one line: [$got]"
	[[ $got == $want ]] || fail "$*: got [$got], expected [$want]"
}

want="fabscope: error: the timer does not work on rank 0 (host *): $why"
stuck "$FABSCOPE" run --fabric loopback --pattern latency --max 8 --iters 5 --output none

printf 'name: t\ntests:\n  - name: lat\n    fabrics: [loopback]\n    pattern: latency\n    sizes: 8\n    iters: 5\n' >"$tmp/t.yaml"
want="fabscope: error: the timer does not work on rank 0 (host lb0): $why"
stuck "$FABSCOPE" accept "$tmp/t.yaml" --output none

# Without the preload the same runs pass: the clock, not the input, failed.
"$FABSCOPE" accept "$tmp/t.yaml" --output none >/dev/null 2>&1 || fail "accept without the preload failed"

exit $failed
