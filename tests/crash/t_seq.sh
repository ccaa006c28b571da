#!/bin/bash
# Bounded exhaustive operation sequences with crashes (reliability plan
# item 23, CrashMonkey's B3 at the application level).
#
# Operations: dA (staging holds release A; deploy), dB (staging switched to
# release B; deploy), re (deploy again with staging unchanged), rb
# (rollback --model), gc, rec (wanctl status: recovery, which every command
# runs first). One model, tiny fixtures (9 files, ~160 KiB), nothing
# deployed at the start, staging on A.
#
# For every sequence of at most SEQ_LEN (3) operations and every position k
# in it, the prefix runs cleanly, then operation k is crashed before its
# n-th fsync and before its n-th rename (WANCTL_FAULT=OP:n:kill, util/xio.c;
# n = 1, 2, ... until the operation completes, which is its last point), so
# every state after each fsync/rename of the operation is a crash point.
# Then:
#   - recovery (wanctl status) exits 0 and INV holds (tests/crash/inv.sh)
#     with the link on the release before operation k or after it (the
#     release after it when "completed" had been printed);
#   - the rest of the sequence runs, INV after every operation, and each
#     operation's exit status and resulting release must equal those of the
#     clean run of the same sequence: with operation k done (when recovery
#     left the new release) or with operation k undone (the old release;
#     staging still switched for dA/dB), either where both fit;
#   - at the end of every sequence of full length (and after every crash
#     of position >= 2) a deploy and a rollback work (INV after).
# The search is a depth-first walk: one crash of operation k serves all
# the sequences that share that prefix and crash point.
#
# Power cut (SEQ_POWERCUT, default on where root, losetup and xfs_io are
# present): the same crash points, on a loop-mounted ext4 image: the
# process is killed at the point and the filesystem is then shut down
# without flushing its log (FS_IOC_SHUTDOWN, `xfs_io -x -c shutdown`), so
# everything not yet durable is lost; unmount, mount, recover, INV, then the
# rest of the sequence as above (off the image). Guarded: aborts unless the
# mount point is a loop device. Long mode: every sequence of length <= 2
# (SEQ_PC_LEN) with a cut at every fsync/rename point; quick mode: a fixed
# sample of points.
#
# Quick mode (make check): sequences of length <= 2, every SEQ_STEP-th
# crash point (offset rotating per operation), the rest of a sequence from
# the ops in SEQ_QUICK_REST. WANCTL_LONG=1: everything, and a table of
# sequences, crash points, cases, violations and time.
#
# Scratch lives on /dev/shm when it is writable (SEQ_TMPDIR to change):
# fsync is never disabled, but tmpfs makes it cheap for the kill variant.
T=t_seq
if [ -z "${SEQ_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then SEQ_TMPDIR=/dev/shm; fi
[ -n "${SEQ_TMPDIR:-}" ] && export TMPDIR=$SEQ_TMPDIR
. "$(dirname "$0")/lib.sh"
unset WANCTL_NO_FSYNC

OPS="dA dB re rb gc rec"
if [ -n "${WANCTL_LONG:-}" ]; then
	SEQ_LEN=${SEQ_LEN:-3}; SEQ_STEP=${SEQ_STEP:-1}; REST_OPS=${SEQ_REST:-$OPS}
	PC_LEN=${SEQ_PC_LEN:-2}; PC_STEP=${SEQ_PC_STEP:-1}
else
	SEQ_LEN=${SEQ_LEN:-2}; SEQ_STEP=${SEQ_STEP:-17}; REST_OPS=${SEQ_QUICK_REST:-rb dB}
	PC_LEN=${SEQ_PC_LEN:-1}; PC_STEP=${SEQ_PC_STEP:-23}
fi
SEQ_POWERCUT=${SEQ_POWERCUT:-1}
SEQ_DEDUP=${SEQ_DEDUP:-1}

ST=$SCRATCH/st
"$MKF" "$ST/A" t2v-1.3B --shard-bytes 4096 >/dev/null
"$MKF" "$ST/B" t2v-1.3B --shard-bytes 4096 --variant 1 >/dev/null
BASE=$SCRATCH/base
B0=$BASE/_
wt_config "$B0" '{"backup":{"before_deploy":false},"validation":{"enabled":false},
	"models":{"m":{"source":"A"}}}'
