#!/bin/bash
# Confinement (reliability plan items 18, 20): temp names pre-created as
# symlinks are not followed, group/other-writable state folders are refused,
# manifests with escaping or duplicate paths are refused before any write,
# staging entries that are not files or folders are refused; sentinel
# files outside the roots stay byte-identical.
T=t_confine; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
cd "$SCRATCH"
wt_config . '{"backup":{"before_deploy":false}}'
mkdir -p outside
echo "sentinel" > outside/sentinel
mkdir -p outside/dir && echo keep > outside/dir/keep
sum0=$(cd outside && find . -type f -exec sha256sum {} + | sort)
"$MKF" staging/t2v-1.3B t2v-1.3B >/dev/null
"$W" deploy t2v-1.3B >/dev/null 2>&1 && ok || bad "first deploy"
id=$(basename "$(readlink production/t2v-1.3B)")

# 1. Symlinks planted in tmp/ (the names wanctl uses and others).
ln -s "$SCRATCH/outside/sentinel" production/.wanctl/tmp/obj-1-0
ln -s "$SCRATCH/outside/dir" production/.wanctl/tmp/rel-1-0
ln -s "$SCRATCH/outside/sentinel" production/.wanctl/tmp/manifest-1-0
"$MKF" staging/t2v-1.3B t2v-1.3B --variant 1 >/dev/null
"$W" deploy t2v-1.3B >/dev/null 2>&1 && ok || bad "deploy with planted tmp symlinks"
[ -z "$(ls -A production/.wanctl/tmp)" ] && ok || bad "tmp/ not swept"
sum1=$(cd outside && find . -type f -exec sha256sum {} + | sort)
[ "$sum0" = "$sum1" ] && ok || bad "files outside the roots changed"

# 2. A group- or other-writable state folder is refused.
chmod 0777 production/.wanctl
set +e
"$W" deploy t2v-1.3B >/dev/null 2>err; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "writable by group or others" err && ok || bad "writable state folder accepted (rc $rc): $(cat err)"
chmod 0755 production/.wanctl

# 2b. So are a production folder others could write (they could swap the
# store for a symlink), a writable or symlinked folder inside the store;
# a sticky world-writable production folder (like /tmp) is accepted.
prod_ok() { "$W" -q status >/dev/null 2>&1; }
refused() { # WHAT: the last command failed naming the problem
	set +e; "$W" deploy t2v-1.3B >/dev/null 2>err; rc=$?; set -e
	[ $rc -ne 0 ] && grep -q "$2" err && ok || bad "$1 accepted (rc $rc): $(cat err)"
}
chmod 0777 production
refused "group/other-writable production folder" "production folder .* writable by group or others"
chmod 1777 production
prod_ok && ok || bad "sticky world-writable production folder refused"
chmod 0755 production
chmod 0775 production/.wanctl/objects/sha256
refused "group-writable store folder" "store folder .*objects/sha256' is writable by group"
chmod 0755 production/.wanctl/objects/sha256
sub=$(ls production/.wanctl/objects/sha256 | head -1)
mv "production/.wanctl/objects/sha256/$sub" "outside/$sub"
ln -s "$SCRATCH/outside/$sub" "production/.wanctl/objects/sha256/$sub"
refused "symlinked store folder" "is a symbolic link"
rm "production/.wanctl/objects/sha256/$sub"
mv "outside/$sub" "production/.wanctl/objects/sha256/$sub"
# The state folder itself a symlink: refused before anything is written
# through it (it used to be followed).
mv production/.wanctl outside/state
ln -s "$SCRATCH/outside/state" production/.wanctl
before=$(cd outside/state && find . -printf '%p %s %T@\n' | sort)
refused "symlinked state folder" "symbolic link"
[ "$(cd outside/state && find . -printf '%p %s %T@\n' | sort)" = "$before" ] && ok ||
	bad "a symlinked state folder was written through"
rm production/.wanctl
mv outside/state production/.wanctl
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	chown nobody "production/.wanctl/objects/sha256/$sub"
	refused "store folder owned by another user" "belongs to user"
	chown root "production/.wanctl/objects/sha256/$sub"
fi
prod_ok && ok || bad "store not usable after the checks"

