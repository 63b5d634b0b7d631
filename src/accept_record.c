/* The typed fields of a result record that accept judges on: see
 * accept_record.h. */
#include "accept_record.h"

#include <math.h>
#include <string.h>

#include "results.h"

static const struct {
	const char *word;
	enum fsc_record_status status;
} statuses[] = {
        {"ok", FSC_REC_OK},           {"wrong", FSC_REC_WRONG}, {"anomaly", FSC_REC_ANOMALY},
        {"skipped", FSC_REC_SKIPPED}, {"error", FSC_REC_ERROR}, {"running", FSC_REC_RUNNING},
};

void fsc_accept_record_read(const json_t *rec, struct fsc_accept_record *r)
{
	const char *st = fsc_json_str(rec, "status", "");
	const json_t *time_us = json_object_get(rec, "time_us");
	const json_t *an = json_object_get(rec, "anomalies");
	double bytes = fsc_json_num(rec, "bytes");

	memset(r, 0, sizeof(*r));
	r->status = FSC_REC_OTHER;
	for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++)
		if (!strcmp(st, statuses[k].word))
			r->status = statuses[k].status;
	r->pattern = fsc_json_str(rec, "pattern", "");
	r->impl = fsc_json_str(rec, "impl", "");
	r->dtype = json_object_get(rec, "dtype") ? fsc_json_str(rec, "dtype", "") : 0;
	r->reason = json_string_value(json_object_get(rec, "reason"));
	r->bytes = isnan(bytes) || bytes < 0 ? 0 : (uint64_t)bytes;
	r->p50_us = fsc_json_num(time_us, "p50");
	r->p99_us = fsc_json_num(time_us, "p99");
	r->algbw_GBps = fsc_json_num(rec, "algbw_GBps");
	r->busbw_GBps = fsc_json_num(rec, "busbw_GBps");
	r->wrong = fsc_json_num(rec, "wrong");
	r->bw_median_GBps = fsc_json_num(json_object_get(rec, "bw_spread"), "median");
	r->lat_median_us = fsc_json_num(json_object_get(rec, "lat_spread"), "median");
	if (json_is_array(an)) {
		r->anomalies = an;
		r->nanomalies = json_array_size(an);
	}
	r->labels = json_object_get(rec, "labels");
	r->bw_GBps = json_object_get(rec, "bw_GBps");
	r->lat_us = json_object_get(rec, "lat_us");
}

int fsc_accept_record_measured(const struct fsc_accept_record *r)
{
	return r->status == FSC_REC_OK || r->status == FSC_REC_WRONG ||
	       r->status == FSC_REC_ANOMALY;
}

void fsc_accept_anomaly_read(const struct fsc_accept_record *r, size_t i,
                             struct fsc_accept_anomaly *a)
{
	const json_t *an = json_array_get(r->anomalies, i);
	const json_t *hosts = json_object_get(an, "hosts");

	a->kind = fsc_json_str(an, "kind", "");
	a->host_a = json_string_value(json_array_get(hosts, 0));
	a->host_b = json_string_value(json_array_get(hosts, 1));
	a->direction = fsc_json_str(an, "direction", "");
	a->metric = fsc_json_str(an, "metric", "");
	a->text = fsc_json_str(an, "text", "");
}

double fsc_accept_matrix_cell(const json_t *m, size_t i, size_t j)
{
	const json_t *x = json_array_get(json_array_get(m, i), j);

	return json_is_number(x) ? json_number_value(x) : NAN;
}

size_t fsc_accept_matrix_size(const json_t *m)
{
	return json_array_size(m);
}

const char *fsc_accept_matrix_label(const struct fsc_accept_record *r, size_t i)
{
	return json_string_value(json_array_get(r->labels, i));
}
