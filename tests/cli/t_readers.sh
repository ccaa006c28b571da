#!/bin/bash
# Readers never see a missing file (reliability plan item 12): reader
# processes open and read the head of every file of <target>/<model>/ in a
# loop while the release flips back and forth many times (rollback --to);
# they must count 0 ENOENT/ELOOP/EISDIR/other errors, and every head read
# must be the old or the new release's, never a mix. A control run flips a
# link the naive way (rm + ln -s) to show the reader does catch a gap.
T=t_readers
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
READERS=$WB/tests/readers
[ -x "$READERS" ] || { bad "helper '$READERS' not built"; wt_done; }
FLIPS=${FLIPS:-100}
[ -n "${WANCTL_QUICK:-}" ] && FLIPS=40
NREADERS=2

D=$SCRATCH/d
wt_config "$D" '{"backup":{"before_deploy":false}}'
cd "$D"
P=$D/production
S=$P/.wanctl
M=t2v-1.3B
"$MKF" "$D/staging/$M" $M >/dev/null
run 0 "$W" -q deploy $M
A=$(current "$P" $M)
rm -rf "$D/staging/$M"
"$MKF" "$D/staging/$M" $M --variant 1 >/dev/null
run 0 "$W" -q deploy $M
B=$(current "$P" $M)
check "two releases" test "$A" != "$B"

# start_readers LINKDIR REF... : NREADERS reader processes, stopped by
# $SCRATCH/stop; their pids in RPIDS.
start_readers() {
	local link=$1 i
	shift
	rm -f "$SCRATCH/stop"
	RPIDS=()
	for i in $(seq $NREADERS); do
		"$READERS" "$link" "$SCRATCH/stop" "$@" >"$SCRATCH/readers.$i" 2>&1 &
		RPIDS+=($!)
	done
	sleep 0.2
}
WT_CLEANUP+=('touch "$SCRATCH/stop"; wait')
# stop_readers -> sums of the counters in TOTAL[name]
declare -A TOTAL
stop_readers() {
	local p i k v
	touch "$SCRATCH/stop"
	for p in "${RPIDS[@]}"; do wait "$p" || true; done
	TOTAL=()
	for i in $(seq $NREADERS); do
		set -- $(cat "$SCRATCH/readers.$i")
		while [ $# -ge 2 ]; do
			k=$1 v=$2; shift 2
			TOTAL[$k]=$(( ${TOTAL[$k]:-0} + v ))
		done
	done
}

# 1. wanctl flips: rollback --to A, --to B, ... FLIPS times.
start_readers "$P/$M" "$S/releases/$M/$A" "$S/releases/$M/$B"
fails=0
for i in $(seq "$FLIPS"); do
	if [ $((i % 2)) -eq 1 ]; then to=$A; else to=$B; fi
	"$W" -q rollback --model $M --to "$to" >/dev/null 2>"$SCRATCH/flip.err" ||
		{ fails=$((fails + 1)); cat "$SCRATCH/flip.err" >&2; }
done
stop_readers
check "all $FLIPS flips succeeded" test "$fails" = 0
check "the release really flipped ($FLIPS flips end on $to)" test "$(current "$P" $M)" = "$to"
echo "t_readers: $FLIPS flips: ${TOTAL[opens]:-0} opens, ENOENT ${TOTAL[enoent]:-?}," \
	"ELOOP ${TOTAL[eloop]:-?}, EISDIR ${TOTAL[eisdir]:-?}, other ${TOTAL[other]:-?}," \
	"mixed ${TOTAL[mixed]:-?}"
check "readers opened files" test "${TOTAL[opens]:-0}" -gt 1000
check "0 ENOENT" test "${TOTAL[enoent]:-x}" = 0
check "0 ELOOP" test "${TOTAL[eloop]:-x}" = 0
check "0 EISDIR" test "${TOTAL[eisdir]:-x}" = 0
check "0 other errors" test "${TOTAL[other]:-x}" = 0
check "0 mixed reads" test "${TOTAL[mixed]:-x}" = 0
check "INV after the flips" inv_check "$P" "$M=$to"

# 2. Control: the same readers against a link replaced the naive way
# (unlink, then symlink) do see it missing, so the zero above means
# something.
N=$SCRATCH/naive
mkdir -p "$N"
ln -s "$S/releases/$M/$A" "$N/$M"
start_readers "$N/$M" "$S/releases/$M/$A" "$S/releases/$M/$B"
end=$(( $(date +%s) + 1 ))
while [ "$(date +%s)" -lt "$end" ]; do
	for to in $A $B $A $B $A $B $A $B; do
		rm -f "$N/$M"; ln -s "$S/releases/$M/$to" "$N/$M"
	done
done
stop_readers
echo "t_readers: control (rm + ln -s): ENOENT ${TOTAL[enoent]:-?} of ${TOTAL[opens]:-?} opens"
check "control: the reader catches a missing link" test "${TOTAL[enoent]:-0}" -gt 0

wt_done
