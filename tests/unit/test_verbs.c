/* The verbs fabric on the software HCA (tests/ibdouble, loaded through
 * LD_LIBRARY_PATH by ctest): device and GID choice and refusals, describe,
 * and the static functions not yet in the fabric contract (cancel).
 *
 * verbs.c is compiled into this test so its static functions can be
 * called; its ops table is renamed so it does not clash with the one in
 * the engine library.  The conformance suite covers the data path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define fsc_fabric_verbs fsc_fabric_verbs_under_test
#include "verbs/verbs.c"
#undef fsc_fabric_verbs

#include "stderr_capture.h"

#define KIB 1024u

static const struct fsc_opt core_opts[] = {
        {"timeout", 0, FSC_OPT_TIME, "10s", "per-operation deadline", NULL, 0, 0},
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static struct fsc_config *cfg_with(const char *name, const char *value)
{
	const struct fsc_opt_group groups[] = {{"core", core_opts}, {"verbs", verbs_opts}};
	struct fsc_config *cfg = NULL;
	char err[256];

	assert_int_equal(fsc_config_defaults(&cfg, groups, 2), 0);
	if (name)
		assert_int_equal(fsc_config_set(cfg, name, value, err, sizeof(err)), 0);
	return cfg;
}

static void devices(const char *spec)
{
	assert_int_equal(setenv("IBDOUBLE_DEVICES", spec, 1), 0);
}

/* The table's defaults without a config, typed values with one. */
static void read_options__fills_typed_values_and_defaults(void **state)
{
	struct verbs d = {0}, v = {0};
	struct fsc_config *cfg = cfg_with("verbs-dev", "mlx5_1:2");
	char err[256] = "";

	(void)state;
	assert_int_equal(read_options(&d, NULL, err, sizeof(err)), 0);
	assert_string_equal(d.dev_opt, "");
	assert_int_equal(d.port_opt, 0);
	assert_int_equal(d.gid_opt, -1);
	assert_int_equal(d.mtu_opt, 0);
	assert_int_equal(d.rx_depth, 64);
	assert_int_equal(d.tx_depth, 64);
	assert_int_equal(d.eager, 8192);
	assert_int_equal(d.inline_max, 64);
	assert_int_equal(d.sl, 0);
	assert_int_equal(d.tclass, 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-gid", "3", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-if", "198.18.0.0/24", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-mtu", "1024", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-rx-depth", "128", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-tx-depth", "32", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-eager", "16K", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-inline", "128", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-sl", "3", err, sizeof(err)), 0);
	assert_int_equal(fsc_config_set(cfg, "verbs-tclass", "106", err, sizeof(err)), 0);
	assert_int_equal(read_options(&v, cfg, err, sizeof(err)), 0);
	assert_string_equal(v.dev_opt, "mlx5_1");
	assert_int_equal(v.port_opt, 2);
	assert_int_equal(v.gid_opt, 3);
	assert_string_equal(v.if_opt, "198.18.0.0/24");
	assert_int_equal(v.mtu_opt, 1024);
	assert_int_equal(v.rx_depth, 128);
	assert_int_equal(v.tx_depth, 32);
	assert_int_equal(v.eager, 16384);
	assert_int_equal(v.inline_max, 128);
	assert_int_equal(v.sl, 3);
	assert_int_equal(v.tclass, 106);
	fsc_config_free(cfg);
}

/* A port or GID index that is not a number in range is one line naming
 * the value and what is valid, at probe and at create. */
