#!/bin/bash
# Edge cases of ops.c that t_edges/t_gc leave out:
#  - rollback refused before the switch when the target's store objects are
#    missing (more than five: the message lists five and ", ..."; two: both
#    listed), damaged in size, or damaged in content (--verify), when a
#    file is missing from the target's tree, and when the target's manifest
#    is gone (a full id in neither store nor backup);
#  - rollback of a first deploy (by deployment id), of a model with no
#    previous release, of a model with no releases; usage (neither or both
#    of --model/--deployment-id);
#  - list --limit/--status/--model; releases of an unknown model; status
#    with a firing alert (raised by `monitor run --once`);
#  - verify: a missing file, a fifo in place of a file, a file of another
#    size, a file changed in place (same inode and size: quick passes, full
#    fails), a model that is not deployed;
#  - gc: --dry-run changes nothing and says what it would remove,
#    keep_releases 0 still keeps the current and previous releases, stray
#    names in objects/ and releases/ are left alone, an unreferenced object
#    is removed, a corrupt manifest stops gc before it deletes anything;
#  - releases with its database row missing; rollback restoring a lost
#    object, then a lost tree and manifest, from the backup repository.
T=t_opsedge; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
abc_workspace
OBJ=$P/.wanctl/objects/sha256
obj() { echo "$OBJ/${1:0:2}/${1:2}"; }

# A model g whose two releases share no file: seven files each.
mkdir -p "$S/g1" "$S/g2"
for i in 1 2 3 4 5 6 7; do
	echo "g1 file $i" > "$S/g1/f$i.txt"
	echo "g2 file $i" > "$S/g2/f$i.txt"
done
run 0 "$W" --json deploy g --source "$S/g1"
dep_first=$(jq -r .id "$SCRATCH/out")
G1=$(current production g)

# --- rollback of a first deploy, and of a model with one release.
run 1 "$W" rollback --deployment-id "$dep_first"
err_has "was the first deploy of 'g': there is no earlier release to go back to"
run 1 "$W" rollback --model g
err_has "'g' has no previous release to roll back to"
run 1 "$W" rollback --model zz --to abc
err_has "'zz' has no releases in the store"
run 2 "$W" rollback
err_has "give either --deployment-id ID or --model"
run 2 "$W" rollback --model g --deployment-id "$dep_first"
check "still on G1" test "$(current production g)" = "$G1"

run 0 "$W" deploy g --source "$S/g2"
G2=$(current production g)

# --- the target's objects missing: seven (five listed, then ", ...").
mkdir -p "$SCRATCH/saved"
for s in $(jq -r '.files[].sha256' "$R/g/$G1.json"); do mv "$(obj "$s")" "$SCRATCH/saved/$s"; done
before=$(mtree "$P")
run 1 "$W" rollback --model g
err_has "release $G1 of 'g' cannot be used: 7 file(s) missing or damaged"
err_has "; production unchanged"
check "five listed, then ', ...'" grep -qE "used: 7 [^:]*: ('[^']+' \([a-z ]+\), ){5}\.\.\.; production" "$SCRATCH/err"
check "refused: still G2" test "$(current production g)" = "$G2"
check "the refusal changed nothing in production" unchanged "$P" "$before"
# releases still lists G1; none of its bytes are in the store.
run 0 "$W" --json releases g
jq_is "[.releases[] | select(.id == \"$G1\") | .unique_bytes] | .[0]" 0
# Two missing: both listed, no ", ...".
for s in $(jq -r '.files[2:][].sha256' "$R/g/$G1.json"); do mv "$SCRATCH/saved/$s" "$(obj "$s")"; done
run 1 "$W" rollback --model g
err_has "cannot be used: 2 file(s) missing or damaged"
check "two listed, no ', ...'" not grep -q ', \.\.\.' "$SCRATCH/err"
for s in $(jq -r '.files[0:2][].sha256' "$R/g/$G1.json"); do mv "$SCRATCH/saved/$s" "$(obj "$s")"; done

# --- an object of the wrong size.
s3=$(jq -r '.files[] | select(.path == "f3.txt") | .sha256' "$R/g/$G1.json")
chmod u+w "$(obj "$s3")"
cp -p "$(obj "$s3")" "$SCRATCH/f3.obj"
printf 'more' >> "$(obj "$s3")"
run 1 "$W" rollback --model g
err_has "'f3.txt' (wrong size)"
# Same size, other bytes: only --verify (re-hashing) sees it.
cp "$SCRATCH/f3.obj" "$(obj "$s3")"
printf 'X' | dd of="$(obj "$s3")" bs=1 seek=0 conv=notrunc status=none
run_in "1 4" "$W" rollback --model g --verify
err_has "f3.txt"
check "damaged content: still G2" test "$(current production g)" = "$G2"
cp "$SCRATCH/f3.obj" "$(obj "$s3")"
chmod a-w "$(obj "$s3")"