# 3. Manifests that escape or repeat paths are refused by what reads them.
man=production/.wanctl/releases/t2v-1.3B/$id.json
cp "$man" good.json
for evil in '../../../outside/sentinel' '/etc/passwd' 'a//b' './config.json' '' 'a\\b'; do
	chmod u+w "$man"
	jq --arg p "$evil" '.files[0].path = $p | del(.release)' good.json > "$man"
	set +e
	"$W" rollback --model t2v-1.3B --to "$id" >/dev/null 2>err; rc=$?
	set -e
	if [ $rc -ne 0 ] && grep -q "manifest" err; then ok; else bad "manifest path '$evil' accepted (rc $rc)"; fi
done
chmod u+w "$man"
jq '.files[1] = .files[0] | del(.release)' good.json > "$man"
set +e
"$W" rollback --model t2v-1.3B --to "$id" >/dev/null 2>err; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "duplicate\|not sorted" err && ok || bad "duplicate manifest path accepted: $(cat err)"
jq '.files[0].size = -1' good.json > "$man"
set +e
"$W" rollback --model t2v-1.3B --to "$id" >/dev/null 2>err; rc=$?
set -e
[ $rc -ne 0 ] && ok || bad "negative size accepted"
cp good.json "$man"
sum2=$(cd outside && find . -type f -exec sha256sum {} + | sort)
[ "$sum0" = "$sum2" ] && ok || bad "files outside the roots changed by manifest attacks"

# 4. Staging entries that are neither files nor folders, and links out.
mkdir -p staging/evil && cp -a staging/t2v-1.3B/. staging/evil/
mkfifo staging/evil/fifo
set +e
"$W" deploy evil >/dev/null 2>err; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "fifo" err && ok || bad "a fifo in staging accepted: $(cat err)"
rm staging/evil/fifo
ln -s "$SCRATCH/outside/dir" staging/evil/escape
set +e
"$W" deploy evil >/dev/null 2>err; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "outside the staging tree" err && ok || bad "a link out of staging accepted: $(cat err)"
[ ! -e production/evil ] && ok || bad "production changed by a refused deploy"
# 5. Model names from the command line never reach a path unchecked.
for evil in '../etc' '..' '.' 'a/b'; do
	set +e
	"$W" rollback --model "$evil" >/dev/null 2>err; rc1=$?
	"$W" releases "$evil" >/dev/null 2>>err; rc2=$?
	"$W" verify "$evil" >/dev/null 2>>err; rc3=$?
	set -e
	[ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] && [ $rc3 -ne 0 ] && grep -q "invalid model name" err && ok ||
		bad "model name '$evil' accepted ($rc1 $rc2 $rc3): $(cat err)"
done
# 6. rollback --to takes an unambiguous prefix, and refuses a non-id.
cur=$(basename "$(readlink production/t2v-1.3B)")
"$W" rollback --model t2v-1.3B --to "${id:0:6}" >/dev/null 2>&1 && ok || bad "rollback to a prefix"
[ "$(basename "$(readlink production/t2v-1.3B)")" = "$id" ] && ok || bad "prefix resolved to the wrong release"
set +e
"$W" rollback --model t2v-1.3B --to "../$cur" >/dev/null 2>err; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "not a release id" err && ok || bad "a path accepted as a release id"
# 7. A symlink planted inside a release tree is damage, never followed.
cur=$(basename "$(readlink production/t2v-1.3B)")
rdir=production/.wanctl/releases/t2v-1.3B/$cur
victim=$(cd "$rdir" && find . -type f -name '*.json' | head -1)
mv "$rdir/$victim" "$SCRATCH/saved"
ln -s "$SCRATCH/outside/sentinel" "$rdir/$victim"
set +e
"$W" --json verify t2v-1.3B >out 2>err; rc=$?
set -e
[ $rc -eq 4 ] && jq -e --arg p "${victim#./}" '[.checks[].details.files[]? | select(.path == $p and (.problem | test("symlink")))] | length == 1' out >/dev/null &&
	ok || bad "a symlink in a release tree was not reported (rc $rc): $(cat out err)"
rm "$rdir/$victim" && mv "$SCRATCH/saved" "$rdir/$victim"
"$W" verify t2v-1.3B >/dev/null 2>&1 && ok || bad "verify after restoring the file"
wt_done
