#!/bin/bash
# examples/deploy_rollback.c against fixtures in a scratch folder
# (ctest examples/deploy_rollback, built by tests/helpers/examples.cmake):
#  1. defaults (paths under the current folder), production an unmanaged
#     folder: the deploy adopts it, the rollback returns to it, byte for byte;
#  2. again, now managed: from the adopted release to the staging one and
#     back, and the CLI sees both deployments;
#  3. with a configuration file (wan_config_load), from another folder;
#     a model never deployed before has nothing to roll back to (exit 1,
#     production = the new release);
#  4. usage errors exit 2, a missing staging folder exits non-zero and
#     leaves production as it was.
T=t_example_deploy_rollback
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
EX=$WB/examples/deploy_rollback
M=t2v-1.3B
[ -x "$EX" ] || { bad "no '$EX'"; wt_done; exit 1; }

"$MKF" "$SCRATCH/v0" $M >/dev/null
"$MKF" "$SCRATCH/v1" $M --variant 1 >/dev/null

# 1. Defaults: ./models/staging and ./models/production.
D=$SCRATCH/d
mkdir -p "$D/models/staging" "$D/models/production"
cp -a "$SCRATCH/v1" "$D/models/staging/$M"
cp -a "$SCRATCH/v0" "$D/models/production/$M"
cd "$D"
run 0 "$EX" $M
out_has "$M: production is at an unmanaged folder"
out_has "deploy dep-"
out_has "rollback dep-"
A=$(current "$D/models/production" $M) || A=""
check "after rollback production is a link to a release" test -n "$A"
check "after rollback production = the adopted folder's content" \
	same_tree "$D/models/production/$M" "$SCRATCH/v0"
check "the example printed where production ends" grep -qx "$M: production is at $A" "$SCRATCH/out"
# The deploy went from the adopted release A to B, the rollback from B to A.
B=$(sed -n "/^deploy /,/^rollback /s/^  $M: $A -> \([0-9a-f]\{16\}\)$/\1/p" "$SCRATCH/out")
check "deploy line: $M: A -> B" test -n "$B"
check "rollback line: $M: B -> A" grep -qx "  $M: $B -> $A" "$SCRATCH/out"

# 2. Again: managed now. The CLI (same defaults, same folder) sees it all.
run 0 "$EX" $M
check "second run: deploy A -> B" grep -qx "  $M: $A -> $B" "$SCRATCH/out"
check "second run: rollback B -> A" grep -qx "  $M: $B -> $A" "$SCRATCH/out"
check "production still = v0" same_tree "$D/models/production/$M" "$SCRATCH/v0"
run 0 "$W" --json list
jq_is '.deployments | length' 4
jq_is '[.deployments[].status] | unique | .[]' completed
run 0 "$W" --json releases $M
jq_is '[.releases[].id] | sort | join(" ")' "$(printf '%s\n' "$A" "$B" | sort | tr '\n' ' ' | sed 's/ $//')"

# 3. A configuration file (wan_config_load), used from another folder.
C=$SCRATCH/c
wt_config "$C"
mkdir -p "$C/staging" "$C/production"
cp -a "$SCRATCH/v1" "$C/staging/$M"
cp -a "$SCRATCH/v0" "$C/production/$M"
cd "$SCRATCH"
run 0 "$EX" $M "$C/wanctl.json"
check "config file: production = v0 after the round trip" \
	same_tree "$C/production/$M" "$SCRATCH/v0"
check "config file: the state is where the file says" test -f "$C/production/.wanctl/state.db"

# A model that was never in production: the deploy succeeds, and there is
# no earlier release to roll back to: exit 1, production = the new release.
C2=$SCRATCH/c2
wt_config "$C2"
mkdir -p "$C2/staging"
cp -a "$SCRATCH/v1" "$C2/staging/$M"
run 1 "$EX" $M "$C2/wanctl.json"
out_has "$M: production is at (none)"
check "never deployed before: production = v1, whole" same_tree "$C2/production/$M" "$SCRATCH/v1"

# 4. Errors.
run 2 "$EX"
run 2 "$EX" --help
before=$(mtree "$D/models/production")
cd "$D"
run_in "1 4" "$EX" no-such-model
check "missing staging: production unchanged" unchanged "$D/models/production" "$before"

wt_done
