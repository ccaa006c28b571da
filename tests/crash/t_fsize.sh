#!/bin/bash
# File size limits (reliability plan item 9): a deploy under `ulimit -f`
# with the default SIGXFSZ dies like a kill -9 (exit 153) and the next
# command recovers to INV; with SIGXFSZ ignored the write fails with EFBIG
# and wanctl reports it cleanly, production untouched.
T=t_fsize; . "$(dirname "$0")/lib.sh"
. "$WT_LIB_DIR/inv.sh"
export WANCTL_NO_FSYNC=1
cd "$SCRATCH"
wt_config . '{"backup":{"before_deploy":false}}'
"$MKF" staging/m t2v-1.3B >/dev/null
"$W" deploy m >/dev/null 2>&1 && ok || bad "first deploy"
A=$(basename "$(readlink production/m)")
rm -rf staging/m && "$MKF" staging/m t2v-1.3B --variant 1 --shard-bytes 2000000 >/dev/null

# Default SIGXFSZ: the process is killed by the signal.
rc=0
(ulimit -f 512; exec "$W" deploy m) >/dev/null 2>err || rc=$?
[ $rc -eq 153 ] && ok || bad "ulimit -f with SIGXFSZ: exit $rc, expected 153 (killed)"
"$W" status >/dev/null 2>&1 || true
inv_check production "m=$A" && ok || bad "INV after SIGXFSZ"

# SIGXFSZ ignored: EFBIG, a clean error.
rc=0
(trap '' XFSZ; ulimit -f 512; exec "$W" deploy m) >/dev/null 2>err || rc=$?
[ $rc -eq 1 ] && ok || bad "ulimit -f with SIGXFSZ ignored: exit $rc, expected 1"
grep -q "File too large" err && ok || bad "no EFBIG message: $(cat err)"
grep -q "production untouched" err && ok || bad "message does not say production is untouched"
[ -z "$(ls -A production/.wanctl/tmp)" ] && ok || bad "debris left in tmp/"
inv_check production "m=$A" && ok || bad "INV after EFBIG"
"$W" deploy m >/dev/null 2>&1 && ok || bad "deploy without the limit"
wt_done
