#!/usr/bin/env bash
# Acceptance on a healthy 4-host virtual cluster: the quick spec passes, and
# passes again (no false positive in repeated runs).  About 1 minute.
source "$(dirname "${BASH_SOURCE[0]}")/accept_common.sh"

for run in 1 2; do
	accept "healthy$run"
	[[ $RC -eq 0 ]] || { cat "$TMP/healthy$run.out"; fail "run $run: exit code $RC, expected 0"; }
	[[ $(verdict "healthy$run") == PASS ]] || fail "run $run: verdict is not PASS"
	s=$(suspects "healthy$run") || fail "run $run: malformed results or JUnit file"
	[[ -z $s ]] || fail "run $run: suspects on a healthy cluster: $s"
	ok "healthy run $run passes with no suspect"
done
