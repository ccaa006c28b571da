#!/bin/bash
# kill -9 at random points of `wanctl backup create` (issue 5): half the
# runs die at a random xio call (WANCTL_FAULT=OP:N:kill: open, write, fsync,
# link, mkdir, unlink), half after a random delay. The repository keeps
# whatever earlier runs left (debris accumulates across kills). After every
# kill: `backup verify` (full re-hash) is clean, every object under its
# final name is a complete zstd stream, and nothing but tmp/ holds debris.
# At the end every release backs up to completion and restores byte for
# byte, and `backup restore` into the store is killed at its writes,
# fsyncs and links (store objects stay intact, the next restore and a
# rollback to the release work). Quick mode: 6 runs; WANCTL_LONG=1: 24.
T=t_kill_backup
. "$(dirname "$0")/lib.sh"
unset WANCTL_NO_FSYNC
RUNS=6
[ -n "${WANCTL_LONG:-}" ] && RUNS=24
SEED=${WANCTL_SEED:-$$}
RANDOM=$SEED
echo "$T: seed $SEED, $RUNS runs"

D=$SCRATCH/d
wt_config "$D" '{"backup":{"before_deploy":false,"keep":0,"max_age_days":0},"validation":{"enabled":false}}'
cd "$D"
M=t2v-1.3B
B=$D/backups
for v in 0 1 2; do
	"$MKF" "$SCRATCH/v$v" $M --variant $v --shard-bytes $((6 << 20)) >/dev/null
done
REL=()
for v in 0 1 2; do
	rm -rf "$D/staging/$M"; mkdir -p "$D/staging"; cp -a "$SCRATCH/v$v" "$D/staging/$M"
	WANCTL_NO_FSYNC=1 "$W" -q deploy --no-backup $M >/dev/null 2>&1 || { bad "setup deploy v$v"; wt_done; }
	REL+=("$(current "$D/production" $M)")
done

# After a kill: the repository verifies clean and holds no damaged object.
repo_ok() {
	local f rc=0
	[ -e "$B/FORMAT" ] || return 0      # killed before the repository existed
	if ! "$W" -q backup verify >"$SCRATCH/v.out" 2>&1; then
		echo "verify after kill: $(head -c 600 "$SCRATCH/v.out")" >&2
		return 1
	fi
	while IFS= read -r -d '' f; do
		zstd -q -t "$f" 2>/dev/null || { echo "damaged object under its final name: $f" >&2; rc=1; }
	done < <(find "$B/objects" -type f -print0)
	# Nothing outside tmp/ but the layout, objects and snapshots.
	f=$(cd "$B" && find . -path ./tmp -prune -o -type f -print |
		grep -Ev '^\./(FORMAT|objects/sha256/[0-9a-f]{2}/[0-9a-f]{62}\.zst|snapshots/[^/]+/[0-9a-f]{16}\.json)$' || true)
	[ -z "$f" ] || { echo "debris: $f" >&2; rc=1; }
	return $rc
}

