/* Reference ping-pong: bare MPI_Send/MPI_Recv between ranks 0 and 1.
 *
 *   mpirun -np 2 ref_mpi_pingpong SIZE ITERS WARMUP
 *   -> size=<B> iters=<n> p50_us=<..> mean_us=<..>
 *
 * Each timed iteration is one round trip measured on rank 0 with
 * clock_gettime(CLOCK_MONOTONIC) and stored individually; its sample is
 * half the round trip (as fabscope's latency pattern reports).  p50 is the
 * nearest-rank median: the ceil(n/2)-th smallest sample.  SIZE accepts a
 * K/M/G suffix (x1024).  Ranks above 1 take no part.
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
	int rank, size, iters, warmup;
	size_t bytes;
	double *half_ns, sum = 0;
	char *buf;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (argc != 4 || parse_size(argv[1], &bytes) || (iters = atoi(argv[2])) < 1 ||
	    (warmup = atoi(argv[3])) < 0 || size < 2) {
		if (!rank)
			fprintf(stderr, "usage: mpirun -np 2 %s SIZE ITERS WARMUP (ITERS >= 1)\n",
			        argv[0]);
		MPI_Finalize();
		return 2;
	}
	buf = malloc(bytes ? bytes : 1);
	half_ns = malloc((size_t)iters * sizeof(*half_ns));
	if (!buf || !half_ns) {
		fprintf(stderr, "out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	memset(buf, 0xa5, bytes ? bytes : 1);
	if (rank < 2) {
		int peer = 1 - rank;

		for (int i = 0; i < warmup + iters; i++) {
			if (rank == 0) {
				double t0 = now_ns();

				MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
				MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, 0, MPI_COMM_WORLD,
				         MPI_STATUS_IGNORE);
				if (i >= warmup)
					half_ns[i - warmup] = (now_ns() - t0) / 2;
			} else {
				MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, 0, MPI_COMM_WORLD,
				         MPI_STATUS_IGNORE);
				MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
			}
		}
	}
	if (rank == 0) {
		for (int i = 0; i < iters; i++)
			sum += half_ns[i];
		qsort(half_ns, (size_t)iters, sizeof(*half_ns), cmp_double);
		printf("size=%zu iters=%d p50_us=%.3f mean_us=%.3f\n", bytes, iters,
		       half_ns[(iters + 1) / 2 - 1] / 1e3, sum / iters / 1e3);
	}
	free(half_ns);
	free(buf);
	MPI_Finalize();
	return 0;
}
