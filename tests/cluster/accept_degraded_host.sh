#!/usr/bin/env bash
# One host degraded (picked at random here, not told to fabscope): the
# verdict fails and names exactly that host, as a node problem.  About 1
# minute.
source "$(dirname "${BASH_SOURCE[0]}")/accept_common.sh"

victim=h$(shuf -i 0-3 -n 1)
"$VC" degrade "$victim" "$DEGRADE_RATE" >/dev/null
accept degraded
echo "(degraded host: $victim at $DEGRADE_RATE)"
[[ $RC -eq 1 ]] || { cat "$TMP/degraded.out"; fail "exit code $RC, expected 1"; }
[[ $(verdict degraded) == FAIL ]] || fail "verdict is not FAIL"
s=$(suspects degraded) || fail "malformed results or JUnit file"
[[ $s == "node $victim" ]] || fail "suspects are [$s], expected exactly [node $victim]"
ok "degraded host $victim: verdict FAIL, suspect node $victim and nothing else"
