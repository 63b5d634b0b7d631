/* ref_nccl: a bare NCCL all-reduce loop on one GPU (a one-rank
 * communicator), timed as fabscope's nccl fabric times one operation: the
 * host clock around the call and the stream synchronisation.  The
 * reference for the nccl fabric's harness overhead (scripts/gpu-check).
 *
 *   ref_nccl MIN MAX ITERS WARMUP
 *
 * Prints one line per size: "bytes median_us" (float32 sum, out of place).
 * Built by scripts/gpu-check against the real CUDA and NCCL, not by CMake.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cuda_runtime.h>
#include <nccl.h>

#define CHECK_CUDA(x)                                                                              \
	do {                                                                                       \
		cudaError_t e_ = (x);                                                              \
		if (e_ != cudaSuccess) {                                                           \
			fprintf(stderr, "ref_nccl: %s: %s\n", #x, cudaGetErrorString(e_));         \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)
#define CHECK_NCCL(x)                                                                              \
	do {                                                                                       \
		ncclResult_t r_ = (x);                                                             \
		if (r_ != ncclSuccess) {                                                           \
			fprintf(stderr, "ref_nccl: %s: %s\n", #x, ncclGetErrorString(r_));         \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	size_t min, max;
	long iters, warmup;
	ncclUniqueId id;
	ncclComm_t comm;
	cudaStream_t s;
	void *sb, *rb;
	double *t;

	if (argc != 5 || (min = strtoull(argv[1], 0, 0)) < 4 ||
	    (max = strtoull(argv[2], 0, 0)) < min || (iters = strtol(argv[3], 0, 0)) < 1 ||
	    (warmup = strtol(argv[4], 0, 0)) < 0) {
		fprintf(stderr,
		        "usage: ref_nccl MIN_BYTES(>=4) MAX_BYTES ITERS(>=1) WARMUP(>=0)\n");
		return 2;
	}
	t = calloc((size_t)iters, sizeof(*t));
	if (!t)
		return 1;
	CHECK_CUDA(cudaSetDevice(0));
	CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CHECK_CUDA(cudaMalloc(&sb, max));
	CHECK_CUDA(cudaMalloc(&rb, max));
	CHECK_CUDA(cudaMemset(sb, 0, max));
	CHECK_NCCL(ncclGetUniqueId(&id));
	CHECK_NCCL(ncclCommInitRank(&comm, 1, id, 0));
	for (size_t b = min; b <= max; b *= 2) {
		size_t count = b / 4;

		for (long i = 0; i < warmup + iters; i++) {
			double t0 = now_us();

			CHECK_NCCL(ncclAllReduce(sb, rb, count, ncclFloat32, ncclSum, comm, s));
			CHECK_CUDA(cudaStreamSynchronize(s));
			if (i >= warmup)
				t[i - warmup] = now_us() - t0;
		}
		qsort(t, (size_t)iters, sizeof(*t), cmp);
		printf("%zu %.3f\n", b, t[iters / 2]);
	}
	ncclCommDestroy(comm);
	cudaFree(sb);
	cudaFree(rb);
	cudaStreamDestroy(s);
	free(t);
	return 0;
}
