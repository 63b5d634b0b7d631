#!/usr/bin/env bash
# Runs the virtual-cluster smoke test (tests/cluster/vcluster_smoke.sh);
# skipped (77) without root or network namespaces.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
exec bash "$SRC/tests/cluster/vcluster_smoke.sh"
