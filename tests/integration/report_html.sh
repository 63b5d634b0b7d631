#!/usr/bin/env bash
# `fabscope report` on real runs, rendered in headless Chromium: a pairs
# matrix with an injected slow link (loopback --lb-slow-link), the same
# matrix as an aggregated record (per_node and worst_cells, as the driver
# keeps a matrix too large for the record), a collective
# sweep, a comparison with a baseline (its curves overlaid, regressions
# marked), and a bake-off of two "clusters".  Fails on any console error, a
# missing heat map, suspect cell or curve, an external reference in the
# file, or an empty screenshot; damaged copies of a report prove that each
# of those checks can fail.  Chromium is
# installed by scripts/setup-deps; its absence is a failure, not a skip.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[[ -n $CHROMIUM ]] || { echo "FAIL: chromium is not installed: run scripts/setup-deps" >&2; exit 1; }

run() { # OUT [options]
	local out=$1
	shift
	"$FABSCOPE" run --fabric loopback --lb-ranks 4 --quiet --output "$out" "$@" >/dev/null ||
		fail "run $*"
}
run "$tmp/pairs.json" --pattern pairs --lb-slow-link 2:1:0.3
run "$tmp/coll.json" --pattern allreduce,alltoall --min 1K --max 256K --iters 20
run "$tmp/coll-base.json" --pattern allreduce,alltoall --min 1K --max 256K --iters 20 --lb-bw 12
run "$tmp/clusterA.json" --pattern bandwidth,latency --min 1K --max 256K --iters 20 --lb-bw 10
# the pairs run as the driver records a matrix too large for the record:
# per-node medians and worst cells instead of the matrices
python3 - "$tmp/pairs.json" "$tmp/agg.json" <<'PY' || fail "could not make the aggregated record"
import json, statistics, sys
d = json.load(open(sys.argv[1]))
for r in d["records"]:
    if "bw_GBps" not in r:
        continue
    n, bw, lat = len(r["labels"]), r["bw_GBps"], r["lat_us"]
    def med(v):
        v = [x for x in v if x is not None]
        return statistics.median_low(v) if v else None
    def cells(m):
        return [{"src": i, "dst": j, "value": m[i][j]} for i in range(n) for j in range(n) if m[i][j] is not None]
    r["per_node"] = [{"bw_send_GBps": med(bw[i]), "bw_recv_GBps": med([row[i] for row in bw]),
                      "lat_send_us": med(lat[i]), "lat_recv_us": med([row[i] for row in lat])} for i in range(n)]
    r["worst_cells"] = {"bandwidth": sorted(cells(bw), key=lambda c: c["value"])[:64],
                        "latency": sorted(cells(lat), key=lambda c: -c["value"])[:64]}
    for k in ("bw_GBps", "bw_min_GBps", "bw_max_GBps", "lat_us", "lat_p99_us"):
        del r[k]
    r["aggregated"] = True
json.dump(d, open(sys.argv[2], "w"))
PY
run "$tmp/clusterB.json" --pattern bandwidth,latency --min 1K --max 256K --iters 20 --lb-bw 8 --lb-lat 500ns

