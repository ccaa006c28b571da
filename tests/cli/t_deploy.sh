#!/bin/bash
# The deploy life cycle on fixture models: deploy -> redeploy (no-op) ->
# new release -> rollback --model -> rollback --deployment-id, with
# production byte-identical to the expected staging content at each step;
# --json of deploy/rollback/list/releases; verify catching a flipped byte;
# --dry-run; two models at once; a failing post_switch hook; a missing
# staging folder.
T=t_deploy
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

D=$SCRATCH/d
wt_config "$D"
cd "$D"
P=$D/production
M=t2v-1.3B

# Two versions of the model kept aside, to compare production against.
"$MKF" "$SCRATCH/v0" $M >/dev/null
"$MKF" "$SCRATCH/v1" $M --variant 1 >/dev/null
check "fixture variants differ" not same_tree "$SCRATCH/v0" "$SCRATCH/v1"
stage() { # VERSION: put that version in staging
	rm -rf "$D/staging/$M"
	mkdir -p "$D/staging"
	cp -a "$SCRATCH/$1" "$D/staging/$M"
}

# 1. First deploy.
stage v0
run 0 "$W" -q --json deploy $M
jq_is .status completed
jq_is '.id | test("^dep-[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$")' true
jq_is '.models | length' 1
jq_is '.models[0].model' $M
jq_is '.models[0].from_release' null
jq_is '.models[0].to_release | test("^[0-9a-f]{16}$")' true
jq_is .error null
A=$(jq -r '.models[0].to_release' "$SCRATCH/out")
DEP_A=$(jq -r .id "$SCRATCH/out")
check "production link is relative, into the store" \
	test "$(readlink "$P/$M")" = ".wanctl/releases/$M/$A"
check "deploy: production = v0" same_tree "$P/$M" "$SCRATCH/v0"
check "release files are read-only hard links into the store" \
	test "$(find "$P/$M/" -type f -perm /0222 | wc -l)" = 0
check "INV after the first deploy" inv_check "$P" "$M=$A"

# 2. Redeploy of the same content: nothing to do, same release.
before=$(mtree "$P")
run 0 "$W" deploy $M
err_has "nothing to do"
check "redeploy: link unchanged" test "$(current "$P" $M)" = "$A"
check "redeploy: production untouched" unchanged "$P" "$before"
run 0 "$W" -q --json deploy $M
jq_is .status completed
jq_is '.models[0].from_release' "$A"
jq_is '.models[0].to_release' "$A"
jq_is '.models[0].unchanged' true
jq_is '.models[0].copied' 0

# 3. A new release (only the DiT shard differs: the rest is deduplicated).
stage v1
run 0 "$W" -q --json deploy $M
jq_is .status completed
jq_is '.models[0].from_release' "$A"
B=$(jq -r '.models[0].to_release' "$SCRATCH/out")
DEP_B=$(jq -r .id "$SCRATCH/out")
check "new release has a new id" test -n "$B" -a "$B" != "$A"
jq_is '.models[0].deduplicated > 0' true
jq_is '.models[0].copied < .models[0].bytes' true
check "new release: production = v1" same_tree "$P/$M" "$SCRATCH/v1"
check "INV after the new release" inv_check "$P" "$M=$B"
shared=$(find "$P/.wanctl/objects" -type f -links +2 | wc -l)
check "files the releases share are stored once" test "$shared" -gt 0

# releases --json: both kept, current and previous marked.
run 0 "$W" --json releases $M
jq_is .model $M
jq_is .current "$B"
jq_is '.releases | length' 2
jq_is "[.releases[] | select(.current) | .id] | join(\",\")" "$B"
jq_is "[.releases[] | select(.previous) | .id] | join(\",\")" "$A"
jq_is '[.releases[] | .shared_bytes > 0] | all' true
run 0 "$W" releases $M
out_has "$A"
out_has "$B"

# 4. rollback --model: back to the previous release, byte for byte.
run 0 "$W" -q --json rollback --model $M
jq_is .status completed
jq_is '.id | startswith("dep-")' true
jq_is '.models[0].model' $M
jq_is '.models[0].from_release' "$B"
jq_is '.models[0].to_release' "$A"
check "rollback --model: production = v0" same_tree "$P/$M" "$SCRATCH/v0"
check "INV after rollback --model" inv_check "$P" "$M=$A"
# rollback --to a named release.
run 0 "$W" -q --json rollback --model $M --to "$B"
jq_is '.models[0].to_release' "$B"
check "rollback --to: production = v1" same_tree "$P/$M" "$SCRATCH/v1"

# 5. rollback --deployment-id of the deployment that brought B.
run 0 "$W" -q --json rollback --deployment-id "$DEP_B"
jq_is .status completed
jq_is '.models[0].from_release' "$B"
jq_is '.models[0].to_release' "$A"
check "rollback --deployment-id: production = v0" same_tree "$P/$M" "$SCRATCH/v0"
check "INV after rollback --deployment-id" inv_check "$P" "$M=$A"
run_in "1 2" "$W" rollback --deployment-id dep-20000101-000000-0000
err_has "dep-20000101-000000-0000"
check "unknown deployment id: production untouched" test "$(current "$P" $M)" = "$A"
run 2 "$W" rollback
run 1 "$W" rollback --model $M --to 0123456789abcdef
err_has 0123456789abcdef
check "unknown release: production untouched" test "$(current "$P" $M)" = "$A"

