#!/bin/bash
# Syscall-order audit (reliability plan item 4): strace real runs of deploy,
# a second deploy, an adoption and a rollback, and check with audit.py that
# every published file was fsynced before the link/rename that publishes it,
# every folder that gained an entry was fsynced after, and the success line
# came last. fsync is NOT disabled here.
set -eu
W=${WANCTL:?}
MK=${WANCTL_BUILD:?}/tests/mkfixture
HERE=$(cd "$(dirname "$0")" && pwd)
unset WANCTL_NO_FSYNC
command -v strace >/dev/null || { echo "t_audit: strace missing: 0 passed, 1 failed"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
cat > wanctl.json <<JSON
{"source_models_path":"staging","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false}}
JSON
pass=0 fail=0
audit() {
	local what=$1; shift
	if strace -f -qq -y -s 256 -o "$T/trace" \
		-e trace=linkat,renameat,renameat2,rename,symlinkat,fsync,fdatasync,write \
		"$@" >"$T/out" 2>"$T/err" &&
	   python3 "$HERE/audit.py" "$T/trace" "$T/production" >"$T/audit"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $what"; cat "$T/err" "$T/audit"
	fi
}
"$MK" staging/t2v-1.3B t2v-1.3B >/dev/null
audit "first deploy" "$W" deploy t2v-1.3B
rm -rf staging/t2v-1.3B && "$MK" staging/t2v-1.3B t2v-1.3B --variant 1 >/dev/null
audit "second release" "$W" deploy t2v-1.3B
audit "rollback" "$W" rollback --model t2v-1.3B
# Adoption of an unmanaged folder (renameat2 RENAME_EXCHANGE).
"$MK" production/ti2v-5B ti2v-5B >/dev/null
"$MK" staging/ti2v-5B ti2v-5B --variant 1 >/dev/null
audit "adoption" "$W" deploy ti2v-5B
echo "t_audit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
