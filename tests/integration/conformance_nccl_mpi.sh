#!/bin/bash
# The conformance suite over MPI-launched ranks for the nccl fabric, on the
# CUDA/NCCL stand-in (tests/cudadouble; one device per rank, data over TCP
# between the processes).  The checks the fabric's declared limits rule out
# (tags, withdrawing one operation) are reported as skipped with the reason.
# Skipped (77) when the stand-in or the fabric is not built.
set -u
sd="${FSC_BUILD:-.}/tests/cudadouble"
if [ ! -e "$sd/libnccl.so.2" ] || [ ! -e "$sd/libcudart.so.13" ]; then
	echo "skipped: the CUDA/NCCL stand-in is not built ($sd)"
	exit 77
fi
export LD_LIBRARY_PATH="$sd${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FSC_CUDADOUBLE_DEVICES=3
FSC_CONFORMANCE_FABRICS=nccl exec bash "$(dirname "$0")/conformance_mpi.sh"
