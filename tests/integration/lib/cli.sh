# Sourced by the command-line integration tests (tests/integration/*.sh):
# SRC and FABSCOPE (exported), a scratch folder $tmp removed at exit, and
# fail(), which reports a failure and lets the test go on; the test ends
# with `exit $failed`.  A missing binary is a failure, not a skip.
SRC=${FSC_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
FABSCOPE=${FABSCOPE:-$SRC/build/fabscope}
export FABSCOPE
[[ -x $FABSCOPE ]] || { echo "FAIL: no fabscope binary at $FABSCOPE" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
	echo "FAIL: $*" >&2
	failed=1
}
