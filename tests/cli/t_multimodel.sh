#!/bin/bash
# Deploys of several models at once and the planning edge cases of
# deploy.c wan_deploy:
#  - `deploy m n`, both new; then m unchanged and n changed (only n is
#    switched, m is reported "unchanged");
#  - one model failing its pre-deployment checks (an empty staging folder,
#    a missing one): exit 4, nothing switched for either model;
#  - the second model's pre_switch failing after the first was switched:
#    the first is switched back (also when it was a first deploy: the link
#    is removed), status rolled_back;
#  - the undo itself failing (the first model's old release vanished from
#    the store meanwhile): status failed, "ROLLBACK FAILED", production on a
#    complete release; the operator can roll back once the release is back;
#  - usage: a model named twice, --source with two models, a relative
#    --source (resolved against the working folder).
T=t_multimodel; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
abc_workspace
jq '.models.n = {"source":"C"}' wanctl.json > two.json && mv two.json wanctl.json
# cfg NAME JQ-EXPR
cfg() { jq "$2" wanctl.json > "$1"; }
# empty_run CMD... : a deploy that meets an empty staging folder must exit 4
# (a failed check). Was: source_scan called qsort(NULL, 0, ...) on an
# empty folder (src/lib/source.c), which UBSan builds stopped on.
empty_run() {
	run 4 "$@"
	! grep -q "runtime error" "$SCRATCH/err" || bad "empty staging: $(grep -m1 'runtime error' "$SCRATCH/err")"
}
# rbf REGEX : the JSON error ends with "ROLLBACK FAILED: <why>", why
# matching REGEX, once. Was: deploy.c formatted it with wan_errmsg() as an
# argument of wan_err(), whose buffer it writes: the reason was lost and
# the message repeated itself.
rbf() {
	jq_is '.error | test("ROLLBACK FAILED: .*ROLLBACK FAILED")' false
	jq_is ".error | test(\"ROLLBACK FAILED: $1\")" true
}

run 0 "$W" --json deploy m n
jq_is '[.status, (.models | length), (.models | map(.unchanged) | any)] | map(tostring) | join(" ")' "completed 2 false"
A=$(current production m); C=$(current production n)
check "m and n get different releases" test -n "$A" -a -n "$C" -a "$A" != "$C"
check "INV after the two-model deploy" inv_check "$P" "m=$A" "n=$C"

# m unchanged, n changed: only n switches.
cfg nb.json '.models.n.source = "B"'
run 0 "$W" --config nb.json --json deploy m n
jq_is '.status' completed
jq_is '.models[] | select(.model == "m") | [.unchanged, .from_release == .to_release] | map(tostring) | join(" ")' "true true"
jq_is '.models[] | select(.model == "n") | .unchanged' false
B=$(current production n)
check "n switched to B" test "$B" != "$C"
check "m untouched" test "$(current production m)" = "$A"
# Both unchanged: nothing to do, exit 0.
run 0 "$W" --config nb.json --json deploy m n
jq_is '[.models[].unchanged] | all' true
check "INV after the partial deploy" inv_check "$P" "m=$A" "n=$B"

# One model's staging folder empty, or missing: nothing switched.
mkdir -p "$S/E"
cfg empty.json '.models.m.source = "C" | .models.n.source = "E"'
if empty_run "$W" --config empty.json --json deploy m n; then
	jq_is '.error | test("staging folder .*/E. is empty; production untouched")' true
	jq_is '[.report.checks[] | select(.id == "staging.exists" and .status == "fail") | .model] | join(",")' n
fi
check "empty staging: m not switched" test "$(current production m)" = "$A"
cfg missing.json '.models.m.source = "C" | .models.n.source = "nowhere"'
run 4 "$W" --config missing.json deploy m n
err_has "nowhere"
check "missing staging: m not switched" test "$(current production m)" = "$A"
check "missing staging: n not switched" test "$(current production n)" = "$B"
# A single empty folder through --source too.
empty_run "$W" deploy m --source "$S/E" && err_has "is empty"

# The second model's pre_switch fails after the first was switched: both
# end where they were.
cfg undo.json '.models.m.source = "B" | .models.n.source = "C" |
	.deployment.hooks.pre_switch = "[ \"$WANCTL_MODEL\" != n ] || exit 6"'
run 4 "$W" --config undo.json --json deploy m n
jq_is .status rolled_back
jq_is '.error | test("pre_switch hook for .n. failed \\(exit status 6\\); rolled back")' true
check "m switched back to A" test "$(current production m)" = "$A"
check "n still on B" test "$(current production n)" = "$B"
check "INV after the two-model undo" inv_check "$P" "m=$A" "n=$B"

# The same with a first deploy of the first model: its link is removed.
jq '.models.k = {"source":"B"}' undo.json > undo-k.json
run 4 "$W" --config undo-k.json --json deploy k n
jq_is .status rolled_back
check "k's first deploy undone: no link" test ! -e production/k -a ! -L production/k
check "INV: k none" inv_check "$P" "m=$A" "n=$B" "k=none"

