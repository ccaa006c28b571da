#!/bin/bash
# Cost of the tensor scan during ingest (issue 4: "the tensor scan adds
# under 10% to ingest time"): the same deploy of a BF16 fixture with
# validation.scan_tensors on and off, side by side with hyperfine, caches
# dropped before each run when root (NODROP=1: warm cache; with
# WANCTL_NO_FSYNC=1 the run is CPU-bound, the worst case for the scan).
# Prints the ratio.
#   bench/bench_scan.sh [BUILD] [SHARD_BYTES]
set -eu
B=$(cd "${1:-build}" && pwd)
SIZE=${2:-536870912}
W=$B/wanctl
command -v hyperfine >/dev/null || { echo "hyperfine missing (make deps)"; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/bench_scan.XXXXXX")
trap 'rm -rf "$T"' EXIT
"$B/tests/mkfixture" "$T/staging/m" t2v-1.3B --shard-bytes "$SIZE" >/dev/null
for s in true false; do
	cat > "$T/$s.json" <<JSON
{"source_models_path":"$T/staging","target_models_path":"$T/prod-$s","backup_path":"$T/b",
 "backup":{"enabled":false},"validation":{"scan_tensors":$s}}
JSON
done
drop=""
[ "$(id -u)" -eq 0 ] && [ -z "${NODROP:-}" ] && drop="sync; echo 3 > /proc/sys/vm/drop_caches;"
hyperfine -N --warmup 1 --runs 5 --export-json "$T/h.json" \
	--prepare "rm -rf $T/prod-true; $drop" -n scan "$W --config $T/true.json deploy m --rehash" \
	--prepare "rm -rf $T/prod-false; $drop" -n noscan "$W --config $T/false.json deploy m --rehash" \
	>/dev/null 2>&1 || hyperfine --warmup 1 --runs 5 --export-json "$T/h.json" \
	--prepare "rm -rf $T/prod-true; $drop" -n scan "$W --config $T/true.json deploy m --rehash" \
	--prepare "rm -rf $T/prod-false; $drop" -n noscan "$W --config $T/false.json deploy m --rehash" >/dev/null
jq -r --arg size "$SIZE" '
	(.results[] | select(.command == "scan") | .mean) as $a |
	(.results[] | select(.command == "noscan") | .mean) as $b |
	"deploy of a \($size|tonumber/1048576|floor) MiB BF16 DiT: scan \($a*1000|floor) ms, no scan \($b*1000|floor) ms, ratio \(($a/$b*1000|floor)/1000)"' "$T/h.json"
