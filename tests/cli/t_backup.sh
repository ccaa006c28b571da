#!/bin/bash
# The backup repository end to end on fixture models:
#  create -> verify -> list; a second release sharing files writes only the
#  new files; deploy backs up the release it replaces (before_deploy); a
#  failing backup stops the deploy with production untouched unless
#  --no-backup; a flipped byte, a truncated object, a missing object, a
#  malformed or hostile snapshot are each reported by verify (naming the
#  object) and refused by restore; rollback restores a release whose store
#  objects, tree and manifest were deleted (production byte for byte) and
#  replaces a damaged store object; restore --to DIR; prune keeps the
#  newest, the current release's snapshot and what they reference.
T=t_backup
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

D=$SCRATCH/d
wt_config "$D" '{"backup":{"keep":5,"max_age_days":0}}'
cd "$D"
P=$D/production
S=$P/.wanctl
B=$D/backups
M=t2v-1.3B

"$MKF" "$SCRATCH/v0" $M >/dev/null
"$MKF" "$SCRATCH/v1" $M --variant 1 >/dev/null
"$MKF" "$SCRATCH/v2" $M --variant 2 >/dev/null
stage() { rm -rf "$D/staging/$M"; mkdir -p "$D/staging"; cp -a "$SCRATCH/$1" "$D/staging/$M"; }
nobjects() { find "$B/objects" -type f -name '*.zst' | wc -l; }
# shas of a release's manifest in the store, one per line, sorted unique
shas() { jq -r '.files[].sha256' "$S/releases/$M/$1.json" | sort -u; }
obj() { echo "$B/objects/sha256/${1:0:2}/${1:2}.zst"; }

# 1. Deploy v0 (first deploy: nothing to back up), then back it up.
stage v0
run 0 "$W" -q deploy $M
A=$(current "$P" $M)
check "no repository before the first backup" test ! -e "$B/FORMAT"
run 0 "$W" --json backup create
jq_is '.snapshots | length' 1
jq_is '.snapshots[0].model' $M
jq_is '.snapshots[0].release' "$A"
jq_is '.snapshots[0].status' created
NA=$(shas "$A" | wc -l)
jq_is '.snapshots[0].objects_written' "$NA"
jq_is '.snapshots[0].stored < .snapshots[0].bytes' true
check "FORMAT file" grep -qx 'wanctl-backup-1' "$B/FORMAT"
check "one object per distinct file" test "$(nobjects)" = "$NA"
check "objects are read-only" test "$(find "$B/objects" -type f -perm /0222 | wc -l)" = 0
check "snapshot published" test -f "$B/snapshots/$M/$A.json"
check "tmp/ empty" test -z "$(ls -A "$B/tmp")"
check "snapshot holds the release manifest" \
	test "$(jq -c .manifest.files "$B/snapshots/$M/$A.json")" = "$(jq -c .files "$S/releases/$M/$A.json")"
check "safetensors stored as byte planes" \
	test "$(jq '[.objects[] | select(.codec == "byteplane+zstd")] | length' "$B/snapshots/$M/$A.json")" -gt 0
check "backups table row" \
	test "$(sqlite3 "$S/state.db" "SELECT count(*) FROM backups WHERE model='$M' AND release='$A'")" = 1

# A second create writes nothing.
run 0 "$W" --json backup create $M
jq_is '.snapshots[0].status' exists
jq_is '.snapshots[0].objects_written' 0
check "still $NA objects" test "$(nobjects)" = "$NA"

# Every object decodes with zstd itself (the index is a skippable frame).
big=$(jq -r '.manifest.files | max_by(.size) | .sha256' "$B/snapshots/$M/$A.json")
check "an object is a valid zstd stream" zstd -q -t "$(obj "$big")"

# 2. verify / list
run 0 "$W" --json backup verify
jq_is .ok true
jq_is .objects "$NA"
jq_is '.damaged | length' 0
run 0 "$W" backup verify --quick
out_has "backup repository ok"
run 0 "$W" --json backup list
jq_is '.snapshots | length' 1
jq_is '.snapshots[0].release' "$A"
jq_is '.totals.objects' "$NA"
jq_is '.totals.ratio < 1' true

