#!/usr/bin/env bash
# scripts/bench/bench_store (scripts/bench-store): the matrix driver over a
# model leaves nothing in $TMPDIR (the results file, its .jsonl stream, a
# rewrite's temporary); on the simulated fabric (--topology) at 64 hosts,
# three faults at once are named exactly and a healthy fabric gives no
# anomaly, through the driver's topology schedule and leaf re-tests; bad
# input is one line naming it, exit 2.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"
BIN=${FSC_BUILD:-$SRC/build}/scripts/bench_store
[[ -x $BIN ]] || { echo "FAIL: no bench_store at $BIN" >&2; exit 1; }
T64=fattree:hosts=64,leaf=8,oversub=2
mkdir "$tmp/t"

for store in memory disk; do
	out=$(TMPDIR=$tmp/t "$BIN" 64 $store) || fail "model, $store: exit $?: $out"
	[[ $out == "64      $store "*"n32: node slow"* ]] || fail "model, $store: $out"
done
out=$(TMPDIR=$tmp/t "$BIN" 64 disk --topology $T64 --fault uplink:leaf3:0.4 \
	--fault host:h40:0.2 --fault 'link:h5->h60:0.15' --seed 7) || fail "simulated: exit $?"
echo "$out"
want="leaf3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); confirmed 2/2 | h40: node slow (row 0.4x median, column 0.4x); confirmed 2/2 | link h5->h60 slow (0.27x median); confirmed 2/2"
[[ $out == "64      disk "*" yes   $want" ]] || fail "simulated, three faults: '$out'"
out=$(TMPDIR=$tmp/t "$BIN" 64 memory --topology $T64 --seed 7) || fail "healthy: exit $?"
[[ $out == *" yes   no anomaly ("* ]] || fail "simulated, healthy: '$out'"
# a fault the driver does not name is reported as such
out=$(TMPDIR=$tmp/t "$BIN" 64 memory --topology $T64 --fault 'link:h60->h5:0.9')
[[ $out == *" no    no anomaly ("*"[not named: link h60->h5]" ]] || fail "not named: '$out'"
left=$(ls -A "$tmp/t")
[[ -z $left ]] || fail "left in TMPDIR: $left"

out=$(FSC_BUILD=${FSC_BUILD:-$SRC/build} "$SRC/scripts/bench-store" --sizes 64 --stores memory \
	--fattree leaf=8,oversub=2 --fault uplink:leaf3:0.4 --seed 7)
[[ $(sed -n 1p <<<"$out") == "nodes   store "*" attr_s nodelink_s   rss_MB  named verdict" ]] ||
	fail "bench-store --fattree header: $out"
[[ $(sed -n 2p <<<"$out") == "64      memory "*" yes   leaf3 uplink slow"* ]] ||
	fail "bench-store --fattree row: $out"

refuse() { # expected text, arguments...
	local want=$1 err rc
	shift
	err=$("$BIN" "$@" 2>&1 >/dev/null) && rc=0 || rc=$?
	[[ $rc -eq 2 && $(wc -l <<<"$err") -eq 1 && $err == *"$want"* ]] ||
		fail "bench_store $*: rc $rc, '$err'"
}
refuse "invalid argument '4'" 4 memory
refuse "invalid argument 'ram'" 64 ram
refuse "invalid argument '--fault'" 64 memory --fault host:h1:0.5
refuse "invalid argument 'x'" 64 memory --topology $T64 --seed x
refuse "invalid argument '--bogus'" 64 memory --bogus 1
refuse "has 32 hosts, not N = 64" 64 memory --topology fattree:hosts=32,leaf=8
refuse "invalid fault 'host:h99:0.3': unknown host" 64 memory --topology $T64 --fault host:h99:0.3
err=$("$SRC/scripts/bench-store" --seed 3 2>&1) && rc=0 || rc=$?
[[ $rc -eq 2 && $err == *"'--seed' needs --fattree"* ]] || fail "bench-store --seed alone: $rc '$err'"
exit $failed
