#!/usr/bin/env bash
# Bad input: one clear line, exit code 2, on every rank, quickly, and no
# results file left behind.  Under mpirun -np 2 and without mpirun.
set -uo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# scripts/setup-deps installs Open MPI: a missing mpirun is a broken test
# machine, not a reason to test half of the cases.
if ! command -v mpirun >/dev/null; then
  echo "FAIL: mpirun not found (run scripts/setup-deps)"; exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
MPIRUN="mpirun -np 2 --oversubscribe --bind-to none"

# Bad input is refused within 5 s of fabscope's own time.  Under mpirun the
# launcher's start-up (seconds on a loaded 2-core machine) comes on top:
# measured here with a program that does nothing.
t0=$(date +%s%N)
$MPIRUN true >/dev/null 2>&1
launch_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "mpirun start-up: ${launch_ms} ms"

# run_timed LAUNCHER ARGS...: fabscope run; sets rc and ms
run_timed() {
  local launcher="$1"; shift
  local t0=$(date +%s%N)
  timeout 60 $launcher "$FABSCOPE" run --output "$tmp/never.json" "$@" >"$tmp/o" 2>"$tmp/e"
  rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}

# check MODE EXPECTED-SUBSTRING fabscope-args...
# MODE: both; mpi (only under mpirun: a singleton has 1 rank); single (only without)
check() {
  local mode="$1" want="$2"; shift 2
  local launchers=()
  [ "$mode" = single ] || launchers+=("$MPIRUN")
  [ "$mode" = mpi ] || launchers+=("")
  for launcher in "${launchers[@]}"; do
    local limit=5000
    [ -z "$launcher" ] || limit=$(( 5000 + launch_ms ))
    run_timed "$launcher" "$@"
    # A slow answer is measured again once: the machine is shared, and a
    # refusal that is really slow is slow twice.
    if [ "$rc" != 124 ] && [ "$ms" -gt "$limit" ]; then run_timed "$launcher" "$@"; fi
    local lines=$(grep -cE "^fabscope(\[[0-9]+@[^]]*\])?: error:" "$tmp/e")
    if [ "$rc" = 124 ]; then echo "HANG: $* ${launcher:+(mpirun)}"; fail=1; continue; fi
    # mpirun reports a non-zero exit of its ranks with its own code
    if [ -z "$launcher" ] && [ "$rc" != 2 ]; then echo "rc $rc != 2: $*"; fail=1; fi
    if [ -n "$launcher" ] && [ "$rc" = 0 ]; then echo "rc 0 under mpirun: $*"; fail=1; fi
    if [ "$ms" -gt "$limit" ]; then echo "too slow (${ms} ms > ${limit} ms): $*"; fail=1; fi
    if [ "$lines" != 1 ]; then echo "expected 1 error line, got $lines: $*"; cat "$tmp/e"; fail=1; fi
    if ! grep -q -- "$want" "$tmp/e"; then echo "missing '$want': $*"; cat "$tmp/e"; fail=1; fi
    if [ -e "$tmp/never.json" ]; then echo "results file written for bad input: $*"; fail=1; fi
    echo "ok (${ms} ms${launcher:+, mpirun}): $* -> $(grep 'error:' "$tmp/e")"
  done
}

check both "'foo' for --fabric"         --fabric foo
check both "'bar' for --pattern"        --pattern bar
check both "'12Q' for --min"            --min 12Q
check both "'-1' for --max"             --max -1
check both "'0x' for --min"             --min 0x
check both "larger than --max"          --min 4M --max 8
check both "--factor"                   --factor 1
check both "'0' for --iters"            --iters 0
check single "needs at least 2 ranks"   --fabric loopback --lb-ranks 1
check single "'3' for --peer"          --fabric loopback --lb-ranks 3 --peer 3
check mpi "without mpirun"              --fabric loopback
check single "'7:0.5' for --lb-slow-rank" --fabric loopback --lb-slow-rank 7:0.5
check mpi "--peer"                     --peer 7
check mpi "cannot write results"       --output /nonexistent/dir/x.json
check both "unknown option --frobnicate" --frobnicate
check both "'ring' for --impl"          --pattern latency --impl ring
# every numeric option has a stated range
check both "'0' for --timeout: must be between 1ms and 86400s" --timeout 0
check both "'0' for --window: must be between 1 and 4096" --window 0
check both "'0' for --batch: must be between 1" --batch 0
check both "'2T' for --max: must be between 0 and 1T" --max 2T
check both "'-1' for --warmup" --warmup -1
check both "'1d' for --point-time" --point-time 1d
check both "'0' for --tcp-connect-timeout" --fabric tcp --tcp-connect-timeout 0
check single "'0' for --lb-bw: must be between" --fabric loopback --lb-bw 0
check single "'5s' for --lb-lat: must be between 0 and 1s" --fabric loopback --lb-lat 5s
check both "'0' for --pairs-window" --pattern pairs --pairs-window 0
check both "'0' for --pipe-microbatches" --pattern pipeline --pipe-microbatches 0
# a point that cannot fit in the host's memory: refused before allocating
check mpi "MemAvailable" --max 1T
check both "MemAvailable" --pattern allreduce --max 1T
check single "MemAvailable" --fabric loopback --max 1T
check single "MemAvailable" --fabric loopback --pattern alltoall --max 1T
# ranks launched with different arguments (MPMD): refused by all, one line
if true; then
  timeout 60 mpirun --oversubscribe --bind-to none -np 1 "$FABSCOPE" run --iters 10 : \
    -np 1 "$FABSCOPE" run --iters 11 >"$tmp/o" 2>"$tmp/e"
  rc=$?
  if [ "$rc" = 0 ] || [ "$rc" = 124 ] || ! grep -q "was given different options" "$tmp/e" ||
     [ "$(grep -c 'error:' "$tmp/e")" != 1 ]; then
    echo "MPMD mismatch not refused cleanly (rc $rc)"; cat "$tmp/e"; fail=1
  else
    echo "ok (mpirun MPMD): $(grep 'error:' "$tmp/e")"
  fi
fi
exit $fail
