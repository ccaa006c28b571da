#!/bin/bash
# Transfer modes (store.c ingest_one, --transfer / deployment.transfer):
#  - copy: store objects are new inodes, staging untouched; any worker
#    count (1, more than the files) gives the same release; a file larger
#    than the 64 MiB write-back window;
#  - auto on a filesystem without reflinks: falls back to copying;
#  - reflink forced where FICLONE fails: exit 1 naming the file and saying
#    a reflink filesystem is needed; production untouched, tmp/ empty;
#  - hardlink on one filesystem: objects are the staging inodes, made
#    read-only, with a warning; a writable staging file with another hard
#    link outside staging is copied instead (its other name keeps its mode);
#  - hardlink across filesystems: exit 1, EXDEV explained ("use --transfer
#    copy"); production untouched;
#  - reflink and auto on a loop-mounted xfs image (mkfs.xfs -m reflink=1):
#    the objects share their extents with staging (filefrag: "shared").
# The xfs part needs root, mkfs.xfs, filefrag and a loop device; it is
# left out (said so) otherwise.
T=t_transfer; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
abc_workspace
obj_of() { # FILE -> its store object path under $1's state
	local sha; sha=$(sha256sum "$2" | cut -c1-64)
	echo "$1/.wanctl/objects/sha256/${sha:0:2}/${sha:2}"
}
big=$(cd "$S/A" && find . -type f -name '*.safetensors' | head -1); big=${big#./}

# --- copy, with one worker and with more workers than files.
jq '.deployment.workers = 1' wanctl.json > w1.json
run 0 "$W" --config w1.json deploy m --transfer copy
A=$(current production m)
o=$(obj_of "$P" "$S/A/$big")
check "copy: the object is another inode" test "$(stat -c %i "$o")" != "$(stat -c %i "$S/A/$big")"
check "copy: staging still writable" test -w "$S/A/$big" -a "$(stat -c %a "$S/A/$big")" = 644
jq '.deployment.workers = 64' wanctl.json > w64.json
run 0 "$W" --config w64.json --json deploy m --transfer copy --source "$S/B" --rehash
B=$(current production m)
run 0 "$W" rollback --model m
check "INV after copy deploys" inv_check "$P" "m=$A"

# A file larger than the ingest's 64 MiB write-back window (sparse: cheap
# to make, read as zeros): copied whole, hashed right.
mkdir -p "$S/big"
truncate -s 70M "$S/big/weights.bin"
run 0 "$W" --json deploy big --source "$S/big" --transfer copy
check "70 MiB object with the right hash" test -f "$(obj_of "$P" "$S/big/weights.bin")"
check "its size" test "$(stat -c %s "$(obj_of "$P" "$S/big/weights.bin")")" = $((70 << 20))
run 0 "$W" verify big
# With validation off, a .safetensors file too short for a header or with
# a header that does not parse is copied as bytes (the tensor scan needs a
# header; the staging checks that would reject it are off).
mkdir -p "$S/st"
printf 'abc' > "$S/st/tiny.safetensors"
printf 'not a safetensors header at all' > "$S/st/junk.safetensors"
run 0 "$W" --json deploy st --source "$S/st"
jq_is '.models[0].files' 2
# Nothing could be scanned: tensors.finite is a skip, not a pass (it said
# "every float tensor is finite" before).
jq_is '[.report.checks[] | select(.id == "tensors.finite") | .status] | join(",")' skip
run 0 "$W" verify st

# --- auto and reflink on this folder's filesystem.
"$MKF" "$S/D" t2v-1.3B --variant 3 >/dev/null
echo probe > "$SCRATCH/r1"
if cp --reflink=always "$SCRATCH/r1" "$SCRATCH/r2" 2>/dev/null; then
	echo "$T: $SCRATCH supports reflinks: the forced-reflink failure is checked on xfs only"
	reflink_here=1
else
	reflink_here=0
	run 1 "$W" --json deploy m --transfer reflink --source "$S/D"
	jq_is '.error | test("cannot reflink .*/D/.*--transfer reflink needs a filesystem with reflinks.*production untouched")' true
	check "reflink refused: still A" test "$(current production m)" = "$A"
	check "reflink refused: tmp/ empty" test -z "$(ls -A "$P/.wanctl/tmp")"
	check "INV after the refused reflink" inv_check "$P" "m=$A"
	run 0 "$W" --json deploy m --transfer auto --source "$S/D"
	D=$(current production m)
	o=$(obj_of "$P" "$S/D/$big")
	check "auto without reflinks: copied (another inode)" test "$(stat -c %i "$o")" != "$(stat -c %i "$S/D/$big")"
	jq_is '.models[0].copied > 0' true
	# The tensors copied were scanned: the pass says how many files.
	jq_is '[.report.checks[] | select(.id == "tensors.finite")][0] | [.status, .details.files > 0] | map(tostring) | join(" ")' "pass true"
	run 0 "$W" rollback --model m --to "$A"
fi

# --- hardlink on one filesystem.
cp -a "$S/C" "$S/H"
run 0 "$W" deploy m --transfer hardlink --source "$S/H"
err_has "--transfer hardlink: the store shares inodes with staging"
H=$(current production m)
o=$(obj_of "$P" "$S/H/$big")
check "hardlink: the object is the staging inode" test "$(stat -c %i "$o")" = "$(stat -c %i "$S/H/$big")"
check "hardlink: staging file made read-only" test "$(stat -c %a "$S/H/$big")" = 444
check "INV after the hardlink deploy" inv_check "$P" "m=$H"
run 0 "$W" rollback --model m --to "$A"

# A writable staging file with a second name outside staging is copied.
"$MKF" "$S/L" t2v-1.3B --variant 4 >/dev/null
ln "$S/L/$big" "$SCRATCH/outside-link"
run 0 "$W" -v deploy m --transfer hardlink --source "$S/L"
err_has "is writable and has 2 hard links: copied, not linked"
o=$(obj_of "$P" "$S/L/$big")
check "linked-elsewhere file copied" test "$(stat -c %i "$o")" != "$(stat -c %i "$S/L/$big")"
check "its other name keeps its mode" test "$(stat -c %a "$SCRATCH/outside-link")" = 644
run 0 "$W" rollback --model m --to "$A"

# --- xfs with reflinks (and a second filesystem for EXDEV).
why=
[ "$(id -u)" = 0 ] || why="not root"
for c in mkfs.xfs losetup filefrag findmnt; do
	[ -n "$why" ] || command -v $c >/dev/null || why="no $c"
done
[ -n "$why" ] || losetup -f >/dev/null 2>&1 || why="no free loop device"
if [ -n "$why" ]; then
	echo "$T: xfs part left out: $why"
	wt_done
	exit
fi
MNT=$SCRATCH/mnt
mkdir -p "$MNT"
WT_CLEANUP+=("mountpoint -q '$MNT' && umount -l '$MNT'")
truncate -s 320M "$SCRATCH/xfs.img"
if ! mkfs.xfs -q -f -m reflink=1 "$SCRATCH/xfs.img" 2>"$SCRATCH/mkfs.err" ||
   ! mount -o loop "$SCRATCH/xfs.img" "$MNT" 2>>"$SCRATCH/mkfs.err"; then
	echo "$T: xfs part left out: $(head -c 200 "$SCRATCH/mkfs.err")"
	wt_done
	exit
fi
guard() {
	mountpoint -q "$MNT" && case $(findmnt -n -o SOURCE "$MNT") in /dev/loop*) true ;; *) false ;; esac ||
		{ echo "$T: $MNT is not a loop mount: abort"; exit 1; }
}
guard
X=$MNT/w
abc_base_x() {
	mkdir -p "$X"
	jq -n --arg s "$MNT/staging" '{"source_models_path":$s,"target_models_path":"production",
		"backup_path":"backups","backup":{"before_deploy":false},"validation":{"enabled":false},
		"models":{"m":{"source":"A"}}}' > "$X/wanctl.json"
	mkdir -p "$MNT/staging"
	cp -a "$S/A" "$S/B" "$MNT/staging/"
}
abc_base_x
cd "$X"
shared() { filefrag -v "$1" 2>/dev/null | grep -q shared; }
run 0 "$W" --json deploy m --transfer reflink
XA=$(current production m)
o=$(obj_of "$X/production" "$MNT/staging/A/$big")
check "reflink on xfs: another inode" test "$(stat -c %i "$o")" != "$(stat -c %i "$MNT/staging/A/$big")"
check "reflink on xfs: extents shared with staging" shared "$o"
check "reflink: staging keeps its mode" test "$(stat -c %a "$MNT/staging/A/$big")" = 644
jq '.deployment.transfer = "auto"' wanctl.json > auto.json
run 0 "$W" --config auto.json deploy m --source "$MNT/staging/B"
XB=$(current production m)
o=$(obj_of "$X/production" "$MNT/staging/B/$big")
check "auto on xfs: extents shared (reflinked)" shared "$o"
run 0 "$W" verify m
check "INV on xfs" inv_check "$X/production" "m=$XB"
# copy on xfs: no shared extents.
cp -a "$S/C" "$MNT/staging/C"
run 0 "$W" deploy m --transfer copy --source "$MNT/staging/C"
o=$(obj_of "$X/production" "$MNT/staging/C/$big")
sync -f "$o"
check "copy on xfs: nothing shared" not shared "$o"

# hardlink from staging on another filesystem (the scratch folder).
guard
XC=$(current production m)
run 1 "$W" --json deploy m --transfer hardlink --source "$S/D"
jq_is '.error | test("cannot hard-link .* staging is on another filesystem \\(use --transfer copy\\)")' true
check "EXDEV: production untouched" test "$(current production m)" = "$XC"
check "EXDEV: staging file not made read-only" test "$(stat -c %a "$S/D/$big")" = 644
check "EXDEV: tmp/ empty" test -z "$(ls -A "$X/production/.wanctl/tmp")"
# reflink from another filesystem: FICLONE fails (EXDEV), refused clearly.
run 1 "$W" --json deploy m --transfer reflink --source "$S/D"
jq_is '.error | test("cannot reflink .*needs a filesystem with reflinks")' true
check "reflink EXDEV: production untouched" test "$(current production m)" = "$XC"
# auto from another filesystem: copies.
run 0 "$W" deploy m --transfer auto --source "$S/D"
check "INV after the cross-filesystem deploys" inv_check "$X/production"
cd "$SCRATCH"
guard
umount "$MNT"
wt_done
