#!/usr/bin/env bash
# `fabscope compare` and `fabscope history` from the command line, on real
# loopback runs (virtual clock: two runs of one command are identical):
# identical runs flag nothing (exit 0 even with --fail-on regression); a
# 10% bandwidth loss injected at one size, or on one link of a pairs matrix
# (--lb-slow-link), is flagged exactly there and exits 1; different schema
# versions and different host sets exit 2 with one clear line; the history
# adds, lists, sets a baseline and serves it to compare.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"

run() { # OUT [extra options]
	local out=$1
	shift
	"$FABSCOPE" run --fabric loopback --lb-ranks 4 --quiet --output "$out" "$@" >/dev/null ||
		fail "run $* failed"
}
run "$tmp/a.json" --pattern bandwidth,latency --min 1K --max 64K --iters 50
run "$tmp/b.json" --pattern bandwidth,latency --min 1K --max 64K --iters 50
run "$tmp/pa.json" --pattern pairs
run "$tmp/pb.json" --pattern pairs --lb-slow-link 2:1:0.9

"$FABSCOPE" compare --fail-on regression "$tmp/a.json" "$tmp/b.json" >"$tmp/out" 2>&1
rc=$?
[[ $rc -eq 0 ]] || fail "identical runs: exit $rc"
grep -q '^# verdict: OK (0 regressions, 0 improvements, 0 inconclusive)' "$tmp/out" ||
	fail "identical runs: $(cat "$tmp/out")"

# a 10% bandwidth loss at 8 KiB: every sample of that point 1/0.9 longer
python3 - "$tmp/b.json" "$tmp/slow.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["records"]:
    if r["pattern"] == "bandwidth" and r["bytes"] == 8192:
        r["samples"]["values_us"] = [v / 0.9 for v in r["samples"]["values_us"]]
json.dump(d, open(sys.argv[2], "w"))
PY
"$FABSCOPE" compare --fail-on regression --json "$tmp/cmp.json" "$tmp/a.json" "$tmp/slow.json" >"$tmp/out" 2>&1
rc=$?
[[ $rc -eq 1 ]] || fail "10% loss: exit $rc, expected 1"
python3 - "$tmp/cmp.json" <<'PY' || fail "10% loss: wrong points flagged"
import json, sys
c = json.load(open(sys.argv[1]))
reg = [p for p in c["points"] if p["judgement"] == "regression"]
assert len(reg) == 1 and reg[0]["pattern"] == "bandwidth" and reg[0]["bytes"] == 8192, reg
assert abs(reg[0]["bw_change"] + 0.10) < 0.005, reg[0]["bw_change"]
assert c["counts"]["improvement"] == 0 and c["counts"]["inconclusive"] == 0, c["counts"]
PY

# every timed point keeps the medians of its time-ordered blocks
python3 - "$tmp/a.json" <<'PY' || fail "runs keep no block medians"
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["records"]:
    b = r["samples"]["blocks_us"]
    assert len(b) == 8 and all(v > 0 for v in b), (r["pattern"], r["bytes"], b)
PY

# a baseline of several runs (BASELINE... RUN): the loss is still found,
# exactly there, judged against the runs' own spread
"$FABSCOPE" compare --fail-on regression --json "$tmp/cmp.json" "$tmp/a.json" "$tmp/b.json" "$tmp/a.json" "$tmp/slow.json" >"$tmp/out" 2>&1
rc=$?
[[ $rc -eq 1 ]] || fail "10% loss against 3 runs: exit $rc, expected 1: $(cat "$tmp/out")"
grep -q "^# between runs: the CI is widened by the spread of the 3 baseline runs" "$tmp/out" ||
	fail "3 baseline runs: $(cat "$tmp/out")"
python3 - "$tmp/cmp.json" <<'PY' || fail "10% loss against 3 runs: wrong points flagged"
import json, sys
c = json.load(open(sys.argv[1]))
reg = [p for p in c["points"] if p["judgement"] == "regression"]
assert len(reg) == 1 and reg[0]["pattern"] == "bandwidth" and reg[0]["bytes"] == 8192, reg
assert reg[0]["noise_model"] == "between baseline runs" and reg[0]["baseline_runs"] == 3, reg[0]
assert c["counts"]["improvement"] == 0 and c["counts"]["inconclusive"] == 0, c["counts"]
PY
got=$("$FABSCOPE" compare "$tmp/a.json" history:baseline "$tmp/b.json" 2>&1 >/dev/null)
rc=$?
[[ $rc -eq 2 && $got == "fabscope: error: invalid baseline 'history:baseline' among several"* ]] ||
	fail "history spec among several baselines: exit $rc [$got]"

# one slow link of a pairs matrix: exactly that cell
"$FABSCOPE" compare --fail-on regression --json "$tmp/cmp.json" "$tmp/pa.json" "$tmp/pb.json" >"$tmp/out" 2>&1
rc=$?
[[ $rc -eq 1 ]] || fail "slow link: exit $rc, expected 1: $(cat "$tmp/out")"
python3 - "$tmp/cmp.json" <<'PY' || fail "slow link: wrong cells flagged"
import json, sys
c = json.load(open(sys.argv[1]))
reg = [p for p in c["points"] if p["judgement"] == "regression"]
assert len(reg) == 1 and reg[0]["key"].endswith("->") is False, reg
assert reg[0]["src"].endswith("r2") and reg[0]["dst"].endswith("r1"), reg
PY

