#!/usr/bin/env bash
# `fabscope accept` on a 4-host virtual cluster (tests/cluster/accept_*.sh):
# healthy twice, one degraded host, one degraded link direction.  Skipped
# (77) without root or network namespaces.  About 3 minutes.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"

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
