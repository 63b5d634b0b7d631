/* The fields of a result record (results/SCHEMA.md) that `fabscope accept`
 * judges on, typed.  fsc_accept_record_read is the one place that reads
 * them from the JSON of a record; the checks (accept_judge.c) read fields.
 * Strings and JSON handles point into the record: they live as long as
 * it does. */
#ifndef FSC_ACCEPT_RECORD_H
#define FSC_ACCEPT_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A record's "status". */
enum fsc_record_status {
	FSC_REC_OK,
	FSC_REC_WRONG,   /* measured, with wrong data */
	FSC_REC_ANOMALY, /* measured, with a confirmed anomaly */
	FSC_REC_SKIPPED, /* not run: the fabric or pattern is not usable here */
	FSC_REC_ERROR,   /* failed, or not run after a failure */
	FSC_REC_RUNNING, /* streamed before it finished: the point never did */
	FSC_REC_OTHER,   /* absent or unknown */
};

/* One entry of a pairs record's "anomalies". */
struct fsc_accept_anomaly {
	const char *kind;      /* "node" or "link" ("" when absent) */
	const char *host_a;    /* hosts[0]: the node, or a link's source; NULL when absent */
	const char *host_b;    /* hosts[1]: a link's destination; NULL when absent */
	const char *direction; /* "one-way", "both" ("" when absent) */
	const char *metric;    /* "bandwidth" or "latency" ("" when absent) */
	const char *text;      /* "" when absent */
};

struct fsc_accept_record {
	enum fsc_record_status status;
	const char *pattern, *impl; /* "" when absent */
	const char *dtype;          /* NULL when the record has none */
	const char *reason;         /* NULL when the record has none */
	uint64_t bytes;             /* 0 when absent */
	/* NAN when absent: */
	double p50_us, p99_us;         /* time_us.p50, time_us.p99 */
	double algbw_GBps, busbw_GBps; /* algbw_GBps, busbw_GBps */
	double wrong;                  /* wrong elements */
	double bw_median_GBps;         /* bw_spread.median (pairs) */
	double lat_median_us;          /* lat_spread.median (pairs) */
	size_t nanomalies;             /* entries of "anomalies" */
	const json_t *anomalies;       /* read with fsc_accept_anomaly_read */
	/* A pairs matrix ([src][dst], host labels); NULL when absent. */
	const json_t *labels, *bw_GBps, *lat_us;
};

/* Fill r from the JSON record rec (NULL: every field absent). */
void fsc_accept_record_read(const json_t *rec, struct fsc_accept_record *r);

/* Was the point measured (possibly with wrong data or an anomaly)? */
int fsc_accept_record_measured(const struct fsc_accept_record *r);

/* Anomaly i of r (0 <= i < r->nanomalies). */
void fsc_accept_anomaly_read(const struct fsc_accept_record *r, size_t i,
                             struct fsc_accept_anomaly *a);

/* Cell [i][j] of a matrix (r->bw_GBps, r->lat_us): NAN when it is no
 * number (the diagonal is null); the side of the matrix; label i (NULL
 * when absent). */
double fsc_accept_matrix_cell(const json_t *m, size_t i, size_t j);
size_t fsc_accept_matrix_size(const json_t *m);
const char *fsc_accept_matrix_label(const struct fsc_accept_record *r, size_t i);

#endif
