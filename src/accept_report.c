/* The verdict of `fabscope accept` (src/accept.h) and its outputs: the
 * acceptance object's counts and summary, the JUnit XML file and the
 * terminal table. */
#include "accept_report.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "accept_judge.h"
#include "accept_text.h"
#include "err.h"
#include "log.h"
#include "results.h"

/* Measured text in the terminal table is cut here (the JSON has it all). */
#define TABLE_MEASURED_MAX 64

static const char *rstr(const json_t *r, const char *k)
{
	return fsc_json_str(r, k, "");
}

/* ------------------------------------------------------------------ */
/* JUnit XML and the terminal                                           */
/* ------------------------------------------------------------------ */

/* XML 1.0 text: markup characters escaped; control characters other than
 * tab and newline are not allowed in XML at all and become spaces. */
static void xml_put(FILE *f, const char *s, int attr)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		switch (ch) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs(attr ? "&quot;" : "\"", f); break;
		case '\'': fputs(attr ? "&apos;" : "'", f); break;
		case '\n': fputs(attr ? "&#10;" : "\n", f); break;
		case '\t': fputs(attr ? "&#9;" : "\t", f); break;
		default: fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, f); break;
		}
	}
}

static void suspects_line(char *buf, size_t len, const json_t *suspects)
{
	size_t i;
	json_t *s;

	buf[0] = 0;
	json_array_foreach(suspects, i, s)
	{
		char t[160];

		fsc_accept_suspect_text(s, t, sizeof(t));
		fsc_accept_appendf(buf, len, "%s%s", i ? ", " : "", t);
	}
}

/* Why checks were skipped, each distinct "fabric: reason" once, so a PASS
 * says what it did not judge: "ucx: fabric ucx not usable here: ...". */
static void skips_line(char *buf, size_t len, const json_t *checks)
{
	size_t i, j;
	json_t *c, *d;

	buf[0] = 0;
	json_array_foreach(checks, i, c)
	{
		int seen = 0;

		if (strcmp(rstr(c, "status"), "skip"))
			continue;
		json_array_foreach(checks, j, d)
		{
			if (j >= i)
				break;
			if (!strcmp(rstr(d, "status"), "skip") &&
			    !strcmp(rstr(d, "fabric"), rstr(c, "fabric")) &&
			    !strcmp(rstr(d, "measured"), rstr(c, "measured"))) {
				seen = 1;
				break;
			}
		}
		if (!seen)
			fsc_accept_appendf(buf, len, "%s%s: %s", buf[0] ? "; " : "",
			                   rstr(c, "fabric"), rstr(c, "measured"));
	}
}

/* The attributes of a JUnit testsuites or testsuite element: the checks,
 * failures, skips and duration of the run. */
static void junit_counts(FILE *f, const json_t *counts, const json_t *acc)
{
	fprintf(f, " tests=\"%lld\" failures=\"%lld\" errors=\"0\" skipped=\"%lld\" time=\"%.3f\"",
	        (long long)json_integer_value(json_object_get(counts, "checks")),
	        (long long)json_integer_value(json_object_get(counts, "failed")),
	        (long long)json_integer_value(json_object_get(counts, "skipped")),
	        fsc_json_num(acc, "duration_s"));
}

