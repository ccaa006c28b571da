#!/bin/bash
# A folder swapped for a symlink DURING the run (reliability plan item 18):
# while wanctl deploys, rolls back, collects garbage, verifies and backs up,
# racers (tests/helpers/swapper.c) swap folders of the roots with symlinks
# to sentinel trees outside the roots, with renameat2(RENAME_EXCHANGE) in a
# loop (each state lasting microseconds; see swap_start). Targets: staging
# subfolders (copy and hardlink transfers), the production link, the state
# folder, the store's releases/<model>/ and objects/sha256/<2>/ folders, the
# state tmp/ folder and the backup repository's objects/sha256/ and
# snapshots/<model>/ folders.
#
# Pass, after every run: the sentinel trees (names, types, inodes, sizes,
# modes, mtimes, bytes) are unchanged; no command crashed; a command that
# succeeded did the right thing (a deploy's release and a restore's folder
# hold exactly the staging bytes, never a sentinel's); once the racers stop,
# the next command recovers and INV holds; production is then put back.
# Also: a staging file hard-linked to a file outside the roots leaves that
# file as it was (bytes, mode, mtime, inode), and strace shows verify
# opening manifest paths with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
# from the release's descriptor, backup restore --to creating files
# relative to folder descriptors, and deploy walking staging with O_NOFOLLOW.
#
# Quick mode: SWAP_RUNS (1) run per target (the racers' timing differs from
# target to target); WANCTL_LONG=1: SWAP_RUNS_LONG (100). Targets listed in
# SWAP_KNOWN (default: none; bug 13 of docs/RELIABILITY.md, the store's
# folders, is fixed) print their violations without failing, unless
# SWAP_STRICT=1. SWAP_TARGETS restricts the targets run.
T=t_swap; . "$(dirname "$0")/lib.sh"
. "$WT_LIB_DIR/inv.sh"
export WANCTL_NO_FSYNC=1
SW=$WB/tests/swapper
[ -x "$SW" ] || wt_skip "tests/swapper not built"
RUNS=${SWAP_RUNS:-1}
[ -n "${WANCTL_LONG:-}" ] && RUNS=${SWAP_RUNS_LONG:-100}
ALL_TARGETS="staging staging-hardlink prod-link state releases objects tmp backup-objects"
TARGETS=${SWAP_TARGETS:-$ALL_TARGETS}
KNOWN=${SWAP_KNOWN-}
[ -n "${SWAP_STRICT:-}" ] && KNOWN=

cd "$SCRATCH"
S=$SCRATCH/staging
mkdir -p base outside links restored
cat > base/wanctl.json <<JSON
{"source_models_path":"$S","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false,"keep":2},"deployment":{"keep_releases":0},
 "models":{"m":{"source":"A"}}}
JSON
"$MKF" "$S/A" t2v-A14B >/dev/null
(cd base && "$W" deploy m >/dev/null 2>&1) && ok || bad "first deploy"
A=$(current base/production m)
(cd base && "$W" backup create >/dev/null 2>&1) && ok || bad "first backup"
# Each target starts from a copy of base/ (a violation stays with its row).
use_copy() { # name
	rm -rf "$SCRATCH/w-$1"
	cp -a "$SCRATCH/base" "$SCRATCH/w-$1"
	cd "$SCRATCH/w-$1"
	P=$PWD/production ST=$PWD/production/.wanctl BK=$PWD/backups
}

