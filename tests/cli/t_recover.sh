#!/bin/bash
# Recovery of an interrupted deployment (deploy.c deploy_recover), for each
# status a crash can leave and each place the production link can then be:
#  - ingesting (killed at the first store link): nothing switched, left;
#  - switching, link still on the old release (killed in pre_switch): left;
#  - switching, link on the new release (killed in post_switch): put back;
#  - verifying (killed in the smoke command): put back;
#  - a first deploy killed after its switch: the link is removed;
#  - two models, the second killed before its switch: the first put back,
#    the second left; two models, one unchanged (from = to): only the
#    changed one is put back;
#  - a rollback killed at its rename: left as it was;
#  - recovery whose old release is gone from the store (bug 35: every
#    command failed from then on, status included): restored from the
#    backup repository and put back when the backup has it (also after
#    that recovery is itself killed mid-restore); otherwise
#    production stays on the new, complete release, the deployment is
#    marked interrupted and the message says so.
# SPEC "Promises": the next command finds the interrupted deployment,
# finishes or undoes it, and says which.
T=t_recover; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
abc_workspace
kill_parent='kill -KILL $PPID'
cfg() { jq --arg k "$kill_parent" "$2" wanctl.json > "$1"; }
# recovered WAS HOW : the next command (status) recovers and says so.
recovered() {
	run 0 "$W" status
	err_has "was interrupted while $1; $2"
}
last_status() { sqlite3 "$P/.wanctl/state.db" "SELECT status FROM deployments ORDER BY started DESC, rowid DESC LIMIT 1"; }

run 0 "$W" deploy m
A=$(current production m)

# --- ingesting: killed at the first link of a new object into the store.
run 137 env WANCTL_FAULT=link:1:kill "$W" deploy m --source "$S/B"
check "killed while ingesting ($(last_status))" test "$(last_status)" = ingesting
recovered ingesting "production was consistent and left as it was"
check "ingesting: still A" test "$(current production m)" = "$A"
check "deployment now interrupted" test "$(last_status)" = interrupted
check "INV after ingesting" inv_check "$P" "m=$A"

# --- switching, before the switch.
cfg pre.json '.deployment.hooks.pre_switch = $k'
run 137 "$W" --config pre.json deploy m --source "$S/B"
check "killed while switching" test "$(last_status)" = switching
check "link still on A" test "$(current production m)" = "$A"
recovered switching "production was consistent and left as it was"
check "INV after switching/old" inv_check "$P" "m=$A"

# --- switching, after the switch.
cfg post.json '.deployment.hooks.post_switch = $k'
run 137 "$W" --config post.json deploy m --source "$S/B"
B=$(current production m)
check "link on the new release B" test "$B" != "$A"
recovered switching "production was put back on the previous releases"
check "put back on A" test "$(current production m)" = "$A"
run 0 "$W" --json list --limit 1
jq_is '.deployments[0].status' interrupted
jq_is '.deployments[0].error | test("put back")' true
check "INV after switching/new" inv_check "$P" "m=$A"

# --- verifying: the smoke command kills wanctl after the switch.
jq --arg k "$kill_parent" '.validation = {"enabled":true,"min_ram_gb":1,"disk_margin_percent":0,
	"scan_tensors":false,"inference_command":$k}' wanctl.json > verify.json
run_in "137 4" "$W" --config verify.json deploy m --source "$S/B"
if [ "$WT_RC" = 137 ]; then
	check "killed while verifying" test "$(last_status)" = verifying
	recovered verifying "production was put back on the previous releases"
	check "verifying: put back on A" test "$(current production m)" = "$A"
	check "INV after verifying" inv_check "$P" "m=$A"
else
	echo "$T: this machine fails the pre-deployment checks ($(head -c 200 "$SCRATCH/err")): 'verifying' not reached"
fi

# --- a first deploy killed after its switch: recovery removes the link.
jq --arg k "$kill_parent" '.models.n = {"source":"B"} | .deployment.hooks.post_switch = $k' \
	wanctl.json > first.json
run 137 "$W" --config first.json deploy n
check "n was linked before the kill" test -L production/n
run 0 "$W" --config first.json status
err_has "was interrupted while switching; production was put back"
check "first deploy undone: no production/n" test ! -e production/n -a ! -L production/n
check "INV: no link for n" inv_check "$P" "m=$A" "n=none"

