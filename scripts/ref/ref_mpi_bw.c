/* Reference bandwidth: a bare windowed MPI_Isend/MPI_Irecv stream from
 * rank 0 to rank 1, in the style of OSU's osu_bw.
 *
 *   mpirun -np 2 ref_mpi_bw SIZE ITERS WARMUP WINDOW
 *   -> size=<B> window=<w> iters=<n> bw_GBps=<..>
 *
 * One iteration: rank 0 posts WINDOW sends of SIZE bytes (one buffer, as
 * osu_bw does), rank 1 the matching receives; both wait for all of them,
 * then rank 1 sends a 4-byte acknowledgement.  Rank 0 times the ITERS
 * iterations after WARMUP with CLOCK_MONOTONIC;
 *   bw_GBps = ITERS * WINDOW * SIZE / time / 1e9.
 * SIZE accepts a K/M/G suffix (x1024).  Ranks above 1 take no part.
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
	int rank, size, iters, warmup, window;
	size_t bytes;
	MPI_Request *reqs;
	double t0 = 0;
	char *buf, ack[4] = {0};

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (argc != 5 || parse_size(argv[1], &bytes) || (iters = atoi(argv[2])) < 1 ||
	    (warmup = atoi(argv[3])) < 0 || (window = atoi(argv[4])) < 1 || size < 2) {
		if (!rank)
			fprintf(stderr, "usage: mpirun -np 2 %s SIZE ITERS WARMUP WINDOW\n",
			        argv[0]);
		MPI_Finalize();
		return 2;
	}
	buf = malloc(bytes ? bytes : 1);
	reqs = malloc((size_t)window * sizeof(*reqs));
	if (!buf || !reqs) {
		fprintf(stderr, "out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	memset(buf, 0xa5, bytes ? bytes : 1);
	if (rank < 2) {
		for (int i = 0; i < warmup + iters; i++) {
			if (rank == 0 && i == warmup)
				t0 = now_ns();
			for (int w = 0; w < window; w++) {
				if (rank == 0)
					MPI_Isend(buf, (int)bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD,
					          &reqs[w]);
				else
					MPI_Irecv(buf, (int)bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD,
					          &reqs[w]);
			}
			MPI_Waitall(window, reqs, MPI_STATUSES_IGNORE);
			if (rank == 0)
				MPI_Recv(ack, 4, MPI_BYTE, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			else
				MPI_Send(ack, 4, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
		}
	}
	if (rank == 0) {
		double t_ns = now_ns() - t0;

		printf("size=%zu window=%d iters=%d bw_GBps=%.4f\n", bytes, window, iters,
		       (double)iters * window * (double)bytes / t_ns);
	}
	free(reqs);
	free(buf);
	MPI_Finalize();
	return 0;
}
