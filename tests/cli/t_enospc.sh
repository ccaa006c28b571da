#!/bin/bash
# A full disk (reliability plan item 5): production and the state folder
# on a small tmpfs, staging elsewhere with a model bigger than the space.
#  - with validation on, the system.disk pre-check refuses before copying;
#  - with validation off, the copy runs into ENOSPC mid-way (the first
#    shard fits, the second does not);
# both end with a clear "no space" message, production untouched (same
# link, same inode behind it), nothing left in tmp/, the failed attempt
# recorded; after freeing space a re-run succeeds. Needs root (mount).
T=t_enospc
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

[ "$(id -u)" -eq 0 ] || wt_skip "needs root to mount a tmpfs"
MNT=$SCRATCH/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=8m,nr_inodes=4096 tmpfs "$MNT" 2>"$SCRATCH/mount.err" ||
	wt_skip "cannot mount a tmpfs: $(cat "$SCRATCH/mount.err")"
WT_CLEANUP+=('umount -l "$MNT"')

D=$SCRATCH/d
cfg() { # extra JSON
	wt_config "$D" "$(jq -n --arg t "$MNT/production" --arg b "$MNT/backups" --argjson x "$1" \
		'{"target_models_path":$t,"backup_path":$b,"backup":{"before_deploy":false}} * $x')"
}
cfg '{}'
cd "$D"
P=$MNT/production
S=$P/.wanctl
M=t2v-1.3B
"$MKF" "$D/staging/$M" $M >/dev/null
run 0 "$W" -q deploy $M
A=$(current "$P" $M)
ino=$(stat -L -c %i "$P/$M/config.json")
free0=$(df -k --output=avail "$MNT" | tail -1)

# after_failure WHAT : production, tmp/ and the store as they were.
after_failure() {
	check "$1: same link" test "$(current "$P" $M)" = "$A"
	check "$1: same inode behind the link" test "$(stat -L -c %i "$P/$M/config.json")" = "$ino"
	check "$1: production = the first release" same_tree "$P/$M" "$SCRATCH/v0"
	check "$1: nothing left in tmp/" test -z "$(ls -A "$S/tmp")"
	check "$1: no release tree of the failed attempt" \
		test "$(ls "$S/releases/$M" | grep -vc json)" = 1
	check "$1: no partial object (each hashes to its name)" objects_complete
	check "INV after $1" inv_check "$P" "$M=$A"
}
cp -a "$D/staging/$M" "$SCRATCH/v0"
objects_complete() {
	local f n
	for f in "$S"/objects/sha256/*/*; do
		n=${f#"$S"/objects/sha256/}; n=${n/\//}
		[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$n" ] || { echo "partial object $f" >&2; return 1; }
	done
}

# 1. A new release bigger than the whole filesystem: the pre-check refuses.
rm -rf "$D/staging/$M"
"$MKF" "$D/staging/$M" $M --variant 1 --shard-bytes 12000000 >/dev/null
run 4 "$W" deploy $M
err_has "system.disk"
err_has "not enough free disk"
err_has "$S"
err_has "production untouched"
after_failure "pre-check refusal"
run 4 "$W" -q --json deploy $M
jq_is '[.report.checks[] | select(.id == "system.disk") | .status][0]' fail
jq_is '[.report.checks[] | select(.id == "system.disk") | .details.needed_bytes > .details.available_bytes][0]' true

# 2. Without the pre-check (validation off): two shards of ~5 MB, the
# first fits, the second hits ENOSPC mid-copy.
cfg '{"validation":{"enabled":false}}'
M2=big
mkdir -p "$D/staging"
"$MKF" "$D/staging/$M2" safetensors --shard-bytes 5000000 >/dev/null
before=$(mtree "$P")
run 1 "$W" deploy $M2
err_has "no space"
err_has "production untouched"
# The message names the file that hit ENOSPC: with parallel copies that
# is a shard or, when a shard just filled the disk, a small file after it.
err_has "$D/staging/$M2/"
check "ENOSPC: no link for the new model" test ! -e "$P/$M2" -a ! -L "$P/$M2"
after_failure "ENOSPC mid-copy"
run 0 "$W" --json list --limit 1
jq_is '.deployments[0].status' failed
jq_is '.deployments[0].error | test("[Nn]o space")' true
# Objects stored before the failure are complete and unreferenced: gc
# gives the space back.
run 0 "$W" gc
check "gc after ENOSPC: the space is back" \
	test "$(df -k --output=avail "$MNT" | tail -1)" -ge $((free0 - 512))
# The same over an existing model: its new release does not fit.
rm -rf "$D/staging/$M"
"$MKF" "$D/staging/$M" $M --variant 2 --shard-bytes 9000000 >/dev/null
run 1 "$W" deploy $M
err_has "no space"
after_failure "ENOSPC replacing a release"

# 3. After freeing space (a bigger filesystem), the re-runs succeed.
mount -o remount,size=64m "$MNT"
run 0 "$W" -q --json deploy $M2
jq_is .status completed
check "after freeing space: $M2 deployed" same_tree "$P/$M2" "$D/staging/$M2"
run 0 "$W" -q deploy $M
check "after freeing space: $M = staging" same_tree "$P/$M" "$D/staging/$M"
check "INV at the end" inv_check "$P"

# 4. Full at 0%: the filesystem filled up by someone else; even a small
# new release fails with a "no space" message (the state database cannot
# grow either), production untouched; a rollback (no new data) either
# works or fails just as clearly.
cfg '{"validation":{"enabled":false}}'
dd if=/dev/zero of="$MNT/filler" bs=1M count=100 2>/dev/null || true
rm -rf "$D/staging/$M"
"$MKF" "$D/staging/$M" $M --variant 3 >/dev/null
cur=$(current "$P" $M)
run 1 "$W" deploy $M
err_has "no space"
check "full disk: same link" test "$(current "$P" $M)" = "$cur"
check "full disk: nothing left in tmp/" test -z "$(ls -A "$S/tmp")"
run_in "0 1" "$W" -q rollback --model $M
if [ "$WT_RC" -eq 0 ]; then
	check "full disk: rollback switched" test "$(current "$P" $M)" != "$cur"
else
	err_has "no space"
	check "full disk: failed rollback left production" test "$(current "$P" $M)" = "$cur"
fi
rm -f "$MNT/filler"
run 0 "$W" status
check "INV at the very end" inv_check "$P"

wt_done
