#!/usr/bin/env bash
# More than four hosts (5; FSC_ACCEPT_HOSTS to change): one host degraded,
# then one direction of one link, each picked at random from a seed that is
# printed (FSC_TEST_SEED to replay one), never told to fabscope.  Each time
# the verdict fails and names exactly the victim, and the pairs test of
# every fabric that ran (mpi, tcp, ucx, and verbs over the software HCA when
# it is built) saw it: the hosts share no memory, so every fabric crosses
# the throttled virtual network.  About 5 minutes.
HOSTS=${FSC_ACCEPT_HOSTS:-5}
source "$(dirname "${BASH_SOURCE[0]}")/accept_common.sh"

((HOSTS > 4)) || fail "FSC_ACCEPT_HOSTS must be more than 4, got '$HOSTS'"
seed=${FSC_TEST_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
[[ $seed =~ ^[0-9]+$ ]] || fail "FSC_TEST_SEED must be a non-negative integer, got '$seed'"
echo "seed $seed (FSC_TEST_SEED=$seed replays these choices)"
RANDOM=$seed
victim=h$((RANDOM % HOSTS))
a=$((RANDOM % HOSTS))
b=$(((a + 1 + RANDOM % (HOSTS - 1)) % HOSTS))
src=h$a dst=h$b

"$VC" degrade "$victim" "$DEGRADE_RATE" >/dev/null
accept host
echo "(degraded host: $victim at $DEGRADE_RATE)"
[[ $RC -eq 1 ]] || { cat "$TMP/host.out"; fail "exit code $RC, expected 1"; }
[[ $(verdict host) == FAIL ]] || fail "verdict is not FAIL"
s=$(suspects host) || fail "malformed results or JUnit file"
[[ $s == "node $victim" ]] || fail "suspects are [$s], expected exactly [node $victim]"
seen_everywhere host || fail "host $victim was not named by every fabric"
ok "degraded host $victim of $HOSTS: verdict FAIL, suspect node $victim and nothing else, over every fabric"

"$VC" heal >/dev/null
"$VC" degrade-link "$src" "$dst" "$DEGRADE_RATE" >/dev/null
accept link
echo "(degraded link: $src->$dst at $DEGRADE_RATE)"
[[ $RC -eq 1 ]] || { cat "$TMP/link.out"; fail "exit code $RC, expected 1"; }
[[ $(verdict link) == FAIL ]] || fail "verdict is not FAIL"
s=$(suspects link) || fail "malformed results or JUnit file"
[[ $s == "link $src->$dst one-way" ]] ||
	fail "suspects are [$s], expected exactly [link $src->$dst one-way]"
seen_everywhere link || fail "link $src->$dst was not named by every fabric"
ok "degraded link $src->$dst of $HOSTS hosts: verdict FAIL, suspect link $src->$dst (one-way) and nothing else, over every fabric"
