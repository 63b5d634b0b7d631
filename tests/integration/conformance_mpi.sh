#!/bin/bash
# The fabric conformance suite over MPI-launched ranks: runs
# $FSC_BUILD/tests/fsc-conformance under mpirun -np 2 and -np 3 for each
# fabric in FSC_CONFORMANCE_FABRICS (default: mpi tcp ucx).  A fabric the program
# reports as skipped (exit 77: not built, or cannot run here) is skipped;
# the script exits 77 when mpirun or the program is missing, or when every
# run was skipped.
set -u

prog="${FSC_BUILD:-.}/tests/fsc-conformance"
command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (scripts/setup-deps installs it)"; exit 1; }
if [ ! -x "$prog" ]; then
	echo "skipped: $prog not built (configured without MPI?)"
	exit 77
fi

# Open MPI refuses root without these; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_base_warn_component_unused=0

ran=0
failed=0
for fabric in ${FSC_CONFORMANCE_FABRICS:-mpi tcp ucx}; do
	for np in 2 3; do
		out=$(timeout 300 mpirun -np "$np" --oversubscribe "$prog" "$fabric" 2>&1)
		rc=$?
		echo "$out"
		case $rc in
		0)
			if grep -q "fsc-conformance: fabric $fabric, $np ranks: [0-9]* checks, 0 failed" \
				<<<"$out"; then
				echo "PASS: $fabric on $np ranks"
				ran=$((ran + 1))
			else
				echo "FAIL: $fabric on $np ranks: no success summary"
				failed=$((failed + 1))
			fi
			;;
		77)
			echo "SKIP: $fabric on $np ranks"
			;;
		*)
			echo "FAIL: $fabric on $np ranks: exit status $rc"
			failed=$((failed + 1))
			;;
		esac
	done
done
if [ $failed -ne 0 ]; then
	exit 1
fi
if [ $ran -eq 0 ]; then
	echo "skipped: no fabric could run"
	exit 77
fi
exit 0