# 3. A new release (v1), deployed: before_deploy backs up the replaced
# release A only if missing (it is there: nothing written).
stage v1
run 0 "$W" -q --json deploy $M
Bv=$(current "$P" $M)
check "v1 deployed" test "$Bv" != "$A"
check "deploy wrote nothing to the repository (A already there)" test "$(nobjects)" = "$NA"

# 4. Deploy v2 with before_deploy: the replaced release (v1) is backed up,
# and only the files it does not share with A are written.
stage v2
run 0 "$W" -q deploy $M
C=$(current "$P" $M)
check "v1 backed up by the deploy that replaced it" test -f "$B/snapshots/$M/$Bv.json"
NEW_B=$(comm -13 <(shas "$A") <(shas "$Bv") | wc -l)
check "v1 shares files with v0" test "$NEW_B" -lt "$(shas "$Bv" | wc -l)"
check "only v1's new files were written ($NEW_B)" test "$(nobjects)" = $((NA + NEW_B))
# A second release sharing files, backed up by hand: only its new files.
run 0 "$W" --json backup create
jq_is '.snapshots[0].release' "$C"
NEW_C=$(comm -13 <(sort -u <(shas "$A") <(shas "$Bv")) <(shas "$C") | wc -l)
jq_is '.snapshots[0].objects_written' "$NEW_C"
newbytes=$(jq -s --slurpfile a "$S/releases/$M/$A.json" --slurpfile b "$S/releases/$M/$Bv.json" \
	'[.[0].files[] | select(.sha256 as $s | ([$a[0].files[].sha256, $b[0].files[].sha256] | index($s)) | not) | .size] | add' \
	"$S/releases/$M/$C.json")
jq_is '.snapshots[0].bytes_read' "$newbytes"
jq_is '.snapshots[0].bytes_read < .snapshots[0].bytes' true
run 0 "$W" --json backup list
jq_is '.snapshots | length' 3
jq_is "[.snapshots[] | select(.release == \"$C\") | .shared_objects > 0] | .[0]" true
run 0 "$W" backup verify

# 5. Damage, one kind at a time, on a copy of the good repository.
cp -a "$B" "$SCRATCH/good"
reset_repo() { chmod -R u+w "$B"; rm -rf "$B"; cp -a "$SCRATCH/good" "$B"; }
bigsha=$(jq -r '.files | max_by(.size) | .sha256' "$S/releases/$M/$A.json")
bigpath=$(jq -r '.files | max_by(.size) | .path' "$S/releases/$M/$A.json")
bigrel=objects/sha256/${bigsha:0:2}/${bigsha:2}.zst
damage_checks() { # WHAT: verify names the object; restore refuses
	local what=$1 q=${2:-}
	run 4 "$W" --json backup verify $q
	jq_is .ok false
	jq_is '.damaged[0].path' "$bigrel"
	jq_is '.damaged[0].object' "$bigsha"
	jq_is "[.damaged[0].files[] | select(. == \"$M/$A:$bigpath\")] | length" 1
	jq_is "[.broken_snapshots[] | select(. == \"$M/$A\")] | length" 1
	run 4 "$W" backup verify $q
	out_has "$bigrel"
	run 1 "$W" backup restore $M --release "$A" --to "$SCRATCH/r-$what"
	err_has "$bigpath"
	check "$what: the damaged file is not restored" test ! -e "$SCRATCH/r-$what/$bigpath"
}
# a flipped byte in the middle of the object (full verify decodes it)
reset_repo
chmod u+w "$B/$bigrel"
sz=$(stat -c %s "$B/$bigrel")
printf '\x5a' | dd of="$B/$bigrel" bs=1 seek=$((sz / 3)) conv=notrunc status=none
damage_checks flipped
# a truncated object (quick verify sees it)
reset_repo
chmod u+w "$B/$bigrel"
truncate -s $((sz - 100)) "$B/$bigrel"
damage_checks truncated --quick
err_has "truncated"
# a missing object
reset_repo
rm -f "$B/$bigrel"
damage_checks missing --quick
run 4 "$W" --json backup verify --quick
jq_is '.damaged[0].problem' missing
# a malformed snapshot
reset_repo
chmod u+w "$B/snapshots/$M/$A.json"
echo '{"format": "wanctl-backup-snapshot-1", "model": ' >"$B/snapshots/$M/$A.json"
run 4 "$W" --json backup verify
jq_is '.bad_snapshots | length' 1
jq_is ".bad_snapshots[0].path" "$B/snapshots/$M/$A.json"
run 1 "$W" backup restore $M --release "$A" --to "$SCRATCH/r-malformed"
err_has "$B/snapshots/$M/$A.json"
check "malformed: nothing restored" test ! -e "$SCRATCH/r-malformed"
# a hostile snapshot: a manifest path that leaves the target
reset_repo
chmod u+w "$B/snapshots/$M/$A.json"
jq '.manifest.files[0].path = "../../escape"' "$SCRATCH/good/snapshots/$M/$A.json" >"$B/snapshots/$M/$A.json"
run 4 "$W" --json backup verify
jq_is '.bad_snapshots | length' 1
run 1 "$W" backup restore $M --release "$A" --to "$SCRATCH/r-hostile"
check "hostile: nothing escaped" test ! -e "$SCRATCH/escape"
# a snapshot that is a symlink is not followed
reset_repo
rm -f "$B/snapshots/$M/$A.json"
ln -s "$SCRATCH/good/snapshots/$M/$A.json" "$B/snapshots/$M/$A.json"
run 4 "$W" --json backup verify
jq_is '.bad_snapshots | length' 1
# a corrupt index (the end of the object)
reset_repo
chmod u+w "$B/$bigrel"
printf '\xff\xfe' | dd of="$B/$bigrel" bs=1 seek=$((sz - 20)) conv=notrunc status=none
run 4 "$W" --json backup verify --quick
jq_is '.damaged[0].path' "$bigrel"
reset_repo
run 0 "$W" backup verify

