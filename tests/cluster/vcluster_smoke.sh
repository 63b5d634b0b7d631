#!/usr/bin/env bash
# Smoke test of scripts/vcluster: builds a 3-host virtual cluster, launches
# mpirun across it, moves TCP traffic between hosts with iperf3, throttles a
# link and a host and checks the rates, then tears everything down.
#
# Needs root, 'ip netns', mpirun and iperf3; exits 77 (skipped) otherwise, and
# also when a virtual cluster is already up (it is not ours to tear down).
# Rates are checked as generous ratios and bounds: the machine is shared.
# Takes about 15 s.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${FSC_SOURCE:-$(cd "$HERE/../.." && pwd)}
VC=$SRC/scripts/vcluster
PORT=5201

skip() {
	echo "SKIP: $*"
	exit 77
}

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
ip netns list >/dev/null 2>&1 || skip "'ip netns' is not available"
command -v unshare >/dev/null || skip "unshare not found"
command -v mpirun >/dev/null || {
	echo "FAIL: mpirun not found (scripts/setup-deps installs it)"
	exit 1
}
command -v iperf3 >/dev/null || skip "iperf3 not found"
command -v tc >/dev/null || skip "tc not found"
# setpriv comes with util-linux, which scripts/setup-deps installs: without
# it the non-root refusal would go untested.
command -v setpriv >/dev/null || {
	echo "FAIL: setpriv not found (util-linux; run scripts/setup-deps)"
	exit 1
}
ip link show dev fscbr0 >/dev/null 2>&1 &&
	skip "a virtual cluster is already up; not disturbing it"

TMP=$(mktemp -d)
export FSC_VCLUSTER_STATE=$TMP/state

