#!/bin/bash
# I/O errors at every xio operation (reliability plan items 7, 22, 25): for
# deploy (first, new release, no-op), rollback, gc, verify, status, list,
# releases and recovery after a kill, one baseline run under `strace -k`
# counts the operations that go through src/util/xio.c (a syscall whose
# first wanctl frame is an x* wrapper), per operation class (open, read,
# write, fsync, rename, link, mkdir, unlink, symlink, close). Then each
# point OP:N is re-run with WANCTL_FAULT=OP:N:EIO (and ENOSPC in long mode):
# the command must end without a crash, never report "Success" for a
# failure, exit 0 only with production on the release it promised, and
# otherwise leave the old release live; INV holds after the next command
# recovers. Unlike the strace sweeps these faults return an error, so the
# process exits normally and coverage builds record the error paths.
# The state database's own system calls (SQLite does not use xio) are failed
# likewise with `strace -e inject=SYS:error=E:when=N`, N from a second
# baseline trace that keeps the calls made from libsqlite3.
# Quick mode (make check) tries deploy, rollback and recovery, the last
# point of each (command, operation) with EIO (write, fsync, rename, link,
# symlink; SQLite's fdatasync); FAULT_SAMPLE=K tries K points
# of each for every command (FAULT_DB_SAMPLE for the database's; make
# coverage: every xio point, 8 per database call); WANCTL_LONG=1 tries every
# point with EIO and ENOSPC.
T=${FAULT_T:-t_faults}; . "$(dirname "$0")/lib.sh"
. "$WT_LIB_DIR/inv.sh"
command -v strace >/dev/null || wt_skip "strace missing"
strace -k -qq -o /dev/null -e trace=getpid true 2>/dev/null || wt_skip "strace lacks -k"

# FAULT_SAMPLE: points per (command, operation), the last one first (the
# fsync after a switch, say); FAULT_ERRORS: the errnos injected.
SAMPLE=${FAULT_SAMPLE:-1}
ERRORS=${FAULT_ERRORS:-EIO}
if [ -n "${WANCTL_LONG:-}" ]; then SAMPLE=${FAULT_SAMPLE:-1000000}; ERRORS=${FAULT_ERRORS:-"EIO ENOSPC"}; fi
OPS=${FAULT_OPS:-"open read write fsync rename link mkdir unlink symlink close"}

base=$SCRATCH/base
abc_base "$base"
cp -a "$base" "$SCRATCH/empty"
(cd "$base" && "$W" deploy m >/dev/null 2>&1)
A=$(current "$base/production" m)
(cd "$base" && "$W" deploy m --source "$SCRATCH/staging/B" >/dev/null 2>&1)
B=$(current "$base/production" m)
(cd "$base" && "$W" rollback --model m >/dev/null 2>&1)
[ "$(current "$base/production" m)" = "$A" ] || { bad "setup"; wt_done; }
cp -a "$base" "$SCRATCH/tmpc"
(cd "$SCRATCH/tmpc" && "$W" deploy m --source "$SCRATCH/staging/C" >/dev/null 2>&1)
C=$(current "$SCRATCH/tmpc/production" m)
rm -rf "$SCRATCH/tmpc"


# name: start state | command line | id after success | ids after failure
declare -A FROM CMD OKID FAILID
add() { FROM[$1]=$2; CMD[$1]=$3; OKID[$1]=$4; FAILID[$1]=$5; }
add deploy-first  empty   "deploy m"                              "$A" none
add deploy-new    base    "deploy m --source $SCRATCH/staging/C"  "$C" "$A"
add deploy-noop   base    "deploy m"                              "$A" "$A"
add rollback      base    "rollback --model m --to $B"            "$B" "$A"
add rollback-prev base    "rollback --model m"                    "$B" "$A"
add gc            base    "gc"                                    "$A" "$A"
add verify        base    "verify m"                              "$A" "$A"
add status        base    "status"                                "$A" "$A"
add list          base    "list"                                  "$A" "$A"
add releases      base    "releases m"                            "$A" "$A"
add recover       crashed "status"                                "$A,$C" "$A,$C"
add recover-pre   crashed-pre "status"                            "$A" "$A"
ALL="deploy-first deploy-new deploy-noop rollback rollback-prev gc verify status list releases recover recover-pre"
DBSYS=openat,pread64,pwrite64,fsync,fdatasync,ftruncate
# FAULT_PART: xio, db or all. The whole sweeps are split in two ctests so
# that each fits ctest's timeout: this script the xio points, t_faults_db.sh
# the database's.
PART=${FAULT_PART:-all}
if [ -n "${WANCTL_LONG:-}${FAULT_SAMPLE:-}" ]; then
	NAMES=${FAULT_NAMES:-$ALL}
	PART=${FAULT_PART:-xio}