OPS=(open write fsync link mkdir unlink)
MAXN=(30 40 25 12 4 10)
killed=0
for i in $(seq 1 "$RUNS"); do
	r=${REL[$((RANDOM % 3))]}
	# Make the run do real work: forget this release's snapshot and let
	# prune drop the objects only it used.
	if [ -e "$B/snapshots/$M/$r.json" ]; then
		rm -f "$B/snapshots/$M/$r.json"
		"$W" -q backup prune >/dev/null 2>&1 || { bad "run $i: prune"; continue; }
	fi
	rc=0
	if [ $((i % 2)) -eq 1 ]; then
		k=$((RANDOM % ${#OPS[@]}))
		point="${OPS[$k]}:$((1 + RANDOM % ${MAXN[$k]})):kill"
		WANCTL_FAULT=$point "$W" -q backup create $M --release "$r" >/dev/null 2>&1 || rc=$?
	else
		point="after $((RANDOM % 120)) ms"
		"$W" -q backup create $M --release "$r" >/dev/null 2>&1 &
		pid=$!
		sleep "0.$(printf '%03d' $((RANDOM % 120)))"
		kill -9 $pid 2>/dev/null || true
		wait $pid || rc=$?
	fi
	[ "$rc" -eq 137 ] && killed=$((killed + 1))
	check "run $i (release $r, kill $point, exit $rc): repository clean" repo_ok
done
echo "$T: $killed of $RUNS runs were killed mid-way"

# The next create completes, for every release, and restores exactly.
for v in 0 1 2; do
	r=${REL[$v]}
	run 0 "$W" --json backup create $M --release "$r"
	run 0 "$W" backup restore $M --release "$r" --to "$SCRATCH/r$v"
	check "release v$v restores byte for byte" same_tree "$SCRATCH/r$v" "$SCRATCH/v$v"
done
run 0 "$W" --json backup verify
jq_is .ok true
jq_is .snapshots 3
check "tmp/ swept by the completed runs" test -z "$(ls -A "$B/tmp")"

# Restore into the store, killed: the objects only release v0 has are
# deleted from the store, then `backup restore` (which decodes straight
# into a store temp file and publishes it) dies at a write, fsync or link.
# After recovery every store object still hashes to its name and tmp/ is
# empty; the next restore completes and rollback to v0 gives its bytes.
S=$D/production/.wanctl
store_ok() {
	local f n rc=0
	while IFS= read -r -d '' f; do
		n=$(basename "$(dirname "$f")")$(basename "$f")
		[ "$(sha256sum "$f" | cut -c1-64)" = "$n" ] || { echo "store object $f is damaged" >&2; rc=1; }
	done < <(find "$S/objects/sha256" -type f -print0)
	[ -z "$(ls -A "$S/tmp")" ] || { echo "store tmp/ not empty: $(ls "$S/tmp")" >&2; rc=1; }
	return $rc
}
only_v0() {
	jq -r '.files[].sha256' "$S/releases/$M/${REL[0]}.json" | sort -u >"$SCRATCH/s0"
	jq -r '.files[].sha256' "$S/releases/$M/${REL[2]}.json" | sort -u >"$SCRATCH/s2"
	comm -23 "$SCRATCH/s0" "$SCRATCH/s2"
}
RPOINTS=(write:1 write:3 fsync:1 fsync:2 link:1)
rkilled=0
for point in "${RPOINTS[@]}"; do
	for sha in $(only_v0); do
		rm -f "$S/objects/sha256/${sha:0:2}/${sha:2}"
	done
	rc=0
	WANCTL_FAULT=$point:kill "$W" -q backup restore $M --release "${REL[0]}" >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 137 ] && rkilled=$((rkilled + 1))
	"$W" -q status >/dev/null 2>&1 || true          # recovery sweeps tmp/
	check "restore into the store killed at $point (exit $rc): store objects intact" store_ok
done
check "the restores were killed ($rkilled of ${#RPOINTS[@]})" test "$rkilled" -ge 4
# A full disk or an I/O error while restoring: a clean error, nothing left.
for point in write:2:ENOSPC fsync:1:EIO; do
	for sha in $(only_v0); do
		rm -f "$S/objects/sha256/${sha:0:2}/${sha:2}"
	done
	WANCTL_FAULT=$point run 1 "$W" backup restore $M --release "${REL[0]}"
	case $point in
	*ENOSPC) err_has "No space left" ;;
	*) err_has "Input/output error" ;;
	esac
	check "restore failing with $point leaves the store clean (no recovery run)" store_ok
done
run 0 "$W" backup restore $M --release "${REL[0]}"
check "every object of v0 is back" test -z "$(for sha in $(only_v0); do
	[ -e "$S/objects/sha256/${sha:0:2}/${sha:2}" ] || echo "$sha"; done)"
run 0 "$W" rollback --model $M --to "${REL[0]}"
check "rollback to the restored release gives its bytes" same_tree "$D/production/$M" "$SCRATCH/v0"
check "store clean after the restores" store_ok

wt_done
