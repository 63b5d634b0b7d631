#!/usr/bin/env bash
# The all-pairs matrix with --topology on a 6-host virtual cluster of two
# leaves (tests/cluster/pairs_topology6.sh): healthy, then every cross-leaf
# link out of one leaf throttled, named as that leaf's uplink.  Skipped (77)
# without root or network namespaces.  About 4 to 8 minutes.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
exec bash "$SRC/tests/cluster/pairs_topology6.sh"