static int junit_body(FILE *f, void *arg)
{
	const json_t *acc = arg;
	const json_t *checks = json_object_get(acc, "checks");
	const json_t *counts = json_object_get(acc, "counts");
	const json_t *spec = json_object_get(acc, "spec");
	size_t i;
	json_t *c;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuites name=\"fabscope accept\"");
	junit_counts(f, counts, acc);
	fprintf(f, ">\n  <testsuite name=\"");
	xml_put(f, rstr(spec, "name"), 1);
	fprintf(f, "\"");
	junit_counts(f, counts, acc);
	fprintf(f, " timestamp=\"");
	xml_put(f, rstr(acc, "start_time"), 1);
	fprintf(f, "\">\n    <properties>\n      <property name=\"spec\" value=\"");
	xml_put(f, rstr(spec, "path"), 1);
	fprintf(f, "\"/>\n      <property name=\"verdict\" value=\"");
	xml_put(f, rstr(acc, "verdict"), 1);
	fprintf(f, "\"/>\n      <property name=\"summary\" value=\"");
	xml_put(f, rstr(acc, "summary"), 1);
	fprintf(f, "\"/>\n    </properties>\n");
	json_array_foreach(checks, i, c)
	{
		const char *st = rstr(c, "status");
		char sus[1024], body[2400];

		fprintf(f, "    <testcase classname=\"");
		xml_put(f, rstr(c, "test"), 1);
		fputc('.', f);
		xml_put(f, rstr(c, "fabric"), 1);
		fprintf(f, "\" name=\"");
		xml_put(f, rstr(c, "check"), 1);
		fprintf(f, "\" time=\"%.3f\">\n",
		        isnan(fsc_json_num(c, "duration_s")) ? 0.0 : fsc_json_num(c, "duration_s"));
		suspects_line(sus, sizeof(sus), json_object_get(c, "suspects"));
		snprintf(body, sizeof(body), "required: %s\nmeasured: %s", rstr(c, "required"),
		         rstr(c, "measured"));
		if (json_is_true(json_object_get(c, "retried")))
			fsc_accept_appendf(body, sizeof(body), "\nretried: attempt 1 measured %s",
			                   rstr(c, "first_measured"));
		if (sus[0])
			fsc_accept_appendf(body, sizeof(body), "\nsuspects: %s", sus);
		if (!strcmp(st, "fail")) {
			char msg[1200];

			snprintf(msg, sizeof(msg), "%s: measured %s%s", rstr(c, "required"),
			         rstr(c, "measured"),
			         json_is_true(json_object_get(c, "retried")) ? " (retried)" : "");
			fprintf(f, "      <failure type=\"fabscope.check\" message=\"");
			xml_put(f, msg, 1);
			fprintf(f, "\">");
			xml_put(f, body, 0);
			fprintf(f, "</failure>\n");
		} else if (!strcmp(st, "skip")) {
			fprintf(f, "      <skipped message=\"");
			xml_put(f, rstr(c, "measured"), 1);
			fprintf(f, "\"/>\n");
		} else {
			fprintf(f, "      <system-out>");
			xml_put(f, body, 0);
			fprintf(f, "</system-out>\n");
		}
		fprintf(f, "    </testcase>\n");
	}
	fprintf(f, "  </testsuite>\n</testsuites>\n");
	return ferror(f) ? -EIO : 0;
}

int fsc_accept_junit_write(const json_t *acc, const char *path, char *err, size_t errlen)
{
	char failed[4200];
	int rc = fsc_file_write_atomic(path, junit_body, (void *)acc, failed, sizeof(failed));

	if (rc && snprintf(err, errlen, "cannot write JUnit file '%s': %s", failed,
	                   strerror(-rc)) >= (int)errlen)
		fsc_debug("JUnit error message cut to %zu bytes (long path)", errlen);
	return rc;
}

static const char *status_word(const json_t *c)
{
	const char *st = rstr(c, "status");

	return !strcmp(st, "pass") ? "PASS" : !strcmp(st, "fail") ? "FAIL" : "SKIP";
}

