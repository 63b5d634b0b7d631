#!/usr/bin/env bash
# `fabscope accept` on a 4-host virtual cluster (tests/cluster/accept_*.sh):
# healthy twice, one degraded host, one degraded link direction.  Skipped
# (77) without root or network namespaces.  About 3 minutes.
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

failed=0 ran=0
for t in accept_healthy accept_degraded_host accept_degraded_link; do
	echo "== $t"
	bash "$SRC/tests/cluster/$t.sh"
	rc=$?
	case $rc in
	0) ran=$((ran + 1)) ;;
	77) ;;
	*) failed=$((failed + 1)); echo "== $t FAILED (exit code $rc)" ;;
	esac
done
((failed == 0)) || exit 1
((ran > 0)) || exit 77
exit 0
