#!/bin/bash
# Edge cases of rollback and verify (src/lib/ops.c) that the other scenarios
# leave out: release ids given as prefixes (unique, ambiguous, unknown, not
# hex, too long), a rollback to the release already live, rollback by an
# unknown deployment id, a rollback target whose object was damaged, and
# verify finding an extra file, a file made a symlink, a file of another
# size, and a file that is no longer the store's object; a release a failed
# deploy ingested is no default rollback target; a --source too long.
T=t_edges; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

"$MKF" "$SCRATCH/staging/A" t2v-1.3B >/dev/null
"$MKF" "$SCRATCH/staging/B" t2v-1.3B --variant 1 >/dev/null
wt_config "$SCRATCH/w" "{\"source_models_path\":\"$SCRATCH/staging\",
	\"backup\":{\"before_deploy\":false},\"validation\":{\"enabled\":false},\"models\":{\"m\":{\"source\":\"A\"}}}"
cd "$SCRATCH/w"
run 0 "$W" deploy m
A=$(current production m)
run 0 "$W" deploy m --source "$SCRATCH/staging/B"
B=$(current production m)
rel=production/.wanctl/releases/m

# Release ids and prefixes.
run 0 "$W" rollback --model m --to "${A:0:6}"
check "rolled back by prefix" test "$(current production m)" = "$A"
run 0 "$W" rollback --model m --to "$A"
err_has "already runs"
run_in "1 2" "$W" rollback --model m --to XYZ
err_has "is not a release id"
run_in "1 2" "$W" rollback --model m --to "${A}0"
err_has "is not a release id"
other=${A:0:1}; [ "${B:0:1}" = "$other" ] && other=${B:0:1}
z=$(printf '%s' "${other}fffffffffffffff" | head -c 16)
[ "$z" != "$A" ] && [ "$z" != "$B" ] || z=${other}eeeeeeeeeeeeeee
touch "$rel/$z.json"
run_in "1 2" "$W" rollback --model m --to "$other"
err_has "matches several releases"
rm "$rel/$z.json"
run_in "1 2" "$W" rollback --model m --to 0123
if [ "${A:0:4}" != 0123 ] && [ "${B:0:4}" != 0123 ]; then err_has "no release '0123'"; fi
run_in "1 2" "$W" rollback --deployment-id dep-20000101-000000-0000
check "production still on A" test "$(current production m)" = "$A"
check "INV after the refusals" inv_check "$SCRATCH/w/production" "m=$A"

# A rollback target with a damaged object is refused before the switch.
f=$(cd "$rel/$B" && find . -type f -name '*.json' | head -1)
obj=$(readlink -f "$rel/$B/$f")
chmod u+w "$rel/$B/$f"
printf 'x' >> "$rel/$B/$f"
run_in "1 4" "$W" rollback --model m --to "$B" --verify
check "refused: still on A" test "$(current production m)" = "$A"
truncate -s -1 "$rel/$B/$f"
chmod a-w "$rel/$B/$f"
[ -n "$obj" ]

# verify: an extra file, a symlink, another size, a copy instead of the object.
live=$rel/$A
run 0 "$W" verify m
echo extra > "$live/extra.txt"
run 4 "$W" verify m
out_has "extra.txt"
rm -f "$live/extra.txt"
g=$(cd "$live" && find . -type f -name '*.json' | sort | head -1); g=${g#./}
h=$(cd "$live" && find . -type f -name '*.pth' | sort | head -1); h=${h#./}
cp -p "$live/$g" "$SCRATCH/keep"
rm -f "$live/$g"; ln -s /etc/hostname "$live/$g"
run 4 "$W" verify m
rm -f "$live/$g"; cp -p "$SCRATCH/keep" "$live/$g"      # same bytes, not the object
run 4 "$W" verify m --quick
run_in "0 4" "$W" verify m
rm -f "$live/$g"; ln "$(readlink -f "$rel/$B/$g" 2>/dev/null || echo /nonexistent)" "$live/$g" 2>/dev/null ||
	cp -p "$SCRATCH/keep" "$live/$g"
cp -p "$live/$h" "$SCRATCH/keep2"; rm -f "$live/$h"
head -c 10 "$SCRATCH/keep2" > "$live/$h"
run 4 "$W" verify m --quick
run 4 "$W" verify m
# A release that a failed deploy ingested but never made live is no
# rollback target (t_seq found rollback going to one): the first live
# release replaced nothing, so a plain rollback refuses.
cfg2="{\"source_models_path\":\"$SCRATCH/staging\",\"backup\":{\"before_deploy\":false},
	\"validation\":{\"enabled\":false},\"models\":{\"m\":{\"source\":\"A\"}}}"
wt_config "$SCRATCH/w2" "$(jq -c '.deployment.hooks.pre_switch = "exit 1"' <<<"$cfg2")"
cd "$SCRATCH/w2"
run_in "1 4" "$W" deploy m --source "$SCRATCH/staging/B"
check "the failed deploy switched nothing" test ! -e production/m
check "its release stayed in the store" test -d "production/.wanctl/releases/m/$B"
wt_config "$SCRATCH/w2" "$cfg2"
run 0 "$W" deploy m
check "A live" test "$(current production m)" = "$A"
run_in "1 2" "$W" rollback --model m
err_has "no previous release"
check "still A after the refused rollback" test "$(current production m)" = "$A"
run 0 "$W" rollback --model m --to "$B"
check "an explicit --to may still go there" test "$(current production m)" = "$B"
# A --source path too long for a path: refused, named (it said only "path
# too long"), production untouched.
run 1 "$W" deploy m --source "/$(printf 'x%.0s' $(seq 4200))"
err_has "--source '/xxxxxxxx"
err_has "path too long"
check "too long a --source: production untouched" test "$(current production m)" = "$B"

cd "$SCRATCH"
wt_done
