#!/bin/bash
# Backup benchmarks (issue 5), against what users would otherwise run:
#   backup:  wanctl backup create      vs  tar -cf - DIR | zstd -T0 -3
#   restore: wanctl backup restore --to vs zstd -d | tar -x
# on 1. the bf16 fixture (mkfixture safetensors, 2 shards of SHARD bytes:
# pseudo-random bf16 with |x| in [2^-8, 2^-4)), 2. fp32 weights (2 shards of
# SHARD bytes, Gaussian values, sd 0.02, written by a helper compiled here),
# 3. a second bf16 release that shares every file but one shard with the
# first (only the new files' cost). Every timing includes a final `sync`;
# page caches are dropped before each timed run when permitted. Restores
# are checked byte for byte.
# Usage: bench/bench_backup.sh [BUILD_DIR] (default build). Env: SHARD
# (bytes per shard, default 1 GiB), LEVEL (default 3), KEEP=1 keeps the
# scratch folder.
set -eu
B=${1:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
W=$B/wanctl
MKF=$B/tests/mkfixture
SHARD=${SHARD:-1073741824}
LEVEL=${LEVEL:-3}
S=$(mktemp -d "${TMPDIR:-/var/tmp}/bench_backup.XXXXXX")
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$S"; }
trap cleanup EXIT
cd "$S"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
# timed CMD: runs `CMD; sync` in bash after dropping caches; sets WALL,
# CPU (user + system seconds of the whole pipeline) and RSS (the largest
# peak resident set of its processes, MiB).
timed() {
	drop
	/usr/bin/time -f '%e %U %S %M' -o "$S/time.out" bash -c "$1; sync"
	read -r WALL u s rss <"$S/time.out"
	CPU=$(echo "$u + $s" | bc -l)
	RSS=$((rss / 1024))
}
secs() { echo "$2 - $1" | bc -l; }
mbs() { echo "$1 / 1048576 / $2" | bc -l; }
fmt() { printf '%.2f' "$1"; }
fmt3() { printf '%.3f' "$1"; }

# fp32 weights: N floats ~ N(0, 0.02) (Irwin-Hall of 4 uniforms).
cat >gen_f32.c <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
	uint64_t n = strtoull(argv[2], NULL, 10), s = 0x9e3779b97f4a7c15ull ^ strtoull(argv[3], NULL, 10);
	char hdr[256];
	int len = snprintf(hdr, sizeof(hdr), "{\"w\":{\"dtype\":\"F32\",\"shape\":[%llu],"
			   "\"data_offsets\":[0,%llu]}}", (unsigned long long)n,
			   (unsigned long long)(4 * n));
	while (len % 8)
		hdr[len++] = ' ';
	FILE *f = fopen(argv[1], "wb");
	uint64_t l = (uint64_t)len;
	fwrite(&l, 8, 1, f);
	fwrite(hdr, 1, (size_t)len, f);
	static float buf[1 << 16];
	for (uint64_t i = 0; i < n;) {
		size_t k = 0;
		for (; k < (1 << 16) && i < n; k++, i++) {
			float u = 0;
			for (int j = 0; j < 4; j++) {
				s ^= s << 13; s ^= s >> 7; s ^= s << 17;
				u += (float)(s >> 40) / 16777216.0f;
			}
			buf[k] = (u - 2.0f) * 0.02f * 1.7320508f;
		}
		fwrite(buf, 4, k, f);
	}
	return fclose(f) != 0;
}
EOF
cc -O2 -o gen_f32 gen_f32.c

jq -n --argjson lvl "$LEVEL" '{source_models_path: "staging", target_models_path: "production",
	backup_path: "backups", validation: {enabled: false},
	backup: {compression_level: $lvl, before_deploy: false},
	models: {bf16: {spec: "safetensors", source: "bf16"}, f32: {spec: "safetensors", source: "f32"}}}' >wanctl.json

echo "# setting up fixtures ($SHARD bytes per shard)" >&2
"$MKF" staging/bf16 safetensors --shard-bytes "$SHARD" >/dev/null
mkdir -p staging/f32
for i in 1 2; do ./gen_f32 "staging/f32/model-0000$i-of-00002.safetensors" $((SHARD / 4)) $i; done
WANCTL_NO_FSYNC=1 "$W" -q deploy bf16 f32 --no-backup

ROWS=()
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
row() { ROWS+=("$*"); }

