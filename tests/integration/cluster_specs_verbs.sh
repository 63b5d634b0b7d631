#!/usr/bin/env bash
# ib-hdr.yaml, ib-ndr.yaml and roce.yaml, verbs tests only, on a 2-host
# virtual cluster over the software HCA (tests/cluster/specs_verbs.sh).
# Skipped (77) without root, network namespaces or the software HCA.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
exec bash "$SRC/tests/cluster/specs_verbs.sh"