mkdir -p "$B0/production"

# Command line of an operation, given the staging version before it: C=(...)
opcmd() { # TOKEN STAGING
	case $1 in
	dA) C=(deploy m --source "$ST/A") ;;
	dB) C=(deploy m --source "$ST/B") ;;
	re) C=(deploy m --source "$ST/$2") ;;
	rb) C=(rollback --model m) ;;
	gc) C=(gc) ;;
	rec) C=(status) ;;
	*) echo "t_seq: unknown op '$1'" >&2; exit 1 ;;
	esac
}
# Staging version after a key (keys are "_ op op ..."; sA/sB only switch
# staging: a dA/dB whose deploy was undone by recovery).
stg() { # KEY -> STG
	local t
	STG=A
	for t in $1; do
		case $t in dA|sA) STG=A ;; dB|sB) STG=B ;; esac
	done
}
lnk() { # DIR -> L (release id, or none)
	L=$(readlink "$1/production/m" 2>/dev/null) && L=${L##*/} || L=none
}
wrun() { # DIR args... -> RC; output in $SCRATCH/$WOUT.out, .err (WOUT=c)
	RC=0
	(cd "$1" && shift && "$W" "$@" >"$SCRATCH/${WOUT:-c}.out" 2>"$SCRATCH/${WOUT:-c}.err") || RC=$?
}
# INV with the link on one of the ids given ("none" where nothing is deployed).
inv() { # DIR IDS
	inv_check "$1/production" "m=$2" 2>"$SCRATCH/inv.err"
}

# Clean runs, memoised per key: RCS[key] (exit status of its last op),
# LINK[key] (release after it); the state after it in $BASE/<key>.
declare -A RCS LINK
LINK[_]=none; RCS[_]=0
clean() { # KEY
	local key=$1 parent tok d pd
	[ -n "${LINK[$key]+x}" ] && return 0
	parent=${key% *}; tok=${key##* }
	clean "$parent"
	d=$BASE/${key// /.}; pd=$BASE/${parent// /.}
	cp -a "$pd" "$d"
	case $tok in
	sA|sB) RCS[$key]=0 ;;
	*)
		stg "$parent"; opcmd "$tok" "$STG"
		WOUT=cl wrun "$d" -q "${C[@]}"
		RCS[$key]=$RC
		# Clean runs: deploys, gc and status succeed; a rollback with
		# nothing to go back to fails cleanly.
		case $tok:$RC in
		rb:0|rb:1|*:0) ;;
		*) bad "clean run '$key' exited $RC: $(head -c 400 "$SCRATCH/cl.err")" ;;
		esac
		;;
	esac
	lnk "$d"; LINK[$key]=$L
	# INV after clean runs too (long mode: quick mode saves the time).
	if [ "$tok" != sA ] && [ "$tok" != sB ]; then
		CLEAN_RUNS=$((CLEAN_RUNS + 1))
		[ -z "${WANCTL_LONG:-}" ] || inv "$d" "$L" ||
			bad "clean run '$key': INV: $(cat "$SCRATCH/inv.err")"
	fi
}
CLEAN_RUNS=0
clean "_ dA"; RA=${LINK[_ dA]}
clean "_ dB"; RB=${LINK[_ dB]}
check "setup: two releases" test "$RA" != none -a "$RB" != none -a "$RA" != "$RB"