static void read_options__bad_port_or_gid_is_a_one_line_error(void **state)
{
	static const struct {
		const char *name, *value, *want;
	} bad[] = {
	        {"verbs-dev", "mlx5_0:x",
	         "invalid value 'mlx5_0:x' for --verbs-dev: expected an HCA name with an optional "
	         "port from 1 to 255, e.g. mlx5_0 or mlx5_0:1"},
	        {"verbs-dev", "mlx5_0:0",
	         "invalid value 'mlx5_0:0' for --verbs-dev: expected an HCA name with an optional "
	         "port from 1 to 255, e.g. mlx5_0 or mlx5_0:1"},
	        {"verbs-dev", ":1",
	         "invalid value ':1' for --verbs-dev: expected an HCA name with an optional "
	         "port from 1 to 255, e.g. mlx5_0 or mlx5_0:1"},
	        {"verbs-gid", "x3",
	         "invalid value 'x3' for --verbs-gid: expected auto or a GID index from 0 to 255"},
	        {"verbs-gid", "256",
	         "invalid value '256' for --verbs-gid: expected auto or a GID index from 0 to 255"},
	};

	(void)state;
	devices("ibd0");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fsc_config *cfg = cfg_with(bad[i].name, bad[i].value);
		struct fsc_fabric *f = NULL;
		char reason[256] = "";

		assert_int_equal(verbs_probe(cfg, reason, sizeof(reason)), -EINVAL);
		assert_string_equal(reason, bad[i].want);
		assert_int_equal(fsc_fabric_create(&fsc_fabric_verbs_under_test, NULL, cfg, &f),
		                 -EINVAL);
		assert_null(f);
		fsc_config_free(cfg);
	}
}

static void verbs_probe__no_active_port_names_the_ports(void **state)
{
	char reason[256];

	(void)state;
	devices("mlx5_0:eth:down,mlx5_1:ib:down");
	assert_int_equal(verbs_probe(NULL, reason, sizeof(reason)), -ENETDOWN);
	assert_string_equal(
	        reason, "no ACTIVE RDMA port (mlx5_0 port 1: PORT_DOWN, mlx5_1 port 1: PORT_DOWN)");
}

static void verbs_probe__unknown_device_lists_the_devices(void **state)
{
	struct fsc_config *cfg = cfg_with("verbs-dev", "mlx5_7:1");
	char reason[256];

	(void)state;
	devices("mlx5_0,mlx5_1");
	assert_int_equal(verbs_probe(cfg, reason, sizeof(reason)), -ENODEV);
	assert_string_equal(reason, "no RDMA device mlx5_7 port 1 (have: mlx5_0, mlx5_1)");
	fsc_config_free(cfg);
}

static void verbs_probe__skips_a_down_port_for_the_first_active(void **state)
{
	struct verbs v = {0};
	char reason[256];

	(void)state;
	devices("mlx5_0:eth:down,mlx5_1:ib:active");
	assert_int_equal(read_options(&v, NULL, reason, sizeof(reason)), 0);
	assert_int_equal(open_device(&v, reason, sizeof(reason)), 0);
	assert_string_equal(ibv_get_device_name(v.ctx->device), "mlx5_1");
	assert_string_equal(v.selected_by, "first ACTIVE port");
	assert_int_equal(select_gid(&v, reason, sizeof(reason)), 0);
	assert_string_equal(v.gid_type, "IB");
	ibv_close_device(v.ctx);
	ibv_free_device_list(v.list);
}

static void write_file(const char *dir, const char *dev, const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "mkdir -p %s/%s/device", dir, dev);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof(path), "%s/%s/device/%s", dir, dev, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Without --verbs-dev the HCA local to this rank's cores wins, even when
 * another ACTIVE one comes first. */
