#!/bin/bash
# The MPI bootstrap and the MPI fabric under a real mpirun: runs
# $FSC_BUILD/tests/mpi_boot_check on 3 ranks (bootstrap collectives, host
# table, status agreement, non-spinning barrier; fabric point-to-point of
# 0, 1, 4097 and 4 MiB bytes with verified data; native collectives).
# Exit 77 (skipped) when mpirun or the check program is missing.
set -u

check="${FSC_BUILD:-.}/tests/mpi_boot_check"
command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (scripts/setup-deps installs it)"; exit 1; }
if [ ! -x "$check" ]; then
	echo "skipped: $check not built (configured without MPI?)"
	exit 77
fi

# Open MPI refuses root without these; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# No RDMA devices here: keep Open MPI on shared memory and TCP, quietly.
export OMPI_MCA_btl_base_warn_component_unused=0

out=$(timeout 120 mpirun -np 3 --oversubscribe "$check" 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
	echo "FAIL: mpirun -np 3 mpi_boot_check exited with $rc"
	exit 1
fi
if ! grep -q "mpi_boot_check: 3 ranks, [0-9]* checks, 0 failed" <<<"$out"; then
	echo "FAIL: no success summary from mpi_boot_check"
	exit 1
fi
echo "PASS"
