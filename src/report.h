/* `fabscope report RUN... [--baseline B] -o report.html`: one
 * self-contained HTML file read in ten seconds.
 *
 * Verdict first; then, per run, heat maps of pairs matrices (SVG, suspects
 * outlined), bandwidth and latency curves per size and latency percentiles
 * per size (Chart.js, read from the Debian package at generation time and
 * inlined; with a baseline, its curves overlaid and the regressions
 * marked), and the anomaly, acceptance and regression tables.  Two or more
 * runs from different clusters make a bake-off: one table with the winner
 * per point and the ratio, and curves overlaid and labelled by cluster.
 * Matrices above 64 nodes are aggregated: per-host rows (worst cell of each
 * row and column) and the worst cells.  The file references nothing
 * outside itself.
 */
#ifndef FSC_REPORT_H
#define FSC_REPORT_H

#include <jansson.h>
#include <stdio.h>

/* Where Chart.js is read from (Debian's libjs-chart.js). */
#define FSC_CHARTJS_PATH "/usr/share/javascript/chart.js/chart.min.js"

struct fsc_report_input {
	json_t **runs;       /* results documents */
	const char **labels; /* one per run: the cluster's name in a bake-off */
	size_t nruns;
	json_t *cmp; /* comparison with the baseline (fsc_compare_docs), or NULL */
	/* the baseline document: its curves overlaid (dashed) on the first
	 * run's, with the points cmp judged regressions marked; or NULL */
	const json_t *baseline;
	json_t *trend;       /* fsc_history_trend series, or NULL */
	const char *chartjs; /* path of chart.min.js */
	const char *title;
};

/* Write the report to f.  -ENOENT with one line in err when Chart.js cannot
 * be read, -EIO on a write error. */
int fsc_report_write(FILE *f, const struct fsc_report_input *in, char *err, size_t errlen);

/* The `report` command: argv[0] is "report". */
int fsc_report_main(int argc, char **argv);

#endif
