#!/usr/bin/env bash
# A host whose network dies in the middle of a run (`vcluster cut`: every
# packet to and from it is lost, its launch daemon's too, as with a dead
# cable or switch port): fabscope names that host within --timeout and the
# watchdog's grace, and its results file ends with the abort and the
# culprit.  Rank 0's host is never the one cut (it writes the results).
#
# Open MPI's mpirun then waits for the lost host's daemon, whatever the
# ranks do (more than 15 minutes measured here, with or without its TCP
# keepalive options), so this test stops mpirun itself once the results
# are final.  About 1 minute.
HOSTS=4
source "$(dirname "${BASH_SOURCE[0]}")/accept_common.sh"

victim=h$(shuf -i 1-3 -n 1)
out=$TMP/cut.out res=$TMP/cut.json
TIMEOUT_S=5
# Deadline from the cut to final results: the fabric's timeout, the
# watchdog's grace (3 s), the abort and writing the file, with room for a
# loaded machine.  A hang runs into it.
LIMIT_S=60

"$VC" mpirun -np "$HOSTS" "$FABSCOPE" run --pattern pairs --fabric tcp \
	--timeout "${TIMEOUT_S}s" --iters 200 --output "$res" >"$out" 2>&1 &
mp=$!
# The exit status is kept for acc_cleanup, which reports it.
stop_mpirun() {
	local rc=$?
	# mpirun in the middle of an abort crashes on SIGTERM: no softer way.
	{ kill -KILL "$mp" && wait "$mp"; } >/dev/null 2>&1 || true
	# The cut host's daemon outlives its network and mpirun.
	ip netns pids "$victim" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
	return "$rc"
}
trap 'stop_mpirun; acc_cleanup' EXIT

# Cut once the first round of the matrix is done: the pattern is running.
for ((i = 0; i < 600; i++)); do
	grep -q '^# pairs: first round' "$out" && break
	kill -0 "$mp" 2>/dev/null || break
	sleep 0.1
done
grep -q '^# pairs: first round' "$out" || { cat "$out"; fail "the pairs run did not start"; }
"$VC" cut "$victim" >/dev/null
t0=$SECONDS
echo "($victim cut off)"

final() {
	python3 - "$res" <<'PY' 2>/dev/null
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get("status") in ("aborted", "complete", "failed") else 1)
PY
}
until final; do
	((SECONDS - t0 < LIMIT_S)) || { cat "$out"; fail "no final results ${LIMIT_S} s after the cut"; }
	sleep 1
done
took=$((SECONDS - t0))
echo "(results final ${took} s after the cut)"

got=$(python3 - "$res" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a = d.get("abort") or {}
print(d["status"], ",".join(sorted(c["host"] for c in a.get("culprits", []))))
PY
) || fail "malformed results file"
[[ $got == "aborted $victim" ]] ||
	{ cat "$out"; fail "results say [$got], expected [aborted $victim]"; }
# The terminal names it too, in one line, before mpirun's own messages.
grep -q "^fabscope: error: rank [0-9]* (host $victim) stopped answering" "$out" ||
	{ cat "$out"; fail "no error line naming $victim"; }
ok "host $victim cut off mid-run: named in the results and on the terminal within ${took} s"
