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
 "backup":{"before_deploy":false},"deployment":{"workers":1},"models":{"m":{"source":"A"}}}
JSON
"$MKF" "$SCRATCH/staging/A" t2v-1.3B >/dev/null
"$MKF" "$SCRATCH/staging/B" t2v-1.3B --variant 1 >/dev/null
(cd "$base" && "$W" deploy m >/dev/null 2>&1)
A=$(basename "$(readlink "$base/production/m")")
fresh() { rm -rf "$SCRATCH/run"; cp -a "${FROMDIR:-$base}" "$SCRATCH/run"; }
fresh; (cd "$SCRATCH/run" && "$W" deploy m --source "$SCRATCH/staging/B" >/dev/null 2>&1)
B=$(basename "$(readlink "$SCRATCH/run/production/m")")

declare -A CMD OK FAIL
CMD[deploy]="deploy m --source $SCRATCH/staging/B"; OK[deploy]=$B
CMD[verify]="verify m"; OK[verify]=$A
# Start-up is left out: OpenSSL 3 does not survive an allocation failure in
# its own initialisation (it goes on with a NULL lock and crashes in
# EVP_MD_fetch), which wanctl does first thing; `wanctl --version` does only
# that, so its allocation count is where the sweep starts.
FAILMALLOC_COUNT=$SCRATCH/count0 LD_PRELOAD=$SHIM "$W" --version >/dev/null
first=$(( $(cat "$SCRATCH/count0") + 1 ))
tried=0 crashes=0
# try VERB N MODE [ENV...] : fail allocation N (once or persist) of VERB.
try() {
	local verb=$1 n=$2 mode=$3 rc=0 want
	shift 3
	fresh
	(cd "$SCRATCH/run" && env "$@" FAILMALLOC_AT=$n ${mode/once/} LD_PRELOAD=$SHIM \
		$W ${CMD[$verb]} >/dev/null 2>"$SCRATCH/err") || rc=$?
	tried=$((tried + 1))
	if [ $rc -ge 128 ]; then
		crashes=$((crashes + 1))
		bad "$verb: allocation $n ($mode${1:+, core site}) crashed wanctl (exit $rc)"
		return
	fi
	(cd "$SCRATCH/run" && "$W" status >/dev/null 2>&1) || true
	if [ $rc -eq 0 ]; then want="m=${OK[$verb]}"; else want="m=${FAIL[$verb]:-$A}"; fi
	# Out of memory inside jansson stops the process at once,
	# like a kill, saying the outcome is unknown: old or new.
	grep -q "in the JSON library); stopped, outcome unknown" "$SCRATCH/err" &&
		want="m=${FAIL[$verb]:-$A},${OK[$verb]}"
	if inv_check "$SCRATCH/run/production" "$want" 2>"$SCRATCH/inv"; then
		ok
	else
		bad "$verb: allocation $n ($mode${1:+, core site}), exit $rc: $(cat "$SCRATCH/inv")"
	fi
}
for verb in deploy verify; do
	fresh
	(cd "$SCRATCH/run" && FAILMALLOC_COUNT=$SCRATCH/count LD_PRELOAD=$SHIM $W ${CMD[$verb]} >/dev/null 2>&1) || true
	total=$(cat "$SCRATCH/count")
	step=$(( total / SAMPLE )); [ $step -ge 1 ] || step=1
	for mode in once FAILMALLOC_PERSIST=1; do
		for n in $(seq "$first" $step "$total"); do
			try $verb $n $mode
		done
	done
done

# Every allocation site of the core (store, deploy, release, state, ops,
# manifest): the shim counts only the allocations made on behalf of those
# files' functions (their addresses from `nm -l`), a baseline run lists
# each call site's first allocation, and each is failed in turn, once and
# persistently, for every command that changes or reads the store. One
# ingest worker keeps the order of allocations the same from run to run.
# Quick mode: SITE_SAMPLE (3) sites per command.
CMD[deploy-first]="deploy m"; OK[deploy-first]=$A; FAIL[deploy-first]=none
CMD[rollback]="rollback --model m --to $A"; OK[rollback]=$A; FAIL[rollback]=$B
CMD[rollback-prev]="rollback --model m"; OK[rollback-prev]=$A; FAIL[rollback-prev]=$B
CMD[gc]="gc"; OK[gc]=$B; FAIL[gc]=$B
CMD[status]="status"; OK[status]=$B; FAIL[status]=$B
CMD[list]="list"; OK[list]=$B; FAIL[list]=$B
CMD[releases]="releases m"; OK[releases]=$B; FAIL[releases]=$B
CMD[verify-b]="verify m"; OK[verify-b]=$B; FAIL[verify-b]=$B
SITE_SAMPLE=${SITE_SAMPLE:-3}
[ -n "${WANCTL_LONG:-}" ] && SITE_SAMPLE=1000000
if command -v nm >/dev/null; then
	nm -S -l --defined-only "$W" 2>/dev/null |
		awk '$3 ~ /^[tT]$/ && $5 ~ /src\/lib\/(store|deploy|release|state|ops|manifest)\.c:/ { print $1, $2 }' \
		>"$SCRATCH/ranges"
	[ -s "$SCRATCH/ranges" ] || bad "no core functions found in $W (nm -l needs debug info)"
	# The base for the commands after the first deploy: B live, A before it.
	fresh; (cd "$SCRATCH/run" && "$W" deploy m --source "$SCRATCH/staging/B" >/dev/null 2>&1)
	cp -a "$SCRATCH/run" "$SCRATCH/withb"
	mkdir -p "$SCRATCH/empty"; cp "$base/wanctl.json" "$SCRATCH/empty/"
	sites_total=0
	for verb in deploy-first deploy rollback rollback-prev gc status list releases verify-b; do
		case $verb in deploy-first) FROMDIR=$SCRATCH/empty ;; deploy) FROMDIR=$base ;; *) FROMDIR=$SCRATCH/withb ;; esac
		fresh
		env=(FAILMALLOC_RANGES="$SCRATCH/ranges")
		(cd "$SCRATCH/run" && env "${env[@]}" FAILMALLOC_SITES=$SCRATCH/sites LD_PRELOAD=$SHIM \
			$W ${CMD[$verb]} >/dev/null 2>&1) || true
		n=$(grep -c . "$SCRATCH/sites")
		sites_total=$((sites_total + n))
		step=$(( n / SITE_SAMPLE )); [ $step -ge 1 ] || step=1
		for at in $(awk -v s=$step 'NR % s == 0 || s == 1 { print $1 }' "$SCRATCH/sites"); do
			for mode in once FAILMALLOC_PERSIST=1; do
				try $verb "$at" $mode "${env[@]}"
			done
		done
	done
	echo "core allocation sites: $sites_total"
	FROMDIR=$base
fi
# A small address-space limit: a clean error or success, never a crash.
fresh
rc=0
(cd "$SCRATCH/run" && ulimit -v 200000 && $W ${CMD[deploy]} >/dev/null 2>"$SCRATCH/err") || rc=$?
[ $rc -lt 128 ] && ok || bad "ulimit -v 200000: crashed (exit $rc)"
echo "allocation points tried: $tried, crashes: $crashes"
wt_done
