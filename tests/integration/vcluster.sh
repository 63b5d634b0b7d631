#!/usr/bin/env bash
# Runs the virtual-cluster smoke test (tests/cluster/vcluster_smoke.sh);
# skipped (77) without root or network namespaces.
set -euo pipefail

SRC=${FSC_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (network namespaces)"
	exit 77
fi
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
	echo "SKIP: 'ip netns' is not available"
	exit 77
fi
exec bash "$SRC/tests/cluster/vcluster_smoke.sh"