void fsc_accept_print(FILE *f, const json_t *acc)
{
	static const char *const heads[] = {"test", "fabric", "check", "required", "measured"};
	const json_t *checks = json_object_get(acc, "checks");
	const json_t *suspects = json_object_get(acc, "suspects");
	int w[5];
	size_t i;
	json_t *c;

	for (int k = 0; k < 5; k++)
		w[k] = (int)strlen(heads[k]);
	json_array_foreach(checks, i, c)
	{
		const char *v[5] = {rstr(c, "test"), rstr(c, "fabric"), rstr(c, "check"),
		                    rstr(c, "required"), rstr(c, "measured")};

		for (int k = 0; k < 5; k++) {
			int l = (int)strlen(v[k]);

			if (k == 4 && l > TABLE_MEASURED_MAX)
				l = TABLE_MEASURED_MAX;
			if (l > w[k])
				w[k] = l;
		}
	}
	fprintf(f, "\n%-*s  %-*s  %-*s  %-*s  %-*s  result\n", w[0], heads[0], w[1], heads[1], w[2],
	        heads[2], w[3], heads[3], w[4], heads[4]);
	json_array_foreach(checks, i, c)
	{
		char m[TABLE_MEASURED_MAX + 1];
		const char *full = rstr(c, "measured");

		snprintf(m, sizeof(m), "%s", full);
		if (strlen(full) > TABLE_MEASURED_MAX)
			memcpy(m + TABLE_MEASURED_MAX - 3, "...", 3);
		fprintf(f, "%-*s  %-*s  %-*s  %-*s  %-*s  %s%s\n", w[0], rstr(c, "test"), w[1],
		        rstr(c, "fabric"), w[2], rstr(c, "check"), w[3], rstr(c, "required"), w[4],
		        m, status_word(c),
		        json_is_true(json_object_get(c, "retried")) ? " (retried)" : "");
	}
	/* Failures in full: the table cuts long texts. */
	json_array_foreach(checks, i, c)
	{
		char sus[1024];

		if (strcmp(rstr(c, "status"), "fail"))
			continue;
		fprintf(f, "FAIL %s/%s %s: %s", rstr(c, "test"), rstr(c, "fabric"),
		        rstr(c, "check"), rstr(c, "measured"));
		if (json_is_true(json_object_get(c, "retried")) &&
		    strcmp(rstr(c, "first_measured"), rstr(c, "measured")))
			fprintf(f, " (retried; attempt 1: %s)", rstr(c, "first_measured"));
		else if (json_is_true(json_object_get(c, "retried")))
			fprintf(f, " (retried)");
		suspects_line(sus, sizeof(sus), json_object_get(c, "suspects"));
		if (sus[0])
			fprintf(f, "; suspects: %s", sus);
		fprintf(f, "\n");
	}
	json_array_foreach(suspects, i, c)
	{
		char t[160];
		const json_t *seen = json_object_get(c, "seen_in");
		size_t k;
		json_t *s;

		fsc_accept_suspect_text(c, t, sizeof(t));
		fprintf(f, "suspect: %s, seen in", t);
		json_array_foreach(seen, k, s)
		        fprintf(f, "%s %s", k ? "," : "", json_string_value(s));
		fprintf(f, "\n");
	}
	fprintf(f, "verdict: %s\n", rstr(acc, "summary"));
}

int fsc_accept_verdict(json_t *acc, json_t *checks, json_t *suspects, json_t *runs,
                       double duration_s)
{
	size_t i, npass = 0, nfail = 0, nskip = 0;
	json_t *c;
	char sum[1536], sus[768], skips[640];

	json_array_foreach(checks, i, c)
	{
		const char *s = rstr(c, "status");

		if (!strcmp(s, "pass"))
			npass++;
		else if (!strcmp(s, "fail"))
			nfail++;
		else
			nskip++;
	}
	suspects_line(sus, sizeof(sus), suspects);
	skips_line(skips, sizeof(skips), checks);
	if (nfail)
		snprintf(sum, sizeof(sum), "FAIL: %zu of %zu checks failed%s%s", nfail,
		         npass + nfail + nskip, sus[0] ? "; suspects: " : "", sus);
	else if (!npass)
		snprintf(sum, sizeof(sum),
		         "NOT RUN: every check was skipped (%zu); nothing could "
		         "be judged (%s)",
		         nskip, skips);
	else if (nskip)
		snprintf(sum, sizeof(sum), "PASS: %zu of %zu checks passed, %zu skipped (%s)",
		         npass, npass + nskip, nskip, skips);
	else
		snprintf(sum, sizeof(sum), "PASS: %zu of %zu checks passed, 0 skipped", npass,
		         npass + nskip);
	json_object_set_new(acc, "checks", json_incref(checks));
	json_object_set_new(acc, "suspects", json_incref(suspects));
	json_object_set_new(acc, "runs", json_incref(runs));
	json_object_set_new(acc, "counts",
	                    json_pack("{s:I, s:I, s:I, s:I}", "checks",
	                              (json_int_t)(npass + nfail + nskip), "passed",
	                              (json_int_t)npass, "failed", (json_int_t)nfail, "skipped",
	                              (json_int_t)nskip));
	json_object_set_new(acc, "verdict",
	                    json_string(nfail   ? "FAIL"
	                                : npass ? "PASS"
	                                        : "NOT RUN"));
	json_object_set_new(acc, "summary", json_string(sum));
	json_object_set_new(acc, "duration_s", json_real(duration_s));
	return nfail ? FSC_EXIT_FAIL : npass ? FSC_EXIT_OK : FSC_EXIT_USAGE;
}
