#!/bin/bash
# Simulated power cut (reliability plan item 3): production and the state
# folder live on a loop-mounted ext4 or xfs image; a deploy runs, and at a
# random moment the filesystem is shut down without flushing its log
# (FS_IOC_SHUTDOWN, `xfs_io -x -c "shutdown"`), which drops everything not
# yet durable, as a power cut would. Then: unmount, mount, run a command
# (recovery), and check the invariant: production resolves to a complete
# release (old or new) whose files all match its manifest, the database is
# intact, tmp/ is empty, and if "completed" had been printed, production is
# on the new release. Needs root and loop devices; skips cleanly otherwise.
set -eu
W=${WANCTL:?}
MK=${WANCTL_BUILD:?}/tests/mkfixture
unset WANCTL_NO_FSYNC
RUNS=${RUNS:-3}
[ -n "${WANCTL_LONG:-}" ] && RUNS=${RUNS_LONG:-20}
if [ "$(id -u)" -ne 0 ] || ! command -v xfs_io >/dev/null || ! command -v losetup >/dev/null; then
	echo "t_powercut: needs root, xfs_io and loop devices: skipped"
	echo "t_powercut: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
T=$(mktemp -d)
MNT=$T/mnt
cleanup() {
	mountpoint -q "$MNT" && umount -l "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$MNT" "$T/staging"
"$MK" "$T/staging/A" t2v-1.3B --shard-bytes 4000000 >/dev/null
"$MK" "$T/staging/B" t2v-1.3B --shard-bytes 4000000 --variant 1 >/dev/null

guard() {
	mountpoint -q "$MNT" || { echo "t_powercut: $MNT is not a mount point: abort"; exit 1; }
	case $(findmnt -n -o SOURCE "$MNT") in
	/dev/loop*) ;;
	*) echo "t_powercut: $MNT is not a loop device: abort"; exit 1 ;;
	esac
}

inv() { # inv EXPECT_NEW -> 0 ok
	local p=$MNT/production link id man files
	link=$(readlink "$p/m") || { echo "production link missing"; return 1; }
	id=${link##*/}
	man=$p/.wanctl/releases/m/$id.json
	[ -f "$man" ] || { echo "manifest of $id missing"; return 1; }
	(cd "$p/m" && jq -r '.files[] | "\(.sha256)  \(.path)"' "$man" | sha256sum -c --quiet) ||
		{ echo "release $id does not match its manifest"; return 1; }
	files=$(cd "$p/m" && find . -type f | wc -l)
	[ "$files" -eq "$(jq '.files | length' "$man")" ] || { echo "extra files in $id"; return 1; }
	[ "$(sqlite3 "$p/.wanctl/state.db" 'PRAGMA integrity_check')" = ok ] ||
		{ echo "integrity_check failed"; return 1; }
	[ -z "$(sqlite3 "$p/.wanctl/state.db" 'PRAGMA foreign_key_check')" ] ||
		{ echo "foreign_key_check failed"; return 1; }
	[ -z "$(ls -A "$p/.wanctl/tmp")" ] || { echo "debris in tmp/"; return 1; }
	ls -a "$p" | grep -q 'wanctl-new\|wanctl-old' && { echo "debris in production"; return 1; }
	if [ "$1" = 1 ] && [ "$id" != "$2" ]; then
		echo "deploy said completed but production is on $id, not $2"; return 1
	fi
	return 0
}

pass=0 fail=0
for fs in ext4 xfs; do
	for run in $(seq 1 "$RUNS"); do
		img=$T/img.$fs
		rm -f "$img"
		truncate -s 320M "$img"
		if [ $fs = xfs ]; then mkfs.xfs -q -f "$img"; else mkfs.ext4 -q -F "$img"; fi
		mount -o loop "$img" "$MNT"
		guard
		cat > "$MNT/wanctl.json" <<JSON
{"source_models_path":"$T/staging","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false},"models":{"m":{"source":"A"}}}
JSON
		sync -f "$MNT/wanctl.json"   # the test's own file, not wanctl's
		"$W" --config "$MNT/wanctl.json" deploy m >/dev/null 2>&1
		( "$W" --config "$MNT/wanctl.json" deploy m --source "$T/staging/B" >"$T/out" 2>&1 ) &
		pid=$!
		sleep "0.$(printf '%03d' $((RANDOM % 700)))"
		guard
		xfs_io -x -c shutdown "$MNT"
		wait $pid 2>/dev/null || true
		completed=0
		grep -q ' completed$' "$T/out" && completed=1
		umount "$MNT"
		mount -o loop "$img" "$MNT"
		guard
		"$W" --config "$MNT/wanctl.json" status >/dev/null 2>"$T/rec" || true
		target=$(sed -n 's/.* -> \([0-9a-f]\{16\}\).*/\1/p' "$T/out" | tail -1)
		if msg=$(inv $completed "$target"); then
			# A later deploy and rollback work.
			if "$W" --config "$MNT/wanctl.json" deploy m --source "$T/staging/B" >/dev/null 2>&1 &&
			   "$W" --config "$MNT/wanctl.json" rollback --model m >/dev/null 2>&1 && inv 0 x >/dev/null; then
				pass=$((pass + 1))
			else
				fail=$((fail + 1)); echo "FAIL $fs run $run: deploy/rollback after recovery failed"
			fi
		else
			fail=$((fail + 1)); echo "FAIL $fs run $run: $msg"; cat "$T/out" "$T/rec"
		fi
		umount "$MNT"
	done
done
echo "t_powercut: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