cleanup() {
	local rc=$? pid
	# iperf() runs in a command substitution: its server's pid is in a file.
	pid=$(cat "$TMP/server.pid" 2>/dev/null) || true
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
	"$VC" down >/dev/null 2>&1 || true
	ip link delete fscp1 2>/dev/null || true
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() { echo "ok - $*"; }

# Number of lines of /etc/hosts that vcluster owns.
hosts_lines() { grep -cF '# fabscope-vcluster' /etc/hosts || true; }

# Namespaces named hN.
our_netns() { ip netns list | awk '$1 ~ /^h[0-9]+$/ {print $1}' | sort | xargs; }

# iperf3 for 1 s from host $1 to host $2 (h<idx>); prints the receiver's
# rate in Mbit/s.
iperf() {
	local src=$1 dst=$2 i rate
	timeout 20 "$VC" exec "$dst" iperf3 -s -1 -p "$PORT" >"$TMP/server.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$TMP/server.pid"
	for ((i = 0; i < 100; i++)); do
		"$VC" exec "$dst" ss -Hltn "sport = :$PORT" | grep -q . && break
		sleep 0.05
	done
	rate=$(timeout 20 "$VC" exec "$src" iperf3 -c "198.18.0.$((10 + ${dst#h}))" \
		-p "$PORT" -t 1 -f m |
		awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }')
	# A one-off server exits after its client; a failed client leaves it.
	[[ $rate =~ ^[0-9.]+$ ]] || kill "$pid" 2>/dev/null || true
	wait "$pid" || true
	rm -f "$TMP/server.pid"
	[[ $rate =~ ^[0-9.]+$ ]] || fail "iperf3 $src->$dst gave no rate"
	echo "$rate"
}

# awk-evaluated assertion on rates: cond "a < 4 * b" etc.
check() {
	local what=$1 expr=$2
	shift 2
	awk "BEGIN { exit !($expr) }" || fail "$what ($*)"
	ok "$what ($*)"
}

# --- refusals -------------------------------------------------------------
# The unprivileged user runs a copy in a world-readable directory: the
# checkout may sit where only root can read (a clone under /root, mode 700),
# and this checks the script's refusal, not the checkout's permissions.
nobody_dir=$(mktemp -d /tmp/fsc-vcluster-nobody.XXXXXX)
cp "$VC" "$nobody_dir/vcluster"
chmod 755 "$nobody_dir" "$nobody_dir/vcluster"
out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$nobody_dir/vcluster" up 2 2>&1) && rc=0 || rc=$?
rm -rf "$nobody_dir"
[[ $rc -eq 2 && $out == *"must run as root"* ]] || fail "non-root up: rc=$rc '$out'"
ok "refuses without root"
"$VC" status >/dev/null && rc=0 || rc=$?
[[ $rc -eq 3 ]] || fail "status when down: rc=$rc, want 3"
if "$VC" up 0 2>/dev/null; then fail "up 0 accepted"; fi

# --- a failed up leaves nothing behind ------------------------------------
# A link already named like h1's namespace-side veth makes up fail midway.
ip link add fscp1 type veth peer name fscq1
"$VC" up 3 >/dev/null 2>&1 && fail "up succeeded despite a name clash"
ip link delete fscp1
[[ -z $(our_netns) ]] || fail "failed up left namespaces: $(our_netns)"
! ip link show dev fscbr0 >/dev/null 2>&1 || fail "failed up left the bridge"
[[ $(hosts_lines) -eq 0 ]] || fail "failed up left /etc/hosts lines"
ok "failed up cleans up"

# --- up, idempotence, status ----------------------------------------------
"$VC" up 3 >/dev/null
out=$("$VC" up 3)
[[ $out == *"already up"* ]] || fail "second up 3 was not a no-op: $out"
[[ $(our_netns) == "h0 h1 h2" ]] || fail "namespaces: '$(our_netns)'"
[[ $(hosts_lines) -eq 3 ]] || fail "/etc/hosts has $(hosts_lines) vcluster lines, want 3"
grep -qx 'h2 slots=1' "$FSC_VCLUSTER_STATE/hostfile" || fail "hostfile"
ok "up 3 twice"
"$VC" up 2 >/dev/null
[[ $(our_netns) == "h0 h1" && $(hosts_lines) -eq 2 ]] ||
	fail "up 2 after up 3: '$(our_netns)', $(hosts_lines) hosts lines"
"$VC" up 3 >/dev/null
ok "up with another size rebuilds"
out=$("$VC" status) || fail "status when up: rc=$?"
[[ $out == *"state: up"* && $out == *"198.18.0.12"* ]] || fail "status: $out"
ok "status"

# --- mpirun across hosts --------------------------------------------------
out=$(timeout 60 "$VC" mpirun -np 3 hostname | sort | xargs)
[[ $out == "h0 h1 h2" ]] || fail "mpirun -np 3 hostname: '$out'"
ok "mpirun -np 3 hostname: $out"
out=$(timeout 60 "$VC" mpirun -np 3 sh -c 'hostname' | sort | xargs)
[[ $out == "h0 h1 h2" ]] || fail "mpirun -np 3 sh -c 'hostname': '$out'"
ok "mpirun -np 3 sh -c 'hostname': $out"
# shellcheck disable=SC2016 # expanded inside the host
out=$("$VC" exec h1 sh -c 'echo "$(hostname) a  b"')
[[ $out == "h1 a  b" ]] || fail "exec h1: '$out'"
ok "exec keeps arguments intact"

# --- hosts share no memory ------------------------------------------------
# Own IPC namespace and /dev/shm per host, so that shared-memory transports
# cannot reach another host and bypass the virtual network.
# (Namespaces of launches that have ended may share an inode number:
# hosts are compared with each other under one mpirun, below.)
root_ipc=$(readlink /proc/self/ns/ipc)
h0_ipc=$("$VC" exec h0 readlink /proc/self/ns/ipc)
[[ $h0_ipc != "$root_ipc" ]] || fail "h0 shares the root's IPC namespace $root_ipc"
marker=fsc-smoke-$$
# shellcheck disable=SC2016 # expanded inside the host
out=$("$VC" exec h0 sh -c 'touch "/dev/shm/$0" && ls /dev/shm' "$marker")
[[ $out == "$marker" ]] || fail "h0's /dev/shm is not private: '$out'"
[[ ! -e /dev/shm/$marker ]] || fail "h0's /dev/shm file appeared in the root's"
ok "hosts have their own IPC namespace and /dev/shm"
# Each rank stays alive until both have printed, so that neither
# namespace can be freed and its number reused.
out=$(timeout 60 "$VC" mpirun -np 2 sh -c 'readlink /proc/self/ns/ipc; sleep 2' |
	sort -u | wc -l)
[[ $out -eq 2 ]] || fail "mpirun ranks on 2 hosts share an IPC namespace"
ok "mpirun ranks on different hosts have different IPC namespaces"
if command -v ucx_perftest >/dev/null; then
	# UCX between hosts must go over the network (tcp), not sysv/cma.
	timeout 30 "$VC" exec h1 env UCX_LOG_LEVEL=info ucx_perftest -t tag_bw -n 20 \
		>"$TMP/ucx_server.log" 2>&1 &
	spid=$!
	sleep 1
	timeout 30 "$VC" exec h0 env UCX_LOG_LEVEL=info ucx_perftest 198.18.0.11 -t tag_bw \
		-n 20 >"$TMP/ucx_client.log" 2>&1 || true
	wait "$spid" || true
	cfg=$(grep -h 'ep_cfg' "$TMP/ucx_client.log" | head -1)
	[[ $cfg == *tcp/eth0* && $cfg != *sysv* && $cfg != *cma* && $cfg != *posix* ]] ||
		fail "UCX between h0 and h1 does not use tcp/eth0 only: '$cfg'"
	ok "UCX between hosts: ${cfg##*INFO }"
fi

# --- TCP between hosts, link and host degradation -------------------------
h01=$(iperf h0 h1)
h02=$(iperf h0 h2)
check "healthy h0->h1 and h0->h2 move data" "$h01 > 0 && $h02 > 0" \
	"h0->h1 $h01, h0->h2 $h02 Mbit/s"

"$VC" degrade-link h0 h1 50mbit >/dev/null
d01=$(iperf h0 h1)
d02=$(iperf h0 h2)
check "degrade-link h0 h1 50mbit throttles only h0->h1" \
	"$d01 <= 75 && $d02 >= 4 * $d01" "h0->h1 $d01, h0->h2 $d02 Mbit/s"

"$VC" heal >/dev/null
e01=$(iperf h0 h1)
check "heal restores h0->h1" "$e01 >= 4 * $d01" "h0->h1 $e01 Mbit/s"

"$VC" degrade h2 20mbit >/dev/null
out=$("$VC" status)
[[ $out == *"tbf 20Mbit"* ]] || fail "status does not show the degradation: $out"
g02=$(iperf h0 h2)
g20=$(iperf h2 h0)
g01=$(iperf h0 h1)
check "degrade h2 20mbit throttles h2 both ways" \
	"$g02 <= 30 && $g20 <= 30 && $g01 >= 4 * $g02" \
	"h0->h2 $g02, h2->h0 $g20, h0->h1 $g01 Mbit/s"
"$VC" heal >/dev/null

# reach SRC DST: a TCP connection from SRC to a listener on DST opens
# within 2 s.
reach() {
	local dst=$2 pid i rc
	timeout 10 "$VC" exec "$dst" iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		"$VC" exec "$dst" ss -Hltn "sport = :$PORT" | grep -q . && break
		sleep 0.05
	done
	"$VC" exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/198.18.0.$((10 + ${dst#h}))/$PORT" \
		>/dev/null 2>&1
	rc=$?
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return "$rc"
}
"$VC" cut h1 >/dev/null
out=$("$VC" status)
[[ $out == *"cut off"* ]] || fail "status does not show the cut: $out"
! reach h0 h1 || fail "h0 still reaches h1 after cut h1"
! reach h1 h2 || fail "h1 still reaches h2 after cut h1"
reach h0 h2 || fail "cut h1 also cut h0->h2"
"$VC" heal >/dev/null
reach h0 h1 || fail "heal did not restore h1"
ok "cut h1 loses every packet to and from h1 only; heal restores it"

# --- down -----------------------------------------------------------------
"$VC" down >/dev/null
[[ -z $(our_netns) ]] || fail "down left namespaces: $(our_netns)"
! ip link show dev fscbr0 >/dev/null 2>&1 || fail "down left the bridge"
[[ -z $(ip -br link | awk '$1 ~ /^fscv/') ]] || fail "down left veths"
[[ $(hosts_lines) -eq 0 ]] || fail "down left /etc/hosts lines"
[[ ! -e $FSC_VCLUSTER_STATE ]] || fail "down left the state directory"
"$VC" down >/dev/null || fail "down when down failed"
ok "down removes everything"
echo "PASS"
