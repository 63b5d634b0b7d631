#!/bin/bash
# `fabscope devices` on the software HCA (tests/ibdouble) and on this
# machine's real libibverbs (no device here): text, --json, exit status.
set -u
dbl="${FSC_BUILD:-.}/tests/ibdouble"
fab="${FABSCOPE:-./fabscope}"
if [ ! -e "$dbl/libibverbs.so.1" ]; then
	echo "skipped: the software HCA is not built ($dbl)"
	exit 77
fi
if ! "$fab" devices --help >/dev/null 2>&1; then
	echo "skipped: fabscope was built without the verbs fabric"
	exit 77
fi
fail=0
check() { # description, condition status
	if [ "$2" -eq 0 ]; then echo "PASS: $1"; else echo "FAIL: $1"; fail=1; fi
}

out=$(LD_LIBRARY_PATH=$dbl IBDOUBLE_QUIET=1 \
	IBDOUBLE_DEVICES="mlx5_0:eth:active:4096:4x_ndr" "$fab" devices)
rc=$?
echo "$out"
check "all ACTIVE: exit 0" $rc
grep -q "port 1: PORT_ACTIVE, Ethernet, 4X NDR = 400 Gb/s, MTU 4096" <<<"$out"
check "rate and MTU" $?
grep -Eq "GID 3: ::ffff:127.0.0.1 +RoCE v2" <<<"$out"
check "RoCE v2 IPv4-mapped GID" $?

out=$(LD_LIBRARY_PATH=$dbl IBDOUBLE_QUIET=1 \
	IBDOUBLE_DEVICES="mlx5_0,mlx5_1:ib:down:2048:4x_edr" "$fab" devices --json)
rc=$?
[ $rc -eq 1 ]
check "a port DOWN: exit 1" $?
python3 - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert d["all_active"] is False
p = d["devices"][1]["ports"][0]
assert p["state"] == "PORT_DOWN" and p["link_layer"] == "InfiniBand", p
assert p["rate"] == "4X EDR = 100 Gb/s" and p["active_mtu"] == 2048, p
assert p["gids"][0]["type"] == "IB"
PY
check "--json" $?

out=$(env -u LD_LIBRARY_PATH "$fab" devices 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "no RDMA device found" <<<"$out"
check "real libibverbs, no device: exit 1 with a reason" $?
exit $fail