# refusals: schema, hosts, arguments
sed 's#"fabscope-results/3"#"fabscope-results/1"#' "$tmp/a.json" >"$tmp/v1.json"
got=$("$FABSCOPE" compare "$tmp/v1.json" "$tmp/a.json" 2>&1 >/dev/null)
rc=$?
[[ $rc -eq 2 ]] || fail "schema mismatch: exit $rc"
[[ $got == "fabscope: error: cannot compare results of different schema versions: baseline '$tmp/v1.json' is fabscope-results/1, run '$tmp/a.json' is fabscope-results/3" ]] ||
	fail "schema mismatch: [$got]"
python3 - "$tmp/a.json" "$tmp/otherhosts.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["meta"]["hosts"][0]["name"] = "elsewhere"
json.dump(d, open(sys.argv[2], "w"))
PY
got=$("$FABSCOPE" compare "$tmp/a.json" "$tmp/otherhosts.json" 2>&1 >/dev/null)
rc=$?
[[ $rc -eq 2 ]] || fail "host mismatch: exit $rc"
[[ $got == *"different host sets"*"only in run: elsewhere"*"--hosts intersect"* ]] ||
	fail "host mismatch: [$got]"
"$FABSCOPE" compare --hosts ignore "$tmp/a.json" "$tmp/otherhosts.json" >/dev/null 2>&1 ||
	fail "--hosts ignore did not compare"
a=$tmp/a.json
for bad in "--hosts some $a $a" "--min-effect x $a $a" "--noise-runs 65 $a $a" "$a" "$a $tmp/none.json"; do
	# shellcheck disable=SC2086
	got=$("$FABSCOPE" compare $bad 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 2 && $(wc -l <<<"$got") -eq 1 && $got == "fabscope: error: "* ]] ||
		fail "compare $bad: exit $rc [$got]"
done

# history: add, list, baseline, compare against it, trend
db=$tmp/h.db
"$FABSCOPE" history --db "$db" add "$tmp/a.json" >/dev/null || fail "history add"
"$FABSCOPE" history --db "$db" add "$tmp/slow.json" >/dev/null || fail "history add 2"
"$FABSCOPE" history --db "$db" list | grep -q '^ *2 ' || fail "history list"
got=$("$FABSCOPE" compare --db "$db" history:baseline "$tmp/a.json" 2>&1 >/dev/null)
[[ $? -eq 2 && $got == *"has no baseline"* ]] || fail "no baseline: [$got]"
"$FABSCOPE" history --db "$db" baseline set --last-good 2 | grep -q 'baseline is run 1' ||
	fail "baseline set --last-good 2"
"$FABSCOPE" compare --fail-on regression --db "$db" history:baseline "$tmp/slow.json" >/dev/null
[[ $? -eq 1 ]] || fail "compare with history:baseline did not find the loss"
"$FABSCOPE" compare --fail-on regression --db "$db" history:median-of-last:2 "$tmp/a.json" >/dev/null ||
	fail "median-of-last:2"
# a marked run takes the noise between runs from the history's recent runs
# (the run compared, already in the history, is left out of it)
run "$tmp/a2.json" --pattern bandwidth,latency --min 1K --max 64K --iters 50
"$FABSCOPE" history --db "$db" add "$tmp/a2.json" >/dev/null || fail "history add 3"
"$FABSCOPE" compare --fail-on regression --db "$db" --json "$tmp/marked.json" history:baseline \
	"$tmp/slow.json" >/dev/null
[[ $? -eq 1 ]] || fail "history:baseline with the history's noise did not find the loss"
python3 -c "
import json, sys
p = json.load(open(sys.argv[1]))['points'][0]
assert p['noise_model'] == 'between history runs' and p['history_runs'] == 2, p
" "$tmp/marked.json" || fail "history:baseline did not take the history's noise"
"$FABSCOPE" compare --noise-runs 0 --db "$db" --json "$tmp/marked.json" history:baseline \
	"$tmp/slow.json" >/dev/null
grep -q '"between history runs"' "$tmp/marked.json" && fail "--noise-runs 0 still took the history's noise"
"$FABSCOPE" history --db "$db" trend bw --point "bandwidth uni 8192B" >"$tmp/out" || fail "trend"
[[ $(grep -c '^  run' "$tmp/out") -eq 3 ]] || fail "trend: $(cat "$tmp/out")"
echo "not a database, at all, certainly not one with runs in it........" >"$tmp/bad.db"
got=$("$FABSCOPE" history --db "$tmp/bad.db" list 2>&1 >/dev/null)
[[ $? -eq 2 && $got == *"not a readable fabscope history database"* ]] || fail "corrupt db: [$got]"

exit $failed
