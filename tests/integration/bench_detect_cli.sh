#!/usr/bin/env bash
# scripts/bench-detect without a cluster: refusals of bad input, the judge
# of one run (exact, missed, wrong; links at a named host are the host's;
# latency anomalies do not count) on hand-made records, and the table of a
# hand-made trials.tsv.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"
BD=$SRC/scripts/bench-detect

# refuse BAD-ARGS... EXPECTED-TEXT: exit code 2 and the text on stderr.
refuse() {
	local want=${*: -1} out rc
	out=$("$BD" "${@:1:$#-1}" 2>&1) && rc=0 || rc=$?
	[[ $rc -eq 2 && $out == *"$want"* ]] || fail "bench-detect ${*:1:$#-1}: rc $rc, '$out'"
}
refuse --hosts 2 "bad --hosts item '2' (3..16)"
refuse --hosts 5,17 "bad --hosts item '17'"
refuse --faults node "bad --faults item 'node' (link or host)"
refuse --factors 1.5 "bad --factors item '1.5'"
refuse --factors 0 "bad --factors item '0'"
refuse --trials -1 "bad --trials '-1'"
refuse --healthy 0 "bad --healthy '0' (a count, at least 1)"
refuse --fabric nccl "bad --fabric 'nccl'"
refuse --seed x "bad --seed 'x'"
refuse --build "$tmp/none" "no fabscope in '$tmp/none'"
refuse --bogus "unknown option '--bogus'"
refuse --table "--table needs at least one folder"
refuse --table "$tmp" "no trials.tsv in '$tmp'"
refuse --judge "$tmp/x.json" host "--judge needs RESULTS.json"
refuse --judge "$tmp/x.json" node h1 "bad fault 'node'"

# A pairs record with these anomalies (kind:src:dst:metric, dst -1 = node).
record() {
	python3 - "$@" <<'PY'
import json, sys

an = []
for spec in sys.argv[2:]:
    kind, src, dst, metric = spec.split(":")
    an.append({"kind": kind, "src": int(src), "dst": None if dst == "-1" else int(dst),
               "metric": metric})
rec = {"pattern": "pairs", "status": "anomaly" if an else "ok",
       "labels": ["h0", "h1", "h2", "h3", "h4"], "anomalies": an,
       "bw_spread": {"median": 0.5}, "duration_s": 3.5,
       "retests": {"steps": 6, "duration_s": 1.25}}
json.dump({"records": [rec]}, open(sys.argv[1], "w"))
PY
}
judge() { "$BD" --judge "$@"; }
expect() { # want FILE FAULT VICTIM
	local got
	got=$(judge "$2" "$3" "$4") || fail "judge $3 $4 failed"
	[[ $got == "$1" ]] || fail "judge $3 $4: got '$got', want '$1'"
}
t=$'\t'
record "$tmp/ok.json"
expect "exact$t-" "$tmp/ok.json" healthy -
expect "missed$t-" "$tmp/ok.json" link "h1->h2"
record "$tmp/lat.json" link:1:2:latency
expect "exact$t-" "$tmp/lat.json" healthy -
record "$tmp/link.json" link:1:2:bandwidth
expect "exact${t}link h1->h2" "$tmp/link.json" link "h1->h2"
expect "wrong${t}link h1->h2" "$tmp/link.json" link "h2->h1"
expect "wrong${t}link h1->h2" "$tmp/link.json" healthy -
expect "wrong${t}link h1->h2" "$tmp/link.json" host h1
record "$tmp/host.json" node:3:-1:bandwidth link:3:0:bandwidth link:2:3:bandwidth
expect "exact${t}host h3,link h3->h0,link h2->h3" "$tmp/host.json" host h3
record "$tmp/two.json" link:1:2:bandwidth link:0:4:bandwidth
expect "wrong${t}link h1->h2,link h0->h4" "$tmp/two.json" link "h1->h2"
echo '{"records": []}' >"$tmp/none.json"
expect "error${t}no pairs record" "$tmp/none.json" link "h1->h2"

# The table: counts per cell, medians of the times, the load range.
d=$tmp/run
mkdir -p "$d"
{
	printf 'hosts\tfabric\tfault\tfactor\ttrial\tvictim\trate\toutcome\tnamed\tduration_s\tretest_s\tretest_steps\tload1\n'
	printf '5\tmpi\thealthy\t1\t1\t-\t-\texact\t-\t4.00\t1.00\t6\t10.5\n'
	printf '5\tmpi\thealthy\t1\t2\t-\t-\twrong\tlink h0->h1\t6.00\t3.00\t12\t12.5\n'
	printf '5\tmpi\tlink\t0.1\t1\th0->h1\t400kbit\texact\tlink h0->h1\t10.00\t5.00\t6\t14.0\n'
	printf '5\tmpi\tlink\t0.1\t2\th2->h1\t400kbit\tmissed\t-\t12.00\t7.00\t6\t15.0\n'
	printf '5\tmpi\tlink\t0.1\t3\th3->h4\t400kbit\texact\tlink h3->h4\t14.00\t9.00\t6\t16.0\n'
} >"$d/trials.tsv"
out=$("$BD" --table "$d") || fail "--table failed: $out"
[[ $out == *"fabric mpi; 5 runs; load average (1 min) 10.5-16.0, median 14.0"* ]] ||
	fail "table header: $out"
[[ $out == *"| 5 | healthy | - | no confirmed anomaly 1/2 | - | false positive 1/2 | 5.0 | 2.0 |"* ]] ||
	fail "healthy row: $out"
[[ $out == *"| 5 | link | 0.1x | 2/3 | 1 | 0 | 12.0 | 7.0 |"* ]] || fail "link row: $out"
[[ $out == *"5 hosts, healthy - x1: link h0->h1"* ]] || fail "wrong calls: $out"
exit $failed
