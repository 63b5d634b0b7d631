/* Reference for scripts/bench-tcp: a bare TCP ping-pong between two
 * threads over 127.0.0.1 (TCP_NODELAY), the floor the tcp fabric's
 * latency is compared with.  Two modes:
 *   poll   non-blocking recv() retried until data arrives (the tcp fabric
 *          also busy-polls, so this is the like-for-like figure);
 *   block  blocking recv() (a typical socket program; the scheduler's
 *          wake-up is in every sample).
 * Each sample is a round trip / 2; prints the nearest-rank p50 and the min.
 *
 * usage: sock_pingpong [poll|block] [iters] [bytes]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct side {
	int fd;
	int poll;
	long iters;
	size_t bytes;
	uint64_t *rtt; /* client only */
	int rc;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int xfer(int fd, char *buf, size_t bytes, int sending, int poll)
{
	size_t done = 0;

	while (done < bytes) {
		ssize_t n = sending ? send(fd, buf + done, bytes - done, MSG_NOSIGNAL)
		                    : recv(fd, buf + done, bytes - done, poll ? MSG_DONTWAIT : 0);

		if (n > 0)
			done += (size_t)n;
		else if (n == 0)
			return -EPIPE;
		else if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
	return 0;
}

static void *run_side(void *arg)
{
	struct side *s = arg;
	char buf[65536] = {0};
	long warm = s->iters / 10 + 10;

	for (long i = 0; i < warm + s->iters && !s->rc; i++) {
		uint64_t t0 = now_ns();

		if (s->rtt) {
			s->rc = xfer(s->fd, buf, s->bytes, 1, s->poll);
			if (!s->rc)
				s->rc = xfer(s->fd, buf, s->bytes, 0, s->poll);
			if (i >= warm)
				s->rtt[i - warm] = now_ns() - t0;
		} else {
			s->rc = xfer(s->fd, buf, s->bytes, 0, s->poll);
			if (!s->rc)
				s->rc = xfer(s->fd, buf, s->bytes, 1, s->poll);
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct side cl = {0}, sv = {0};
	pthread_t tid;
	int lfd, one = 1;

	cl.poll = sv.poll = argc < 2 || strcmp(argv[1], "block");
	cl.iters = sv.iters = argc > 2 ? atol(argv[2]) : 20000;
	cl.bytes = sv.bytes = argc > 3 ? (size_t)atol(argv[3]) : 8;
	if (cl.iters < 1 || !cl.bytes || cl.bytes > 65536) {
		fprintf(stderr, "usage: sock_pingpong [poll|block] [iters] [bytes<=65536]\n");
		return 2;
	}
	cl.rtt = calloc((size_t)cl.iters, sizeof(*cl.rtt));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (!cl.rtt || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		perror("sock_pingpong: listen");
		return 1;
	}
	cl.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (cl.fd < 0 || connect(cl.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("sock_pingpong: connect");
		return 1;
	}
	sv.fd = accept(lfd, NULL, NULL);
	if (sv.fd < 0) {
		perror("sock_pingpong: accept");
		return 1;
	}
	setsockopt(cl.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sv.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (pthread_create(&tid, NULL, run_side, &sv)) {
		fprintf(stderr, "sock_pingpong: cannot start a thread\n");
		return 1;
	}
	run_side(&cl);
	if (cl.rc) /* unblock the server */
		shutdown(cl.fd, SHUT_RDWR);
	pthread_join(tid, NULL);
	if (cl.rc || sv.rc) {
		fprintf(stderr, "sock_pingpong: %s\n", strerror(-(cl.rc ? cl.rc : sv.rc)));
		return 1;
	}
	qsort(cl.rtt, (size_t)cl.iters, sizeof(*cl.rtt), cmp_u64);
	printf("lat_p50_us %.3f\nlat_min_us %.3f\n", (double)cl.rtt[(cl.iters + 1) / 2 - 1] / 2e3,
	       (double)cl.rtt[0] / 2e3);
	close(cl.fd);
	close(sv.fd);
	close(lfd);
	free(cl.rtt);
	return 0;
}