else
	# Quick: the calls whose failure changes the outcome most.
	NAMES=${FAULT_NAMES:-"deploy-new rollback recover"}
	OPS=${FAULT_OPS:-"write fsync rename link symlink"}
	DBSYS=fdatasync
fi

fresh() { rm -rf "$SCRATCH/run"; cp -a "$SCRATCH/${FROM[$1]}" "$SCRATCH/run"; }
[ "$SCRATCH/base" = "$base" ]

# count NAME : "op count" lines for the xio operations of the command.
count() {
	fresh "$1"
	(cd "$SCRATCH/run" && strace -f -k -qq -o "$SCRATCH/k.trace" \
		-e trace=openat,read,pread64,write,pwrite64,fsync,renameat,renameat2,linkat,mkdirat,mkdir,unlinkat,symlinkat,close \
		"$W" ${CMD[$1]} >/dev/null 2>&1) || true
	awk '
	# With -f a syscall may be split into "<unfinished ...>" and
	# "<... NAME resumed>"; the stack follows the line that completes it.
	# Optimised builds tail-call fsync, renameat, linkat and symlinkat from
	# their wrappers, whose frames then vanish; wanctl calls those only
	# through xio, so for them a first non-libc frame in wanctl counts.
	/^[0-9]+ / {
		if (sys != "" && fn != "") n[op(sys)]++
		sys = ""; fn = ""; seen = 0
		if (/<unfinished \.\.\.>$/) next
		if ($2 == "<...") { sys = $3; next }
		split($2, a, "("); sys = a[1]; next
	}
	/^ > / && sys != "" && fn == "" && !seen && !/\/libc\.so/ {
		seen = 1
		if (/\/wanctl\(/ && sys ~ /^(fsync|renameat2?|linkat|symlinkat)$/) fn = "tail"
	}
	/^ > / && sys != "" && fn == "" && /\/wanctl\(/ {
		f = $0; sub(/.*\/wanctl\(/, "", f); sub(/\+.*/, "", f)
		fn = (f ~ /^x(open|openat|read|pread|write|pwrite|fsync|fsync_dir|fsync_parent|close|renameat|rename|linkat|mkdirat|unlinkat|symlinkat)$/) ? f : ""
		if (fn == "") sys = ""
	}
	function op(s) {
		if (s == "openat") return "open"
		if (s == "read" || s == "pread64") return "read"
		if (s == "write" || s == "pwrite64") return "write"
		if (s ~ /^renameat/) return "rename"
		if (s == "linkat") return "link"
		if (s ~ /^mkdir/) return "mkdir"
		if (s == "unlinkat") return "unlink"
		if (s == "symlinkat") return "symlink"
		return s
	}
	END { if (sys != "" && fn != "") n[op(sys)]++; for (o in n) print o, n[o] }
	' "$SCRATCH/k.trace"
}
# dbpoints NAME : "SYSCALL N" for each system call the SQLite library makes
# in the main thread (N counts that thread's calls of SYSCALL, as strace's
# inject=...:when=N does), with WANCTL_NO_FSYNC=1 as in the runs.
dbpoints() {
	fresh "$1"
	(cd "$SCRATCH/run" && strace -f -k -qq -o "$SCRATCH/d.trace" -e trace=$DBSYS \
		"$W" ${CMD[$1]} >/dev/null 2>&1) || true
	awk '
	/^[0-9]+ / {
		if (sys != "" && lib) print sys, n[sys]
		sys = ""; lib = 0
		if (main == "") main = $1
		if ($1 != main || /<unfinished \.\.\.>$/) next
		if ($2 == "<...") sys = $3; else { split($2, a, "("); sys = a[1] }
		n[sys]++; next
	}
	/^ > / && sys != "" && /libsqlite3/ { lib = 1 }
	END { if (sys != "" && lib) print sys, n[sys] }
	' "$SCRATCH/d.trace"
}
sample() { # total max -> up to max N values spread over 1..total, the last first
	awk -v t="$1" -v max="$2" 'BEGIN { if (t <= max) { for (i = t; i >= 1; i--) print i; exit }
		for (k = 0; k < max; k++) print t - (max > 1 ? int(k * (t - 1) / (max - 1)) : 0) }' | uniq
}

# Work for recovery: a deploy of C killed before its switch (debris and a
# deployment left "switching"), and one killed at its last fsync, after the
# switch (recovery puts A back).
cp -a "$base" "$SCRATCH/crashed-pre"
(cd "$SCRATCH/crashed-pre" && WANCTL_FAULT=rename:2:kill "$W" deploy m \
	--source "$SCRATCH/staging/C" >/dev/null 2>&1) || true
nf=$(WANCTL_NO_FSYNC= count deploy-new | awk '$1 == "fsync" { print $2 }')
cp -a "$base" "$SCRATCH/crashed"
(cd "$SCRATCH/crashed" && WANCTL_FAULT=fsync:$nf:kill "$W" deploy m \
	--source "$SCRATCH/staging/C" >/dev/null 2>&1) || true
[ "$(current "$SCRATCH/crashed/production" m)" = "$C" ] || bad "setup: the crash after the switch"

declare -A TRIED VIOL NPTS
viol() { VIOL[$1]=$((VIOL[$1] + 1)); bad "$2"; }
judge() { # name point rc : the checks after one injected fault
	local name=$1 p="$1 $2 (exit $3)" rc=$3 want
	TRIED[$name]=$((TRIED[$name] + 1))
	if [ $rc -ge 128 ]; then
		viol "$name" "$p: crashed"; return
	fi
	if [ $rc -ne 0 ] && grep -qi ': success$\|: success[;,.]' "$SCRATCH/err"; then
		viol "$name" "$p: failure reported as 'Success': $(head -c 300 "$SCRATCH/err")"; return
	fi
	# The next command recovers; it runs without faults.
	(cd "$SCRATCH/run" && "$W" status >/dev/null 2>"$SCRATCH/rec") || true
	if [ $rc -eq 0 ]; then want=${OKID[$name]}; else want=${FAILID[$name]}; fi
	if inv_check "$SCRATCH/run/production" "m=$want" 2>"$SCRATCH/inv"; then
		ok
	else
		viol "$name" "$p: $(cat "$SCRATCH/inv") -- $(head -c 400 "$SCRATCH/err")"
	fi
}
start=$(date +%s)
export WANCTL_NO_FSYNC=1
for name in $NAMES; do
	TRIED[$name]=0; VIOL[$name]=0; NPTS[$name]=0
	counts=$(WANCTL_NO_FSYNC= count "$name")
	[ "$PART" != db ] || OPS=""
	for op in $OPS; do
		total=$(echo "$counts" | awk -v o="$op" '$1 == o { print $2 }')
		[ -n "$total" ] || continue
		NPTS[$name]=$((NPTS[$name] + total))
		for n in $(sample "$total" "$SAMPLE"); do
			for e in $ERRORS; do
				fresh "$name"
				rc=0
				(cd "$SCRATCH/run" && WANCTL_FAULT=$op:$n:$e "$W" ${CMD[$name]} \
					>"$SCRATCH/out" 2>"$SCRATCH/err") || rc=$?
				judge "$name" "$op:$n:$e" $rc
			done
		done
	done
	# The state database's own I/O (SQLite does not go through xio):
	# strace fails the Nth call of each system call SQLite makes.
	[ "$PART" != xio ] || continue
	pts=$(dbpoints "$name")
	NPTS[$name]=$((NPTS[$name] + $(echo "$pts" | grep -c .)))
	for sys in $(echo "$pts" | awk '{ print $1 }' | sort -u); do
		for n in $(echo "$pts" | awk -v s="$sys" '$1 == s { print $2 }' | sort -rn |
			   awk -v max="${FAULT_DB_SAMPLE:-$SAMPLE}" '{ l[NR] = $0 } END { if (NR <= max) { for (i = 1; i <= NR; i++) print l[i]; exit }
				for (k = 0; k < max; k++) print l[1 + (max > 1 ? int(k * (NR - 1) / (max - 1)) : 0)] }'); do
			for e in $ERRORS; do
				fresh "$name"
				rc=0
				(cd "$SCRATCH/run" && strace -f -qq -o /dev/null -e trace=$sys \
					-e inject=$sys:error=$e:when=$n "$W" ${CMD[$name]} \
					>"$SCRATCH/out" 2>"$SCRATCH/err") || rc=$?
				judge "$name" "db $sys:$n:$e" $rc
			done
		done
	done
done
elapsed=$(( $(date +%s) - start ))

printf '%-14s %7s %7s %11s\n' command points tried violations
for name in $NAMES; do
	printf '%-14s %7s %7s %11s\n' "$name" "${NPTS[$name]}" "${TRIED[$name]}" "${VIOL[$name]}"
done
echo "time: ${elapsed}s"
wt_done