# sentinel NAME REAL : outside/NAME becomes a copy of REAL whose files all
# differ (so a command that reads through the link gets other bytes), plus a
# file of its own; links/NAME -> outside/NAME is the racer's other half.
sentinel() {
	local name=$1 real=$2
	local o=$SCRATCH/outside/$name
	rm -rf "$o" "$SCRATCH/links/$name"
	if [ -d "$real" ] && [ ! -L "$real" ]; then
		cp -a "$real" "$o"
	else
		mkdir -p "$o"
	fi
	chmod -R u+w "$o"
	find "$o" -type f ! -name 'state.db*' ! -name lock -exec sh -c \
		'for f; do printf sentinel >> "$f"; done' sh {} +
	echo "sentinel $name" > "$o/SENTINEL"
	ln -s "$o" "$SCRATCH/links/$name"
}
# The identity of everything outside the roots.
outside_id() {
	(cd "$SCRATCH/outside" && find . -printf '%p %y %i %s %m %T@ %l\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

declare -a SWPIDS=() SWPATHS=() SWNAMES=()
# swap_start NAME PATH... : a racer per PATH. Runs take turns: each state
# 0-200 us; the folder 0-1 ms and the symlink 0-20 us; the folder 0-20 ms
# and the symlink 0-50 us (commands then mostly get past their first look
# and meet the symlink later, or not at all).
swap_start() {
	local name=$1 p k=0 timing; shift
	case $((RUN % 3)) in
	1) timing="--max-us 200" ;;
	2) timing="--max-us 1000 --swapped-us 20" ;;
	0) timing="--max-us 20000 --swapped-us 50" ;;
	esac
	for p in "$@"; do
		sentinel "$name-$k" "$p"
		# shellcheck disable=SC2086
		"$SW" "$p" "$SCRATCH/links/$name-$k" $timing >"$SCRATCH/swaps-$name-$k" 2>&1 &
		SWPIDS+=("$!"); SWPATHS+=("$p"); SWNAMES+=("$name-$k")
		k=$((k + 1))
	done
}
SWAPS=0
swap_stop() {
	local i n l
	for i in "${!SWPIDS[@]}"; do
		kill -TERM "${SWPIDS[$i]}" 2>/dev/null || true
		wait "${SWPIDS[$i]}" || bad "swapper of ${SWPATHS[$i]}: $(cat "$SCRATCH/swaps-${SWNAMES[$i]}")"
		n=$(head -1 "$SCRATCH/swaps-${SWNAMES[$i]}" | cut -d' ' -f1)
		case $n in ''|*[!0-9]*) n=0 ;; esac
		SWAPS=$((SWAPS + n))
		l=$SCRATCH/links/${SWNAMES[$i]}
		# wanctl may have removed or replaced what it found at the path
		# (state tmp/ is swept by removing it): then the swapper went on
		# exchanging two other entries; put the original back.
		if [ ! -L "$l" ] || [ "$(readlink "$l")" != "$SCRATCH/outside/${SWNAMES[$i]}" ]; then
			if [ -L "${SWPATHS[$i]}" ] &&
			   [ "$(readlink "${SWPATHS[$i]}")" = "$SCRATCH/outside/${SWNAMES[$i]}" ]; then
				rm "${SWPATHS[$i]}"; mv "$l" "${SWPATHS[$i]}"
			else
				NOTES+=("${SWNAMES[$i]%-*}: the swapped entry was replaced by wanctl")
				chmod -R u+w "$l" 2>/dev/null || true
				rm -rf "$l"
			fi
		fi
	done
	SWPIDS=(); SWPATHS=(); SWNAMES=()
}
WT_CLEANUP+=("swap_stop")

declare -A RUNS_OF CMDS REFUSED VIOL SECS SWAPPED
declare -a NOTES=()
viol() { # target message
	VIOL[$1]=$(( ${VIOL[$1]:-0} + 1 ))
	case " $KNOWN " in
	*" $1 "*) echo "known violation ($1): $2" >&2 ;;
	*) bad "$1: $2" ;;
	esac
}