static void verbs_probe__prefers_the_hca_near_this_ranks_cores(void **state)
{
	char dir[] = "/tmp/fsc-verbs-sysfs-XXXXXX", reason[256], want[200], cmd[300];
	struct verbs v = {0};
	cpu_set_t mine;
	int near;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file(dir, "mlx5_0", "local_cpulist", "1000-1001\n");
	write_file(dir, "mlx5_0", "numa_node", "0\n");
	write_file(dir, "mlx5_1", "local_cpulist", "0-1\n");
	write_file(dir, "mlx5_1", "numa_node", "1\n");
	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	near = CPU_ISSET(0, &mine) + CPU_ISSET(1, &mine);
	assert_true(near > 0);
	setenv("IBDOUBLE_SYSFS", dir, 1);
	devices("mlx5_0,mlx5_1");
	assert_int_equal(read_options(&v, NULL, reason, sizeof(reason)), 0);
	assert_int_equal(open_device(&v, reason, sizeof(reason)), 0);
	assert_string_equal(ibv_get_device_name(v.ctx->device), "mlx5_1");
	snprintf(want, sizeof(want),
	         "nearest to this rank's cores (%d of them local to mlx5_1, NUMA node 1)", near);
	assert_string_equal(v.selected_by, want);
	ibv_close_device(v.ctx);
	ibv_free_device_list(v.list);
	unsetenv("IBDOUBLE_SYSFS");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void verbs_probe__refuses_when_no_gid_is_on_the_interface(void **state)
{
	struct fsc_config *cfg = cfg_with("verbs-if", "198.19.0.0/16");
	char reason[256];

	(void)state;
	devices("ibd0");
	assert_int_equal(verbs_probe(cfg, reason, sizeof(reason)), -EADDRNOTAVAIL);
	assert_string_equal(reason, "no RoCE v2 IPv4 GID on ibd0 port 1 for 198.19.0.0/16 "
	                            "(IPv4 GIDs: 2: 127.0.0.1 v1, 3: 127.0.0.1 v2)");
	fsc_config_free(cfg);
}

static void verbs_probe__explicit_gid_index(void **state)
{
	struct fsc_config *cfg = cfg_with("verbs-gid", "2");
	struct verbs v = {0};
	char reason[256];

	(void)state;
	devices("ibd0");
	assert_int_equal(read_options(&v, cfg, reason, sizeof(reason)), 0);
	assert_int_equal(open_device(&v, reason, sizeof(reason)), 0);
	assert_int_equal(select_gid(&v, reason, sizeof(reason)), 0);
	assert_int_equal(v.gid_index, 2);
	assert_string_equal(v.gid_type, "RoCE v1");
	ibv_close_device(v.ctx);
	ibv_free_device_list(v.list);
	fsc_config_free(cfg);
}

/* ---- two connected ranks on the local bootstrap */

struct two {
	int (*body)(struct fsc_fabric *f, struct fsc_boot *b, struct two *t);
	const struct fsc_config *cfg; /* NULL: defaults */
	int rc[2];
	json_t *info;
	char want[512];     /* the error line rank 0 expects (error paths) */
	const char *env[3]; /* NAME=VALUE for the double, set for the run only */
};

static int run_rank(struct fsc_boot *b, void *arg)
{
	struct two *t = arg;
	struct fsc_fabric *f = NULL;
	int rc;

	rc = fsc_fabric_create(&fsc_fabric_verbs_under_test, b, t->cfg, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	if (!rc)
		rc = t->body(f, b, t);
	t->rc[b->rank] = rc;
	fsc_boot_barrier(b);
	fsc_fabric_destroy(f);
	return 0;
}

static void run_two(struct two *t)
{
	devices("ibd0:eth:active:4096:4x_hdr");
	assert_int_equal(fsc_boot_local_run(2, NULL, run_rank, t, NULL), 0);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], 0);
}

/* A receive withdrawn before anything matched it is never written, and it
 * poisons its peer: the peer's late message is dropped (never delivered
 * to a later receive as if it were that one's) and new operations with it
 * fail at once. */
static int body_cancel_recv(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	char a[16] = "untouched", c[16] = "";
	struct fsc_req r1, r2;
	int rc;

	(void)t;
	if (b->rank == 1) {
		if ((rc = fsc_fabric_irecv(f, 0, a, 6, 5, &r1)))
			return rc;
		if ((rc = verbs_cancel(f, &r1)))
			return rc;
		if (!r1.done || V(&r1)->status != -ECANCELED)
			return -EPROTO;
		fsc_boot_barrier(b);
		fsc_boot_barrier(b); /* the late message has been sent */
		for (int i = 0; i < 1000; i++)
			if ((rc = fsc_fabric_progress(f)))
				return rc;
		if (fsc_fabric_irecv(f, 0, c, 6, 5, &r2) != -EIO)
			return -EPROTO;
		return strcmp(a, "untouched") || c[0] ? -EPROTO : 0;
	}
	fsc_boot_barrier(b);
	rc = fsc_fabric_send(f, 1, "hello", 6, 5);
	fsc_boot_barrier(b);
	return rc;
}

static void verbs_cancel__unmatched_receive_is_never_written(void **state)
{
	struct two t = {.body = body_cancel_recv};

	(void)state;
	run_two(&t);
}

/* A rendezvous send announced to the peer cannot be withdrawn (the peer
 * may be reading it); a send still queued behind it can. */
