/* bench_reduce: throughput of the reduction kernels (src/reduce.c) next to
 * memcpy() on the same buffers.
 *
 * For each buffer size and every dtype x op it times memcpy(inout, in, bytes)
 * and fsc_reduce(inout, in), each as the best of several samples (-r); a
 * sample repeats the call enough times to last at least -t milliseconds.  GB/s counts the
 * bytes of `in` per call (1e9 B/s); the ratio is kernel GB/s over memcpy
 * GB/s.  A kernel reads two streams and writes one where memcpy reads one
 * and writes one, so at memory-bound sizes a ratio near 1 means the kernel
 * runs at the memory's speed.
 *
 * usage: bench_reduce [-r repeats] [-t min_ms] [-s bytes]...
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"
#include "reduce.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct bench {
	void *inout, *in;
	size_t bytes;
	int repeats;
	uint64_t min_ns;
};

enum kind { KIND_MEMCPY, KIND_REDUCE };

static void run_once(struct bench *b, enum kind k, enum fsc_dtype dt, enum fsc_redop op,
                     uint64_t reps)
{
	size_t count = k == KIND_REDUCE ? b->bytes / fsc_dtype_size(dt) : 0;

	for (uint64_t r = 0; r < reps; r++) {
		if (k == KIND_MEMCPY)
			memcpy(b->inout, b->in, b->bytes);
		else
			fsc_reduce(b->inout, b->in, count, dt, op);
		/* Keep the compiler from merging repeated calls. */
		__asm__ __volatile__("" ::: "memory");
	}
}

/* Calls per sample so that a sample lasts at least min_ns (after a warm-up
 * call that also touches every page). */
static uint64_t calibrate(struct bench *b, enum kind k, enum fsc_dtype dt, enum fsc_redop op)
{
	uint64_t t0, t1;

	run_once(b, k, dt, op, 1);
	t0 = now_ns();
	run_once(b, k, dt, op, 1);
	t1 = now_ns();
	return t1 > t0 && t1 - t0 < b->min_ns ? b->min_ns / (t1 - t0) + 1 : 1;
}

static double sample_ns(struct bench *b, enum kind k, enum fsc_dtype dt, enum fsc_redop op,
                        uint64_t reps)
{
	uint64_t t0 = now_ns();

	run_once(b, k, dt, op, reps);
	return (double)(now_ns() - t0) / (double)reps;
}

/* Best time per call of memcpy and of the kernel.  Their samples alternate
 * so that both see the same machine: on a shared machine the load changes
 * from second to second, and the ratio is the figure that matters. */
static void time_pair(struct bench *b, enum fsc_dtype dt, enum fsc_redop op, double *copy_ns,
                      double *red_ns)
{
	uint64_t reps_copy = calibrate(b, KIND_MEMCPY, dt, op);
	uint64_t reps_red = calibrate(b, KIND_REDUCE, dt, op);

	for (int s = 0; s < b->repeats; s++) {
		double c = sample_ns(b, KIND_MEMCPY, dt, op, reps_copy);
		double r = sample_ns(b, KIND_REDUCE, dt, op, reps_red);

		if (s == 0 || c < *copy_ns)
			*copy_ns = c;
		if (s == 0 || r < *red_ns)
			*red_ns = r;
	}
}

static void bench_size(struct bench *b)
{
	for (int d = 0; d < FSC_DTYPE_COUNT; d++) {
		enum fsc_dtype dt = (enum fsc_dtype)d;
		size_t count = b->bytes / fsc_dtype_size(dt);

		for (int o = 0; o < FSC_REDOP_COUNT; o++) {
			enum fsc_redop op = (enum fsc_redop)o;
			double copy_ns = 0, red_ns = 0, copy_gbs, red_gbs;

			/* Small integers: repeated sums grow slowly and never
			 * reach subnormals, which would slow float kernels. */
			fsc_data_fill(b->in, count, dt, 1, 1, 0, 0);
			fsc_data_fill(b->inout, count, dt, 1, 0, 0, 0);
			time_pair(b, dt, op, &copy_ns, &red_ns);
			copy_gbs = (double)b->bytes / copy_ns;
			red_gbs = (double)b->bytes / red_ns;
			printf("%12zu  %-8s  %-4s  %10.2f  %8.2f  %10.2f  %8.2f  %6.3f\n", b->bytes,
			       fsc_dtype_name(dt), fsc_redop_name(op), red_ns / 1e3, red_gbs,
			       copy_ns / 1e3, copy_gbs, red_gbs / copy_gbs);
			fflush(stdout);
		}
	}
}

int main(int argc, char **argv)
{
	static const size_t default_sizes[] = {64u << 10, 1u << 20, 16u << 20, 64u << 20};
	size_t sizes[32];
	int nsizes = 0, repeats = 15, c;
	double min_ms = 2;
	size_t max_bytes = 0;
	struct bench b;

	while ((c = getopt(argc, argv, "r:t:s:h")) != -1) {
		switch (c) {
		case 'r': repeats = atoi(optarg); break;
		case 't': min_ms = atof(optarg); break;
		case 's':
			if (nsizes == 32) {
				fprintf(stderr, "bench_reduce: at most 32 sizes\n");
				return 2;
			}
			sizes[nsizes++] = strtoull(optarg, 0, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-r repeats] [-t min_ms] [-s bytes]...\n",
			        argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	if (repeats < 1 || min_ms < 0) {
		fprintf(stderr, "bench_reduce: need -r >= 1 and -t >= 0\n");
		return 2;
	}
	if (!nsizes)
		for (; nsizes < 4; nsizes++)
			sizes[nsizes] = default_sizes[nsizes];
	for (int i = 0; i < nsizes; i++) {
		/* Whole elements of every type (8 bytes), page-rounded
		 * buffers. */
		sizes[i] -= sizes[i] % 8;
		if (!sizes[i]) {
			fprintf(stderr, "bench_reduce: sizes must be at least 8 bytes\n");
			return 2;
		}
		if (sizes[i] > max_bytes)
			max_bytes = sizes[i];
	}
	max_bytes = (max_bytes + 4095) & ~(size_t)4095;
	b.repeats = repeats;
	b.min_ns = (uint64_t)(min_ms * 1e6);
	b.inout = aligned_alloc(4096, max_bytes);
	b.in = aligned_alloc(4096, max_bytes);
	if (!b.inout || !b.in) {
		fprintf(stderr, "bench_reduce: out of memory for 2 x %zu bytes\n", max_bytes);
		free(b.inout);
		free(b.in);
		return 2;
	}

	printf("# bench_reduce: fsc_reduce(inout, in) vs memcpy(inout, in) on the same buffers\n");
	printf("# GB/s = bytes of `in` per call / best time per call (1e9 B/s); best of %d"
	       " samples of >= %.1f ms,\n# memcpy and kernel samples alternating\n",
	       repeats, min_ms);
	printf("# ratio = kernel GB/s / memcpy GB/s; a kernel reads 2 streams and writes 1,"
	       " memcpy reads 1 and writes 1\n");
	printf("# compiler: gcc-compatible %s\n", __VERSION__);
	printf("# %10s  %-8s  %-4s  %10s  %8s  %10s  %8s  %6s\n", "bytes", "dtype", "op", "time_us",
	       "GB/s", "memcpy_us", "memcpy", "ratio");
	for (int i = 0; i < nsizes; i++) {
		b.bytes = sizes[i];
		bench_size(&b);
	}
	free(b.inout);
	free(b.in);
	return 0;
}
