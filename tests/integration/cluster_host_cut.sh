#!/usr/bin/env bash
# A host of a 4-host virtual cluster loses its network in the middle of a
# pairs run (tests/cluster/host_cut.sh): fabscope names it and writes its
# results.  Skipped (77) without root or network namespaces.  About 1
# minute.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
exec bash "$SRC/tests/cluster/host_cut.sh"
