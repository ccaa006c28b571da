#!/bin/bash
# Fault sweeps at syscall boundaries (reliability plan items 1, 2, 7, 8, 22):
# for deploy, rollback, gc and recovery itself, a baseline strace counts
# every (syscall, occurrence); then each point is re-run with
#   strace -e inject=SYSCALL:signal=SIGKILL:when=N    (kill -9 there), or
#   strace -e inject=SYSCALL:error=E:when=N            (EIO, ENOSPC, EDQUOT,
#                                                       EROFS, EINTR)
# and afterwards the next command recovers and INV holds. For errors: exit
# 0 means production is on the new release, any other exit means it is on
# the old one, and no message ever says "Success" for a failure.
# Quick mode (make check) samples the points; WANCTL_LONG=1 tries every kill
# point and 40 points per injected error (ERR_SAMPLE_LONG to change)
# and prints the table of points tried and violations.
T=t_sweep; . "$(dirname "$0")/lib.sh"
. "$WT_LIB_DIR/inv.sh"
unset WANCTL_NO_FSYNC
command -v strace >/dev/null || wt_skip "strace missing"

SYSCALLS=openat,write,pwrite64,fsync,fdatasync,linkat,renameat,renameat2,symlinkat,mkdir,unlinkat,close,ftruncate
KILL_SAMPLE=${KILL_SAMPLE:-5}
ERR_SAMPLE=${ERR_SAMPLE:-2}
ERRORS="EIO ENOSPC EDQUOT EROFS EINTR"
[ -n "${WANCTL_LONG:-}" ] && { KILL_SAMPLE=${KILL_SAMPLE_LONG:-100000}; ERR_SAMPLE=${ERR_SAMPLE_LONG:-40}; }

base=$SCRATCH/base
abc_base "$base"
(cd "$base" && "$W" deploy m >/dev/null 2>&1)
A=$(basename "$(readlink "$base/production/m")")
(cd "$base" && "$W" deploy m --source "$SCRATCH/staging/B" >/dev/null 2>&1)
B=$(basename "$(readlink "$base/production/m")")
(cd "$base" && "$W" rollback --model m >/dev/null 2>&1)
[ "$(basename "$(readlink "$base/production/m")")" = "$A" ] || { bad "setup"; wt_done; }

# verb name, command line (run inside the copy), allowed ids after a kill
# "old,new", the id that success must leave.
declare -A CMD OLDNEW OKID
CMD[deploy]="deploy m --source $SCRATCH/staging/C"; OLDNEW[deploy]="$A,NEW"; OKID[deploy]=NEW
CMD[rollback]="rollback --model m --to $B";        OLDNEW[rollback]="$A,$B"; OKID[rollback]=$B
CMD[gc]="gc";                                       OLDNEW[gc]="$A";      OKID[gc]=$A

fresh() { rm -rf "$SCRATCH/run"; cp -a "$base" "$SCRATCH/run"; }
# The release id C gets (ids derive from content).
fresh; (cd "$SCRATCH/run" && "$W" deploy m --source "$SCRATCH/staging/C" >/dev/null 2>&1)
C=$(basename "$(readlink "$SCRATCH/run/production/m")")
OLDNEW[deploy]="$A,$C"; OKID[deploy]=$C

# Points: "syscall:n" for every occurrence in the baseline trace.
points() { # verb -> list
	fresh
	(cd "$SCRATCH/run" && strace -f -qq -o "$SCRATCH/base.trace" -e trace=$SYSCALLS \
		$W ${CMD[$1]} >/dev/null 2>&1) || true
	awk '{ if ($2 ~ /^<\.\.\./) next; split($2, a, "("); n[a[1]]++; print a[1] ":" n[a[1]] }' \
		"$SCRATCH/base.trace"
}
sample() { # max -> every k-th line of stdin, at most max
	awk -v max="$1" '{ l[NR] = $0 } END { k = (NR > max) ? NR / max : 1;
		for (i = 1; i <= NR; i += k) print l[int(i)] }'
}