static int body_cancel_rndv(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	static char big[2][64 * KIB];
	struct fsc_req s1, r;
	int rc;

	(void)t;
	if (b->rank == 0) {
		memset(big[0], 0x3c, sizeof(big[0]));
		if ((rc = fsc_fabric_isend(f, 1, big[0], sizeof(big[0]), 9, &s1)))
			return rc;
		/* fill the credits with eager sends so the next one queues */
		int queued = 0;

		for (int i = 0; i < 64 && !queued; i++) {
			struct fsc_req e;

			if ((rc = fsc_fabric_isend(f, 1, "x", 1, 100 + i, &e)))
				return rc;
			if (V(&e)->state == VS_QUEUED) {
				if ((rc = verbs_cancel(f, &e)) || !e.done)
					return rc ? rc : -EPROTO;
				queued = 1;
			}
		}
		if (!queued || V(&s1)->state != VS_RTS_SENT)
			return -EPROTO;
		if (verbs_cancel(f, &s1) != -EBUSY)
			return -EPROTO;
		fsc_boot_barrier(b);
		return fsc_fabric_wait(f, &s1, 1);
	}
	fsc_boot_barrier(b);
	if ((rc = fsc_fabric_irecv(f, 0, big[1], sizeof(big[1]), 9, &r)) ||
	    (rc = fsc_fabric_wait(f, &r, 1)))
		return rc;
	return big[1][sizeof(big[1]) - 1] == 0x3c ? 0 : -EPROTO;
}

static void verbs_cancel__announced_rendezvous_send_is_busy(void **state)
{
	struct two t = {.body = body_cancel_rndv};

	(void)state;
	run_two(&t);
}

/* One-sided transfers through the contract: a silent put and a notified
 * one (the notification arrives as a zero-byte message after both),
 * a get, and a zero-byte notified put into an empty window (no key). */
static int body_put_get(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	char *buf = fsc_fabric_buf_alloc(f, 8192), *src = fsc_fabric_buf_alloc(f, 256);
	struct fsc_win *w = NULL, *empty = NULL;
	struct fsc_req r[3];
	int rc;

	(void)t;
	if (!buf || !src)
		return -ENOMEM;
	if (b->rank == 1)
		memcpy(buf + 4096, "from one", 9);
	if ((rc = fsc_fabric_win_create(f, buf, 8192, &w)) ||
	    (rc = fsc_fabric_win_create(f, NULL, 0, &empty)))
		goto out;
	if (b->rank == 0) {
		memset(src, 0x77, 100);
		memcpy(src + 100, "put by zero", 12);
		if ((rc = fsc_fabric_put(f, w, 1, 0, src, 100, -1, &r[0])) ||
		    (rc = fsc_fabric_put(f, w, 1, 100, src + 100, 12, 7, &r[1])) ||
		    (rc = fsc_fabric_put(f, empty, 1, 0, NULL, 0, 8, &r[2])) ||
		    (rc = fsc_fabric_wait(f, r, 3)))
			goto out;
		if ((rc = fsc_fabric_get(f, w, 1, 4096, src, 9, &r[0])) ||
		    (rc = fsc_fabric_wait(f, r, 1)))
			goto out;
		if (strcmp(src, "from one"))
			rc = -EPROTO;
	} else {
		if ((rc = fsc_fabric_irecv(f, 0, NULL, 0, 7, &r[0])) ||
		    (rc = fsc_fabric_irecv(f, 0, NULL, 0, 8, &r[1])) ||
		    (rc = fsc_fabric_wait(f, r, 2)))
			goto out;
		if ((unsigned char)buf[0] != 0x77 || (unsigned char)buf[99] != 0x77 ||
		    strcmp(buf + 100, "put by zero"))
			rc = -EPROTO;
	}
out:
	if (w)
		rc = fsc_fabric_win_free(w) ? (rc ? rc : -EIO) : rc;
	if (empty)
		fsc_fabric_win_free(empty);
	fsc_fabric_buf_free(f, buf);
	fsc_fabric_buf_free(f, src);
	return rc;
}

static void verbs_put__notified_put_and_get_through_windows(void **state)
{
	struct two t = {.body = body_put_get};

	(void)state;
	run_two(&t);
}

/* ---- error paths: one line naming the peer, the request fails */

