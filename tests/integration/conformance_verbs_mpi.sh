#!/bin/bash
# The conformance suite over MPI-launched ranks for the verbs fabric, on the
# software HCA (tests/ibdouble): separate processes, so its traffic goes over
# TCP between them.  Skipped (77) when the double or the fabric is not built.
set -u
dbl="${FSC_BUILD:-.}/tests/ibdouble"
if [ ! -e "$dbl/libibverbs.so.1" ]; then
	echo "skipped: the software HCA is not built ($dbl)"
	exit 77
fi
export LD_LIBRARY_PATH="$dbl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export IBDOUBLE_QUIET=1
FSC_CONFORMANCE_FABRICS=verbs exec bash "$(dirname "$0")/conformance_mpi.sh"