declare -A TRIED VIOL
check_after() { # verb point mode rc
	local verb=$1 p=$2 mode=$3 rc=$4 msg
	# The next command recovers.
	(cd "$SCRATCH/run" && "$W" status >/dev/null 2>"$SCRATCH/rec") || true
	if [ "$mode" = kill ]; then
		want="m=${OLDNEW[$verb]}"
	elif [ "$rc" -eq 0 ]; then
		want="m=${OKID[$verb]}"
	else
		want="m=$A"
		if grep -qi 'success$\|: success' "$SCRATCH/err"; then
			echo "VIOLATION $verb $p $mode: failure reported as 'Success'" >&2
			return 1
		fi
	fi
	if ! inv_check "$SCRATCH/run/production" "$want" 2>"$SCRATCH/inv"; then
		echo "VIOLATION $verb $p $mode (rc $rc): $(cat "$SCRATCH/inv")" >&2
		cat "$SCRATCH/err" >&2
		return 1
	fi
	return 0
}

start=$(date +%s)
for verb in deploy rollback gc; do
	TRIED[$verb]=0; VIOL[$verb]=0
	pts=$(points $verb)
	for p in $(echo "$pts" | sample "$KILL_SAMPLE"); do
		sys=${p%%:*}; n=${p##*:}
		fresh
		rc=0
		(cd "$SCRATCH/run" && strace -f -qq -o /dev/null -e trace=$sys \
			-e inject=$sys:signal=SIGKILL:when=$n $W ${CMD[$verb]} >/dev/null 2>"$SCRATCH/err") || rc=$?
		TRIED[$verb]=$((TRIED[$verb] + 1))
		if check_after $verb "$p" kill $rc; then ok; else bad "$verb kill at $p"; VIOL[$verb]=$((VIOL[$verb] + 1)); fi
	done
	for e in $ERRORS; do
		for p in $(echo "$pts" | sample "$ERR_SAMPLE"); do
			sys=${p%%:*}; n=${p##*:}
			fresh
			rc=0
			(cd "$SCRATCH/run" && strace -f -qq -o /dev/null -e trace=$sys \
				-e inject=$sys:error=$e:when=$n $W ${CMD[$verb]} >/dev/null 2>"$SCRATCH/err") || rc=$?
			TRIED[$verb]=$((TRIED[$verb] + 1))
			if check_after $verb "$p" "$e" $rc; then ok; else bad "$verb $e at $p"; VIOL[$verb]=$((VIOL[$verb] + 1)); fi
		done
	done
done

# Recovery itself crashes (item 22): a deploy killed right after its switch
# leaves work for recovery; recovery is then killed at each of its own
# points, and a second recovery must converge.
TRIED[recover]=0; VIOL[recover]=0
mkcrashed() {
	fresh
	(cd "$SCRATCH/run" && WANCTL_FAULT=fsync:1000000:EIO strace -f -qq -o /dev/null \
		-e trace=renameat -e inject=renameat:signal=SIGKILL:when=2 \
		$W deploy m --source "$SCRATCH/staging/C" >/dev/null 2>&1) || true
}
mkcrashed
(cd "$SCRATCH/run" && strace -f -qq -o "$SCRATCH/rec.trace" -e trace=$SYSCALLS $W status >/dev/null 2>&1) || true
rpts=$(awk '{ if ($2 ~ /^<\.\.\./) next; split($2, a, "("); n[a[1]]++; print a[1] ":" n[a[1]] }' "$SCRATCH/rec.trace")
for p in $(echo "$rpts" | sample "$KILL_SAMPLE"); do
	sys=${p%%:*}; n=${p##*:}
	mkcrashed
	(cd "$SCRATCH/run" && strace -f -qq -o /dev/null -e trace=$sys \
		-e inject=$sys:signal=SIGKILL:when=$n $W status >/dev/null 2>"$SCRATCH/err") || true
	TRIED[recover]=$((TRIED[recover] + 1))
	if check_after deploy "$p" kill 137; then ok; else bad "recovery kill at $p"; VIOL[recover]=$((VIOL[recover] + 1)); fi
	# Idempotent: a further recovery changes nothing.
	before=$(readlink "$SCRATCH/run/production/m")
	(cd "$SCRATCH/run" && "$W" status >/dev/null 2>&1) || true
	[ "$before" = "$(readlink "$SCRATCH/run/production/m")" ] && ok || bad "recovery not idempotent after $p"
done
elapsed=$(( $(date +%s) - start ))

printf '%-10s %8s %11s\n' sweep points violations
for v in deploy rollback gc recover; do
	printf '%-10s %8s %11s\n' "$v" "${TRIED[$v]}" "${VIOL[$v]}"
done
echo "time: ${elapsed}s"
wt_done
