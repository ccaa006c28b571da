#!/bin/bash
# Monitor benchmarks (issue 6):
#  1. CPU time per sample with two deployed models, scrub off: the monitor
#     runs with a short interval for N samples; utime+stime from
#     /proc/<pid>/stat over those samples, divided by N, expressed as the
#     share of one core at a 10 s interval (target < 1%).
#  2. /metrics latency with >= 100 series (8 fake GPUs through the NVML
#     stand-in), measured by curl's time_total over R requests on one
#     connection each (target < 5 ms).
# Usage: bench/bench_monitor.sh [BUILD_DIR] (default build). Env: N (samples,
# 50), R (requests, 200).
set -eu
B=${1:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
W=$B/wanctl
MKF=$B/tests/mkfixture
N=${N:-50}
R=${R:-200}
S=$(mktemp -d "${TMPDIR:-/tmp}/bench_monitor.XXXXXX")
MPID=
cleanup() { [ -n "$MPID" ] && kill "$MPID" 2>/dev/null; rm -rf "$S"; }
trap cleanup EXIT
export WANCTL_NO_FSYNC=1 WANCTL_NVML_LIB=$B/tests/libfake_nvml.so FAKE_NVML_GPUS=8

cd "$S"
jq -n '{source_models_path: "staging", target_models_path: "production",
	backup_path: "backups", backup: {enabled: false},
	monitoring: {interval_seconds: 10, scrub_mb_per_s: 0}}' >wanctl.json
for m in t2v-1.3B ti2v-5B; do
	"$MKF" "staging/$m" $m >/dev/null
	"$W" -q deploy $m
done

interval=0.1
"$W" monitor run --interval $interval --listen 127.0.0.1:0 2>"$S/log" &
MPID=$!
URL=
for _ in $(seq 100); do
	URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$S/log" | head -1)
	[ -n "$URL" ] && break
	sleep 0.1
done
[ -n "$URL" ] || { cat "$S/log" >&2; exit 1; }
tick=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$MPID/stat"; }
samples() { curl -s "$URL/metrics" | awk '$1 == "wanctl_monitor_samples_total" { print $2 }'; }
sleep 0.5
s0=$(samples); c0=$(cpu)
while [ $(( $(samples) - s0 )) -lt "$N" ]; do sleep 0.2; done
c1=$(cpu); s1=$(samples)
series=$(curl -s "$URL/metrics" | grep -vc '^#')
awk -v c=$((c1 - c0)) -v n=$((s1 - s0)) -v t="$tick" 'BEGIN {
	per = c / t / n;
	printf "monitor: %d samples, CPU %.2f ms per sample (2 models, scrub off)\n", n, per * 1000;
	printf "monitor: %.4f%% of one core at a 10 s interval (target < 1%%)\n", per / 10 * 100 }'
echo "metrics: $series series"
# time_total: connect to last byte, as a scraper sees it; the server's
# share is from the connection to the first byte (accept latency on a
# loaded machine is the scheduler's, not the monitor's).
for _ in $(seq "$R"); do
	curl -s -o /dev/null -w '%{time_total} %{time_connect} %{time_starttransfer}\n' "$URL/metrics"
done >"$S/lat"
stats() { sort -n | awk -v what="$1" '{ v[NR] = $1 } END {
	printf "metrics: %s median %.2f ms, p99 %.2f ms, max %.2f ms over %d requests\n",
		what, v[int(NR / 2)] * 1000, v[int(NR * 0.99)] * 1000, v[NR] * 1000, NR }'; }
awk '{ print $1 }' "$S/lat" | stats "latency (target < 5 ms)"
awk '{ print $3 - $2 }' "$S/lat" | stats "server time, connected to first byte"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