# vrun TARGET VERB CMD... : runs one command under the race; a crash
# (signal, sanitizer report) is a violation, a refusal is counted.
vrun() {
	local tgt=$1 verb=$2 rc=0; shift 2
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" || rc=$?
	CMDS[$tgt]=$(( ${CMDS[$tgt]:-0} + 1 ))
	if [ "$rc" -ge 126 ] || grep -q 'Sanitizer\|runtime error:\|Assertion\|Segmentation' "$SCRATCH/err"; then
		viol "$tgt" "$verb crashed (exit $rc): $(head -c 300 "$SCRATCH/err")"
	elif [ "$rc" -ne 0 ]; then
		REFUSED[$tgt]=$(( ${REFUSED[$tgt]:-0} + 1 ))
		[ -z "${SWAP_VERBOSE:-}" ] || echo "  $tgt $verb refused ($rc): $(head -c 200 "$SCRATCH/err")" >&2
	fi
	return "$rc"
}

# What each target swaps: the paths, given the new staging folder V and the
# release id to be collected (OLD, may be empty).
paths_of() { # target V
	local v=$2 sha d
	case $1 in
	staging|staging-hardlink) echo "$v/high_noise_model" "$v/google/umt5-xxl" ;;
	prod-link) echo "$P/m" ;;
	state) echo "$ST" ;;
	releases) echo "$ST/releases/m" ;;
	objects)
		# The folders the new release's objects go to and the folder
		# of an object only an older release uses (gc removes it).
		# (made here when it does not exist yet: an empty folder of
		# the object layout).
		for sha in $(cd "$v" && find . -type f -print0 | xargs -0 sha256sum | cut -c1-64); do
			[ -e "$ST/objects/sha256/${sha:0:2}/${sha:2}" ] && continue
			d=$ST/objects/sha256/${sha:0:2}
			mkdir -p "$d"
			echo "$d"
			break
		done
		[ -n "$OLDOBJ" ] && [ -d "$ST/objects/sha256/$OLDOBJ" ] && echo "$ST/objects/sha256/$OLDOBJ"
		;;
	tmp) echo "$ST/tmp" ;;
	backup-objects) echo "$BK/objects/sha256" "$BK/snapshots/m" ;;
	esac
}
# The verbs each target runs under the race.
verbs_of() {
	case $1 in
	staging) echo "deploy" ;;
	staging-hardlink) echo "deploy-hardlink" ;;
	prod-link) echo "verify status backup-create" ;;
	state) echo "deploy rollback gc verify" ;;
	releases|objects|tmp) echo "deploy rollback gc verify backup-create restore-store restore-to" ;;
	backup-objects) echo "backup-create backup-verify restore-to prune" ;;
	esac
}

