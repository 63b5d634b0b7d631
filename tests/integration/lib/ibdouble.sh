# Sourced by the integration tests that run on the software HCA
# (tests/ibdouble): $dbl, its folder in the build tree, and exit 77
# (skipped) when it is not built.  Every process started after this loads
# it in place of libibverbs (LD_LIBRARY_PATH), quietly (IBDOUBLE_QUIET).
dbl="${FSC_BUILD:-.}/tests/ibdouble"
if [ ! -e "$dbl/libibverbs.so.1" ]; then
	echo "skipped: the software HCA is not built ($dbl)"
	exit 77
fi
export LD_LIBRARY_PATH="$dbl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export IBDOUBLE_QUIET=1