# Every key of length N (all sequences of N operations).
keys() { # N -> KEYS
	local n=$1 k o out
	KEYS=(_)
	while [ "$n" -gt 0 ]; do
		out=()
		for k in "${KEYS[@]}"; do for o in $OPS; do out+=("$k $o"); done; done
		KEYS=("${out[@]}")
		n=$((n - 1))
	done
}

declare -A CASES POINTS VIOL SEQS
violation() { # VARIANT MESSAGE
	VIOL[$1]=$((${VIOL[$1]:-0} + 1))
	bad "$2"
}

# A later deploy and rollback work: deploy the other release (A when
# nothing is live), roll back, and land where we were. DIR is consumed.
final_check() { # VARIANT DIR WHAT
	local v=$1 d=$2 what=$3 from to
	lnk "$d"; from=$L
	if [ "$from" = none ]; then
		wrun "$d" -q deploy m --source "$ST/A"
		lnk "$d"
		[ "$RC" = 0 ] && [ "$L" = "$RA" ] ||
			{ violation "$v" "$what: first deploy after it gave $RC, $L: $(head -c 300 "$SCRATCH/c.err")"; return; }
		from=$RA
	fi
	if [ "$from" = "$RA" ]; then to=B; else to=A; fi
	wrun "$d" -q deploy m --source "$ST/$to"
	lnk "$d"
	if [ "$RC" != 0 ] || { [ $to = A ] && [ "$L" != "$RA" ]; } || { [ $to = B ] && [ "$L" != "$RB" ]; }; then
		violation "$v" "$what: a later deploy of $to gave exit $RC, release $L: $(head -c 300 "$SCRATCH/c.err")"
		return
	fi
	wrun "$d" -q rollback --model m
	lnk "$d"
	if [ "$RC" != 0 ] || [ "$L" != "$from" ]; then
		violation "$v" "$what: a later rollback gave exit $RC, release $L (expected $from): $(head -c 300 "$SCRATCH/c.err")"
		return
	fi
	inv "$d" "$from" || { violation "$v" "$what: INV after the later deploy+rollback: $(cat "$SCRATCH/inv.err")"; return; }
	ok
}

