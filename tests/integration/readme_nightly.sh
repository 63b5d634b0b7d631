#!/usr/bin/env bash
# The README shows a report's screenshot and the nightly set-up, and they
# are real: the image it names is a PNG of a readable size in the tree, the
# systemd service, timer and crontab line call scripts/nightly, and every
# option those lines give the script is one the script accepts.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/cli.sh"
readme=$SRC/README.md

# the screenshot
img=$(grep -oE '!\[[^]]*\]\([^)]+\.png\)' "$readme" | head -1 | sed -E 's/.*\(([^)]+)\)/\1/')
[[ -n $img ]] || fail "README shows no PNG image"
if [[ -n $img && ! -f $SRC/$img ]]; then
	fail "README's image '$img' is not in the tree"
elif [[ -n $img ]]; then
	[[ $(head -c 8 "$SRC/$img" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
		fail "README's image '$img' is not a PNG"
	# width and height from the IHDR chunk: a screenshot, not an icon
	read -r w h < <(od -An -tu1 -j16 -N8 "$SRC/$img" |
		awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}')
	[[ ${w:-0} -ge 800 && ${h:-0} -ge 400 ]] || fail "README's image is ${w}x${h}, too small to read"
	[[ $(stat -c %s "$SRC/$img") -gt 20000 ]] || fail "README's image is nearly empty"
fi

# the nightly set-up: a systemd service and timer, and a crontab line
grep -q '^ExecStart=.*scripts/nightly ' "$readme" || fail "README: no systemd service running scripts/nightly"
grep -q '^OnCalendar=' "$readme" || fail "README: no systemd timer"
grep -qE '^[0-9*/,-]+ [0-9*/,-]+ [0-9*/,-]+ [0-9*/,-]+ [0-9*/,-]+ .*scripts/nightly ' "$readme" ||
	fail "README: no crontab line running scripts/nightly"
# every option the README gives scripts/nightly is one it parses
opts=$(grep -E '(ExecStart=|^[0-9*].*scripts/nightly )' "$readme" | grep -oE ' --[a-z-]+' | sort -u)
[[ -n $opts ]] || fail "README: the nightly lines give no options"
for o in $opts; do
	grep -qE "^[[:space:]]*$o\)" "$SRC/scripts/nightly" || fail "README gives scripts/nightly '$o', which it does not accept"
done
# and the script refuses one it does not know, so the check above means something
got=$("$SRC/scripts/nightly" /dev/null --no-such-option 2>&1 >/dev/null)
[[ $? -eq 2 && $got == *"unknown option '--no-such-option'"* ]] || fail "nightly: unknown option: [$got]"
exit $failed
