/* Reference collectives: bare MPI_Allreduce (float sum) or MPI_Alltoall.
 *
 *   mpirun -np N ref_mpi_coll allreduce|alltoall BYTES ITERS WARMUP
 *   -> op=<op> bytes=<B> mean_us=<..> p50_us=<..>
 *
 * BYTES is each rank's buffer, as in nccl-tests: allreduce reduces
 * BYTES/4 floats (BYTES must be a multiple of 4); alltoall sends
 * BYTES/N to every rank (BYTES must be a multiple of N).
 * Every rank times each iteration with CLOCK_MONOTONIC (no barrier between
 * iterations, one barrier before the timed ones); the iteration's time is
 * the slowest rank's (MPI_Reduce with MPI_MAX over the per-iteration
 * arrays).  mean and nearest-rank p50 are taken over those maxima.
 * BYTES accepts a K/M/G suffix (x1024).
 */
/* clock_gettime when built by hand: mpicc -std=c11 */
#define _POSIX_C_SOURCE 200809L

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref_common.h"

int main(int argc, char **argv)
{
	int rank, size, iters = 0, warmup = 0, is_a2a = 0, bad;
	size_t bytes = 0;
	double *t_ns, *max_ns, sum = 0;
	char *sbuf, *rbuf;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	bad = argc != 5 || parse_size(argv[2], &bytes) || (iters = atoi(argv[3])) < 1 ||
	      (warmup = atoi(argv[4])) < 0;
	if (!bad) {
		is_a2a = !strcmp(argv[1], "alltoall");
		bad = !is_a2a && strcmp(argv[1], "allreduce");
	}
	if (!bad)
		bad = is_a2a ? bytes % (size_t)size != 0 : bytes % sizeof(float) != 0;
	if (bad) {
		if (!rank)
			fprintf(stderr,
			        "usage: mpirun -np N %s allreduce|alltoall BYTES ITERS WARMUP\n"
			        "  (allreduce: BYTES a multiple of 4; alltoall: of N)\n",
			        argv[0]);
		MPI_Finalize();
		return 2;
	}
	sbuf = malloc(bytes ? bytes : 1);
	rbuf = malloc(bytes ? bytes : 1);
	t_ns = malloc((size_t)iters * sizeof(*t_ns));
	max_ns = malloc((size_t)iters * sizeof(*max_ns));
	if (!sbuf || !rbuf || !t_ns || !max_ns) {
		fprintf(stderr, "out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	for (size_t i = 0; i < bytes / sizeof(float); i++)
		((float *)sbuf)[i] = 1.0f;
	memset(rbuf, 0, bytes ? bytes : 1);

	for (int i = 0; i < warmup + iters; i++) {
		double t0;

		if (i == warmup)
			MPI_Barrier(MPI_COMM_WORLD);
		t0 = now_ns();
		if (is_a2a)
			MPI_Alltoall(sbuf, (int)(bytes / (size_t)size), MPI_BYTE, rbuf,
			             (int)(bytes / (size_t)size), MPI_BYTE, MPI_COMM_WORLD);
		else
			MPI_Allreduce(sbuf, rbuf, (int)(bytes / sizeof(float)), MPI_FLOAT, MPI_SUM,
			              MPI_COMM_WORLD);
		if (i >= warmup)
			t_ns[i - warmup] = now_ns() - t0;
	}
	MPI_Reduce(t_ns, max_ns, iters, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		for (int i = 0; i < iters; i++)
			sum += max_ns[i];
		qsort(max_ns, (size_t)iters, sizeof(*max_ns), cmp_double);
		printf("op=%s bytes=%zu mean_us=%.3f p50_us=%.3f\n", argv[1], bytes,
		       sum / iters / 1e3, max_ns[(iters + 1) / 2 - 1] / 1e3);
	}
	free(max_ns);
	free(t_ns);
	free(rbuf);
	free(sbuf);
	MPI_Finalize();
	return 0;
}