# The rest of a sequence after a crash and recovery: depth-first over the
# operations of REST_OPS, up to DEPTH more; CANDS are the clean keys the
# state may equal so far (operation k done, or undone).
rest() { # VARIANT DIR DEPTH WHAT CANDS...
	local v=$1 dir=$2 depth=$3 what=$4 q d ck got links prev
	shift 4
	local cands=("$@") next
	[ "$depth" -gt 0 ] || return 0
	d=$SCRATCH/rest$depth
	for q in $REST_OPS; do
		rm -rf "$d"; cp -a "$dir" "$d"
		stg "${cands[0]#\*}"; opcmd "$q" "$STG"
		lnk "$d"; prev=$L
		wrun "$d" -q "${C[@]}"
		lnk "$d"
		# clean() below runs commands too: keep this run's RC and L.
		local rc=$RC l=$L
		got="exit $RC, release $L"
		next=(); links=""
		CASES[$v]=$((${CASES[$v]:-0} + 1))
		if [ "${cands[0]:0:1}" = "*" ]; then
			# Past a divergence (below): what any state must give.
			if generic_ok "$q" "$STG" "$prev"; then next=("${cands[0]} $q"); links=",$L"; fi
		else
			for ck in "${cands[@]}"; do
				clean "$ck $q"
				links="$links,${LINK[$ck $q]}"
				[ "${RCS[$ck $q]}" = "$rc" ] && [ "${LINK[$ck $q]}" = "$l" ] && next+=("$ck $q")
			done
			RC=$rc; L=$l
			# The one known divergence: a deploy undone by recovery leaves
			# its release complete in the store, and a rollback with no
			# previous release goes to "the newest other release still in
			# the store" (ops.c previous_release), where the clean run has
			# none and fails. Noted, then only the generic checks.
			if [ ${#next[@]} -eq 0 ] && [ "$q" = rb ] && [ "$RC" = 0 ] && [ "$L" != "$prev" ]; then
				local all1=1
				for ck in "${cands[@]}"; do [ "${RCS[$ck $q]}" != 0 ] || all1=0; done
				if [ $all1 = 1 ]; then
					NOTES[$v]=$((${NOTES[$v]:-0} + 1))
					echo "NOTE: $what, then rb: went to $L, a release no deploy made live (the clean run has no previous release)" >&2
					next=("*${cands[0]} $q"); links=",$L"
				fi
			fi
		fi
		if [ ${#next[@]} -eq 0 ]; then
			local exp=""
			for ck in "${cands[@]}"; do exp="$exp [${ck#_ } $q: exit ${RCS[$ck $q]:-?}, release ${LINK[$ck $q]:-?}]"; done
			violation "$v" "$what, then $q: $got, expected$exp: $(head -c 300 "$SCRATCH/c.err")"
			continue
		fi
		if ! inv "$d" "${links#,}"; then
			violation "$v" "$what, then $q: INV: $(cat "$SCRATCH/inv.err")"
			continue
		fi
		ok
		if [ "$depth" -gt 1 ]; then
			rest "$v" "$d" $((depth - 1)) "$what, $q" "${next[@]}"
		elif [ -n "${WANCTL_LONG:-}" ] || [ "$q" = dB ]; then
			final_check "$v" "$d" "$what, $q"
		fi
	done
}

# What every state must give (after a divergence): deploys succeed onto
# their staging's release; a rollback moves or fails leaving the link;
# gc and status leave the link. Uses RC, L.
generic_ok() { # OP STAGING PREV
	case $1 in
	dA) [ "$RC" = 0 ] && [ "$L" = "$RA" ] ;;
	dB) [ "$RC" = 0 ] && [ "$L" = "$RB" ] ;;
	re) [ "$RC" = 0 ] && if [ "$2" = A ]; then [ "$L" = "$RA" ]; else [ "$L" = "$RB" ]; fi ;;
	rb) { [ "$RC" = 0 ] && [ "$L" != "$3" ]; } || { [ "$RC" = 1 ] && [ "$L" = "$3" ]; } ;;
	*) [ "$RC" = 0 ] && [ "$L" = "$3" ] ;;
	esac
}
declare -A NOTES

# After a crash of operation TOK that followed PREFIX: recovery, INV, the
# rest. DIR holds the crashed state (recovered in place).
after_crash() { # VARIANT DIR PREFIX TOK WHAT COMMITTED
	local v=$1 dir=$2 p=$3 tok=$4 what=$5 committed=$6 before after allow undone cands
	local k
	before=${LINK[$p]}; after=${LINK[$p $tok]}
	wrun "$dir" status
	if [ "$RC" != 0 ]; then
		violation "$v" "$what: recovery (status) exited $RC: $(head -c 400 "$SCRATCH/c.err")"
		return
	fi
	allow=$before,$after
	[ "$committed" = 1 ] && allow=$after
	if ! inv "$dir" "$allow"; then
		violation "$v" "$what: INV after recovery: $(cat "$SCRATCH/inv.err")"
		return
	fi
	ok
	case $tok in dA) undone="$p sA" ;; dB) undone="$p sB" ;; *) undone=$p ;; esac
	clean "$undone"
	lnk "$dir"   # after clean(), which sets L too
	cands=()
	[ "$L" = "$after" ] && cands+=("$p $tok")
	[ "$L" = "$before" ] && cands+=("$undone")
	k=$(echo "$p $tok" | wc -w); k=$((k - 1))
	# What follows is a function of the recovered state: a state equal to
	# one already explored with the same expectations is not explored
	# again (SEQ_DEDUP=0 to run everything); its cases count as covered.
	local key="" c0=${CASES[$v]:-0} f0=$failed
	if [ "$SEQ_DEDUP" = 1 ]; then
		fingerprint "$dir"
		key="$v|$FP|$((MAXLEN - k))|${cands[*]}"
		if [ -n "${MEMO[$key]+x}" ]; then
			COVERED[$v]=$((${COVERED[$v]:-0} + ${MEMO[$key]}))
			return
		fi
	fi
	# Sequences that end here (length k) and, from position 2 on, the
	# later deploy and rollback.
	if [ "$k" -ge 2 ] || [ "$k" -ge "$MAXLEN" ]; then
		rm -rf "$SCRATCH/fin"; cp -a "$dir" "$SCRATCH/fin"
		final_check "$v" "$SCRATCH/fin" "$what"
	fi
	rest "$v" "$dir" $((MAXLEN - k)) "$what" "${cands[@]}"
	# Only a clean exploration is reused.
	[ -z "$key" ] || [ "$failed" != "$f0" ] || MEMO[$key]=$(( ${CASES[$v]:-0} - c0 ))
}

