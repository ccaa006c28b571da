#!/bin/bash
# A first deploy over an unmanaged folder <target>/<model> (real files left
# by an older setup) adopts that folder as a release, switches to the new
# one, and a rollback returns to the adopted content byte for byte; an
# empty folder is adopted as an empty release.
T=t_adopt
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

D=$SCRATCH/d
wt_config "$D"
cd "$D"
P=$D/production
M=t2v-1.3B

# The unmanaged folder: a real tree with its own modes, a nested folder
# and an empty file.
mkdir -p "$P"
"$MKF" "$P/$M" $M >/dev/null
printf '' >"$P/$M/empty.txt"
chmod 0600 "$P/$M/config.json"
cp -a "$P/$M" "$SCRATCH/old"
"$MKF" "$D/staging/$M" $M --variant 1 >/dev/null
check "old and new content differ" not same_tree "$SCRATCH/old" "$D/staging/$M"

# An adoption that does not go through (a failing pre_switch hook) leaves
# the unmanaged folder as it was: same content, same modes except the write
# bits, since adoption hard-links its files into the store, whose objects
# are immutable (docs/OPERATIONS.md, "First deploy over an existing folder").
modes() { (cd "$1" && find . -type f -printf '%m %p\n' |
	while read -r mo f; do printf '%o %s\n' $((0$mo & 0555)) "$f"; done | LC_ALL=C sort); }
wt_config "$D" '{"deployment":{"hooks":{"pre_switch":"exit 1"}}}'
run 4 "$W" deploy $M
err_has "pre_switch"
check "failed adoption: still a folder" test -d "$P/$M" -a ! -L "$P/$M"
check "failed adoption: same content" same_tree "$P/$M" "$SCRATCH/old"
check "failed adoption: same file modes but write bits" test "$(modes "$P/$M")" = "$(modes "$SCRATCH/old")"
check "failed adoption: the files are the read-only store objects" \
	test -z "$(find "$P/$M" -type f -perm /0222)"
wt_config "$D"

# Status sees an unmanaged folder.
run 0 "$W" --json status
jq_is "[.models[] | select(.model == \"$M\") | .unmanaged][0]" true

run 0 "$W" -q --json deploy $M
jq_is .status completed
jq_is '.models[0].adopted' true
OLD=$(jq -r '.models[0].from_release' "$SCRATCH/out")
NEW=$(jq -r '.models[0].to_release' "$SCRATCH/out")
check "the adopted folder got a release id" \
	test "$(echo "$OLD" | grep -cE '^[0-9a-f]{16}$')" = 1
check "new release differs from the adopted one" test "$NEW" != "$OLD"
check "production is now a link" test -L "$P/$M"
check "production = staging" same_tree "$P/$M" "$D/staging/$M"
check "the old folder is gone (no debris)" \
	test -z "$(find "$P" -maxdepth 1 -name ".$M.*")"
check "adopted release tree kept in the store" test -d "$P/.wanctl/releases/$M/$OLD"
check "adopted release = the old folder" \
	same_tree "$P/.wanctl/releases/$M/$OLD" "$SCRATCH/old"
check "adopted manifest keeps the file modes (write bits left out)" \
	test "$(jq -r '.files[] | select(.path == "config.json") | .mode' \
		"$P/.wanctl/releases/$M/$OLD.json")" = 256
check "adopted manifest lists the empty file" \
	test "$(jq -r '.files[] | select(.path == "empty.txt") | .size' \
		"$P/.wanctl/releases/$M/$OLD.json")" = 0
check "INV after adoption" inv_check "$P" "$M=$NEW"

run 0 "$W" --json releases $M
jq_is '[.releases[].id] | sort | join(",")' "$(printf '%s\n' "$OLD" "$NEW" | sort | paste -sd,)"
jq_is "[.releases[] | select(.previous) | .id][0]" "$OLD"

# Rollback returns to the adopted content, byte for byte.
run 0 "$W" -q --json rollback --model $M
jq_is '.models[0].from_release' "$NEW"
jq_is '.models[0].to_release' "$OLD"
check "rollback: production = the old folder" same_tree "$P/$M" "$SCRATCH/old"
check "INV after rollback to the adopted release" inv_check "$P" "$M=$OLD"
run 0 "$W" verify $M

# The deployment can also be undone by its id, and redone.
run 0 "$W" -q deploy $M
check "redeploy: on the new release" test "$(current "$P" $M)" = "$NEW"
DEP=$(sqlite3 "$P/.wanctl/state.db" \
	"SELECT deployment_id FROM deployment_models WHERE adopted = 1 LIMIT 1")
check "the database marks the adopting deployment" test -n "$DEP"
run 0 "$W" -q --json rollback --deployment-id "$DEP"
jq_is '.models[0].to_release' "$OLD"
check "rollback --deployment-id: production = the old folder" same_tree "$P/$M" "$SCRATCH/old"
check "INV at the end" inv_check "$P" "$M=$OLD"

# An unmanaged folder with a symlink leaving it is not adopted blindly:
# the deploy is refused and the folder left as it was.
M2=ti2v-5B
mkdir -p "$P/$M2"
echo data >"$P/$M2/a.bin"
ln -s /etc/hostname "$P/$M2/escape"
"$MKF" "$D/staging/$M2" $M2 >/dev/null
before=$(mtree "$P/$M2")
run_in "1 4" "$W" deploy $M2
err_has "escape"
check "refused adoption: folder untouched" unchanged "$P/$M2" "$before"
check "refused adoption: still a folder" test -d "$P/$M2" -a ! -L "$P/$M2"

# An empty unmanaged folder: adopted as a release of no files (the ingest
# of an empty tree), which a rollback brings back as an empty folder.
E=$SCRATCH/e
wt_config "$E" '{"validation":{"enabled":false},"backup":{"before_deploy":false},
	"models":{"x":{"source":"X"}}}'
mkdir -p "$E/staging/X" "$E/production/x"
echo '{"a": 1}' > "$E/staging/X/config.json"
cd "$E"
run 0 "$W" --json deploy x
EMPTY=$(jq -r '.models[0].from_release' "$SCRATCH/out")
check "the empty folder adopted as release '$EMPTY'" \
	test -d "$E/production/.wanctl/releases/x/$EMPTY" -a "$EMPTY" != null
jq_is '.models[0].bytes' 9
run 0 "$W" rollback --model x
check "rollback: production/x is the empty folder again" \
	test -d "$E/production/x/" -a -z "$(ls -A "$E/production/x/")"
check "INV on the empty release" inv_check "$E/production" "x=$EMPTY"
run 0 "$W" verify x
wt_done
