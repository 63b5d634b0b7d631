#!/bin/bash
# The conformance suite over MPI-launched ranks for the verbs fabric, on the
# software HCA (tests/ibdouble): separate processes, so its traffic goes over
# TCP between them.  Skipped (77) when the double or the fabric is not built.
set -u
# shellcheck source=tests/integration/lib/ibdouble.sh
source "$(dirname "$0")/lib/ibdouble.sh"
FSC_CONFORMANCE_FABRICS=verbs exec bash "$(dirname "$0")/conformance_mpi.sh"
