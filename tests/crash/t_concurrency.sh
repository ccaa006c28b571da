#!/bin/bash
# Concurrent runs (reliability plan item 11): 8 simultaneous invocations
# mixing deploy A, deploy B, rollback, gc, verify and status, then kill -9
# of the lock holder in the middle of a deploy. Pass: every mutator either
# ran or exited 3 naming the holder (or waited with --wait and ran); the
# result is a state some serial order gives (INV, production on A or B);
# after the holder is killed the next command gets the lock at once.
T=t_concurrency; . "$(dirname "$0")/lib.sh"
. "$WT_LIB_DIR/inv.sh"
unset WANCTL_NO_FSYNC
ROUNDS=${ROUNDS:-3}
[ -n "${WANCTL_LONG:-}" ] && ROUNDS=20
cd "$SCRATCH"
wt_config . '{"backup":{"before_deploy":false}}'
"$MKF" staging/A t2v-1.3B >/dev/null
"$MKF" staging/B t2v-1.3B --variant 1 >/dev/null
"$W" deploy m --source staging/A >/dev/null 2>&1 && ok || bad "deploy A"
IDA=$(basename "$(readlink production/m)")
"$W" deploy m --source staging/B >/dev/null 2>&1 && ok || bad "deploy B"
IDB=$(basename "$(readlink production/m)")

for round in $(seq 1 "$ROUNDS"); do
	pids=() names=()
	for k in 1 2 3 4 5 6 7 8; do
		case $k in
		1|5) args="deploy m --source staging/A" ;;
		2|6) args="deploy m --source staging/B" ;;
		3) args="rollback --model m" ;;
		4) args="gc" ;;
		7) args="verify m" ;;
		8) args="status" ;;
		esac
		[ $k -eq 5 ] && args="$args --wait 60"
		"$W" $args >"out.$k" 2>"err.$k" &
		pids+=($!) names+=("$args")
	done
	for i in "${!pids[@]}"; do
		rc=0; wait "${pids[$i]}" || rc=$?
		case $rc in
		0) ok ;;
		3) if grep -q "another wanctl holds the lock.*pid [0-9]*, command '" "err.$((i + 1))"; then ok
		   else bad "round $round: '${names[$i]}' exit 3 without naming the holder"; fi ;;
		4) if [ "${names[$i]}" = "verify m" ]; then ok  # verify may meet a switch in flight: a check, never a crash
		   else bad "round $round: '${names[$i]}' exit 4: $(cat "err.$((i + 1))")"; fi ;;
		*) bad "round $round: '${names[$i]}' exit $rc: $(cat "err.$((i + 1))")" ;;
		esac
	done
	"$W" status >/dev/null 2>&1 || true
	inv_check production "m=$IDA,$IDB" && ok || bad "round $round: INV"
done

# Kill -9 of the lock holder: a slow deploy (pre_switch hook sleeps) holds
# the lock; it is killed; the next command gets the lock at once.
cat > slow.json <<JSON
{"source_models_path":"staging","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false},"deployment":{"hooks":{"pre_switch":"sleep 30"}}}
JSON
cur=$(basename "$(readlink production/m)")
other=A; [ "$cur" = "$IDA" ] && other=B
"$W" --config slow.json deploy m --source "staging/$other" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 100); do
	grep -q "pid $holder" production/.wanctl/lock 2>/dev/null && break
	sleep 0.1
done
rc=0; "$W" gc >/dev/null 2>err.gc || rc=$?
[ $rc -eq 3 ] && grep -q "pid $holder" err.gc && ok || bad "while held: gc exit $rc: $(cat err.gc)"
# Wait until it is in its hook (switching) and kill it there.
for _ in $(seq 1 100); do
	pgrep -f "sleep 30" >/dev/null && break
	sleep 0.1
done
kill -9 "$holder"; wait "$holder" 2>/dev/null || true
pkill -f "sleep 30" || true
t0=$(date +%s%N)
"$W" gc >/dev/null 2>err.gc && ok || bad "after the kill: gc failed: $(cat err.gc)"
t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -lt 5000 ] && ok || bad "the lock was not free at once after the kill"
grep -q "interrupted" err.gc && ok || bad "recovery did not report the interrupted deployment: $(cat err.gc)"
inv_check production "m=$cur" && ok || bad "INV after killing the holder"
wt_done