# The recovered state, without what differs between equal runs (deployment
# ids, times, inode numbers): names, types, sizes, modes, link counts and
# link targets of every file; the deployments (kind, status, models, from,
# to, switched) in order; the releases.
declare -A MEMO COVERED
fingerprint() { # DIR -> FP
	FP=$( { (cd "$1/production" && find . \( -name 'state.db*' -o -path ./.wanctl/lock \) -prune \
			-o -printf '%p %y %s %m %n %l\n' | LC_ALL=C sort)
		sqlite3 "$1/production/.wanctl/state.db" "SELECT d.kind, d.status, dm.model,
			dm.from_release, dm.to_release, dm.switched, dm.adopted FROM deployments d
			LEFT JOIN deployment_models dm ON dm.deployment_id = d.id ORDER BY d.started, d.rowid;
			SELECT model, id, files, bytes FROM releases ORDER BY model, id;"
		} | md5sum)
	FP=${FP%% *}
}

# Crash points of operation TOK after PREFIX: kill before the n-th fsync
# and the n-th rename, n = first, first+step, ... until the op completes.
ROT=0
PC_REC=""
crash_op() { # VARIANT PREFIX TOK STEP CRASHER
	local v=$1 p=$2 tok=$3 step=$4 crasher=$5 fop n pd r=$SCRATCH/run what committed
	clean "$p $tok"
	pd=$BASE/${p// /.}
	stg "$p"; opcmd "$tok" "$STG"
	CRASH_CMD=("${C[@]}")
	for fop in fsync rename; do
		ROT=$((ROT + 1))
		n=$((1 + ROT % step))
		# SEQ_POINTS="fsync:37 rename:2": only those points.
		local only=() oi=0 last=500
		if [ -n "${SEQ_POINTS:-}" ]; then
			only=($(for x in $SEQ_POINTS; do [ "${x%%:*}" != $fop ] || echo "${x#*:}"; done | sort -n))
			[ ${#only[@]} -gt 0 ] || continue
			n=${only[0]}; last=${only[-1]}
		fi
		while [ $n -le $last ]; do
			what="[${p#_} ! $tok] $v at $fop #$n"
			what=${what/\[ /[}
			$crasher "$pd" "$r" "$fop:$n:kill" || { violation "$v" "$what: cannot set up the crash"; break; }
			if [ "$RC" != 137 ]; then
				# No n-th point: the operation ran to its end, as cleanly.
				if [ "$RC" != "${RCS[$p $tok]}" ]; then
					violation "$v" "$what: uncrashed run exited $RC, the clean run ${RCS[$p $tok]}"
				fi
				break
			fi
			POINTS[$v]=$((${POINTS[$v]:-0} + 1))
			[ -z "${SEQ_PROGRESS:-}" ] || echo "$T: $(date +%T) $v: points ${POINTS[$v]}, cases ${CASES[$v]:-0}, covered $(( ${CASES[$v]:-0} + ${COVERED[$v]:-0} )), violations ${VIOL[$v]:-0}: $what" >&2
			CASES[$v]=$((${CASES[$v]:-0} + 1))
			SEQS["$v:$p $tok"]=$MAXLEN
			if [ -n "$PC_REC" ] && [ "$PC_REC" != 0 ]; then
				violation "$v" "$what: recovery on the image after the cut exited $PC_REC: $(head -c 400 "$SCRATCH/c.err")"
				n=$((n + step)); [ ${#only[@]} = 0 ] || { oi=$((oi + 1)); n=${only[$oi]:-999999}; }
				continue
			fi
			committed=0
			grep -q completed "$SCRATCH/k.out" && committed=1
			after_crash "$v" "$r" "$p" "$tok" "$what" $committed
			n=$((n + step))
			[ ${#only[@]} = 0 ] || { oi=$((oi + 1)); n=${only[$oi]:-999999}; }
		done
	done
}

# The kill variant: copy the prefix's state, run the op with the fault.
kill_crasher() { # PREFIXDIR RUNDIR FAULT
	rm -rf "$2"; cp -a "$1" "$2"
	RC=0
	PC_REC=""
	(cd "$2" && WANCTL_FAULT=$3 "$W" "${CRASH_CMD[@]}" >"$SCRATCH/k.out" 2>"$SCRATCH/k.err"; exit $?) 2>/dev/null || RC=$?
	return 0
}

# SEQ_SHARD=I/N runs every N-th (prefix, op) from the I-th (0-based), to
# split a long run over processes; the tables add up. SEQ_KMIN=K and
# SEQ_KMAX=K crash only operations at positions K.., ..K; SEQ_ONLY=REGEX
# only the (prefix, op) items whose "_ op op!op" matches; SEQ_POINTS=
# "fsync:N rename:M ..." only those crash points.
SEQ_SHARD=${SEQ_SHARD:-0/1}
sweep() { # VARIANT MAXLEN STEP CRASHER
	local v=$1 k p o wi=0
	MAXLEN=$2
	for k in $(seq "${SEQ_KMIN:-1}" "${SEQ_KMAX:-$MAXLEN}"); do
		keys $((k - 1))
		for p in "${KEYS[@]}"; do
			for o in $OPS; do
				wi=$((wi + 1))
				[ $((wi % ${SEQ_SHARD#*/})) = "${SEQ_SHARD%/*}" ] || continue
				[ -z "${SEQ_ONLY:-}" ] || [[ "$p!$o" =~ $SEQ_ONLY ]] || continue
				crash_op "$v" "$p" "$o" "$3" "$4"
			done
		done
	done
}

declare -A TIME
if [ "${SEQ_KILL:-1}" = 1 ]; then
	t0=$(date +%s)
	sweep kill "$SEQ_LEN" "$SEQ_STEP" kill_crasher
	TIME[kill]=$(( $(date +%s) - t0 ))
fi

# The power-cut variant.
pc_skip=""
if [ "$SEQ_POWERCUT" = 0 ]; then pc_skip="SEQ_POWERCUT=0"
elif [ "$(id -u)" -ne 0 ] || ! command -v xfs_io >/dev/null || ! command -v losetup >/dev/null ||
     ! command -v mkfs.ext4 >/dev/null; then pc_skip="needs root, losetup, mkfs.ext4 and xfs_io"
fi
MNT=$SCRATCH/mnt
IMG=$SCRATCH/img.ext4
pc_guard() {
	mountpoint -q "$MNT" || { echo "$T: $MNT is not a mount point: abort" >&2; exit 1; }
	case $(findmnt -n -o SOURCE "$MNT") in
	/dev/loop*) ;;
	*) echo "$T: $MNT is not a loop device: abort" >&2; exit 1 ;;
	esac
}
pc_mount() { mount -o loop "$IMG" "$MNT" && pc_guard; }
# The power cut: copy the prefix's state onto the image and make it
# durable, kill the op at the point, shut the filesystem down without a log
# flush, unmount, mount; the state comes back off the image into RUNDIR.
pc_crasher() { # PREFIXDIR RUNDIR FAULT
	local img_run=$MNT/r
	pc_guard
	rm -rf "$img_run"; cp -a "$1" "$img_run"
	sync -f "$img_run"
	RC=0
	PC_REC=""
	(cd "$img_run" && WANCTL_FAULT=$3 "$W" "${CRASH_CMD[@]}" >"$SCRATCH/k.out" 2>"$SCRATCH/k.err"; exit $?) 2>/dev/null || RC=$?
	if [ "$RC" = 137 ]; then
		pc_guard
		xfs_io -x -c shutdown "$MNT" || return 1
		umount "$MNT" || return 1
		pc_mount || return 1
		# Recovery runs on the image (PC_REC: its exit status), the
		# rest of the sequence off it.
		wrun "$img_run" status
		PC_REC=$RC
		rm -rf "$2"; cp -a "$img_run" "$2"
		RC=137
	fi
	return 0
}
if [ -z "$pc_skip" ]; then
	mkdir -p "$MNT"
	truncate -s 64M "$IMG"
	mkfs.ext4 -q -F "$IMG"
	pc_mount
	WT_CLEANUP+=("mountpoint -q '$MNT' && umount -l '$MNT'")
	t0=$(date +%s)
	sweep powercut-ext4 "$PC_LEN" "$PC_STEP" pc_crasher
	TIME[powercut-ext4]=$(( $(date +%s) - t0 ))
	umount "$MNT"
fi

# Distinct sequences with a crash somewhere.
declare -A NSEQ
# (sequence, crash position) pairs: each crashed (prefix, op) heads the
# sequences that continue it with up to MAXLEN - k ops of REST_OPS.
nrest=$(echo $REST_OPS | wc -w)
for s in "${!SEQS[@]}"; do
	v=${s%%:*}; k=$(echo "${s#*:}" | wc -w); k=$((k - 1)); n=1; t=1
	for _ in $(seq 1 $((SEQS[$s] - k))); do t=$((t * nrest)); n=$((n + t)); done
	NSEQ[$v]=$((${NSEQ[$v]:-0} + n))
done
printf '%-14s %9s %12s %7s %8s %11s %7s\n' variant sequences crash-points cases covered violations time
for v in kill powercut-ext4; do
	[ -n "${TIME[$v]+x}" ] || continue
	printf '%-14s %9s %12s %7s %8s %11s %6ss\n' "$v" "${NSEQ[$v]:-0}" "${POINTS[$v]:-0}" \
		"${CASES[$v]:-0}" "$(( ${CASES[$v]:-0} + ${COVERED[$v]:-0} ))" "${VIOL[$v]:-0}" "${TIME[$v]}"
done
echo "$T: cases = sequence x crash point runs (crashed op, recovery, INV, rest of the sequence);"
echo "$T: covered adds those whose recovered state equalled one explored already (SEQ_DEDUP=$SEQ_DEDUP)"
for v in kill powercut-ext4; do
	[ -z "${NOTES[$v]:-}" ] ||
		echo "$T: $v: ${NOTES[$v]} rollbacks went to a release that only a deploy undone by recovery had ingested (see NOTE lines)"
done
[ -z "$pc_skip" ] || echo "$T: power-cut variant skipped: $pc_skip"
echo "$T: clean runs: $CLEAN_RUNS; releases A=$RA B=$RB"
[ "${SEQ_KILL:-1}" = 0 ] || [ "$SEQ_SHARD" != 0/1 ] || [ -n "${SEQ_ONLY:-}${SEQ_KMIN:-}${SEQ_KMAX:-}${SEQ_POINTS:-}" ] ||
	check "the sweep crashed operations at many points" test "${POINTS[kill]:-0}" -ge 10
wt_done
