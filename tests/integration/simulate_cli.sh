#!/bin/bash
# `fabscope simulate` from the command line: a topology.conf file with a
# slow leaf uplink named as the leaf, --fail-on-anomaly's exit status, the
# healthy case, and bad input answered with one line naming the bad value
# and exit status 2.
source "$(dirname "$0")/lib/cli.sh"

# 4 leaves of 8 hosts (zero-padded names), a spine, a LinkSpeed note
cat >"$tmp/topo.conf" <<'CONF'
# test fabric
SwitchName=leaf0 Nodes=n[001-008] LinkSpeed=400
SwitchName=leaf1 Nodes=n[009-016]
SwitchName=leaf2 Nodes=n[017-024]
SwitchName=leaf3 Nodes=n[025-032]
SwitchName=spine0 Switches=leaf[0-3]
CONF

out=$("$FABSCOPE" simulate --topology "$tmp/topo.conf" --fault uplink:leaf2:0.3 \
	--fail-on-anomaly 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 1 ]] || fail "a confirmed anomaly with --fail-on-anomaly: exit $rc, expected 1"
grep -q '^# verdict: leaf2 uplink slow (cross-leaf cells 0.3x, intra-leaf 1.0x); confirmed 2/2$' \
	<<<"$out" || fail "the slow uplink is not named as leaf2"
[[ $(grep -c '^# verdict:' <<<"$out") -eq 1 ]] || fail "more than one verdict line"
grep -q '^# note: LinkSpeed= (.*topo.conf:2) is ignored' <<<"$out" || fail "no LinkSpeed note"
grep -q '^#   leaf2 *8 hosts .*(n017..n024)' <<<"$out" || fail "no per-leaf line for leaf2"

out=$("$FABSCOPE" simulate --topology "$tmp/topo.conf" --fail-on-anomaly 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "healthy: exit $rc, expected 0: $out"
grep -q '^# verdict: no anomaly' <<<"$out" || fail "healthy: $out"

bad() { # expected stderr text, arguments...
	local want=$1 err rc
	shift
	err=$("$FABSCOPE" simulate "$@" 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 2 ]] || fail "simulate $*: exit $rc, expected 2"
	[[ $(wc -l <<<"$err") -eq 1 ]] || fail "simulate $*: not one line: $err"
	grep -qF -- "$want" <<<"$err" || fail "simulate $*: '$err' lacks '$want'"
}
bad "needs --topology" --fault dead:h1
bad "cannot read topology '$tmp/none'" --topology "$tmp/none"
bad "topology 'fattree:hosts=8': expected fattree:hosts=N,leaf=K" --topology fattree:hosts=8
bad "invalid fault 'host:n999:0.3': unknown host" --topology "$tmp/topo.conf" --fault host:n999:0.3
bad "invalid fault 'uplink:leaf2:2': factor not in (0, 1)" --topology "$tmp/topo.conf" \
	--fault uplink:leaf2:2
bad "invalid schedule 'ring'" --topology "$tmp/topo.conf" --schedule ring
bad "--noise 'x': expected a number" --topology "$tmp/topo.conf" --noise x
bad "unknown or incomplete option '--bogus'" --topology "$tmp/topo.conf" --bogus
printf 'SwitchName=a Nodes=h[1-2\n' >"$tmp/bad.conf"
bad "$tmp/bad.conf:1: hostlist 'h[1-2': '[' without ']'" --topology "$tmp/bad.conf"
exit $failed
