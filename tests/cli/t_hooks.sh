#!/bin/bash
# Deployment hooks see the deployment in their environment: WANCTL_MODEL,
# WANCTL_RELEASE (live after the step), WANCTL_FROM_RELEASE, WANCTL_HOOK,
# WANCTL_DEPLOYMENT_ID, WANCTL_CKPT_DIR; post_rollback runs after a
# rollback and after an automatic one.
T=t_hooks; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
cd "$SCRATCH"
log='echo "$WANCTL_HOOK $WANCTL_MODEL $WANCTL_FROM_RELEASE>$WANCTL_RELEASE $WANCTL_DEPLOYMENT_ID" >> '"$SCRATCH/hooks.log"
jq -n --arg l "$log" '{"source_models_path":"staging","target_models_path":"production",
  "backup_path":"backups","backup":{"before_deploy":false},
  "deployment":{"hooks":{"pre_switch":$l,"post_switch":$l,"post_rollback":$l}}}' > wanctl.json
"$MKF" staging/m t2v-1.3B >/dev/null
"$W" -q deploy m 2>/dev/null && ok || bad "deploy A"
A=$(basename "$(readlink production/m)")
rm -rf staging/m && "$MKF" staging/m t2v-1.3B --variant 1 >/dev/null
"$W" -q deploy m 2>/dev/null && ok || bad "deploy B"
B=$(basename "$(readlink production/m)")
"$W" -q rollback --model m 2>/dev/null && ok || bad "rollback"
grep -q "^pre_switch m >$A dep-" hooks.log && ok || bad "pre_switch of the first deploy: $(cat hooks.log)"
grep -q "^post_switch m $A>$B dep-" hooks.log && ok || bad "post_switch A->B"
grep -q "^post_rollback m $B>$A dep-" hooks.log && ok || bad "post_rollback names the live release: $(cat hooks.log)"
# An automatic rollback (failing post_switch) runs post_rollback too.
jq --arg l "$log" '.deployment.hooks.post_switch = "exit 1"' wanctl.json > w2.json
: > hooks.log
set +e
"$W" --config w2.json -q deploy m >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 4 ] && ok || bad "failing post_switch: exit $rc"
[ "$(basename "$(readlink production/m)")" = "$A" ] && ok || bad "not rolled back to $A"
grep -q "^post_rollback m $B>$A dep-" hooks.log && ok || bad "automatic rollback hook: $(cat hooks.log)"
wt_done
