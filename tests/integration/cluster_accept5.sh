#!/usr/bin/env bash
# `fabscope accept` on a 5-host virtual cluster (tests/cluster/
# accept_random5.sh): a random degraded host, then a random degraded link
# direction.  Skipped (77) without root or network namespaces.  About 5
# minutes.
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
exec bash "$SRC/tests/cluster/accept_random5.sh"
