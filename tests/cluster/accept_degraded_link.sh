#!/usr/bin/env bash
# One direction of one link degraded (picked at random here, not told to
# fabscope): the verdict fails and names exactly that link and direction.
# About 1 minute.
source "$(dirname "${BASH_SOURCE[0]}")/accept_common.sh"

read -r a b < <(shuf -i 0-3 -n 2 | xargs)
src=h$a dst=h$b
"$VC" degrade-link "$src" "$dst" "$DEGRADE_RATE" >/dev/null
accept link
echo "(degraded link: $src->$dst at $DEGRADE_RATE)"
[[ $RC -eq 1 ]] || { cat "$TMP/link.out"; fail "exit code $RC, expected 1"; }
[[ $(verdict link) == FAIL ]] || fail "verdict is not FAIL"
s=$(suspects link) || fail "malformed results or JUnit file"
[[ $s == "link $src->$dst one-way" ]] ||
	fail "suspects are [$s], expected exactly [link $src->$dst one-way]"
ok "degraded link $src->$dst: verdict FAIL, suspect link $src->$dst (one-way) and nothing else"
