#!/bin/bash
# Disaster recovery (docs/OPERATIONS.md): production and the store are lost
# (the whole target folder, .wanctl included); the backup repository
# survives. `backup restore MODEL --release ID` rebuilds the release in a new
# store and `rollback --model MODEL --to ID` puts production back on it,
# byte for byte.
T=t_disaster; . "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
cd "$SCRATCH"
cat > wanctl.json <<JSON
{"source_models_path":"staging","target_models_path":"production","backup_path":"backups"}
JSON
"$MKF" staging/m t2v-1.3B >/dev/null
"$W" -q deploy m 2>/dev/null && ok || bad "deploy"
id=$(basename "$(readlink production/m)")
"$W" -q backup create >/dev/null 2>&1 && ok || bad "backup create"
(cd production/m && find . -type f -exec sha256sum {} + | sort) > before
chmod -R u+w production && rm -rf production
set +e
"$W" rollback --model m --to "$id" >/dev/null 2>err; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "no releases in the store\|not in the store" err && ok || bad "rollback before restore: rc $rc: $(cat err)"
"$W" backup restore m --release "$id" >/dev/null 2>&1 && ok || bad "backup restore into the store"
"$W" rollback --model m --to "$id" >/dev/null 2>err && ok || bad "rollback after restore: $(cat err)"
[ "$(basename "$(readlink production/m)")" = "$id" ] && ok || bad "production not on $id"
(cd production/m && find . -type f -exec sha256sum {} + | sort) > after
cmp -s before after && ok || bad "production differs from the lost one"
"$W" verify m >/dev/null 2>&1 && ok || bad "verify after the recovery"
"$W" --json list | jq -e '.deployments[0].kind == "rollback" and .deployments[0].models[0].from_release == null' >/dev/null &&
	ok || bad "the recovery is recorded as a rollback from nothing"
wt_done
