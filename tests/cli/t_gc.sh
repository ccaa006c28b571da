#!/bin/bash
# gc: keeps deployment.keep_releases releases per model, never the current
# or the previous one, removes the objects no remaining release references
# (and only those), and --dry-run changes nothing.
T=t_gc
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

D=$SCRATCH/d
wt_config "$D" '{"deployment":{"keep_releases":2},"backup":{"before_deploy":false}}'
cd "$D"
P=$D/production
S=$P/.wanctl
M=t2v-1.3B

# Five releases R0..R4 (each variant changes only the DiT shard).
declare -a R
for v in 0 1 2 3 4; do
	"$MKF" "$SCRATCH/v$v" $M --variant $v >/dev/null
	rm -rf "$D/staging/$M"; mkdir -p "$D/staging"
	cp -a "$SCRATCH/v$v" "$D/staging/$M"
	run 0 "$W" -q deploy $M
	R[$v]=$(current "$P" $M)
done
check "five distinct releases" \
	test "$(printf '%s\n' "${R[@]}" | sort -u | wc -l)" = 5
# A second model, to check gc works per model and leaves it alone.
M2=ti2v-5B
"$MKF" "$D/staging/$M2" $M2 >/dev/null
run 0 "$W" -q deploy $M2
R2=$(current "$P" $M2)

# objects referenced by the manifests left in the store
refs() { cat "$S"/releases/*/*.json | jq -r '.files[].sha256' | sort -u; }
objs() { (cd "$S/objects/sha256" && find . -type f | sed 's|^\./||; s|/||') | sort; }
# The DiT shard object of a release (the one file the variants differ in).
dit() { jq -r '.files[] | select(.path == "diffusion_pytorch_model.safetensors") | .sha256' \
	"$S/releases/$M/$1.json"; }
objpath() { echo "$S/objects/sha256/${1:0:2}/${1:2}"; }

# A stray object nobody references (as left by an ingest whose release
# was never built), published the store's way: named by its SHA-256, 0444.
echo "orphan object" >"$SCRATCH/orphan"
ORPH=$(sha256sum "$SCRATCH/orphan" | cut -d' ' -f1)
mkdir -p "$(dirname "$(objpath "$ORPH")")"
cp "$SCRATCH/orphan" "$(objpath "$ORPH")"
chmod 0444 "$(objpath "$ORPH")"

# Current R4, previous R3; keep 2 -> R0, R1, R2 go.
# 1. --dry-run lists them and changes nothing.
before=$(mtree "$P")
run 0 "$W" --json gc --dry-run
jq_is .dry_run true
jq_is '[.releases_removed[].release] | sort | join(",")' \
	"$(printf '%s\n' "${R[0]}" "${R[1]}" "${R[2]}" | sort | paste -sd,)"
jq_is '[.releases_removed[].model] | unique | join(",")' $M
check "gc --dry-run: nothing changed" unchanged "$P" "$before"
run 0 "$W" gc --dry-run
out_has "${R[0]}"

# 2. Roll back to R1: now R1 is current and R0 (the release R1 replaced)
# previous; gc must keep both, and keep 2 of the rest (R4, R3): only R2 goes.
run 0 "$W" -q rollback --model $M --to "${R[1]}"
run 0 "$W" --json releases $M
jq_is '.current' "${R[1]}"
PREV=$(jq -r '.previous' "$SCRATCH/out")
check "previous of R1 is a kept release" test -n "$PREV" -a "$PREV" != null
DIT2=$(dit "${R[2]}")
size2=$(stat -c %s "$(objpath "$DIT2")")
run 0 "$W" --json gc
jq_is .dry_run false
jq_is '[.releases_removed[].release] | join(",")' "$(
	for v in 4 3 2 0; do
		case ${R[$v]} in "${R[1]}"|"$PREV") continue ;; esac
		echo "${R[$v]}"
	done | tail -n +3 | paste -sd,)"
jq_is .objects_removed 2
jq_is .bytes_freed $((size2 + $(stat -c %s "$SCRATCH/orphan")))
check "gc: the current release is kept" test -d "$S/releases/$M/${R[1]}"
check "gc: the previous release is kept" test -d "$S/releases/$M/$PREV"
check "gc: keep_releases newest kept (R4)" test -d "$S/releases/$M/${R[4]}"
check "gc: keep_releases newest kept (R3)" test -d "$S/releases/$M/${R[3]}"
check "gc: R2's tree removed" test ! -e "$S/releases/$M/${R[2]}"
check "gc: R2's manifest removed" test ! -e "$S/releases/$M/${R[2]}.json"
check "gc: R2's unique object removed" test ! -e "$(objpath "$DIT2")"
check "gc: the orphan object removed" test ! -e "$(objpath "$ORPH")"
check "gc: every object left is referenced, every reference stored" \
	test "$(objs)" = "$(refs)"
check "gc: R2 is out of the releases table" \
	test "$(sqlite3 "$S/state.db" "SELECT count(*) FROM releases WHERE id='${R[2]}'")" = 0
check "gc: the other model untouched" test "$(current "$P" $M2)" = "$R2"
check "INV after gc" inv_check "$P" "$M=${R[1]}" "$M2=$R2"

# Every release kept still rolls back byte for byte.
for v in 0 3 4 1; do
	run 0 "$W" -q rollback --verify --model $M --to "${R[$v]}"
	check "after gc: rollback to R$v = v$v" same_tree "$P/$M" "$SCRATCH/v$v"
done
# The removed one is refused (no backup was made: backup.before_deploy
# is off here), production untouched.
before=$(mtree "$P")
run_in "1 4" "$W" rollback --model $M --to "${R[2]}"
err_has "${R[2]}"
check "rollback to a collected release: production untouched" unchanged "$P" "$before"

# 3. A second gc has nothing to do.
run 0 "$W" --json gc
jq_is '.releases_removed | length' 0
jq_is .objects_removed 0
check "INV at the end" inv_check "$P" "$M=${R[1]}" "$M2=$R2"

# 4. keep_releases larger than the releases: nothing to remove.
wt_config "$D" '{"deployment":{"keep_releases":10},"backup":{"before_deploy":false}}'
run 0 "$W" --json gc --dry-run
jq_is '.releases_removed | length' 0

wt_done