# The undo fails: m's old release is gone from the store when it is
# needed (the hook of n moves A's manifest away, then fails).
cfg bad.json ".models.m.source = \"B\" | .models.n.source = \"C\" |
	.deployment.hooks.pre_switch = \"[ \\\"\$WANCTL_MODEL\\\" != n ] || { mv $P/.wanctl/releases/m/$A.json $SCRATCH/A.json; exit 6; }\""
run 4 "$W" --config bad.json --json deploy m n
jq_is .status failed
jq_is '.error | test("pre_switch hook for .n. failed \\(exit status 6\\); ROLLBACK FAILED: ")' true
rbf "release $A of 'm' is not in the store\$"
err_has "cannot roll back 'm'"
check "m left on a complete release (B)" test "$(current production m)" = "$B"
check "n not switched" test "$(current production n)" = "$B"
mv "$SCRATCH/A.json" "$P/.wanctl/releases/m/$A.json"
run 0 "$W" rollback --model m --to "$A"
check "operator's rollback: m on A" test "$(current production m)" = "$A"
check "INV after the failed undo and the rollback" inv_check "$P" "m=$A" "n=$B"

# Both undos fail: n's post_switch hides both models' old releases, then
# fails. The error names the first undo failure; both stay on complete
# new releases.
Nb=$(current production n)
cfg bad2.json ".models.m.source = \"B\" | .models.n.source = \"C\" |
	.deployment.hooks.post_switch = \"[ \\\"\$WANCTL_MODEL\\\" != n ] || { mv $R/m/$A.json $SCRATCH/A.json; mv $R/n/$Nb.json $SCRATCH/N.json; exit 6; }\""
run 4 "$W" --config bad2.json --json deploy m n
jq_is .status failed
jq_is '.error | test("post_switch hook for .n. failed \\(exit status 6\\); ROLLBACK FAILED: ")' true
rbf "release [0-9a-f]{16} of '[mn]' is not in the store\$"
err_has "cannot roll back 'm'"
err_has "cannot roll back 'n'"
check "m on B" test "$(current production m)" = "$B"
check "n on C" test "$(current production n)" = "$C"
mv "$SCRATCH/A.json" "$R/m/$A.json"; mv "$SCRATCH/N.json" "$R/n/$Nb.json"
run 0 "$W" rollback --model m --to "$A"
run 0 "$W" rollback --model n --to "$Nb"
check "INV after both undos failed and the rollbacks" inv_check "$P" "m=$A" "n=$Nb"

# A dry run that fails its checks says "failed", not "planned".
empty_run "$W" --config empty.json --json deploy --dry-run m n &&
	jq_is '[.status, .dry_run] | map(tostring) | join(" ")' "failed true"

# A first deploy over an unmanaged folder whose content is the staging's:
# adopted (same release id), and still switched from the folder to a link.
mkdir -p production/u && cp -a "$S/C/." production/u/
jq '.models.u = {"source":"C"}' wanctl.json > adopt.json
run 0 "$W" --config adopt.json --json deploy u
jq_is '.models[0] | [.adopted, .unchanged, .from_release == .to_release] | map(tostring) | join(" ")' "true false true"
check "u is now a release link" test -L production/u -a "$(current production u)" = "$C"
check "INV after the identical adoption" inv_check "$P" "m=$A" "n=$Nb" "u=$C"

# Usage errors: nothing is written.
before=$(mtree "$P")
# SPEC: exit 2 for a usage error (both exited 1 before the CLI checked them).
run 2 "$W" deploy m m
err_has "model 'm' named twice"
run 2 "$W" deploy m n --source "$S/B"
err_has "--source names the staging folder of one model; 2 given"
check "usage errors changed nothing" unchanged "$P" "$before"

# A relative --source is the working folder's, not the config's.
mkdir -p "$SCRATCH/elsewhere"
(cd "$SCRATCH/elsewhere" && run 0 "$W" --config "$SCRATCH/w/wanctl.json" --json deploy m --source ../staging/B &&
	jq_is '.models[0].to_release' "$B") || bad "relative --source"
check "relative --source deployed B" test "$(current production m)" = "$B"

# Six models in one deployment, rolled back as a unit by its id: every one
# goes back, in one deployment of kind rollback.
jq '.models = ({} | .m1.source = "A" | .m2.source = "A" | .m3.source = "A" |
	.m4.source = "A" | .m5.source = "A" | .m6.source = "A")' wanctl.json > six-a.json
jq '.models |= map_values(.source = "B")' six-a.json > six-b.json
run 0 "$W" --config six-a.json -q deploy m1 m2 m3 m4 m5 m6
run 0 "$W" --config six-b.json -q --json deploy m1 m2 m3 m4 m5 m6
dep6=$(jq -r .id "$SCRATCH/out")
run 0 "$W" --config six-b.json -q --json rollback --deployment-id "$dep6"
jq_is '.models | length' 6
for k in 1 2 3 4 5 6; do
	check "six models: m$k back on A" test "$(current production m$k)" = "$A"
done
check "INV after the six-model rollback" inv_check "$P" m1=$A m2=$A m3=$A m4=$A m5=$A m6=$A
wt_done