/* Run t on two ranks with stderr captured; the log must hold t->want. */
static void run_two_expecting(struct two *t)
{
	char *log;

	setenv("IBDOUBLE_QUIET", "1", 1);
	for (int i = 0; i < 3 && t->env[i]; i++)
		assert_int_equal(putenv((char *)t->env[i]), 0);
	capture_begin();
	devices("ibd0:eth:active:4096:4x_hdr");
	fsc_boot_local_run(2, NULL, run_rank, t, NULL);
	log = capture_end();
	for (int i = 0; i < 3 && t->env[i]; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(t->env[i], "="), t->env[i]);
		unsetenv(name);
	}
	if (!strstr(log, t->want))
		print_error("expected the line\n  %s\nin the log:\n%s\n", t->want, log);
	assert_non_null(strstr(log, t->want));
	free(log);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], 0);
}

/* A one-sided request posted through the fabric's entries directly (past
 * the wrappers' range checks): its header as the wrapper fills it. */
static void rma_req(struct fsc_req *r, int peer, size_t bytes, int tag, int rma)
{
	memset(r, 0, sizeof(*r));
	r->peer = peer;
	r->tag = tag;
	r->bytes = bytes;
	r->is_recv = rma == FSC_REQ_GET;
	r->rma = rma;
}

/* The prefix of rank 0's error line about its QP to rank 1. */
static int want_qp_line(struct fsc_fabric *f, struct two *t, const char *status, int code)
{
	struct verbs *v = f->impl;

	return snprintf(t->want, sizeof(t->want),
	                "verbs: rank 0: QP 0x%x to rank 1 (host %s, QP 0x%x): %s (status %d, "
	                "vendor error 0x%x)",
	                v->peers[1].qp->qp_num, host_of(f, 1), v->peers[1].rqpn, status, code,
	                0x100 + code);
}

/* The link goes down under traffic (the double's IBDOUBLE_DOWN_AFTER): the
 * first message arrives, the next request is lost until the retry counter
 * runs out, and the line says the port is DOWN. */
static int body_port_down(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	static char big[2][16 * KIB];
	char one[1];
	struct fsc_req r;
	int rc;

	if (b->rank == 1) {
		rc = fsc_fabric_recv(f, 0, one, 1, 1);
		fsc_boot_barrier(b);
		return rc;
	}
	if ((rc = fsc_fabric_send(f, 1, "a", 1, 1)))
		return rc;
	fsc_boot_barrier(b); /* delivered: the next request finds the port DOWN */
	want_qp_line(f, t, "transport retry counter exceeded", IBV_WC_RETRY_EXC_ERR);
	strcat(t->want, "; ibd0 port 1 is PORT_DOWN");
	/* a rendezvous send completes only when the peer answers */
	if ((rc = fsc_fabric_isend(f, 1, big[0], sizeof(big[0]), 2, &r)))
		return rc;
	return fsc_fabric_wait(f, &r, 1) == -EIO ? 0 : -EPROTO;
}

static void verbs_test__port_down_under_traffic_names_the_peer_and_the_port(void **state)
{
	struct fsc_config *cfg = cfg_with("verbs-qp-timeout", "10");
	struct two t = {.body = body_port_down,
	                .env = {"IBDOUBLE_DOWN_AFTER=1", "IBDOUBLE_MIN_TIMEOUT_MS=1"}};
	char err[256];

	(void)state;
	assert_int_equal(fsc_config_set(cfg, "verbs-retry", "1", err, sizeof(err)), 0);
	t.cfg = cfg;
	run_two_expecting(&t);
	fsc_config_free(cfg);
}

/* A put past the end of the peer's window (its MR) or a get through a key
 * the peer deregistered: remote access error, one line naming the peer
 * and the transfer, the request fails with -EIO and so does the peer. */
