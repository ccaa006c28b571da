#!/bin/bash
# Deploy from a Hugging Face hub-cache-shaped snapshot built by hand:
#   models--Wan-AI--Wan2.1-T2V-1.3B/
#     blobs/<sha256 of LFS files> <git sha1 of small files>
#     snapshots/<rev>/...   relative symlinks into ../../blobs
#     refs/main             "<rev>"
# --source <repo> and --source <snapshot> succeed and production matches;
# a blob whose content does not hash to its SHA-256 name is refused naming
# the file; a staging symlink leaving the tree is refused naming it.
T=t_hfcache
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

D=$SCRATCH/d
wt_config "$D"
cd "$D"
P=$D/production
M=t2v-1.3B
REV=0123456789abcdef0123456789abcdef01234567

"$MKF" "$SCRATCH/fix" $M >/dev/null
# hubcache SRC REPO: build the cache layout of the tree SRC.
hubcache() {
	local src=$1 repo=$2 f rel name up
	mkdir -p "$repo/blobs" "$repo/snapshots/$REV" "$repo/refs"
	printf '%s' "$REV" >"$repo/refs/main"
	(cd "$src" && find . -type f | sed 's|^\./||') | while read -r rel; do
		f=$src/$rel
		case $rel in
		*.safetensors|*.pth|*.model)   # LFS files: named by SHA-256
			name=$(sha256sum "$f" | cut -d' ' -f1) ;;
		*)                             # git blobs: named by SHA-1
			name=$(git hash-object "$f" 2>/dev/null ||
				sha1sum "$f" | cut -d' ' -f1) ;;
		esac
		cp "$f" "$repo/blobs/$name"
		mkdir -p "$repo/snapshots/$REV/$(dirname "$rel")"
		# ../../blobs from snapshots/<rev>/, one more ../ per folder level.
		up=$(echo "$rel" | awk -F/ '{ s = ""; for (i = 1; i < NF; i++) s = s "../"; print s }')
		ln -s "${up}../../blobs/$name" "$repo/snapshots/$REV/$rel"
	done
}
HUB=$SCRATCH/hub
REPO=$HUB/models--Wan-AI--Wan2.1-T2V-1.3B
hubcache "$SCRATCH/fix" "$REPO"
check "the snapshot is made of symlinks" \
	test "$(find "$REPO/snapshots/$REV" -type f | wc -l)" = 0
check "every snapshot link resolves into blobs/" \
	test "$(find -L "$REPO/snapshots/$REV" -type f | wc -l)" = \
	     "$(find "$SCRATCH/fix" -type f | wc -l)"
check "nested links are relative" \
	test "$(readlink "$REPO/snapshots/$REV/google/umt5-xxl/tokenizer.json" | cut -c1-12)" = "../../../../"

# 1. --source <repo folder>: refs/main names the snapshot.
run 0 "$W" -q --json deploy $M --source "$REPO"
jq_is .status completed
R1=$(jq -r '.models[0].to_release' "$SCRATCH/out")
check "repo: production = the fixture" same_tree "$P/$M" "$SCRATCH/fix"
check "repo: production holds files, not links into the cache" \
	test "$(find "$P/$M/" -type l | wc -l)" = 0
check "repo: manifest names the snapshot folder as source" \
	grep -q "snapshots/$REV" "$P/.wanctl/releases/$M/$R1.json"
check "INV after a hub-cache deploy" inv_check "$P" "$M=$R1"
check "the cache is only read" test -L "$REPO/snapshots/$REV/config.json"

# 2. --source <snapshot folder>: the same content, so the same release.
run 0 "$W" -q --json deploy $M --source "$REPO/snapshots/$REV"
jq_is '.models[0].to_release' "$R1"
# The same content from a plain folder is the same release too.
cp -a "$SCRATCH/fix" "$D/staging_plain"
run 0 "$W" -q --json deploy $M --source "$D/staging_plain"
jq_is '.models[0].to_release' "$R1"
jq_is '.models[0].unchanged' true

