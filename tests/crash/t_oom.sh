#!/bin/bash
# Allocation failures (reliability plan item 10): the Nth allocation (after
# start-up, see below) of a
# deploy, a rollback or a verify fails (LD_PRELOAD shim
# tests/libfailmalloc.so, once and persistently); wanctl must end with a
# clean error (no crash: exit < 128), never claim success while the old
# release is live, and INV must hold after the next command. Also a small
# `ulimit -v`. Quick mode samples the points; WANCTL_LONG=1 tries them all.
T=t_oom; . "$(dirname "$0")/lib.sh"
. "$WT_LIB_DIR/inv.sh"
export WANCTL_NO_FSYNC=1
SHIM=$WB/tests/libfailmalloc.so
[ -f "$SHIM" ] || wt_skip "no $SHIM (sanitizer build)"
SAMPLE=${SAMPLE:-12}
[ -n "${WANCTL_LONG:-}" ] && SAMPLE=${SAMPLE_LONG:-400}

base=$SCRATCH/base
mkdir -p "$base"
cat > "$base/wanctl.json" <<JSON
{"source_models_path":"$SCRATCH/staging","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false},"models":{"m":{"source":"A"}}}
JSON
"$MKF" "$SCRATCH/staging/A" t2v-1.3B >/dev/null
"$MKF" "$SCRATCH/staging/B" t2v-1.3B --variant 1 >/dev/null
(cd "$base" && "$W" deploy m >/dev/null 2>&1)
A=$(basename "$(readlink "$base/production/m")")
fresh() { rm -rf "$SCRATCH/run"; cp -a "$base" "$SCRATCH/run"; }
fresh; (cd "$SCRATCH/run" && "$W" deploy m --source "$SCRATCH/staging/B" >/dev/null 2>&1)
B=$(basename "$(readlink "$SCRATCH/run/production/m")")

declare -A CMD OK
CMD[deploy]="deploy m --source $SCRATCH/staging/B"; OK[deploy]=$B
CMD[verify]="verify m"; OK[verify]=$A
# Start-up is left out: OpenSSL 3 does not survive an allocation failure in
# its own initialisation (it goes on with a NULL lock and crashes in
# EVP_MD_fetch), which wanctl does first thing; `wanctl --version` does only
# that, so its allocation count is where the sweep starts.
FAILMALLOC_COUNT=$SCRATCH/count0 LD_PRELOAD=$SHIM "$W" --version >/dev/null
first=$(( $(cat "$SCRATCH/count0") + 1 ))
tried=0 crashes=0
for verb in deploy verify; do
	fresh
	(cd "$SCRATCH/run" && FAILMALLOC_COUNT=$SCRATCH/count LD_PRELOAD=$SHIM $W ${CMD[$verb]} >/dev/null 2>&1) || true
	total=$(cat "$SCRATCH/count")
	step=$(( total / SAMPLE )); [ $step -ge 1 ] || step=1
	for mode in once persist; do
		for n in $(seq "$first" $step "$total"); do
			fresh
			rc=0
			if [ $mode = persist ]; then
				(cd "$SCRATCH/run" && FAILMALLOC_AT=$n FAILMALLOC_PERSIST=1 LD_PRELOAD=$SHIM \
					$W ${CMD[$verb]} >/dev/null 2>"$SCRATCH/err") || rc=$?
			else
				(cd "$SCRATCH/run" && FAILMALLOC_AT=$n LD_PRELOAD=$SHIM \
					$W ${CMD[$verb]} >/dev/null 2>"$SCRATCH/err") || rc=$?
			fi
			tried=$((tried + 1))
			if [ $rc -ge 128 ]; then
				crashes=$((crashes + 1))
				bad "$verb: allocation $n ($mode) crashed wanctl (exit $rc)"
				continue
			fi
			(cd "$SCRATCH/run" && "$W" status >/dev/null 2>&1) || true
			if [ $rc -eq 0 ]; then want="m=${OK[$verb]}"; else want="m=$A"; fi
			# Out of memory inside jansson stops the process at once,
			# like a kill, saying the outcome is unknown: old or new.
			grep -q "in the JSON library); stopped, outcome unknown" "$SCRATCH/err" &&
				want="m=$A,${OK[$verb]}"
			if inv_check "$SCRATCH/run/production" "$want" 2>"$SCRATCH/inv"; then
				ok
			else
				bad "$verb: allocation $n ($mode), exit $rc: $(cat "$SCRATCH/inv")"
			fi
		done
	done
done
# A small address-space limit: a clean error or success, never a crash.
fresh
rc=0
(cd "$SCRATCH/run" && ulimit -v 200000 && $W ${CMD[deploy]} >/dev/null 2>"$SCRATCH/err") || rc=$?
[ $rc -lt 128 ] && ok || bad "ulimit -v 200000: crashed (exit $rc)"
echo "allocation points tried: $tried, crashes: $crashes"
wt_done
