#!/bin/bash
# docs/STORE-FORMAT.md is true of a real state folder (two releases of a
# model, one backup): the production link's relative text, object names =
# SHA-256 of their content (the doc's own loop), 0444 objects, release
# files sharing the objects' inodes, manifest keys/order/modes, the release
# id recomputed by the doc's own command, the lock line, the database's
# WAL mode and tables, the backup repository's FORMAT, snapshot keys,
# object index trailer, and `zstd -d` of a zstd-codec object giving the
# original bytes.
T=t_storeformat
. "$(dirname "$0")/../crash/lib.sh"
SRC=${WANCTL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
DOC=$SRC/docs/STORE-FORMAT.md
export WANCTL_NO_FSYNC=1
M=t2v-1.3B

# doc_block "LINE BEFORE" : the first ```sh block after a line of the doc
# containing that text.
doc_block() {
	awk -v key="$1" 'index($0, key) { found = 1; next }
		found && /^```sh/ { inb = 1; next }
		inb && /^```/ { exit }
		inb { print }' "$DOC"
}

jqe() { jq -e "$@" >/dev/null; }

D=$SCRATCH/d
wt_config "$D"
cd "$D"
"$MKF" "staging/$M" $M >/dev/null
run 0 "$W" -q --json deploy $M
A=$(jq -r '.models[0].to_release' "$SCRATCH/out")
rm -rf "staging/$M"
"$MKF" "staging/$M" $M --variant 1 >/dev/null
run 0 "$W" -q --json deploy $M
B=$(jq -r '.models[0].to_release' "$SCRATCH/out")
S=$D/production/.wanctl

# Production links.
check "link text is relative: .wanctl/releases/$M/<id>" \
	test "$(readlink "production/$M")" = ".wanctl/releases/$M/$B"
check "the current release is the link's last component" \
	test "$(basename "$(readlink "production/$M")")" = "$B"

# Layout.
for p in lock state.db objects/sha256 "releases/$M/$A" "releases/$M/$A.json" \
	 "releases/$M/$B" "releases/$M/$B.json" tmp; do
	check "state folder has $p" test -e "$S/$p"
done
check "tmp/ is empty after a command" test -z "$(ls -A "$S/tmp")"
check "state folder not group/other-writable" test -z "$(find "$S" -maxdepth 0 -perm /022)"

# Objects: the doc's loop finds no BAD object; names and modes.
loop=$(doc_block "always gives its name")
check "the doc has the object check loop" test -n "$loop"
loop=${loop//\/srv\/models\/production/$D/production}
out=$(bash -c "$loop" 2>&1)
check "every object hashes to its name (doc's loop: '$out')" test -z "$out"
n=$(find "$S/objects/sha256" -type f | wc -l)
check "objects exist ($n)" test "$n" -gt 0
check "object folders are 2 hex, files 62 hex" test -z \
	"$(cd "$S/objects/sha256" && find . -type f | grep -vxE '\./[0-9a-f]{2}/[0-9a-f]{62}')"
check "objects are mode 0444" test -z "$(find "$S/objects" -type f ! -perm 0444)"
# Release files are the objects (same inode).
f=$(cd "production/$M/" && find . -type f | head -1)
sha=$(sha256sum <"production/$M/$f" | cut -c1-64)
check "a production file is the object's inode" \
	test "$(stat -L -c %i "production/$M/$f")" = "$(stat -c %i "$S/objects/sha256/${sha:0:2}/${sha:2}")"

# Manifests.
MF=$S/releases/$M/$B.json
check "manifest keys" test "$(jq -c 'keys_unsorted - ["tensor_stats"]' "$MF")" = \
	'["format","model","spec","source","created","release","files","totals"]'
check "manifest format" test "$(jq -r .format "$MF")" = wanctl-manifest-1
check "manifest release = file name" test "$(jq -r .release "$MF")" = "$B"
check "manifest created is UTC ISO 8601" jqe '.created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")' "$MF"
check "files: exactly path,size,mode,sha256" jqe '[.files[] | keys == ["mode","path","sha256","size"]] | all' "$MF"
check "files sorted by path, bytewise, once each" test \
	"$(jq -r '.files[].path' "$MF")" = "$(jq -r '.files[].path' "$MF" | LC_ALL=C sort -u)"
check "totals = files and sum of sizes" jqe '.totals == {"files": (.files | length), "bytes": ([.files[].size] | add)}' "$MF"
p=$(jq -r '.files[0].path' "$MF")
check "mode is the staging file's permission bits without the write bits, as a decimal number" test \
	"$(jq -r '.files[0].mode' "$MF")" = "$(( 8#$(stat -c %a "staging/$M/$p") & 8#555 ))"
check "sha256 of a file = manifest" test \
	"$(jq -r '.files[0].sha256' "$MF")" = "$(sha256sum <"$S/releases/$M/$B/$p" | cut -c1-64)"
# The doc's release-id command.
idcmd=$(doc_block "To recompute it from a manifest")
check "the doc has the release id command" test -n "$idcmd"
for r in "$A" "$B"; do
	got=$(cd "$S/releases/$M" && bash -c "${idcmd//3f2a9c0d1e2b4a5f/$r}")
	check "doc's command recomputes release id $r (got '$got')" test "$got" = "$r"
done

# The lock line and the database.
check "lock names pid, command and time" \
	grep -qE "^pid [0-9]+, command '[a-z]+', since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z" "$S/lock"
if command -v sqlite3 >/dev/null; then
	check "database in WAL mode" test "$(sqlite3 "$S/state.db" 'PRAGMA journal_mode')" = wal
	for t in deployments deployment_models releases events stat_cache samples alerts alert_events backups; do
		check "table $t" test "$(sqlite3 "$S/state.db" "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='$t'")" = 1
	done
	check "user_version >= 1" test "$(sqlite3 "$S/state.db" 'PRAGMA user_version')" -ge 1
fi

# The backup repository.
run 0 "$W" -q backup create
BK=$D/backups
check "FORMAT is wanctl-backup-1" test "$(cat "$BK/FORMAT")" = wanctl-backup-1
SN=$BK/snapshots/$M/$B.json
check "snapshot of the current release" test -f "$SN"
check "snapshot keys" test "$(jq -c 'keys_unsorted' "$SN")" = \
	'["format","model","release","created","created_ts","manifest","objects","totals"]'
check "snapshot format" test "$(jq -r .format "$SN")" = wanctl-backup-snapshot-1
check "snapshot manifest = release manifest (files)" test \
	"$(jq -c .manifest.files "$SN")" = "$(jq -c .files "$MF")"
check "snapshot objects: size, stored, codec" jqe '[.objects[] | keys == ["codec","size","stored"]] | all' "$SN"
check "codecs are zstd or byteplane+zstd" jqe '[.objects[].codec | IN("zstd", "byteplane+zstd")] | all' "$SN"
check "backup objects named <2>/<62>.zst, mode 0444" test -z \
	"$(cd "$BK/objects/sha256" && find . -type f \( ! -perm 0444 -o -print \) | grep -vxE '\./[0-9a-f]{2}/[0-9a-f]{62}\.zst')"
z=$(jq -r '[.objects | to_entries[] | select(.value.codec == "zstd")][0].key' "$SN")
zf=$BK/objects/sha256/${z:0:2}/${z:2}.zst
check "index trailer ends with WBKX" test "$(tail -c 4 "$zf")" = WBKX
if command -v zstd >/dev/null; then
	check "zstd -d of a zstd object gives the original bytes" \
		test "$(zstd -dc "$zf" | sha256sum | cut -c1-64)" = "$z"
fi
bp=$(jq -r '[.objects | to_entries[] | select(.value.codec == "byteplane+zstd")][0].key // empty' "$SN")
if [ -n "$bp" ] && command -v zstd >/dev/null; then
	bf=$BK/objects/sha256/${bp:0:2}/${bp:2}.zst
	check "zstd -d of a byteplane object gives the size but transposed bytes" \
		test "$(zstd -dc "$bf" | wc -c)" = "$(jq -r ".objects[\"$bp\"].size" "$SN")"
fi

wt_done
