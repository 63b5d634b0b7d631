#!/usr/bin/env bash
# The all-pairs matrix with --topology on a 6-host virtual cluster of two
# leaves (tests/cluster/pairs_topology6.sh): healthy, then every cross-leaf
# link out of one leaf throttled, named as that leaf's uplink.  Skipped (77)
# without root or network namespaces.  About 4 to 8 minutes.
set -uo pipefail

SRC=${FSC_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (network namespaces)"
	exit 77
fi
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
	echo "SKIP: 'ip netns' is not available"
	exit 77
fi
exec bash "$SRC/tests/cluster/pairs_topology6.sh"
