#!/bin/bash
# Deploy benchmarks against the tools users would otherwise use (run by
# hand, not in `make check`):
#   1. deploy of a 2 x 1 GiB model vs `cp -a` + `sync` of the same tree,
#      and vs `cp -a` + `sync` + `sha256sum` (what a careful operator does);
#   2. redeploy of the unchanged tree (stat cache: no data read);
#   3. rollback of a 1 GiB and a 4 GiB model (one rename, whatever the size);
#   4. peak RSS of the deploy (must stay under 100 MiB: files are streamed).
# Side by side in one run, page cache dropped before every cold run when
# root. Prints the figures and the ratios.
#
# usage: bench/bench_deploy.sh [WORKDIR]     (needs ~19 GB free there)
# env:   WANCTL (default build/wanctl), MKFIXTURE (build/tests/mkfixture),
#        SHARD_MIB (default 1024: the deploy model is 2 x SHARD_MIB MiB),
#        RB_MODELS (default "r1:536870912 r4:2147483648": bytes per shard
#        of the rollback models r1 and r4, 2 shards each), RUNS (cold runs per
#        command, default 3), KEEP=1 keeps WORKDIR.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${WANCTL:-$ROOT/build/wanctl}
MKF=${MKFIXTURE:-$(dirname "$W")/tests/mkfixture}
WORK=${1:-/var/tmp/wanctl-bench}
SHARD_MIB=${SHARD_MIB:-1024}
RB_MODELS=${RB_MODELS:-r1:536870912 r4:2147483648}
RUNS=${RUNS:-3}

for t in "$W" "$MKF"; do [ -x "$t" ] || { echo "bench: '$t' not built (make)" >&2; exit 2; }; done
for t in hyperfine jq /usr/bin/time sha256sum; do
	command -v "$t" >/dev/null || { echo "bench: needs $t" >&2; exit 2; }
