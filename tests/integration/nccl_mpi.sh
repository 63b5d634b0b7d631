#!/usr/bin/env bash
# The nccl fabric under mpirun on the CUDA/NCCL stand-in (tests/cudadouble,
# first on LD_LIBRARY_PATH; one device per rank): every pattern with
# verified data on 2 to 5 ranks (fabscope's own algorithms over NCCL
# send/recv and NCCL's collectives), then the failures: a rank that never
# joins (the error says who waited), two ranks stuck in set-up (both
# named), an operation that never completes (aborted at --timeout, the run
# ends), two ranks on one GPU (refused before NCCL),
# and `fabscope list` without the libraries or without a device.
set -euo pipefail
# shellcheck source=tests/integration/lib/cli.sh
source "$(dirname "$0")/lib/cli.sh"
command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (scripts/setup-deps installs it)"; exit 1; }
"$FABSCOPE" list 2>/dev/null | grep -qE '^ +nccl +built' || { echo "nccl fabric not built"; exit 77; }
"$FABSCOPE" list 2>/dev/null | grep -qE '^ +mpi +built' || { echo "mpi fabric not built"; exit 77; }
sd="$FSC_BUILD/tests/cudadouble"
[[ -e $sd/libnccl.so.2 && -e $sd/libcudart.so.13 ]] || { echo "FAIL: the stand-in is not built in $sd"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export LD_LIBRARY_PATH="$sd${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" FSC_CUDADOUBLE_DEVICES=5
mpi=(mpirun --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 -x LD_LIBRARY_PATH
	-x FSC_CUDADOUBLE_DEVICES)

"$FABSCOPE" list | grep -qE '^ +nccl +built, usable' || fail "nccl not usable on the stand-in: $("$FABSCOPE" list | grep nccl)"

# Every pattern, every impl, verified every iteration.
for np in 2 3 5; do
	rc=0
	"${mpi[@]}" -np "$np" "$FABSCOPE" run --fabric nccl \
		--pattern latency,bandwidth,alltoall,pipeline,allreduce,reducescatter,allgather,broadcast \
		--impl all --dtype float32,bfloat16 --op sum,max --min 4 --max 120000 --factor 30 \
		--iters 3 --warmup 1 --check every --window 4 --timeout 60s \
		--output "$tmp/r$np.json" >"$tmp/out$np.txt" 2>&1 || rc=$?
	if ((rc)); then
		cat "$tmp/out$np.txt"
		fail "np $np: exited with $rc"
		continue
	fi
	python3 - "$tmp/r$np.json" "$np" <<'PY' || fail "np $np: records"
import json, sys
d = json.load(open(sys.argv[1]))
np_ = int(sys.argv[2])
recs = d["records"]
assert d["status"] == "complete", d["status"]
ran = {}
for r in recs:
    if r["status"] == "skipped":
        continue
    assert r["status"] == "ok" and r["wrong"] == 0, r
    assert r["check"] == "every", r
    assert r["gpu_time_us"]["n"] == r["time_us"]["n"], r
    ran.setdefault(r["pattern"], set()).add(r["impl"])
want = {"latency": {"pingpong"}, "bandwidth": {"uni", "bi"}, "alltoall": {"pairwise", "native"},
        "pipeline": {"chain"}, "allreduce": {"ring", "rd", "native"},
        "reducescatter": {"ring", "native"}, "allgather": {"ring", "native"},
        "broadcast": {"chain", "tree", "native"}}
assert ran == want, ran
print(f"nccl_mpi: np {np_}: {sum(r['status'] == 'ok' for r in recs)} points ok, 0 wrong")
PY
done
"${mpi[@]}" -np 3 "$FABSCOPE" run --fabric nccl --pattern pairs --pairs-per-rank \
	--pairs-bw-size 64K --pairs-window 4 --pairs-repeats 2 --pairs-lat-iters 5 --timeout 60s \
	--output "$tmp/pairs.json" >"$tmp/pairs.txt" 2>&1 || { cat "$tmp/pairs.txt"; fail "pairs over nccl"; }

# NCCL's debug output beside the results, one file per rank, named in the
# results.
mkdir -p "$tmp/dbg"
"${mpi[@]}" -np 2 "$FABSCOPE" run --fabric nccl --pattern allreduce --impl native --min 64 \
	--max 64 --iters 3 --nccl-debug INFO --output "$tmp/dbg/res.json" >"$tmp/dbg.txt" 2>&1 ||
	{ cat "$tmp/dbg.txt"; fail "--nccl-debug INFO"; }
python3 - "$tmp/dbg/res.json" <<'PY' || fail "--nccl-debug: files"
import json, os, sys
d = json.load(open(sys.argv[1]))
dbg = d["meta"]["fabrics"]["nccl"]["nccl_debug"]
assert dbg["level"] == "INFO" and dbg["file"].endswith("/res.nccl.%h.%p.log"), dbg
assert len(dbg["files"]) == 2, dbg
for f in dbg["files"]:
    assert "Init COMPLETE" in open(f).read(), f
rows = d["meta"]["fabrics"]["nccl"]["placement"]
assert [r["rank"] for r in rows] == [0, 1] and all("numa_node" in r and "nic" in r for r in rows), rows
PY
! grep -q "NCCL INFO" "$tmp/dbg.txt" || fail "--nccl-debug: NCCL's lines on stdout"

# A rank whose set-up never reaches NCCL's root: every rank gives up at
# --timeout and the run fails; every rank came to NCCL's set-up and none
# completed it, and NCCL does not say which one it waits for, so the error
# says so and lists them all.
rc=0
FSC_CUDADOUBLE_NEVER_JOIN=1 timeout 120 "${mpi[@]}" -x FSC_CUDADOUBLE_NEVER_JOIN -np 3 \
	"$FABSCOPE" run --fabric nccl --pattern allreduce --min 64 --max 64 --timeout 3s \
	>"$tmp/nojoin.txt" 2>&1 || rc=$?
((rc != 0 && rc != 124)) || fail "never-joining rank: exit $rc"
grep -qE "did not come up within 3.0 s: ranks 0, 1, 2 reached NCCL's set-up but never completed it" "$tmp/nojoin.txt" || { cat "$tmp/nojoin.txt"; fail "the waiting ranks are not named"; }

# Two ranks that never come back from NCCL's set-up (stuck inside the
# call): the bootstrap names both, and only them.
rc=0
FSC_CUDADOUBLE_STALL_INIT=1,2 FSC_CUDADOUBLE_TIMEOUT_S=40 timeout 120 "${mpi[@]}" \
	-x FSC_CUDADOUBLE_STALL_INIT -x FSC_CUDADOUBLE_TIMEOUT_S -np 4 \
	"$FABSCOPE" run --fabric nccl --pattern allreduce --min 64 --max 64 --timeout 3s \
	>"$tmp/stall.txt" 2>&1 || rc=$?
((rc != 0 && rc != 124)) || { cat "$tmp/stall.txt"; fail "two stalled ranks: exit $rc"; }
grep -q "the communicator did not come up: ranks 1, 2 never joined" "$tmp/stall.txt" || { cat "$tmp/stall.txt"; fail "the two stalled ranks are not both named"; }

# An operation that never completes: aborted at --timeout, the run ends.
rc=0
FSC_CUDADOUBLE_HANG=1:3 timeout 120 "${mpi[@]}" -x FSC_CUDADOUBLE_HANG -np 2 \
	"$FABSCOPE" run --fabric nccl --pattern allreduce --impl native --min 64 --max 64 \
	--iters 5 --warmup 1 --timeout 3s >"$tmp/hang.txt" 2>&1 || rc=$?
((rc != 0 && rc != 124)) || { cat "$tmp/hang.txt"; fail "stuck operation: exit $rc"; }
grep -q "did not complete within 3.0 s" "$tmp/hang.txt" || { cat "$tmp/hang.txt"; fail "stuck operation not reported"; }
grep -q "aborting the communicator" "$tmp/hang.txt" || fail "stuck operation: no abort"

# Two ranks on one GPU: refused before NCCL is called, both named.
rc=0
timeout 120 "${mpi[@]}" -np 2 "$FABSCOPE" run --fabric nccl --nccl-dev 0 --pattern allreduce \
	--min 64 --max 64 >"$tmp/same.txt" 2>&1 || rc=$?
((rc != 0 && rc != 124)) || fail "two ranks on one GPU: exit $rc"
grep -q "ranks 0 and 1 both use GPU" "$tmp/same.txt" || { cat "$tmp/same.txt"; fail "two ranks on one GPU not named"; }

# Without the libraries, or without a device, `list` says why.
FSC_CUDART=/nonexistent/libcudart.so FSC_LIBNCCL=/nonexistent/libnccl.so \
	LD_LIBRARY_PATH=/nonexistent "$FABSCOPE" list >"$tmp/list1.txt" 2>&1 || true
FSC_CUDADOUBLE_DEVICES=0 "$FABSCOPE" list >"$tmp/list2.txt" 2>&1 || true
if ldconfig -p 2>/dev/null | grep -q 'libcudart.so'; then
	: # a CUDA runtime on the system path answers instead of "no CUDA runtime"
else
	grep -qE '^ +nccl +built, not usable here: no CUDA runtime' "$tmp/list1.txt" || { cat "$tmp/list1.txt"; fail "list without libraries"; }
fi
grep -qE '^ +nccl +built, not usable here: no (GPU visible|CUDA driver)' "$tmp/list2.txt" || { cat "$tmp/list2.txt"; fail "list without a device"; }
exit $failed