# --- a file missing from the target's tree (its object intact).
ln "$R/g/$G1/f4.txt" "$SCRATCH/f4.keep"
rm -f "$R/g/$G1/f4.txt"
run 1 "$W" rollback --model g
err_has "'f4.txt' is missing from its tree; production unchanged"
ln "$SCRATCH/f4.keep" "$R/g/$G1/f4.txt"
# ... or there with another size.
rm -f "$R/g/$G1/f4.txt"; echo "other size" > "$R/g/$G1/f4.txt"
run 1 "$W" rollback --model g
err_has "'f4.txt' is missing from its tree; production unchanged"
rm -f "$R/g/$G1/f4.txt"; ln "$SCRATCH/f4.keep" "$R/g/$G1/f4.txt"
run 1 "$W" rollback --model g --to ""
err_has "is not a release id"

# --- the target's manifest gone (tree there), the tree gone (manifest
# there): not in the store either way.
mv "$R/g/$G1.json" "$SCRATCH/G1.json"
run 1 "$W" rollback --model g --to "$G1"
err_has "release $G1 of 'g' is not in the store"
mv "$SCRATCH/G1.json" "$R/g/$G1.json"
mv "$R/g/$G1" "$SCRATCH/G1.tree"
run 1 "$W" rollback --model g --to "$G1"
err_has "release $G1 of 'g' is not in the store"
run 0 "$W" --json releases g
jq_is "[.releases[].id] | index(\"$G1\")" null
mv "$SCRATCH/G1.tree" "$R/g/$G1"

# --- a full id that neither the store nor the backup repository has.
run 1 "$W" rollback --model g --to 0123456789abcdef
err_has "release 0123456789abcdef of 'g' is not in the store"
check "INV after the refusals" inv_check "$P" "g=$G2"
run 0 "$W" rollback --model g
check "intact again: rollback to G1 works" test "$(current production g)" = "$G1"
check "INV after the rollback" inv_check "$P" "g=$G1"

# --- list, releases, status.
run 0 "$W" deploy m
run 0 "$W" --json list --limit 1
jq_is '.deployments | length' 1
run 0 "$W" --json list --limit 0
n_all=$(jq '.deployments | length' "$SCRATCH/out")
check "--limit 0 lists all ($n_all)" test "$n_all" -ge 4
run 0 "$W" --json list --model g --status completed
jq_is '[.deployments[] | .status] | unique | join(",")' completed
jq_is '[.deployments[] | .models[].model] | unique | join(",")' g
run 0 "$W" --json list --model nosuch
jq_is '.deployments | length' 0
run 1 "$W" releases nosuch
err_has "'nosuch' has no releases in the store"
run_in "1 2" "$W" releases ../g
err_has "../g"
run 0 "$W" --json releases g
jq_is '[.releases[] | select(.current) | .id] | join(",")' "$G1"
jq '.monitoring.alert_rules = [{name: "Up", metric: "wanctl_model_available", comparison: ">",
	threshold: 0, for: 0, severity: "INFO", summary: "{labels.model} up"},
	{name: "Mem", metric: "wanctl_memory_total_bytes", comparison: ">", threshold: 0,
	 for: 0, severity: "INFO", summary: "memory known"}]' wanctl.json > alert.json
run 0 "$W" --config alert.json monitor run --once
run 0 "$W" --json status
jq_is '[.alerts[] | .name] | unique | join(",")' Mem,Up
jq_is '[.alerts[] | select(.name == "Up") | .summary] | sort | join(",")' "g up,m up"
# The alert's labels as an object, as monitor and the exec handler give
# them (status --json gave them as a JSON-encoded string before), and {}
# for an alert without labels (bug 34: the string "").
jq_is '[.alerts[].labels | type] | unique | join(",")' object
jq_is '[.alerts[] | select(.name == "Up") | .labels.model] | sort | join(",")' "g,m"
jq_is '[.alerts[] | select(.name == "Mem") | .labels] | tojson' '[{}]'
run 0 "$W" status
out_has "firing alerts: 3"
out_has 'Up {"model":"m"}: m up'
out_has 'Mem {}: memory known'