# --- two models; the second is killed before its own switch.
jq '.models.n = {"source":"A"}' wanctl.json > two.json
run 0 "$W" --config two.json deploy n
check "n on A" test "$(current production n)" = "$A"
jq --arg k "$kill_parent" '.models.m.source = "B" | .models.n = {"source":"B"} |
	.deployment.hooks.pre_switch = "[ \"$WANCTL_MODEL\" != n ] || " + $k' wanctl.json > two-kill.json
run 137 "$W" --config two-kill.json deploy m n
check "m switched to B before the kill" test "$(current production m)" = "$B"
check "n not switched" test "$(current production n)" = "$A"
run 0 "$W" --config two.json status
err_has "production was put back on the previous releases"
check "two models: m back on A" test "$(current production m)" = "$A"
check "two models: n still on A" test "$(current production n)" = "$A"
check "INV after the two-model kill" inv_check "$P" "m=$A" "n=$A"

# --- two models, m unchanged (from = to), n switched then killed.
jq --arg k "$kill_parent" '.models.n = {"source":"B"} |
	.deployment.hooks.post_switch = "[ \"$WANCTL_MODEL\" != n ] || " + $k' wanctl.json > unch.json
run 137 "$W" --config unch.json deploy m n
check "n switched to B" test "$(current production n)" = "$B"
run 0 "$W" --config two.json status
err_has "production was put back on the previous releases"
check "unchanged m stays on A" test "$(current production m)" = "$A"
check "n back on A" test "$(current production n)" = "$A"
check "INV after the unchanged+changed kill" inv_check "$P" "m=$A" "n=$A"

# --- a rollback killed at its rename (the switch itself).
run 0 "$W" deploy m --source "$S/B"
run 137 env WANCTL_FAULT=rename:1:kill "$W" rollback --model m
run 0 "$W" status
err_has "was interrupted while switching; production was consistent and left as it was"
check "rollback killed before its rename: still B" test "$(current production m)" = "$B"
run 0 "$W" --json list --limit 1
jq_is '.deployments[0].kind + " " + .deployments[0].status' "rollback interrupted"
check "INV after the killed rollback" inv_check "$P" "m=$B"

# --- recovery whose old release is gone from the store (its manifest and
# tree deleted, its own objects too). With a backup of it: restored and put
# back. Without: production stays on B, the deployment is interrupted and
# says why, and the commands after it work (bug 35: the deployment stayed
# in flight and every command, status included, failed on it).
run 0 "$W" rollback --model m
run 0 "$W" backup create m
drop_a() {
	chmod -R u+w "$P/.wanctl/releases/m/$A"
	rm -rf "$P/.wanctl/releases/m/$A" "$P/.wanctl/releases/m/$A.json"
	jq -r '.files[].sha256' "$SCRATCH/A.manifest" | while read -r h; do
		rm -f "$P/.wanctl/objects/sha256/${h:0:2}/${h:2}"
	done
}
cp "$P/.wanctl/releases/m/$A.json" "$SCRATCH/A.manifest"
run 137 "$W" --config post.json deploy m --source "$S/B"
check "on B after the kill" test "$(current production m)" = "$B"
drop_a
# Recovery itself killed at its first store link (the first object of A
# restored from the backup): still in flight, and the next command
# finishes the restore and puts A back.
run 137 env WANCTL_FAULT=link:1:kill "$W" status
check "the killed recovery left the deployment in flight" test "$(last_status)" = switching
check "still on the complete B" test "$(current production m)" = "$B"
recovered switching "production was put back on the previous releases"
check "A restored from the backup and put back" test "$(current production m)" = "$A"
check "INV after a recovery through the backup" inv_check "$P" "m=$A"
run 0 "$W" verify m

run 137 "$W" --config post.json deploy m --source "$S/B"
drop_a
rm -rf backups
recovered switching "production was left on the new releases; 'm' stays on $B: its previous release $A is no longer in the store"
check "no backup: production stays on the complete B" test "$(current production m)" = "$B"
check "the deployment is no longer in flight" test "$(last_status)" = interrupted
run 0 "$W" verify m
check "INV on B" inv_check "$P" "m=$B"
run 0 "$W" deploy m --source "$S/C"
check "a later deploy works" test "$(current production m)" != "$B"
wt_done
