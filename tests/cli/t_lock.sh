#!/bin/bash
# Two mutating commands at once (reliability plan item 11): the second
# exits 3 naming the holder's pid and command, or waits with --wait and
# then succeeds; read-only commands still answer; after the holder is
# killed with SIGKILL the next command gets the lock at once, recovers the
# interrupted deployment, and INV holds.
T=t_lock
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

D=$SCRATCH/d
SLOW='{"deployment":{"hooks":{"pre_switch":"sleep 3"}}}'
wt_config "$D"
cd "$D"
P=$D/production
M=t2v-1.3B
M2=ti2v-5B
"$MKF" "$D/staging/$M" $M >/dev/null
"$MKF" "$D/staging/$M2" $M2 >/dev/null
run 0 "$W" -q deploy $M
A=$(current "$P" $M)
rm -rf "$D/staging/$M"
"$MKF" "$D/staging/$M" $M --variant 1 >/dev/null

# holder CMD... : start a slow mutating command in the background; wait
# until it holds the lock (its pid is in the lock file); sets HPID.
holder() {
	"$@" >"$SCRATCH/holder.out" 2>"$SCRATCH/holder.err" &
	HPID=$!
	local i
	for i in $(seq 100); do
		grep -qw "pid $HPID" "$P/.wanctl/lock" 2>/dev/null && return 0
		sleep 0.05
	done
	bad "the holder $HPID never took the lock: $(cat "$P/.wanctl/lock" 2>/dev/null)"
	return 1
}
WT_CLEANUP+=('[ -n "${HPID:-}" ] && kill -9 "$HPID" 2>/dev/null')

# 1. A slow deploy holds the lock; a second deploy exits 3 at once.
wt_config "$D" "$SLOW"
holder "$W" deploy $M
run 3 "$W" deploy $M2
check "the refusal did not wait for the holder" kill -0 "$HPID"
err_has "pid $HPID"
err_has "deploy"
err_has "--wait"
check "the refused deploy left no link" test ! -e "$P/$M2"
# Other mutating commands are refused too; read-only ones answer.
run 3 "$W" rollback --model $M
err_has "$HPID"
run 3 "$W" gc
run 0 "$W" list
run 0 "$W" --json status
jq_is "[.models[] | select(.model == \"$M\") | .release][0]" "$A"
# --json: the error is still exit 3.
run 3 "$W" --json deploy $M2
wait "$HPID"; hrc=$?
check "the holder finished its deploy" test "$hrc" = 0
B=$(current "$P" $M)
check "the holder switched to a new release" test "$B" != "$A"

# 2. --wait: the second deploy waits for the first and then succeeds.
wt_config "$D" "$SLOW"
holder "$W" rollback --model $M
t0=$(date +%s)
run 0 "$W" deploy --wait 30 $M2
t1=$(date +%s)
wait "$HPID"; hrc=$?
check "the rollback that held the lock succeeded" test "$hrc" = 0
check "the waiting deploy waited for the holder" test $((t1 - t0)) -ge 1
check "both ran: $M back on A" test "$(current "$P" $M)" = "$A"
check "both ran: $M2 deployed" test -L "$P/$M2"
check "the waiter's order is serial (list: rollback before deploy)" \
	test "$("$W" --json list --limit 2 | jq -r '[.deployments[].kind] | join(",")')" = "deploy,rollback"
# --wait shorter than the holder: exit 3 after about that long.
holder "$W" deploy $M
t0=$(date +%s.%N)
run 3 "$W" gc --wait 1
t1=$(date +%s.%N)
err_has "gave up waiting"
check "--wait 1 waited at least 1 s" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 0.9) }'
check "--wait 1 gave up before the holder finished" kill -0 "$HPID"
wait "$HPID" || true
check "INV after the waits" inv_check "$P"

# 3. The holder is killed with SIGKILL in the middle (in its pre_switch
# hook, after its intent was recorded): the lock is free at once, the
# next command recovers, production is on the old release.
run 0 "$W" -q rollback --model $M
before=$(current "$P" $M)
holder "$W" deploy $M
sleep 0.5
kill -9 "$HPID"
wait "$HPID" 2>/dev/null || true
HPID=
t0=$(date +%s.%N)
run 0 "$W" --json status
t1=$(date +%s.%N)
check "the lock is free at once after SIGKILL" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5) }'
# (recovery needs the lock: a report of it shows the lock was free)
jq_is '.interrupted | length >= 1' true
run 0 "$W" gc --dry-run
check "killed holder: production on the old release" test "$(current "$P" $M)" = "$before"
check "INV after the holder was killed" inv_check "$P" "$M=$before"
run 0 "$W" --json list --limit 1
jq_is '.deployments[0].status' interrupted

# 4. A burst of mixed commands (deploys, rollbacks, gc, status) at once:
# each either runs or exits 3, never anything else, and the end state
# passes INV.
wt_config "$D"
pids=()
for i in 1 2 3 4 5 6 7 8; do
	case $i in
	1|5) cmd=(deploy $M) ;;
	2|6) cmd=(deploy $M2) ;;
	3|7) cmd=(rollback --model $M) ;;
	4) cmd=(gc) ;;
	8) cmd=(status) ;;
	esac
	"$W" -q "${cmd[@]}" >/dev/null 2>"$SCRATCH/burst.$i" &
	pids+=($!)
done
i=0
for p in "${pids[@]}"; do
	i=$((i + 1))
	rc=0; wait "$p" || rc=$?
	case $rc in
	0|3) ok ;;
	*) bad "burst command $i exited $rc: $(cat "$SCRATCH/burst.$i")" ;;
	esac
done
run 0 "$W" status
check "INV after the burst" inv_check "$P"

wt_done
