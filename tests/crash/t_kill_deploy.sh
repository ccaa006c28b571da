#!/bin/bash
# kill -9 at random moments of a deploy (reliability plan item 2): the
# new release is a model of 2 x 256 MiB shards (WANCTL_LONG=1: 30 runs;
# quick: 5 runs of 2 x 16 MiB), the old one a small release of the same
# model. After each kill the next command (wanctl status) recovers, and
# INV holds: the link resolves to the complete old or new release whose
# every file matches its manifest, integrity_check ok, tmp/ empty, no
# debris; if the deploy had printed "completed", the link is the new one.
# Then a later deploy and a rollback work, and INV holds again.
# fsync is never disabled here.
T=t_kill_deploy
. "$(dirname "$0")/lib.sh"
unset WANCTL_NO_FSYNC

RUNS=${RUNS:-5}
SHARD=${SHARD_BYTES:-16777216}
if [ -n "${WANCTL_LONG:-}" ]; then
	RUNS=${RUNS_LONG:-30}
	SHARD=268435456
fi
need=$(( SHARD * 2 * 3 / 1024 + 100000 ))   # KiB: staging + store copies
avail=$(df -k --output=avail "$SCRATCH" | tail -1)
[ "$avail" -gt "$need" ] || wt_skip "needs $((need / 1024)) MiB free in $SCRATCH, $((avail / 1024)) MiB there"

base=$SCRATCH/base
wt_config "$base" '{"backup":{"before_deploy":false},
	"models":{"m":{"spec":"safetensors","source":"m"}}}'
# Staging lives outside the copied state: big, generated once.
jq --arg s "$SCRATCH/staging" '.source_models_path = $s' "$base/wanctl.json" >"$base/w.json"
mv "$base/w.json" "$base/wanctl.json"
"$MKF" "$SCRATCH/small" safetensors --shard-bytes 1048576 >/dev/null
"$MKF" "$SCRATCH/staging/m" safetensors --shard-bytes "$SHARD" --seed 2 >/dev/null
(cd "$base" && "$W" -q deploy m --source "$SCRATCH/small" >/dev/null 2>"$SCRATCH/err") ||
	{ bad "setup deploy: $(cat "$SCRATCH/err")"; wt_done; }
A=$(current "$base/production" m)

fresh() { rm -rf "$SCRATCH/run"; cp -a "$base" "$SCRATCH/run"; }

# Baseline: a whole deploy, for its duration and the new release's id.
fresh
t0=$(date +%s%N)
(cd "$SCRATCH/run" && "$W" -q deploy m >/dev/null 2>"$SCRATCH/err") ||
	{ bad "baseline deploy: $(cat "$SCRATCH/err")"; wt_done; }
t1=$(date +%s%N)
B=$(current "$SCRATCH/run/production" m)
full_ms=$(( (t1 - t0) / 1000000 ))
check "baseline: a new release" test "$B" != "$A"
check "baseline: INV" inv_check "$SCRATCH/run/production" "m=$B"
echo "$T: baseline deploy of 2 x $((SHARD >> 20)) MiB: ${full_ms} ms; $RUNS runs"

declare -A WHERE=()
for run in $(seq "$RUNS"); do
	fresh
	# Spread the kills over the whole deploy (and a little past its end).
	ms=$(( (RANDOM * 32768 + RANDOM) % (full_ms * 11 / 10 + 1) ))
	cd "$SCRATCH/run"
	"$W" deploy m >"$SCRATCH/dep.out" 2>"$SCRATCH/dep.err" &
	pid=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 "$pid" 2>/dev/null || true
	rc=0; wait "$pid" 2>/dev/null || rc=$?
	cd /
	committed=0
	grep -q "completed" "$SCRATCH/dep.out" && committed=1
	# The next command recovers.
	(cd "$SCRATCH/run" && "$W" status >/dev/null 2>"$SCRATCH/rec.err") ||
		bad "run $run: status after the kill at ${ms} ms failed: $(cat "$SCRATCH/rec.err")"
	if [ $committed = 1 ]; then allow="m=$B"; else allow="m=$A,$B"; fi
	if inv_check "$SCRATCH/run/production" "$allow" 2>"$SCRATCH/inv"; then
		ok
	else
		bad "run $run: kill at ${ms} ms (exit $rc, committed $committed): $(cat "$SCRATCH/inv")"
		continue
	fi
	now=$(current "$SCRATCH/run/production" m)
	[ "$now" = "$A" ] && WHERE[old]=$(( ${WHERE[old]:-0} + 1 )) || WHERE[new]=$(( ${WHERE[new]:-0} + 1 ))
	grep -q "recovered\|interrupted" "$SCRATCH/rec.err" && WHERE[recovered]=$(( ${WHERE[recovered]:-0} + 1 ))
	# A later deploy and rollback work.
	if (cd "$SCRATCH/run" && "$W" -q deploy m >/dev/null 2>"$SCRATCH/err") &&
	   inv_check "$SCRATCH/run/production" "m=$B" 2>"$SCRATCH/inv" &&
	   (cd "$SCRATCH/run" && "$W" -q rollback --model m --to "$A" >/dev/null 2>>"$SCRATCH/err") &&
	   inv_check "$SCRATCH/run/production" "m=$A" 2>>"$SCRATCH/inv"; then
		ok
	else
		bad "run $run: deploy/rollback after the kill at ${ms} ms: $(cat "$SCRATCH/err" "$SCRATCH/inv")"
	fi
done
echo "$T: after the kills: ${WHERE[old]:-0} on the old release, ${WHERE[new]:-0} on the new," \
	"${WHERE[recovered]:-0} recoveries reported"
wt_done