# 6. list --json and its filters.
run 0 "$W" --json list
jq_is '.deployments | length >= 7' true
jq_is '.deployments[0].kind' rollback
jq_is "[.deployments[] | select(.id == \"$DEP_B\") | .models[0].to_release] | join(\"\")" "$B"
jq_is "[.deployments[] | select(.id == \"$DEP_A\") | .models[0].from_release][0]" null
jq_is '[.deployments[] | .models[] | has("model") and has("from_release") and has("to_release")] | all' true
jq_is '[.deployments[].started] == ([.deployments[].started] | sort | reverse)' true
run 0 "$W" --json list --limit 2
jq_is '.deployments | length' 2
run 0 "$W" --json list --model $M
jq_is '[.deployments[] | .models[].model == "'$M'"] | all' true
run 0 "$W" --json list --model no-such-model
jq_is '.deployments | length' 0
run 0 "$W" --json list --status completed
jq_is '(.deployments | length > 0) and ([.deployments[].status == "completed"] | all)' true
run 0 "$W" --json list --status rolled_back
jq_is '[.deployments[].status == "rolled_back"] | all' true
run 2 "$W" list --status bogus
run 0 "$W" list
out_has "$DEP_B"

# 7. verify: clean, then a flipped byte in the live release (objects are
# 0444 hard links: chmod then edit, as bit rot or an intruder would).
run 0 "$W" verify $M
run 0 "$W" verify --quick
victim=$P/$M/google/umt5-xxl/tokenizer.json
chmod u+w "$victim"
printf 'Z' | dd of="$victim" bs=1 seek=3 conv=notrunc 2>/dev/null
chmod 0444 "$victim"
run 4 "$W" verify $M
out_has "google/umt5-xxl/tokenizer.json"
run 4 "$W" --json verify
jq_is '[.checks[] | select(.status == "fail") | .details.files[].path] | join(",")' \
	"google/umt5-xxl/tokenizer.json"
check "INV sees the damage too" not inv_check "$P"
# Put the byte back (from the staging copy of v0).
chmod u+w "$victim"
cp "$SCRATCH/v0/google/umt5-xxl/tokenizer.json" "$victim"
chmod 0444 "$victim"
run 0 "$W" verify $M
# A missing file and an extra file in the live release.
rel=$P/.wanctl/releases/$M/$A
mv "$rel/config.json" "$SCRATCH/config.json.aside"
touch "$rel/extra.bin"
run 4 "$W" --json verify $M
jq_is '[.checks[] | select(.status == "fail") | .details.files[].path] | sort | join(",")' \
	"config.json,extra.bin"
mv "$SCRATCH/config.json.aside" "$rel/config.json"
rm "$rel/extra.bin"
run 0 "$W" verify $M

# 8. --dry-run changes nothing.
stage v1
before=$(mtree "$P")
ndep=$(sqlite3 "$P/.wanctl/state.db" 'SELECT count(*) FROM deployments')
run 0 "$W" -q --json deploy --dry-run $M
jq_is .dry_run true
jq_is .status planned
jq_is '.models[0].from_release' "$A"
# Without reading staging the plan may not know the new id; when it does,
# it is B's.
jq_is '.models[0].to_release | . == null or . == "'$B'"' true
jq_is '.models[0].bytes' "$(jq '.totals.bytes' "$P/.wanctl/releases/$M/$B.json")"
jq_is '.models[0].to_copy <= .models[0].bytes' true
check "dry-run: production and store untouched" unchanged "$P" "$before"
check "dry-run: link unchanged" test "$(current "$P" $M)" = "$A"
check "dry-run: no deployment recorded" \
	test "$(sqlite3 "$P/.wanctl/state.db" 'SELECT count(*) FROM deployments')" = "$ndep"
# A dry run of content not yet stored says what must be copied, stores nothing.
"$MKF" "$D/staging/$M" $M --variant 2 >/dev/null 2>&1 || {
	rm -rf "$D/staging/$M"; "$MKF" "$D/staging/$M" $M --variant 2 >/dev/null; }
run 0 "$W" -q --json deploy --dry-run $M
jq_is '.models[0].to_release != "'$A'" and .models[0].to_release != "'$B'"' true
jq_is '.models[0].to_copy > 0' true
check "dry-run of new content: store untouched" unchanged "$P" "$before"