static int body_rem_access(struct fsc_fabric *f, struct fsc_boot *b, struct two *t, int dereg)
{
	char *buf = fsc_fabric_buf_alloc(f, 4096), *src = fsc_fabric_buf_alloc(f, 64);
	void *win = NULL;
	struct vwin *w;
	struct fsc_req r;
	int rc;

	if (!buf || !src)
		return -ENOMEM;
	if ((rc = verbs_win_create(f, buf, 4096, &win)))
		goto out;
	w = win;
	if (b->rank == 1 && dereg) {
		ibv_dereg_mr(w->mr);
		w->mr = NULL;
	}
	fsc_boot_barrier(b);
	if (b->rank == 0) {
		size_t off = dereg ? 0 : 4096;

		want_qp_line(f, t, "remote access error", IBV_WC_REM_ACCESS_ERR);
		snprintf(t->want + strlen(t->want), sizeof(t->want) - strlen(t->want),
		         " on an %s of 64 B at 0x%" PRIx64 " rkey 0x%x",
		         dereg ? "RDMA read (get)" : "RDMA write (put)", w->raddr[1] + off,
		         w->rkey[1]);
		rma_req(&r, 1, 64, -1, dereg ? FSC_REQ_GET : FSC_REQ_PUT);
		rc = dereg ? verbs_get(f, win, 1, off, src, 64, &r)
		           : verbs_put(f, win, 1, off, src, 64, -1, &r);
		if (!rc)
			rc = fsc_fabric_wait(f, &r, 1) == -EIO ? 0 : -EPROTO;
		/* the peer failed: what follows fails at once */
		if (!rc && fsc_fabric_isend(f, 1, src, 1, 1, &r) != -EIO)
			rc = -EPROTO;
	}
	fsc_boot_barrier(b);
	verbs_win_free(f, win);
out:
	fsc_fabric_buf_free(f, buf);
	fsc_fabric_buf_free(f, src);
	return rc;
}

static int body_put_past_window(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	return body_rem_access(f, b, t, 0);
}

static int body_get_deregistered(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	return body_rem_access(f, b, t, 1);
}

static void verbs_put__past_the_window_is_a_remote_access_error(void **state)
{
	struct two t = {.body = body_put_past_window};

	(void)state;
	run_two_expecting(&t);
}

static void verbs_get__through_a_deregistered_key_is_a_remote_access_error(void **state)
{
	struct two t = {.body = body_get_deregistered};

	(void)state;
	run_two_expecting(&t);
}

/* RNR: rank 1 has 4 receives posted and is not progressing; rank 0, as if
 * it had credits for more, sends 5 notifications: the 5th finds no
 * receive, and with --verbs-rnr-retry 0 the QP fails at once. */
static int body_rnr(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	struct verbs *v = f->impl;
	struct fsc_req r[5];
	void *win = NULL;
	int rc;

	if ((rc = verbs_win_create(f, NULL, 0, &win)))
		return rc;
	if (b->rank == 1) {
		fsc_boot_barrier(b); /* not progressing: no receive is re-posted */
		verbs_win_free(f, win);
		return 0;
	}
	want_qp_line(f, t, "RNR retry counter exceeded", IBV_WC_RNR_RETRY_EXC_ERR);
	strcat(t->want, " on an RDMA write with immediate (notified put) of 0 B");
	v->peers[1].credits = 100; /* stands in for a credit count gone wrong */
	for (int i = 0; i < 5 && !rc; i++) {
		rma_req(&r[i], 1, 0, 7, FSC_REQ_PUT);
		rc = verbs_put(f, win, 1, 0, NULL, 0, 7, &r[i]);
	}
	if (!rc)
		rc = fsc_fabric_wait(f, r, 5) == -EIO ? 0 : -EPROTO;
	fsc_boot_barrier(b);
	verbs_win_free(f, win);
	return rc;
}

static void verbs_put__no_receive_posted_exceeds_the_rnr_retries(void **state)
{
	struct fsc_config *cfg = cfg_with("verbs-rnr-retry", "0");
	struct two t = {.body = body_rnr};
	char err[256];

	(void)state;
	assert_int_equal(fsc_config_set(cfg, "verbs-rx-depth", "4", err, sizeof(err)), 0);
	t.cfg = cfg;
	run_two_expecting(&t);
	fsc_config_free(cfg);
}

/* Every request is lost (IBDOUBLE_DROP_EVERY=1) and the transport timeout
 * is far away: a get waits out --timeout, the line names the peer, and
 * the get, which the HCA still holds, cannot be withdrawn: the fabric is
 * abandoned rather than left to write into the buffer later. */