done
mkdir -p "$WORK"
# staging + store + cp copy of the deploy model, then the rollback models
# (2 shards staged, 3 stored each), and 1 GiB of room.
need_kb=$(( SHARD_MIB * 1024 * 6 + 1048576 ))
for m in $RB_MODELS; do need_kb=$(( need_kb + ${m#*:} / 1024 * 5 )); done
avail_kb=$(df -k --output=avail "$WORK" | tail -1)
if [ "$avail_kb" -lt "$need_kb" ]; then
	echo "bench: needs $((need_kb / 1048576)) GiB free in $WORK, $((avail_kb / 1048576)) GiB there" >&2
	echo "bench: try a smaller SHARD_MIB= / RB_MODELS= or another WORKDIR" >&2
	exit 2
fi
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
	DROP='sync; echo 3 > /proc/sys/vm/drop_caches'
	CACHE="page cache dropped before each cold run"
else
	DROP='sync'
	CACHE="NOT root: page cache NOT dropped (cold figures are optimistic)"
fi

cat >wanctl.json <<'JSON'
{"source_models_path":"staging","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false},
 "models":{"big":{"spec":"safetensors","source":"big"},
           "r1":{"spec":"safetensors","source":"r1"},
           "r4":{"spec":"safetensors","source":"r4"}}}
JSON
cat >novalid.json <<'JSON'
{"source_models_path":"staging","target_models_path":"production","backup_path":"backups",
 "backup":{"before_deploy":false},"validation":{"enabled":false},
 "models":{"big":{"spec":"safetensors","source":"big"}}}
JSON

echo "== wanctl deploy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
	"$(free -g | awk '/^Mem:/ { print $2 }') GiB RAM; $WORK on" \
	"$(findmnt -n -o FSTYPE,SOURCE --target "$WORK")"
echo "$CACHE; $RUNS cold runs each; wanctl $("$W" --version 2>/dev/null | head -1)"
"$MKF" staging/big safetensors --shard-bytes $((SHARD_MIB * 1048576)) >/dev/null
SIZE=$(du -sb staging/big | cut -f1)
echo "model: $(find staging/big -type f | wc -l) files, $((SIZE / 1048576)) MiB (2 shards)"
echo

J=$WORK/json
mkdir -p "$J"
hf() { # name, hyperfine args...
	local name=$1; shift
	hyperfine --style none --export-json "$J/$name.json" "$@" >"$J/$name.txt" 2>&1 ||
		{ cat "$J/$name.txt" >&2; exit 1; }
}
mean() { jq '.results[0].mean' "$J/$1.json"; }
sd() { jq '.results[0].stddev' "$J/$1.json"; }
# MiB/s of a mean time over the model
rate() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.0f", s / 1048576 / t }'; }
row() { printf '%-44s %8.3f s  ± %6.3f  %6s MiB/s\n' "$1" "$(mean "$2")" "$(sd "$2")" "$(rate "$(mean "$2")")"; }

# 1. Cold copies.
hf cp --runs "$RUNS" --prepare "rm -rf dst; $DROP" 'cp -a staging/big dst && sync'
hf cpsha --runs "$RUNS" --prepare "rm -rf dst; $DROP" \
	'cp -a staging/big dst && sync && sha256sum dst/* >/dev/null'
hf deploy --runs "$RUNS" --prepare "rm -rf production; $DROP" "$W -q deploy big"
hf deploy_nv --runs "$RUNS" --prepare "rm -rf production; $DROP" \
	"$W -q --config novalid.json deploy big"
# 2. Redeploy of the unchanged tree (production and stat cache in place).
rm -rf production dst; "$W" -q deploy big
hf redeploy --warmup 1 --runs 10 "$W -q deploy big"
hf redeploy_cold --runs "$RUNS" --prepare "$DROP" "$W -q deploy big"
# Peak RSS of a cold deploy.
rm -rf production; eval "$DROP"
/usr/bin/time -v "$W" -q deploy big 2>"$J/rss.txt" >/dev/null
RSS_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$J/rss.txt")
rm -rf production

# 3. Rollback of a 1 GiB and a 4 GiB model: two releases each (the
# variant differs in its last shard), flipped back and forth.
for m in $RB_MODELS; do
	name=${m%%:*} sb=${m#*:}
	"$MKF" "staging/$name" safetensors --shard-bytes "$sb" >/dev/null
	"$W" -q deploy "$name"
	rm -rf "staging/$name"
	"$MKF" "staging/$name" safetensors --shard-bytes "$sb" --variant 1 >/dev/null
	"$W" -q deploy "$name"
	rm -rf "staging/$name"
	hf "rb_$name" --warmup 1 --runs 20 "$W -q rollback --model $name"
	hf "rb_${name}_cold" --runs "$RUNS" --prepare "$DROP" "$W -q rollback --model $name"
done
R1_BYTES=$(jq '.totals.bytes' production/.wanctl/releases/r1/"$(basename "$(readlink production/r1)")".json)
R4_BYTES=$(jq '.totals.bytes' production/.wanctl/releases/r4/"$(basename "$(readlink production/r4)")".json)

echo "-- cold copy of the model (mean of $RUNS)"
row "cp -a + sync" cp
row "cp -a + sync + sha256sum" cpsha
row "wanctl deploy (validation on)" deploy
row "wanctl deploy (validation off)" deploy_nv
echo "-- unchanged tree"
printf '%-44s %8.3f s  ± %6.3f\n' "wanctl deploy again (warm)" "$(mean redeploy)" "$(sd redeploy)"
printf '%-44s %8.3f s  ± %6.3f\n' "wanctl deploy again (cold cache)" "$(mean redeploy_cold)" "$(sd redeploy_cold)"
echo "-- rollback"
printf '%-44s %8.3f s  ± %6.3f\n' "rollback $((R1_BYTES / 1048576)) MiB model (warm)" "$(mean rb_r1)" "$(sd rb_r1)"
printf '%-44s %8.3f s  ± %6.3f\n' "rollback $((R1_BYTES / 1048576)) MiB model (cold cache)" "$(mean rb_r1_cold)" "$(sd rb_r1_cold)"
printf '%-44s %8.3f s  ± %6.3f\n' "rollback $((R4_BYTES / 1048576)) MiB model (warm)" "$(mean rb_r4)" "$(sd rb_r4)"
printf '%-44s %8.3f s  ± %6.3f\n' "rollback $((R4_BYTES / 1048576)) MiB model (cold cache)" "$(mean rb_r4_cold)" "$(sd rb_r4_cold)"
echo "-- memory"
echo "peak RSS of a cold deploy: $((RSS_KB / 1024)) MiB (limit 100 MiB)"
echo
echo "-- ratios (target)"
ratio() { awk -v a="$(mean "$1")" -v b="$(mean "$2")" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-44s %6s   (<= 1.30)\n' "deploy / (cp -a + sync)" "$(ratio deploy cp)"
printf '%-44s %6s   (<  0.50)\n' "deploy / (cp -a + sync + sha256sum)" "$(ratio deploy cpsha)"
printf '%-44s %6s\n' "deploy, validation off / (cp -a + sync)" "$(ratio deploy_nv cp)"
printf '%-44s %6s\n' "deploy, validation off / (cp+sync+sha256)" "$(ratio deploy_nv cpsha)"
awk -v a="$(mean redeploy)" -v b="$(mean rb_r1)" -v c="$(mean rb_r4)" -v r="$RSS_KB" 'BEGIN {
	printf "%-44s %6s   (< 0.2 s)\n", "redeploy unchanged", (a < 0.2 ? "ok" : "MISSED")
	printf "%-44s %6s   (< 0.2 s)\n", "rollback 1 GiB and 4 GiB", (b < 0.2 && c < 0.2 ? "ok" : "MISSED")
	printf "%-44s %6s   (< 100 MiB)\n", "peak RSS", (r < 102400 ? "ok" : "MISSED") }'
