#!/usr/bin/env bash
# `fabscope accept` on a 5-host virtual cluster (tests/cluster/
# accept_random5.sh): a random degraded host, then a random degraded link
# direction.  Skipped (77) without root or network namespaces.  About 5
# minutes.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
exec bash "$SRC/tests/cluster/accept_random5.sh"