# render FILE.html NAME: dump the DOM after scripts ran, and a screenshot
render() {
	local html=$1 name=$2
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 \
		--virtual-time-budget=5000 --dump-dom "file://$html" >"$tmp/$name.dom" 2>"$tmp/$name.log" ||
		fail "$name: chromium --dump-dom failed: $(tail -3 "$tmp/$name.log")"
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--user-data-dir="$tmp/profile" --window-size=1280,2000 --virtual-time-budget=5000 \
		--screenshot="$tmp/$name.png" "file://$html" >/dev/null 2>&1 ||
		fail "$name: chromium --screenshot failed"
	[[ $(head -c 8 "$tmp/$name.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
		fail "$name: screenshot is not a PNG"
	[[ $(stat -c %s "$tmp/$name.png") -gt 20000 ]] || fail "$name: screenshot is nearly empty"
	if grep -E 'CONSOLE|Uncaught' "$tmp/$name.log" | grep -qiE 'error|uncaught'; then
		fail "$name: console error: $(grep -E 'CONSOLE|Uncaught' "$tmp/$name.log" | head -3)"
	fi
}

# check NAME HTML MIN-HEATMAPS MIN-SUSPECTS
check() {
	local name=$1 html=$2 heat=$3 sus=$4 canvases status
	canvases=$(grep -o '<canvas id=' "$html" | wc -l)
	status=$(grep -o '<p id="fsc-status"[^>]*>' "$tmp/$name.dom")
	[[ $status == *'data-errors="0"'* ]] || fail "$name: script errors: $(grep -o 'id="fsc-status"[^<]*' "$tmp/$name.dom")"
	[[ $canvases -gt 0 && $status == *"data-charts=\"$canvases\""* ]] ||
		fail "$name: $canvases canvases but status [$status]"
	[[ $(grep -o '<svg class="heatmap"' "$tmp/$name.dom" | wc -l) -ge $heat ]] || fail "$name: heat map missing"
	[[ $(grep -o 'class="cell suspect"' "$tmp/$name.dom" | wc -l) -ge $sus ]] || fail "$name: suspect cell not marked"
	# nothing outside the file: no URL in src/href, no stylesheet link, no
	# import or url() (Chart.js's own licence comment names its site, in text)
	local ext='(src|href)[[:space:]]*=[[:space:]]*["'"'"']?([a-z]+:)?//|<link|@import|url\([[:space:]]*["'"'"']?([a-z]+:)?//'
	if grep -Eiq "$ext" "$html"; then
		fail "$name: external reference: $(grep -Eio "$ext.{0,40}" "$html" | head -3)"
	fi
}

"$FABSCOPE" report -o "$tmp/one.html" --baseline "$tmp/coll-base.json" "$tmp/coll.json" "$tmp/pairs.json" \
	"$tmp/agg.json" >/dev/null || fail "report (run + baseline) failed"
render "$tmp/one.html" one
check one "$tmp/one.html" 2 1
# the aggregated record: its per-host strip (4 hosts, send and receive) in
# the rendered page, the slow link first among its worst cells
[[ $(grep -o '<rect class="host' "$tmp/one.dom" | wc -l) -eq 8 ]] || fail "one: aggregated strip missing"
grep -q '<table class="worst-cells"><tr><th>worst bandwidth cells (of 12 kept)</th><th>GB/s</th><th>ratio to the median</th></tr><tr class="fail"><td>vm/r2 &#8594; vm/r1</td>' \
	"$tmp/one.html" || fail "one: the aggregated record's worst cells do not start with the slow link"
grep -q '<h1 id="verdict">ANOMALY</h1>\|<h1 id="verdict">REGRESSION</h1>' "$tmp/one.html" ||
	fail "one: verdict is not first or not ANOMALY/REGRESSION"
grep -q 'id="regressions"' "$tmp/one.html" || fail "one: regression table missing"
grep -q 'link vm/r2-&gt;vm/r1 slow' "$tmp/one.html" || fail "one: anomaly table does not name the link"
python3 - "$tmp/one.html" <<'PY' || fail "one: curves, baseline overlay or regression marks missing"
import json, re, sys
html = open(sys.argv[1]).read()
data = json.loads(re.search(r'<script id="fsc-data" type="application/json">(.*?)</script>', html, re.S).group(1).replace('<\\/', '</'))
titles = [c["title"] for c in data["charts"]]
marked = 0
for coll in ("allreduce", "alltoall"):
    for what in ("bandwidth", "latency"):
        c = [c for c in data["charts"] if coll in c["title"] and what in c["title"]]
        assert len(c) == 1, (coll, what, titles)
        ds = {d["run"]: d for d in c[0]["datasets"]}
        assert len(ds["coll"]["data"]) >= 5, (c[0]["title"], "run curve")
        assert len(ds["baseline"]["data"]) >= 5, (c[0]["title"], "baseline not overlaid")
        if "regression" in ds:
            assert ds["regression"]["marks"] and ds["regression"]["data"], c[0]["title"]
            marked += 1
# the run has 10/12 of the baseline's bandwidth: its large sizes regressed
assert marked >= 2, "no regression marked on a curve"
PY

"$FABSCOPE" report -o "$tmp/bake.html" --labels clusterA,clusterB "$tmp/clusterA.json" "$tmp/clusterB.json" \
	>/dev/null || fail "report (bake-off) failed"
render "$tmp/bake.html" bake
check bake "$tmp/bake.html" 0 0
grep -q 'id="bakeoff"' "$tmp/bake.html" || fail "bake: no bake-off table"
grep -q 'clusterA wins [1-9][0-9]* of' "$tmp/bake.html" || fail "bake: clusterA (faster links) wins nothing"
python3 - "$tmp/bake.html" <<'PY' || fail "bake: curves are not overlaid per cluster"
import json, re, sys
html = open(sys.argv[1]).read()
data = json.loads(re.search(r'<script id="fsc-data" type="application/json">(.*?)</script>', html, re.S).group(1).replace('<\\/', '</'))
for c in data["charts"]:
    runs = {d["run"] for d in c["datasets"]}
    assert runs == {"clusterA", "clusterB"}, (c["title"], runs)
    assert all(len(d["data"]) >= 5 for d in c["datasets"]), c["title"]
PY

# the checks above must be able to fail: a damaged copy of the report with a
# console error, without its heat map, or with a chart that lost its curve
# fails them
mutant() { # NAME PYTHON-EXPRESSION-ON-html
	python3 -c "import sys; html = open(sys.argv[1]).read(); open(sys.argv[2], 'w').write($2)" \
		"$tmp/one.html" "$tmp/$1.html" || fail "mutant $1: could not be made"
	(
		failed=0
		render "$tmp/$1.html" "$1"
		check "$1" "$tmp/$1.html" 1 1
		exit $failed
	) 2>/dev/null && fail "mutant $1: a damaged report passed the checks"
}
mutant console-error "html.replace('</body>', '<script>console.error(\"broken\")</script></body>')"
mutant no-heatmap "html.replace('<svg class=\"heatmap\"', '<svg class=\"gone\"')"
mutant no-curve "html.replace('\"datasets\":[{', '\"datasets\":[],\"gone\":[{', 1)"

# bad input: one line, exit 2
got=$("$FABSCOPE" report "$tmp/coll.json" 2>&1 >/dev/null)
[[ $? -eq 2 && $got == "fabscope: error: report needs -o FILE.html" ]] || fail "no -o: [$got]"
got=$("$FABSCOPE" report -o "$tmp/x.html" --chartjs /nonexistent/chart.js "$tmp/coll.json" 2>&1 >/dev/null)
[[ $? -eq 2 && $got == *"cannot read Chart.js at '/nonexistent/chart.js'"* ]] || fail "no chart.js: [$got]"
[[ ! -e $tmp/x.html ]] || fail "a report was written without Chart.js"

[[ -n ${FSC_REPORT_KEEP:-} ]] && cp "$tmp"/*.png "$tmp"/*.html "$FSC_REPORT_KEEP"/
exit $failed
