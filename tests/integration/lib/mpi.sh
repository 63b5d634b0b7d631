# Sourced by the integration tests that run fabscope under mpirun: $fabscope
# (FABSCOPE, else fabscope on the PATH), a failure (exit 1) without mpirun,
# Open MPI allowed to run as root (it refuses without these; harmless
# otherwise) and quiet about unused components, a scratch folder $tmp
# removed at exit, and fabric_usable_or_skip.
fabscope="${FABSCOPE:-fabscope}"
command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (scripts/setup-deps installs it)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_base_warn_component_unused=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fabric_usable_or_skip NAME: exit 77 (skipped, the reason printed) unless
# `fabscope list` shows fabric NAME built and usable; leaves the listing in
# $list and NAME's line in $line.
fabric_usable_or_skip() {
	list=$("$fabscope" list 2>&1 || true)
	line=$(grep -E "^[[:space:]]*$1[[:space:]]" <<<"$list" || true)
	if ! grep -q 'built, usable' <<<"$line"; then
		echo "skipped: $1 fabric not usable here: ${line:-not listed by $fabscope list}"
		exit 77
	fi
}