# 6. Restore into a plain folder.
run 0 "$W" --json backup restore $M --release "$A" --to "$SCRATCH/rA"
jq_is .files "$(jq '.files | length' "$S/releases/$M/$A.json")"
check "restore --to: byte for byte v0" same_tree "$SCRATCH/rA" "$SCRATCH/v0"
run 1 "$W" backup restore $M --release "$A" --to "$SCRATCH/rA"
err_has "not empty"
run 1 "$W" backup restore $M --release 0000000000000000 --to "$SCRATCH/rX"
err_has "no snapshot"

# 7. Rollback from the backup: A's tree, manifest and objects are gone
# from the store.
find "$S/releases/$M/$A" -type d -exec chmod u+w {} +
rm -rf "$S/releases/$M/$A" "$S/releases/$M/$A.json"
for s in $(comm -23 <(jq -r '.manifest.files[].sha256' "$B/snapshots/$M/$A.json" | sort -u) <(shas "$C")); do
	rm -f "$S/objects/sha256/${s:0:2}/${s:2}"
done
run 0 "$W" --json rollback --model $M --to "$A"
jq_is .status completed
check "rollback from backup: production = v0 byte for byte" same_tree "$P/$M" "$SCRATCH/v0"
check "INV after the rollback from backup" inv_check "$P" "$M=$A"

# A damaged store object of a release that is not current: rollback
# --verify replaces it (unlink + publish) and relinks the tree.
vsha=$(comm -23 <(shas "$C") <(shas "$A") | head -1)
vobj=$S/objects/sha256/${vsha:0:2}/${vsha:2}
chmod u+w "$vobj"
printf '\xff' | dd of="$vobj" bs=1 seek=100 conv=notrunc status=none
chmod a-w "$vobj"
run 0 "$W" rollback --model $M --to "$C" --verify
check "damaged object replaced: production = v2 byte for byte" same_tree "$P/$M" "$SCRATCH/v2"
check "INV after replacing a damaged object" inv_check "$P" "$M=$C"

# Neither the store nor the repository has a file: refused, named,
# nothing changes.
before=$(mtree "$P")
csha=$(comm -23 <(shas "$A") <(shas "$C") | head -1)
cpath=$(jq -r --arg s "$csha" '[.files[] | select(.sha256 == $s) | .path][0]' "$S/releases/$M/$A.json")
rm -f "$S/objects/sha256/${csha:0:2}/${csha:2}" "$(obj "$csha")"
before=$(mtree "$P")
run 1 "$W" rollback --model $M --to "$A"
err_has "$cpath"
check "unrecoverable: production still v2" test "$(current "$P" $M)" = "$C"
check "unrecoverable: production untouched" unchanged "$P" "$before"
reset_repo

