#!/bin/bash
# kill -9 at each step of the switch (reliability plan items 1 and 21),
# with the fault injection of util/xio.c: WANCTL_FAULT=OP:N:kill sends
# SIGKILL right before the N-th OP (rename, symlink, link, fsync, mkdir,
# unlink) of the process. For each scenario and each OP, N runs from 1 up
# until the command no longer reaches an N-th OP; after each kill the next
# command (wanctl status) recovers and INV holds, and a later deploy and
# rollback work. Scenarios:
#   deploy    new release over a managed link
#   rollback  rollback --model (pure switch)
#   adopt     first deploy over an unmanaged folder (RENAME_EXCHANGE)
#   two       one deployment of two models: both old or both new, never mixed
#   undo      rollback --deployment-id of that two-model deployment
# Quick mode tries every rename and symlink (the switch itself);
# WANCTL_LONG=1 every fsync, link, mkdir and unlink as well (OPS= and
# STEP= choose by hand). fsync is never disabled here.
T=t_kill_switch
. "$(dirname "$0")/lib.sh"
unset WANCTL_NO_FSYNC

# Quick mode: the switch's own steps (every rename and symlink); long
# mode: every step of every operation.
OPS=${OPS:-rename symlink}
STEP=${STEP:-1}
[ -n "${WANCTL_LONG:-}" ] && OPS="rename symlink fsync link mkdir unlink"
M=t2v-1.3B
M2=ti2v-5B
"$MKF" "$SCRATCH/v0" $M >/dev/null
"$MKF" "$SCRATCH/v1" $M --variant 1 >/dev/null
"$MKF" "$SCRATCH/w0" $M2 >/dev/null
"$MKF" "$SCRATCH/w1" $M2 --variant 1 >/dev/null

q() { (cd "$1" && shift && "$W" -q "$@" >/dev/null 2>"$SCRATCH/err"); }
# File modes without the write bits: adoption hard-links the folder's files
# into the store, whose objects are read-only (docs/OPERATIONS.md).
modes() { (cd "$1" && find . -type f -printf '%m %p\n' |
	while read -r mo f; do printf '%o %s\n' $((0$mo & 0555)) "$f"; done | LC_ALL=C sort); }
stage() { # DIR MODEL VERSION
	rm -rf "$1/staging/$2"; mkdir -p "$1/staging"; cp -a "$SCRATCH/$3" "$1/staging/$2"
}

# Bases: the state before the command under test, copied for each run.
# deploy: M on v0, staging v1.
b=$SCRATCH/base-deploy
# Validation is off: the sweep is about the switch, not the checks.
wt_config "$b" '{"backup":{"before_deploy":false},"validation":{"enabled":false}}'
stage "$b" $M v0; q "$b" deploy $M; A=$(current "$b/production" $M)
stage "$b" $M v1
# rollback: M on v1 (previous v0).
b=$SCRATCH/base-rollback
cp -a "$SCRATCH/base-deploy" "$b"; q "$b" deploy $M; B=$(current "$b/production" $M)
# adopt: production/M is a real folder holding v0, staging v1.
b=$SCRATCH/base-adopt
wt_config "$b" '{"backup":{"before_deploy":false},"validation":{"enabled":false}}'
mkdir -p "$b/production"; cp -a "$SCRATCH/v0" "$b/production/$M"
stage "$b" $M v1
# two: M on v0 and M2 on w0, staging v1 and w1.
b=$SCRATCH/base-two
cp -a "$SCRATCH/base-deploy" "$b"
stage "$b" $M2 w0; q "$b" deploy $M2; A2=$(current "$b/production" $M2)
stage "$b" $M2 w1
check "setup: releases" test -n "$A" -a -n "$B" -a -n "$A2" -a "$A" != "$B"
# The adopted release has v0's content, so v0's id (modes and sizes equal).
ADOPTED=$A
# M2's new release id: from a dry run of the baseline below.
R=$SCRATCH/run
fresh() { rm -rf "$R"; cp -a "$SCRATCH/base-$1" "$R"; }
fresh two; q "$R" deploy $M $M2 || bad "baseline two: $(cat "$SCRATCH/err")"
B2=$(current "$R/production" $M2)
check "baseline two: both new" test "$(current "$R/production" $M)" = "$B" -a "$B2" != "$A2"
# undo: the two-model deployment just made, undone by its id.
DEP=$(cd "$R" && "$W" --json list --limit 1 | jq -r '.deployments[0].id')
cp -a "$R" "$SCRATCH/base-undo"
fresh adopt; q "$R" deploy $M || bad "baseline adopt: $(cat "$SCRATCH/err")"
check "baseline adopt: the adopted release is v0's" \
	test -d "$R/production/.wanctl/releases/$M/$ADOPTED"

declare -A CMD=(
	[deploy]="deploy $M"
	[rollback]="rollback --model $M --to $A"
	[adopt]="deploy $M"
	[two]="deploy $M $M2"
	[undo]="rollback --deployment-id $DEP"
)