static int body_timeout(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	/* static: the abandoned fabric's HCA may hold them until destroy */
	static char dst[64], buf[2][4096];
	void *win = NULL;
	struct fsc_req r;
	int rc;

	if ((rc = verbs_win_create(f, buf[b->rank], sizeof(buf[0]), &win)))
		return rc;
	if (b->rank == 0) {
		f->timeout_ns = 200000000ull;
		snprintf(t->want, sizeof(t->want),
		         "fabric verbs: get of 64 B from rank 1 (host %s, tag -1) did not complete "
		         "within 0.2 s",
		         host_of(f, 1));
		rma_req(&r, 1, 64, -1, FSC_REQ_GET);
		rc = verbs_get(f, win, 1, 0, dst, 64, &r);
		if (!rc)
			rc = fsc_fabric_wait(f, &r, 1) == -ETIMEDOUT ? 0 : -EPROTO;
		if (!rc && (r.done != FSC_REQ_WITHDRAWN || !f->abandoned))
			rc = -EPROTO;
	}
	fsc_boot_barrier(b);
	verbs_win_free(f, win);
	return rc;
}

static void verbs_get__that_never_completes_times_out_naming_the_peer(void **state)
{
	struct two t = {.body = body_timeout, .env = {"IBDOUBLE_DROP_EVERY=1"}};

	(void)state;
	run_two_expecting(&t);
}

static int body_describe(struct fsc_fabric *f, struct fsc_boot *b, struct two *t)
{
	if (b->rank == 0) {
		t->info = json_object();
		return fsc_fabric_describe(f, t->info);
	}
	return 0;
}

static void verbs_describe__records_device_port_gid_and_rate(void **state)
{
	struct two t = {.body = body_describe};

	(void)state;
	run_two(&t);
	assert_string_equal(json_string_value(json_object_get(t.info, "device")), "ibd0");
	assert_string_equal(json_string_value(json_object_get(t.info, "selected_by")),
	                    "first ACTIVE port");
	assert_string_equal(json_string_value(json_object_get(t.info, "link_layer")), "Ethernet");
	assert_string_equal(json_string_value(json_object_get(t.info, "gid_type")), "RoCE v2");
	assert_string_equal(json_string_value(json_object_get(t.info, "gid")), "::ffff:127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(t.info, "rate")),
	                    "4X HDR = 200 Gb/s");
	assert_int_equal(json_integer_value(json_object_get(t.info, "path_mtu")), 4096);
	assert_int_equal(json_integer_value(json_object_get(t.info, "qp_timeout")), 18);
	assert_int_equal(json_integer_value(json_object_get(t.info, "retry_cnt")), 7);
	assert_int_equal(json_integer_value(json_object_get(t.info, "rnr_retry")), 7);
	assert_string_equal(json_string_value(json_object_get(t.info, "firmware")),
	                    "1.0.0-ibdouble");
	json_decref(t.info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(read_options__fills_typed_values_and_defaults),
	        cmocka_unit_test(read_options__bad_port_or_gid_is_a_one_line_error),
	        cmocka_unit_test(verbs_probe__no_active_port_names_the_ports),
	        cmocka_unit_test(verbs_probe__unknown_device_lists_the_devices),
	        cmocka_unit_test(verbs_probe__skips_a_down_port_for_the_first_active),
	        cmocka_unit_test(verbs_probe__prefers_the_hca_near_this_ranks_cores),
	        cmocka_unit_test(verbs_probe__refuses_when_no_gid_is_on_the_interface),
	        cmocka_unit_test(verbs_probe__explicit_gid_index),
	        cmocka_unit_test(verbs_cancel__unmatched_receive_is_never_written),
	        cmocka_unit_test(verbs_cancel__announced_rendezvous_send_is_busy),
	        cmocka_unit_test(verbs_put__notified_put_and_get_through_windows),
	        cmocka_unit_test(verbs_test__port_down_under_traffic_names_the_peer_and_the_port),
	        cmocka_unit_test(verbs_put__past_the_window_is_a_remote_access_error),
	        cmocka_unit_test(verbs_get__through_a_deregistered_key_is_a_remote_access_error),
	        cmocka_unit_test(verbs_put__no_receive_posted_exceeds_the_rnr_retries),
	        cmocka_unit_test(verbs_get__that_never_completes_times_out_naming_the_peer),
	        cmocka_unit_test(verbs_describe__records_device_port_gid_and_rate),
	};

	setenv("IBDOUBLE_QUIET", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