# 8. backup restore into the store, then rollback uses it.
run 0 "$W" backup verify
find "$S/releases/$M/$A" -type d -exec chmod u+w {} +
rm -rf "$S/releases/$M/$A" "$S/releases/$M/$A.json"
run 0 "$W" --json backup restore $M --release "$A"
jq_is .release "$A"
check "restored release is in the store" test -f "$S/releases/$M/$A.json" -a -d "$S/releases/$M/$A"
check "restored tree = v0" same_tree "$S/releases/$M/$A" "$SCRATCH/v0"

# 9. A failing backup stops the deploy, production untouched, unless
# --no-backup. backup_path is a regular file here.
cp wanctl.json "$SCRATCH/wanctl.good"
echo "not a folder" >"$D/bfile"
jq '.backup_path = "bfile"' "$SCRATCH/wanctl.good" >wanctl.json
run 0 "$W" -q rollback --model $M --to "$A"
stage v1
run 1 "$W" deploy $M
err_has "backup of $M release $A failed"
err_has "--no-backup"
check "failed backup: production still A" test "$(current "$P" $M)" = "$A"
check "failed backup: production = v0" same_tree "$P/$M" "$SCRATCH/v0"
run 0 "$W" -q deploy --no-backup $M
check "--no-backup: deployed" test "$(current "$P" $M)" = "$Bv"
cp "$SCRATCH/wanctl.good" wanctl.json

# 10. Prune. Snapshots: A (oldest), B, C (newest). Current = A.
run 0 "$W" -q rollback --model $M --to "$A"
jq '.backup.keep = 1' "$SCRATCH/wanctl.good" >wanctl.json
before=$(find "$B" -type f | sort)
run 0 "$W" --json backup prune --dry-run
jq_is '.snapshots_removed | length' 1
jq_is '.snapshots_removed[0].release' "$Bv"
check "dry run removes nothing" test "$(find "$B" -type f | sort)" = "$before"
run 0 "$W" --json backup prune
jq_is '.snapshots_removed[0].release' "$Bv"
jq_is '.snapshots_kept' 2
check "newest kept" test -f "$B/snapshots/$M/$C.json"
check "current release's snapshot kept" test -f "$B/snapshots/$M/$A.json"
check "pruned snapshot gone" test ! -e "$B/snapshots/$M/$Bv.json"
UNION=$(sort -u <(shas "$A") <(shas "$C") | wc -l)
check "objects: exactly those A and C reference" test "$(nobjects)" = "$UNION"
run 0 "$W" backup verify
# max_age_days: A is not current any more and is made old.
run 0 "$W" -q rollback --model $M --to "$C"
chmod u+w "$B/snapshots/$M/$A.json"
jq '.created_ts = 1000' "$SCRATCH/good/snapshots/$M/$A.json" >"$SCRATCH/oldA"
cat "$SCRATCH/oldA" >"$B/snapshots/$M/$A.json"
jq '.backup.keep = 0 | .backup.max_age_days = 1' "$SCRATCH/wanctl.good" >wanctl.json
run 0 "$W" --json backup prune
jq_is '.snapshots_removed | length' 1
jq_is '.snapshots_removed[0].release' "$A"
jq_is '.snapshots_removed[0].reason | test("older than 1 days")' true
check "only C's objects left" test "$(nobjects)" = "$(shas "$C" | wc -l)"
run 0 "$W" backup verify
# The newest snapshot of a model stays whatever its age.
chmod u+w "$B/snapshots/$M/$C.json"
jq '.created_ts = 1000' "$B/snapshots/$M/$C.json" >"$SCRATCH/oldC"
cat "$SCRATCH/oldC" >"$B/snapshots/$M/$C.json"
run 0 "$W" --json backup prune
jq_is '.snapshots_removed | length' 0

# Usage errors.
run 2 "$W" backup
run 2 "$W" backup frobnicate
run 2 "$W" backup restore $M
run 2 "$W" backup create --quick
run 0 "$W" backup --help
out_has "wanctl backup prune"

wt_done