# 9. Two models at once.
M2=ti2v-5B
"$MKF" "$D/staging/$M2" $M2 >/dev/null
stage v0
"$MKF" "$SCRATCH/v2" $M --variant 2 >/dev/null
stage v2
run 0 "$W" -q --json deploy $M $M2
jq_is .status completed
jq_is '.models | length' 2
jq_is '[.models[].model] | sort | join(",")' "$M,$M2"
jq_is "[.models[] | select(.model == \"$M2\") | .from_release][0]" null
C=$(jq -r ".models[] | select(.model == \"$M\") | .to_release" "$SCRATCH/out")
C2=$(jq -r ".models[] | select(.model == \"$M2\") | .to_release" "$SCRATCH/out")
DEP_C=$(jq -r .id "$SCRATCH/out")
check "two models: $M = v2" same_tree "$P/$M" "$SCRATCH/v2"
check "two models: $M2 = its staging" same_tree "$P/$M2" "$D/staging/$M2"
check "INV after a two-model deploy" inv_check "$P" "$M=$C" "$M2=$C2"
run 0 "$W" --json list --model $M2
jq_is '.deployments[0].id' "$DEP_C"
# The second model had no release before: rolling the whole deployment
# back is refused (that would take the model away), and nothing changes.
before=$(mtree "$P")
run 1 "$W" rollback --deployment-id "$DEP_C"
err_has "$M2"
check "refused rollback of a two-model deployment: nothing changed" \
	unchanged "$P" "$before"
# One model at a time works.
run 0 "$W" -q --json rollback --model $M
jq_is '.models[0].to_release' "$A"
check "INV after rolling one model back" inv_check "$P" "$M=$A" "$M2=$C2"
run 0 "$W" -q --json deploy $M $M2
check "redeploy of both: $M on C" test "$(current "$P" $M)" = "$C"
jq_is "[.models[] | select(.model == \"$M2\") | .unchanged][0]" true

# 10. A failing post_switch hook: rolled back to the old release, exit 4.
stage v1
wt_config "$D" '{"deployment":{"hooks":{"post_switch":"exit 1"}}}'
before=$(current "$P" $M)
run 4 "$W" deploy $M
err_has "post_switch"
err_has "rolled back"
check "failing post_switch: production back on the old release" \
	test "$(current "$P" $M)" = "$before"
run 4 "$W" -q --json deploy $M
jq_is .status rolled_back
jq_is '.models[0].from_release' "$before"
check "failing post_switch: production back on the old release" \
	test "$(current "$P" $M)" = "$before"
check "failing post_switch: production = v2" same_tree "$P/$M" "$SCRATCH/v2"
run 0 "$W" --json list --limit 1
jq_is '.deployments[0].status' rolled_back
check "INV after an automatic rollback" inv_check "$P" "$M=$before" "$M2=$C2"
# The hook sees the model; a passing one lets the deploy complete.
wt_config "$D" '{"deployment":{"hooks":{"post_switch":"echo hook-ran >'"$SCRATCH"'/hook.out"}}}'
run 0 "$W" -q deploy $M
check "passing post_switch: production = v1" same_tree "$P/$M" "$SCRATCH/v1"
check "the hook ran" grep -q hook-ran "$SCRATCH/hook.out"
wt_config "$D"

# 11. A missing staging folder: exit 4, production untouched.
before=$(mtree "$P")
run 4 "$W" deploy t2v-14B
err_has "staging/t2v-14B"
err_has "production untouched"
check "missing staging: production untouched" unchanged "$P" "$before"
rm -rf "$D/staging/$M"
run 4 "$W" -q --json deploy $M
jq_is '.status | IN("failed", "rolled_back")' true
jq_is '[.report.checks[] | select(.id == "staging.exists") | .status] | index("fail") != null' true
check "missing staging of a deployed model: production untouched" unchanged "$P" "$before"
check "INV at the end" inv_check "$P"

# 12. status --json.
run 0 "$W" --json status
jq_is "[.models[] | select(.model == \"$M\") | .release] | join(\"\")" "$(current "$P" $M)"
jq_is '.interrupted | length' 0

# 13. The stat cache is not fooled by an in-place edit of staging that
# keeps the size and the mtime (the ctime still changes), and --rehash
# re-reads everything.
stage v1
run 0 "$W" -q deploy $M
cur=$(current "$P" $M)
f=$D/staging/$M/diffusion_pytorch_model.safetensors
touch -r "$f" "$SCRATCH/stamp"
size=$(stat -c %s "$f")
printf '\x7f' | dd of="$f" bs=1 seek=$((size - 2)) conv=notrunc 2>/dev/null
touch -r "$SCRATCH/stamp" "$f"
check "the edit kept size and mtime" test "$(stat -c %s "$f")" = "$size" -a \
	"$(stat -c %Y "$f")" = "$(stat -c %Y "$SCRATCH/stamp")"
run 0 "$W" -q --json deploy $M
jq_is '.models[0].to_release != "'$cur'"' true
check "in-place edit: production = the edited staging" same_tree "$P/$M" "$D/staging/$M"
cur=$(current "$P" $M)
run 0 "$W" -q --json deploy --rehash $M
jq_is '.models[0].to_release' "$cur"
jq_is '.models[0].unchanged' true
check "INV after the stat-cache checks" inv_check "$P" "$M=$cur"

wt_done