bench_one() { # MODEL LABEL
	local m=$1 label=$2 tw cw rw tt ct raw stored tarsz rel tr cr rr tx cx
	raw=$(du -sb --apparent-size "staging/$m" | cut -f1)
	rel=$(basename "$(readlink "production/$m")")
	timed "'$W' -q --json backup create '$m' >'$m.create.json'"; tw=$WALL; cw=$CPU; rw=$RSS
	stored=$(jq '.snapshots[0].stored' "$m.create.json")
	timed "tar -cf - -C staging '$m' | zstd -q -T0 -$LEVEL -o '$m.tar.zst'"; tt=$WALL; ct=$CPU
	tarsz=$(stat -c %s "$m.tar.zst")
	row "| $label: backup | $(fmt "$tw") s, $(fmt "$(mbs "$raw" "$tw")") MiB/s, CPU $(fmt "$cw") s, RSS $rw MiB | $(fmt "$tt") s, $(fmt "$(mbs "$raw" "$tt")") MiB/s, CPU $(fmt "$ct") s | $(fmt3 "$(echo "$tt / $tw" | bc -l)")x the throughput (CPU time $(fmt3 "$(echo "$cw / $ct" | bc -l)")x) |"
	row "| $label: size | $stored ($(fmt "$(echo "100 * $stored / $raw" | bc -l)")%) | $tarsz ($(fmt "$(echo "100 * $tarsz / $raw" | bc -l)")%) | $(fmt3 "$(echo "$stored / $tarsz" | bc -l)")x the size |"
	timed "'$W' -q backup restore '$m' --release '$rel' --to 'r-$m'"; tr=$WALL; cr=$CPU; rr=$RSS
	mkdir -p "x-$m"
	timed "zstd -q -d -T0 -c '$m.tar.zst' | tar -xf - -C 'x-$m'"; tx=$WALL; cx=$CPU
	row "| $label: restore | $(fmt "$tr") s, $(fmt "$(mbs "$raw" "$tr")") MiB/s, CPU $(fmt "$cr") s, RSS $rr MiB | $(fmt "$tx") s, $(fmt "$(mbs "$raw" "$tx")") MiB/s, CPU $(fmt "$cx") s | $(fmt3 "$(echo "$tx / $tr" | bc -l)")x the throughput (CPU time $(fmt3 "$(echo "$cr / $cx" | bc -l)")x) |"
	diff -r "r-$m" "staging/$m" >/dev/null || { echo "restore of $m differs" >&2; exit 1; }
	diff -r "x-$m/$m" "staging/$m" >/dev/null || { echo "tar restore of $m differs" >&2; exit 1; }
	rm -rf "r-$m" "x-$m" "$m.tar.zst"
}

bench_one bf16 "bf16 fixture 2x$((SHARD >> 20)) MiB"
bench_one f32 "fp32 Gaussian 2x$((SHARD >> 20)) MiB"

# A second bf16 release: only the last shard differs.
rm -rf staging/bf16
"$MKF" staging/bf16 safetensors --shard-bytes "$SHARD" --variant 1 >/dev/null
WANCTL_NO_FSYNC=1 "$W" -q deploy bf16 --no-backup
timed "'$W' -q --json backup create bf16 >bf16.second.json"; tw=$WALL; cw=$CPU
timed "tar -cf - -C staging bf16 | zstd -q -T0 -$LEVEL -o second.tar.zst"; tt=$WALL; ct=$CPU
read -r nw br sw <<<"$(jq -r '.snapshots[0] | "\(.objects_written) \(.bytes_read) \(.stored_written)"' bf16.second.json)"
row "| second bf16 release (1 of 2 shards new): backup | $(fmt "$tw") s, CPU $(fmt "$cw") s; wrote $nw new objects ($br bytes read, $sw stored) | $(fmt "$tt") s, CPU $(fmt "$ct") s; $(stat -c %s second.tar.zst) bytes | $(fmt3 "$(echo "$tt / $tw" | bc -l)")x the throughput (CPU time $(fmt3 "$(echo "$cw / $ct" | bc -l)")x) |"
"$W" -q backup verify

echo
echo "machine: $(nproc) CPUs, load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg), $(lscpu | sed -n 's/^Model name: *//p' | head -1), zstd $(zstd --version | sed 's/.*v\([0-9.]*\).*/\1/'), level $LEVEL"
echo
echo "| run | wanctl | tar + zstd -T0 -$LEVEL | wanctl vs tar+zstd |"
echo "| --- | --- | --- | --- |"
for r in "${ROWS[@]}"; do echo "$r"; done