# --- verify.
A=$(current production m)
live=$R/m/$A
run 0 "$W" verify m --quick
f=$(cd "$live" && find . -type f -name '*.json' | sort | head -1); f=${f#./}
ln "$live/$f" "$SCRATCH/keepf"
rm -f "$live/$f"
run 4 "$W" --json verify m --quick
check "missing file reported" grep -q '"missing"' "$SCRATCH/out"
mkfifo "$live/$f"
run 4 "$W" --json verify m
check "fifo reported as not a regular file" grep -q "not a regular file" "$SCRATCH/out"
rm -f "$live/$f"; ln "$SCRATCH/keepf" "$live/$f"
run 0 "$W" verify m
# Changed in place: same inode, same size, other bytes.
sha=$(sha256sum "$live/$f" | cut -c1-64)
chmod u+w "$live/$f"
cp "$live/$f" "$SCRATCH/f.orig"
printf 'X' | dd of="$live/$f" bs=1 seek=1 conv=notrunc status=none
run 0 "$W" verify m --quick
run 4 "$W" --json verify m
check "full verify: sha256 mismatch" grep -q "sha256 mismatch" "$SCRATCH/out"
cat "$SCRATCH/f.orig" > "$live/$f"
chmod a-w "$live/$f"
run 0 "$W" verify m
# A tree file replaced by a symlink (even to its own bytes): not followed.
mv "$live/$f" "$SCRATCH/f.moved"
ln -s "$SCRATCH/f.moved" "$live/$f"
run 4 "$W" --json verify m
check "a symlink in the tree is reported" grep -q "a symlink or an escaping path" "$SCRATCH/out"
rm -f "$live/$f"; mv "$SCRATCH/f.moved" "$live/$f"
# A file hidden under 70 nested folders: the walk for extra files stops at
# 64 levels and says so, rather than passing the tree.
deep=$live; for i in $(seq 70); do deep=$deep/d; done
mkdir -p "$deep"; echo hidden > "$deep/x"
run 4 "$W" --json verify m --quick
check "too deep a folder is reported" grep -q "nested too deeply to check" "$SCRATCH/out"
rm -rf "$live/d"
run 0 "$W" verify m
# The first verify worker fails to start, the next ones start: verify
# still checks every file. (The started ones used to be joined by the
# wrong index, so one could outlive verify's stack frame; that crash is
# timing-dependent and was caught by t_oom's per-site sweep, not here.)
if command -v strace >/dev/null; then
	for i in 1 2 3 4 5; do
		run 0 env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			strace -f -qq -o /dev/null -e inject=clone3:error=EAGAIN:when=1 "$W" verify m
	done
fi
run 4 "$W" verify nosuch
out_has "'nosuch' is not deployed"
run 0 "$W" verify

# --- gc.
run 0 "$W" deploy m --source "$S/B"
B=$(current production m)
run 0 "$W" deploy m --source "$S/C"
run 0 "$W" deploy g --source "$S/g2"
C=$(current production m)
# Stray names: left alone by gc.
mkdir -p "$OBJ/zz" "$OBJ/abc" "$R/.hidden"
stray62=$(printf 'g%.0s' $(seq 62))
echo x > "$OBJ/zz/$stray62"
mkdir -p "$OBJ/ab"
echo x > "$OBJ/ab/$stray62"
echo x > "$OBJ/abc/$(printf 'a%.0s' $(seq 62))"
echo x > "$R/.hidden/x"
echo notes > "$R/m/notes.txt"
echo notes > "$R/m/0123456789abcdef.txt"
echo notes > "$R/m/${A:0:16}.jsonx"
echo notes > "$R/m/${A:0:16}.jsox"
# One unreferenced object with a proper name.
orphan=$(printf 'orphan' | sha256sum | cut -c1-64)
mkdir -p "$OBJ/${orphan:0:2}"
printf 'orphan' > "$(obj "$orphan")"; chmod 444 "$(obj "$orphan")"
jq '.deployment.keep_releases = 0' wanctl.json > keep0.json
before=$(mtree "$P")
run 0 "$W" --config keep0.json --json gc --dry-run
jq_is .dry_run true
jq_is '[.releases_removed[] | select(.model == "m") | .release] | sort | join(",")' "$A"
jq_is '.objects_removed >= 1' true
check "gc --dry-run changed nothing" unchanged "$P" "$before"
run 0 "$W" --config keep0.json --json gc
jq_is '[.releases_removed[] | .model + "=" + .release] | sort | join(",")' "m=$A"
check "A's tree is gone" test ! -e "$R/m/$A" -a ! -e "$R/m/$A.json"
check "B (previous) and C (current) kept" test -f "$R/m/$B.json" -a -f "$R/m/$C.json"
check "m keeps exactly two releases" test "$(ls "$R/m" | grep -c '\.json$')" = 2
check "g keeps both its releases" test "$(ls "$R/g" | grep -c '\.json$')" = 2
check "orphan object removed" test ! -e "$(obj "$orphan")"
check "stray name in objects/zz kept" test -f "$OBJ/zz/$stray62"
check "non-hex 62-char name kept" test -f "$OBJ/ab/$stray62"
check "3-letter folder in objects kept" test -d "$OBJ/abc"
check "hidden folder in releases kept" test -f "$R/.hidden/x"
check "stray files in releases/m kept" test -f "$R/m/notes.txt" -a -f "$R/m/0123456789abcdef.txt" -a -f "$R/m/${A:0:16}.jsonx"
run 0 "$W" --json releases m
jq_is '.releases | length' 2
# A prefix resolves past the stray names (B's first digits; unique among
# the releases, whatever the stray names start with).
run 0 "$W" rollback --model m --to "$B"
run 0 "$W" rollback --model m --to "$C"
run 0 "$W" verify
rm -rf "$OBJ/zz" "$OBJ/abc" "$R/.hidden" "$OBJ/ab/$stray62" "$R/m/notes.txt" "$R/m/0123456789abcdef.txt" "$R/m/${A:0:16}.jsonx" "$R/m/${A:0:16}.jsox"
check "INV after gc" inv_check "$P" "m=$C" "g=$(current production g)"

# A release row missing from the database (a store carried over without
# it): releases still lists it, dated by its manifest.
Gid=$(current production g)
Gold=$(ls "$R/g" | grep '\.json$' | grep -v "^$Gid" | head -1); Gold=${Gold%.json}
row=$(sqlite3 "$P/.wanctl/state.db" "SELECT created FROM releases WHERE model = 'g' AND id = '$Gold'")
sqlite3 "$P/.wanctl/state.db" "DELETE FROM releases WHERE model = 'g' AND id = '$Gold'"
run 0 "$W" --json releases g
jq_is "[.releases[] | select(.id == \"$Gold\") | .created | length > 0] | .[0]" true
sqlite3 "$P/.wanctl/state.db" "INSERT INTO releases(model, id, created, spec, source, files, bytes)
	SELECT 'g', '$Gold', $row, spec, source, files, bytes FROM releases WHERE model = 'g' AND id = '$Gid'" ||
	bad "could not put the releases row back"

# A corrupt manifest stops gc before any object is deleted (also a stray
# file named like one: gc names it rather than guess).
printf 'orphan' > "$SCRATCH/o2"; o2=$(sha256sum "$SCRATCH/o2" | cut -c1-64)
mkdir -p "$OBJ/${o2:0:2}"; cp "$SCRATCH/o2" "$(obj "$o2")"; chmod 444 "$(obj "$o2")"
G=$(current production g)
Gother=$(ls "$R/g" | grep '\.json$' | grep -v "^$G" | head -1)
cp -p "$R/g/$Gother" "$SCRATCH/man.keep"
chmod u+w "$R/g/$Gother"; echo '{"not":"a manifest"' > "$R/g/$Gother"
run 1 "$W" gc
err_has "gc stopped (nothing deleted)"
check "gc stopped: orphan still there" test -f "$(obj "$o2")"
cat "$SCRATCH/man.keep" > "$R/g/$Gother"; chmod a-w "$R/g/$Gother"
echo notes > "$R/g/${Gid:0:15}x.json"
run 1 "$W" gc
err_has "${Gid:0:15}x.json"
rm -f "$R/g/${Gid:0:15}x.json"
run 0 "$W" gc
check "gc after the repair removes it" test ! -e "$(obj "$o2")"

# --- rollback restores from the backup repository: a replaced release is
# backed up before the deploy (backup.before_deploy); its lost object, then
# its whole tree and manifest, come back from there.
jq '.backup.before_deploy = true' wanctl.json > bk.json
"$MKF" "$S/E" t2v-1.3B --variant 6 >/dev/null
"$MKF" "$S/F" t2v-1.3B --variant 7 >/dev/null
run 0 "$W" --config bk.json deploy m --source "$S/E"
E=$(current production m)
run 0 "$W" --config bk.json deploy m --source "$S/F"
F=$(current production m)
lost=$(comm -23 <(jq -r '.files[].sha256' "$R/m/$E.json" | sort) <(jq -r '.files[].sha256' "$R/m/$F.json" | sort))
check "E has objects of its own" test -n "$lost"
for s in $lost; do rm -f "$(obj "$s")"; done
run 0 "$W" --config bk.json rollback --model m
err_has "from the backup"
check "restored: on E" test "$(current production m)" = "$E"
for s in $lost; do check "object ${s:0:8} back" test -f "$(obj "$s")"; done
run 0 "$W" verify m --quick
run 0 "$W" --config bk.json deploy m --source "$S/F"
rm -rf "$R/m/$E" "$R/m/$E.json"
run 0 "$W" --config bk.json rollback --model m --to "$E"
check "release rebuilt from the backup: on E" test "$(current production m)" = "$E"
run 0 "$W" verify m
check "INV after the restores" inv_check "$P" "m=$E"
wt_done
