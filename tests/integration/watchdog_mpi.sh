#!/bin/bash
# Hang-proof runs under a real mpirun, for every MPI-launched fabric built
# and usable here (mpi, tcp, ucx): 4 ranks run allreduce, and once the first
# point is recorded rank 2 is
#   1. stopped (SIGSTOP): the job must exit 3 within --timeout + grace +
#      margin, its last "fabscope" line and the results file (status
#      "aborted") must name rank 2 and its host;
#      (for mpi, also with MPI's own MPI_Iallreduce, --impl native);
#   2. killed (SIGKILL): the job must exit non-zero within the same bound;
#      mpirun names the dead rank itself, and when rank 0 had time to write
#      its results (Open MPI gives it 1 s between SIGTERM and SIGKILL) they
#      must say "aborted" and name rank 2.
# Exit 77 (skipped) when mpirun is missing.
set -u

fabscope="${FABSCOPE:-fabscope}"
if ! command -v mpirun >/dev/null 2>&1; then
	echo "skipped: mpirun not found"
	exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_base_warn_component_unused=0
tmp=$(mktemp -d)
victim_pid=
cleanup() {
	[ -n "$victim_pid" ] && kill -CONT "$victim_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

timeout_s=${FSC_WD_TIMEOUT_S:-3} # --timeout (FSC_WD_TIMEOUT_S overrides)
grace_s=3    # FSC_WD_GRACE_NS
margin_s=10  # start-up of the query, MPI_Abort, a loaded machine
bound_s=$((timeout_s + grace_s + margin_s))
host=$(hostname)
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

fabrics=()
list=$("$fabscope" list 2>&1)
for f in mpi tcp ucx; do
	line=$(grep -E "^[[:space:]]*$f[[:space:]]" <<<"$list")
	if grep -q 'built, usable' <<<"$line"; then
		fabrics+=("$f")
	else
		echo "note: fabric $f left out: ${line:-not built}"
	fi
done
if [ ${#fabrics[@]} -eq 0 ]; then
	echo "skipped: no MPI-launched fabric usable here"
	exit 77
fi

# run FABRIC SIGNAL [IMPL]: prints what happened; sets rc, elapsed, dir
run() {
	local fab=$1 sig=$2 impl=${3:-ring} start end waited=0
	dir="$tmp/$fab-$sig-$impl"
	mkdir -p "$dir"
	start=$(date +%s%N)
	timeout 120 mpirun -np 4 --oversubscribe --bind-to none \
		sh -c 'echo $$ > "'"$dir"'/pid.$OMPI_COMM_WORLD_RANK"; exec "$0" "$@"' \
		"$fabscope" run --fabric "$fab" --pattern allreduce --impl "$impl" --min 1K --max 64K \
		--iters 1000000 --point-time 1s --timeout ${timeout_s}s --output "$dir/res.json" \
		-q >"$dir/out" 2>&1 &
	local mp=$!
	# The first record in the results stream (a header line, then one
	# line per record): the run is under way.
	while ! python3 -c "import sys; sys.exit(0 if len(open(sys.argv[1]).read().splitlines()) >= 2 else 1)" \
		"$dir/res.json.jsonl" 2>/dev/null; do
		sleep 0.2
		waited=$((waited + 1))
		if [ $waited -gt 300 ] || ! kill -0 $mp 2>/dev/null; then
			echo "the run never recorded a point:"
			cat "$dir/out"
			kill $mp 2>/dev/null
			wait $mp
			rc=-1
			return
		fi
	done
	victim_pid=$(cat "$dir/pid.2")
	start=$(date +%s%N)
	kill -"$sig" "$victim_pid"
	wait $mp
	rc=$?
	end=$(date +%s%N)
	kill -CONT "$victim_pid" 2>/dev/null
	victim_pid=
	elapsed=$(((end - start) / 1000000))
	echo "== $fab ($impl), rank 2 $sig: exit $rc after ${elapsed} ms (bound ${bound_s} s)"
	echo "   last line: $(grep '^fabscope' "$dir/out" | tail -1)"
}

# results_name_rank2 FILE: status "aborted", culprit rank 2 on this host
results_name_rank2() {
	python3 - "$1" "$host" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
a = d.get("abort") or {}
c = a.get("culprits") or []
ok = d.get("status") == "aborted" and len(c) == 1 and c[0].get("rank") == 2 \
    and c[0].get("host") == sys.argv[2] and "rank 2 (host %s)" % sys.argv[2] in a.get("reason", "")
print("   results: status %s, abort %s" % (d.get("status"), json.dumps(a)))
sys.exit(0 if ok else 1)
EOF
}

# check_stop FABRIC [IMPL]
check_stop() {
	run "$1" STOP "${2:-ring}"
	if [ "$rc" != 3 ]; then
		fail "$1/STOP: exit $rc, expected 3 (aborted)"
		tail -20 "$dir/out"
	fi
	[ "$rc" = -1 ] || [ "$elapsed" -le $((bound_s * 1000)) ] ||
		fail "$1/STOP: took ${elapsed} ms, more than ${bound_s} s"
	grep '^fabscope' "$dir/out" | tail -1 | grep -q "rank 2 (host $host) stopped answering" ||
		fail "$1/STOP: the last fabscope line does not name rank 2 (host $host)"
	results_name_rank2 "$dir/res.json" || fail "$1/STOP: the results do not name rank 2"
}

for fab in "${fabrics[@]}"; do
	check_stop "$fab"
	# MPI's own collectives, completed with a deadline
	[ "$fab" = mpi ] && check_stop mpi native

	run "$fab" KILL
	if [ "$rc" = 0 ] || [ "$rc" = -1 ] || [ "$rc" = 124 ]; then
		fail "$fab/KILL: exit $rc, expected non-zero from mpirun"
		tail -20 "$dir/out"
	fi
	[ "$rc" = -1 ] || [ "$elapsed" -le $((bound_s * 1000)) ] ||
		fail "$fab/KILL: took ${elapsed} ms, more than ${bound_s} s"
	grep -q "process rank 2 .* on node .* exited on signal 9" "$dir/out" ||
		fail "$fab/KILL: mpirun did not name rank 2"
	if python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))['status'] != 'aborted')" \
		"$dir/res.json" 2>/dev/null; then
		results_name_rank2 "$dir/res.json" || fail "$fab/KILL: aborted results do not name rank 2"
	else
		echo "   results: rank 0 was ended before it could finish its file (status running)"
	fi
done

if [ $failures -gt 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "PASS: ${fabrics[*]}"