OLDOBJ= NEXTOBJ=
iteration() { # target i
	local tgt=$1 i=$2 v=$S/V$2-$1 vid= verb rc live out0 out1 t0 paths
	RUN=$((i + TGT_INDEX))
	"$MKF" "$v" t2v-A14B --variant $((i + 1)) --seed $((RANDOM + 2)) >/dev/null
	case " $(verbs_of "$tgt") " in
	*" deploy"*) ;;
	*)	# The new release exists before the race.
		"$W" deploy m --source "$v" >/dev/null 2>&1 || bad "$tgt: unraced deploy"
		vid=$(current "$P" m)
		"$W" rollback --model m --to "$A" >/dev/null 2>&1 || bad "$tgt: unraced rollback" ;;
	esac
	# shellcheck disable=SC2046
	paths=$(paths_of "$tgt" "$v" | sort -u)
	out0=$(mktemp "$SCRATCH/id.XXXXXX")
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	swap_start "$tgt" $paths
	outside_id >"$out0"
	for verb in $(verbs_of "$tgt"); do
		rc=0
		case $verb in
		deploy|deploy-hardlink)
			local tr=copy
			[ "$verb" = deploy-hardlink ] && tr=hardlink
			vrun "$tgt" "$verb" "$W" deploy m --source "$v" --transfer "$tr" || rc=$?
			live=$(current "$P" m 2>/dev/null || echo none)
			if [ "$rc" -eq 0 ]; then
				vid=$live
				[ "$vid" != "$A" ] || viol "$tgt" "deploy succeeded but production stayed on $A"
			else
				[ "$live" = "$A" ] || viol "$tgt" "deploy failed (exit $rc) but production is on '$live'"
			fi ;;
		rollback)
			[ -n "$vid" ] || continue
			vrun "$tgt" "$verb" "$W" rollback --model m --to "$A" || rc=$?
			live=$(current "$P" m 2>/dev/null || echo none)
			if [ "$rc" -eq 0 ] && [ "$live" != "$A" ]; then
				viol "$tgt" "rollback succeeded but production is on '$live'"
			fi ;;
		gc) vrun "$tgt" "$verb" "$W" gc || true ;;
		verify) vrun "$tgt" "$verb" "$W" verify m || true ;;
		status) vrun "$tgt" "$verb" "$W" status || true ;;
		backup-create)
			[ -n "$vid" ] || continue
			vrun "$tgt" "$verb" "$W" backup create m --release "$vid" || true ;;
		backup-verify) vrun "$tgt" "$verb" "$W" backup verify --quick || true ;;
		prune) vrun "$tgt" "$verb" "$W" backup prune || true ;;
		restore-store)
			[ -n "$vid" ] || continue
			vrun "$tgt" "$verb" "$W" backup restore m --release "$vid" || true ;;
		restore-to)
			[ -n "$vid" ] || continue
			vrun "$tgt" "$verb" "$W" backup restore m --release "$vid" \
				--to "$SCRATCH/restored/$tgt-$i" || rc=$?
			if [ "$rc" -eq 0 ]; then
				RESTORED=$SCRATCH/restored/$tgt-$i
			else
				RESTORED=
			fi ;;
		esac
	done
	swap_stop
	SECS[$tgt]=$(echo "${SECS[$tgt]:-0} + $(date +%s.%N) - $t0" | bc)
	out1=$(mktemp "$SCRATCH/id.XXXXXX")
	outside_id >"$out1"
	if ! cmp -s "$out0" "$out1"; then
		viol "$tgt" "run $i changed files outside the roots: $(diff "$out0" "$out1" | grep '^[<>]' | head -4 | tr '\n' ' ')"
	fi
	# A restore that succeeded holds the staging bytes.
	if [ -n "${RESTORED:-}" ]; then
		same_tree "$RESTORED" "$v" 2>/dev/null ||
			viol "$tgt" "backup restore --to succeeded with other bytes than staging"
		chmod -R u+w "$RESTORED"; rm -rf "$RESTORED"; RESTORED=
	fi
	# The next command recovers; then INV.
	"$W" status >/dev/null 2>"$SCRATCH/rec" || true
	if ! inv_check "$P" "m=$A${vid:+,$vid}" 2>"$SCRATCH/inv"; then
		viol "$tgt" "INV after run $i: $(head -c 400 "$SCRATCH/inv")"
	fi
	# A deployed release holds exactly the staging bytes (never a sentinel's).
	if [ -n "$vid" ] && [ -d "$ST/releases/m/$vid" ]; then
		same_tree "$ST/releases/m/$vid" "$v" 2>/dev/null ||
			viol "$tgt" "release $vid does not hold the bytes of $v"
	fi
	# Back to A for the next run (INV (g): a later rollback works).
	if [ "$(current "$P" m)" != "$A" ]; then
		"$W" rollback --model m --to "$A" >/dev/null 2>"$SCRATCH/err" ||
			viol "$tgt" "rollback after the race failed: $(head -c 300 "$SCRATCH/err")"
	fi
	# gc two runs later collects this release's objects: remember the
	# folder of one of them.
	OLDOBJ=$NEXTOBJ NEXTOBJ=
	if [ -n "$vid" ] && [ -f "$ST/releases/m/$vid.json" ]; then
		local s
		for s in $(jq -r '.files[].sha256' "$ST/releases/m/$vid.json"); do
			jq -e --arg s "$s" '[.files[].sha256] | index($s)' \
				"$ST/releases/m/$A.json" >/dev/null && continue
			NEXTOBJ=${s:0:2}; break
		done
	fi
	# (Only the folders: in hardlink mode the files are store objects.)
	find "$v" -type d -exec chmod u+w {} + 2>/dev/null || true
	rm -rf "$v" "$out0" "$out1"
	rm -rf "$SCRATCH"/outside/* "$SCRATCH"/links/*
	RUNS_OF[$tgt]=$(( ${RUNS_OF[$tgt]:-0} + 1 ))
	SWAPPED[$tgt]=$(( ${SWAPPED[$tgt]:-0} + SWAPS )); SWAPS=0
}

TGT_INDEX=0
for tgt in $TARGETS; do
	TGT_INDEX=$((TGT_INDEX + 1))
	use_copy "$tgt"
	OLDOBJ= NEXTOBJ=
	for i in $(seq 1 "$RUNS"); do iteration "$tgt" "$i"; done
	[ -z "${VIOL[$tgt]:-}" ] && ok
done

# A staging file hard-linked to a file outside the roots: the outside file
# keeps its bytes, mode, mtime and inode, in every transfer mode (hardlink:
# a writable one is copied, never made read-only; a read-only one may become
# the store's object, unchanged); the release holds the bytes the staging
# name had.
use_copy hardlink
H=$S/H
cp -a "$S/A" "$H"
HL=$SCRATCH/outside/hl/config.json
mkdir -p "$SCRATCH/outside/hl"
cp "$H/high_noise_model/config.json" "$HL"
rm -f "$H/high_noise_model/config.json"
ln "$HL" "$H/high_noise_model/config.json"
hl_id() { stat -c '%i %s %a %Y' "$HL"; sha256sum < "$HL"; }
for how in copy hardlink hardlink-ro; do
	# New bytes (in place: same inode) so that every mode ingests them.
	chmod 0644 "$HL"
	jq --arg h "$how" '.sentinel = $h' "$S/A/high_noise_model/config.json" > hl.new
	cat hl.new > "$HL"
	[ "$how" = hardlink-ro ] && chmod 0444 "$HL"
	before=$(hl_id)
	rc=0
	"$W" deploy m --source "$H" --transfer "${how%-ro}" >/dev/null 2>"$SCRATCH/err" || rc=$?
	after=$(hl_id)
	[ "$before" = "$after" ] && ok ||
		bad "hardlink to an outside file ($how): the outside file changed: $before -> $after"
	if [ "$rc" -eq 0 ]; then
		same_tree "$ST/releases/m/$(current "$P" m)" "$H" && ok ||
			bad "hardlink to an outside file ($how): the release differs from staging"
		"$W" rollback --model m --to "$A" >/dev/null 2>&1 && ok || bad "rollback after the hardlink deploy"
	else
		echo "hardlink to an outside file ($how): refused: $(head -c 200 "$SCRATCH/err")"
		[ "$(current "$P" m)" = "$A" ] && ok || bad "a refused deploy changed production"
	fi
	inv_check "$P" "m=$A" && ok || bad "INV after the hardlink deploy ($how)"
done
chmod 0644 "$HL"
rm -rf "$SCRATCH/outside/hl"

# strace: verify opens every manifest path with openat2(RESOLVE_BENEATH|
# RESOLVE_NO_SYMLINKS) from the release's descriptor; backup restore --to
# creates every file relative to a folder descriptor (O_NOFOLLOW walk, then
# O_CREAT|O_EXCL|O_NOFOLLOW); neither opens a manifest path by an absolute
# path.
if command -v strace >/dev/null; then
	use_copy strace
	# LeakSanitizer cannot run under ptrace.
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	jq -r '.files[].path' "$ST/releases/m/$A.json" | LC_ALL=C sort > paths.want
	strace -f -qq -o trace -e trace=openat,openat2,open "$W" verify m >/dev/null 2>&1 ||
		bad "strace verify failed"
	grep -E '^[0-9]+ +openat2\([0-9]+, "' trace | grep 'RESOLVE_BENEATH' | grep 'RESOLVE_NO_SYMLINKS' |
		sed -E 's/^[0-9]+ +openat2\([0-9]+, "([^"]*)".*/\1/' | LC_ALL=C sort -u > paths.got
	missing=$(LC_ALL=C comm -23 paths.want paths.got | head -3 | tr '\n' ' ')
	[ -z "$missing" ] && ok ||
		bad "strace verify: manifest paths not opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS): $missing"
	plain=$(grep -E '^[0-9]+ +(open|openat)\(' trace | grep -F -f <(sed 's|^|/|' paths.want) | head -2 || true)
	[ -z "$plain" ] && ok || bad "strace verify: a manifest path opened by an absolute path: $plain"
	strace -f -qq -o trace -e trace=openat,openat2,open "$W" backup restore m --release "$A" \
		--to "$SCRATCH/r-strace" >/dev/null 2>&1 || bad "strace restore failed"
	plain=$(grep -E '^[0-9]+ +(open|openat)\((AT_FDCWD, )?"/' trace |
		grep -F -f <(sed 's|^|/|' paths.want) | head -2 || true)
	[ -z "$plain" ] && ok || bad "strace restore: a manifest path opened by an absolute path: $plain"
	# Relative opens under the destination never follow a symlink.
	loose=$(grep -E '^[0-9]+ +openat\([0-9]+, "[^/]' trace | grep -v 'O_NOFOLLOW' | head -2 || true)
	[ -z "$loose" ] && ok || bad "strace restore: a relative open without O_NOFOLLOW: $loose"
	[ -n "$(grep -E '^[0-9]+ +openat\([0-9]+, "[^/].*O_EXCL' trace | head -1)" ] && ok ||
		bad "strace restore: no file created relative to a folder descriptor"
	chmod -R u+w "$SCRATCH/r-strace" 2>/dev/null || true
	# deploy lists staging from descriptors: every subfolder is opened
	# relative to its parent without following symlinks, none by an
	# absolute path.
	"$MKF" "$S/Z" t2v-A14B --variant 99 >/dev/null
	strace -f -qq -o trace -e trace=openat,openat2,open "$W" deploy m --source "$S/Z" \
		>/dev/null 2>&1 || bad "strace deploy failed"
	for d in $(cd "$S/Z" && find . -mindepth 1 -type d -printf '%P\n'); do
		b=$(basename "$d")
		grep -qE "^[0-9]+ +openat\([0-9]+, \"$b\", [^)]*O_NOFOLLOW[^)]*O_DIRECTORY" trace && ok ||
			bad "strace deploy: staging folder '$d' not opened relative to its parent with O_NOFOLLOW"
		! grep -qE "^[0-9]+ +(open|openat)\((AT_FDCWD, )?\"$S/Z/$d\", [^)]*O_DIRECTORY" trace && ok ||
			bad "strace deploy: staging folder '$d' opened by an absolute path"
	done
else
	echo "$T: strace missing: the openat2 check is skipped"
fi

echo
printf '%-18s %5s %8s %8s %9s %10s %8s\n' target runs commands refused swaps violations time
for tgt in $TARGETS; do
	printf '%-18s %5s %8s %8s %9s %10s %7.1fs\n' "$tgt" "${RUNS_OF[$tgt]:-0}" "${CMDS[$tgt]:-0}" \
		"${REFUSED[$tgt]:-0}" "${SWAPPED[$tgt]:-0}" "${VIOL[$tgt]:-0}" "${SECS[$tgt]:-0}"
done
for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "note: $n"; done | sort | uniq -c
wt_done
