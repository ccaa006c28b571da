#!/bin/bash
# What the commands do with production entries that are not a wanctl
# release link (release.c wan_release_current/release_sweep_target, ops.c
# rollback/verify/releases/status, deploy.c planning):
#  - an empty workspace: status, verify and list work and say so;
#  - the link removed: verify fails for the model, a plain rollback is
#    refused, `rollback --to` puts a release back, releases shows no
#    current one;
#  - a hand-made symlink to a folder elsewhere, a plain file: rollback
#    refuses; deploy must not silently replace them (SPEC: production is
#    only ever switched between releases, a first deploy over something
#    unmanaged adopts it so it can be rolled back);
#  - an unmanaged folder: verify (all) warns to deploy once to adopt it,
#    verify of the model fails;
#  - debris of interrupted switches/adoptions (.M.wanctl-new/-old): swept
#    by the next command when safe, kept with a warning when not, other
#    dot-names left alone;
#  - the previous release's tree gone from the store: a plain rollback
#    goes to the newest earlier release that is still there.
T=t_prodlink; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
abc_workspace

# --- an empty workspace.
run 0 "$W" --json status
jq_is '.models | length' 0
run 0 "$W" --json verify
jq_is '.checks[0].status' skip
run 0 "$W" --json list
jq_is '.deployments | length' 0

run 0 "$W" deploy m
A=$(current production m)
run 0 "$W" --json deploy m --source "$S/B"
depB=$(jq -r .id "$SCRATCH/out")
B=$(current production m)

# --- the link removed.
rm production/m
run 4 "$W" verify m
out_has "'m' is not deployed"
run 1 "$W" rollback --model m
err_has "'m' is not deployed"
run 1 "$W" rollback --deployment-id "$depB"
check "rollback --deployment-id did not make a link" test ! -L production/m
run 0 "$W" --json releases m
jq_is '.current' null
jq_is '[.releases[].id] | sort | join(",")' "$(printf '%s\n' "$A" "$B" | sort | paste -sd,)"
run 0 "$W" --json rollback --model m --to "$B"
jq_is '.models[0].from_release' null
check "rollback --to put the link back" test "$(current production m)" = "$B"
check "INV after the link came back" inv_check "$P" "m=$B"

# --- a hand-made symlink to a folder elsewhere.
mkdir -p "$SCRATCH/handmade"
cp -a "$S/C/." "$SCRATCH/handmade/"
ln -s "$SCRATCH/handmade" production/h
run 1 "$W" rollback --model h
err_has "not to a wanctl release"
# Deploy refuses to replace it (it used to, leaving no way back).
run 1 "$W" --json deploy h --source "$S/B"
check "a foreign symlink is kept" test "$(readlink production/h)" = "$SCRATCH/handmade"
err_has "not replaced by a release of 'h'"
rm -f production/h
# A link into the release folder whose last part is not a release id.
ln -s ".wanctl/releases/m/${A:0:8}" production/h
run 1 "$W" rollback --model h
err_has "not to a wanctl release"
rm -f production/h

# --- a plain file where a model's link would go.
echo "operator's notes" > production/q
run 1 "$W" rollback --model q
err_has "is neither a release link nor a folder"
# Deploy refuses to replace it (it used to: the file's content was lost).
run 1 "$W" deploy q --source "$S/B"
check "the file is kept" grep -q "operator's notes" production/q
err_has "production/q"
err_has "production untouched"
rm -f production/q

# --- an unmanaged folder: verify says how to adopt it.
mkdir -p production/u && cp -a "$S/C/." production/u/
# All models: a warning (nothing wanctl could check), not a failure; the
# model by name: a failure of release.link.
run 0 "$W" --json verify
jq_is '[.checks[] | select(.model == "u") | .status + " " + (.message | test("deploy once to adopt it") | tostring)] | join(",")' "warn true"
run 4 "$W" verify u
out_has "is an unmanaged folder"
run 1 "$W" rollback --model u
err_has "unmanaged folder"

# --- debris in production, swept by the next command.
ln -s ".wanctl/releases/m/$A" production/.m.wanctl-new
mkdir -p production/.m.wanctl-old production/.u.wanctl-old production/.x.wanctl-tmp production/..wanctl-new
echo keep > production/.u.wanctl-old/data
run 0 "$W" status
check "left-over -new link removed" test ! -L production/.m.wanctl-new
check "-old folder of a released model removed" test ! -e production/.m.wanctl-old
check "-old folder of an unmanaged model kept" test -f production/.u.wanctl-old/data
err_has "'u' has no release yet"
check "other dot-names left alone" test -d production/.x.wanctl-tmp -a -d production/..wanctl-new
rm -rf production/.u.wanctl-old production/.x.wanctl-tmp production/..wanctl-new production/u

# --- the previous release's tree gone: rollback skips to an older one.
run 0 "$W" deploy m --source "$S/C"
C=$(current production m)
run 0 "$W" rollback --model m --to "$A"       # live by a rollback: no deploy replaced it
mv "$R/m/$C" "$SCRATCH/C.tree"
run 0 "$W" --json releases m
jq_is "[.releases[].id] | index(\"$C\")" null
run 0 "$W" rollback --model m
check "rollback skipped the missing C and went to B" test "$(current production m)" = "$B"
mv "$SCRATCH/C.tree" "$R/m/$C"
check "INV at the end" inv_check "$P" "m=$B"
wt_done