# after SCENARIO COMMITTED : the checks after a kill; 0 when all hold.
after() {
	local s=$1 committed=$2 p=$R/production cur cur2
	(cd "$R" && "$W" status >/dev/null 2>"$SCRATCH/rec") ||
		{ echo "status after the kill failed: $(cat "$SCRATCH/rec")"; return 1; }
	case $s in
	deploy|rollback)
		if [ "$s" = deploy ]; then new=$B old=$A; else new=$A old=$B; fi
		[ "$committed" = 1 ] && allow="$M=$new" || allow="$M=$old,$new"
		inv_check "$p" "$allow" 2>&1 || return 1
		;;
	adopt)
		[ "$committed" = 1 ] && allow="$M=$B" || allow="$M=unmanaged,$ADOPTED,$B"
		inv_check "$p" "$allow" 2>&1 || return 1
		# Whatever the state, production holds v0 or v1 entirely.
		same_tree "$p/$M" "$SCRATCH/v0" 2>/dev/null || same_tree "$p/$M" "$SCRATCH/v1" ||
			{ echo "production is neither v0 nor v1"; return 1; }
		# An adoption that did not happen left the folder as it was,
		# modes included (but the write bits).
		if [ ! -L "$p/$M" ] && [ "$(modes "$p/$M")" != "$(modes "$SCRATCH/v0")" ]; then
			echo "the unmanaged folder was modified: $(diff <(modes "$SCRATCH/v0") \
				<(modes "$p/$M") | grep '^>' | head -3 | tr '\n' ' ')"
			return 1
		fi
		;;
	two|undo)
		if [ "$committed" = 1 ]; then
			[ $s = two ] && allow="$M=$B $M2=$B2" || allow="$M=$A $M2=$A2"
		else
			allow="$M=$A,$B $M2=$A2,$B2"
		fi
		# shellcheck disable=SC2086
		inv_check "$p" $allow 2>&1 || return 1
		cur=$(current "$p" $M); cur2=$(current "$p" $M2)
		if ! { [ "$cur" = "$A" ] && [ "$cur2" = "$A2" ]; } &&
		   ! { [ "$cur" = "$B" ] && [ "$cur2" = "$B2" ]; }; then
			echo "one deployment left the models mixed: $M on $cur, $M2 on $cur2"
			return 1
		fi
		;;
	esac
	# A later deploy and rollback work.
	case $s in
	two|undo) q "$R" deploy $M $M2 && inv_check "$p" "$M=$B" "$M2=$B2" 2>&1 &&
	     q "$R" rollback --model $M2 --to "$A2" && inv_check "$p" "$M2=$A2" 2>&1 ;;
	rollback) q "$R" rollback --model $M --to "$A" && inv_check "$p" "$M=$A" 2>&1 &&
	     q "$R" rollback --model $M --to "$B" && inv_check "$p" "$M=$B" 2>&1 ;;
	deploy) q "$R" deploy $M && inv_check "$p" "$M=$B" 2>&1 &&
	   q "$R" rollback --model $M && inv_check "$p" "$M=$A" 2>&1 ;;
	adopt) q "$R" deploy $M && inv_check "$p" "$M=$B" 2>&1 &&
	   q "$R" rollback --model $M && inv_check "$p" 2>&1 &&
	   same_tree "$p/$M" "$SCRATCH/v0" ;;
	esac || { echo "later deploy/rollback: $(cat "$SCRATCH/err")"; return 1; }
}

declare -A POINTS=()
total=0
for s in deploy rollback adopt two undo; do
	for op in $OPS; do
		case $op in rename|symlink) step=1 ;; *) step=$STEP ;; esac
		n=1
		while [ $n -le 400 ]; do
			fresh $s
			rc=0
			# shellcheck disable=SC2086
			# (the subshell, not killed itself, reports the kill quietly)
			(cd "$R" && WANCTL_FAULT="$op:$n:kill" "$W" ${CMD[$s]} \
				>"$SCRATCH/cmd.out" 2>"$SCRATCH/cmd.err"; exit $?) 2>/dev/null || rc=$?
			if [ $rc -ne 137 ]; then
				# No n-th op: the command ran to its end and must have
				# succeeded.
				[ $rc -eq 0 ] && ok || bad "$s with $op:$n:kill exited $rc: $(cat "$SCRATCH/cmd.err")"
				break
			fi
			committed=0
			grep -q "completed" "$SCRATCH/cmd.out" && committed=1
			if msg=$(after $s $committed); then ok; else
				bad "$s, kill before $op #$n: $msg"
			fi
			POINTS[$s]=$(( ${POINTS[$s]:-0} + 1 ))
			total=$((total + 1))
			n=$((n + step))
		done
	done
done
for s in deploy rollback adopt two undo; do
	echo "$T: $s: ${POINTS[$s]:-0} kill points"
done
check "the sweep killed the commands at many points" test "$total" -ge 12
wt_done