# 3. A damaged LFS blob (content does not hash to its name), new content
# so that it must be read: refused naming the file, production untouched.
"$MKF" "$SCRATCH/fix2" $M --variant 1 >/dev/null
REPO2=$HUB/models--Wan-AI--Wan2.1-T2V-1.3B-b
hubcache "$SCRATCH/fix2" "$REPO2"
blob=$(readlink -f "$REPO2/snapshots/$REV/diffusion_pytorch_model.safetensors")
size=$(stat -c %s "$blob")
printf '\x01' | dd of="$blob" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
before=$(mtree "$P")
run 1 "$W" deploy $M --source "$REPO2"
err_has "diffusion_pytorch_model.safetensors"
err_has "$(basename "$blob")"
check "damaged blob: production untouched" unchanged "$P" "$before"
check "damaged blob: link unchanged" test "$(current "$P" $M)" = "$R1"
check "INV after a refused blob" inv_check "$P" "$M=$R1"
# Restored, the deploy goes through.
cp "$SCRATCH/fix2/diffusion_pytorch_model.safetensors" "$blob"
run 0 "$W" -q --json deploy $M --source "$REPO2"
jq_is .status completed
check "repaired blob: production = the new fixture" same_tree "$P/$M" "$SCRATCH/fix2"

# 4. A damaged blob whose staging file is small (a JSON config named by a
# 64-hex name, as an LFS-tracked JSON would be).
REPO3=$HUB/models--Wan-AI--Wan2.1-T2V-1.3B-c
hubcache "$SCRATCH/fix" "$REPO3"
rm "$REPO3/snapshots/$REV/config.json"
fake=$(printf 'x' | sha256sum | cut -d' ' -f1)
echo '{"model_type":"t2v","tampered":true}' >"$REPO3/blobs/$fake"
ln -s "../../blobs/$fake" "$REPO3/snapshots/$REV/config.json"
R=$(current "$P" $M)
run_in "1 4" "$W" deploy $M --source "$REPO3"
err_has "config.json"
check "tampered small blob: link unchanged" test "$(current "$P" $M)" = "$R"

# 5. A staging symlink leaving the tree (not a hub blob) is refused.
mkdir -p "$D/staging"
cp -a "$SCRATCH/fix" "$D/staging/$M"
ln -s /etc/hostname "$D/staging/$M/hostname.txt"
before=$(mtree "$P")
run_in "1 4" "$W" deploy $M
err_has "hostname.txt"
err_has "outside"
check "escaping symlink: production untouched" unchanged "$P" "$before"
rm "$D/staging/$M/hostname.txt"
# A link into the hub cache's blobs from a folder that is no hub snapshot
# is outside the tree as well.
ln -s "$REPO/blobs/$(basename "$(readlink "$REPO/snapshots/$REV/config.json")")" \
	"$D/staging/$M/extra.json"
run_in "1 4" "$W" deploy $M
err_has "extra.json"
check "link to another tree: production untouched" unchanged "$P" "$before"
rm "$D/staging/$M/extra.json"
# A symlink inside the hub snapshot that leaves the repo is refused too.
ln -s /etc/hostname "$REPO/snapshots/$REV/hostname.txt"
run_in "1 4" "$W" deploy $M --source "$REPO"
err_has "hostname.txt"
check "escaping link in a snapshot: production untouched" unchanged "$P" "$before"
rm "$REPO/snapshots/$REV/hostname.txt"
# A relative link that stays inside the staging tree is fine.
ln -s config.json "$D/staging/$M/config-copy.json"
run 0 "$W" -q --json deploy $M
jq_is .status completed
check "inner link: deployed as a file" test -f "$P/$M/config-copy.json" -a ! -L "$P/$M/config-copy.json"
check "INV at the end" inv_check "$P"

wt_done
