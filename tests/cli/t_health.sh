#!/bin/bash
# `monitor history` and `health` on samples written straight into the
# state database, with the trend figures checked against a hand
# computation of the least-squares slope:
#
#   disk free of /srv/models at now-3h, -2h, -1h, now: 1000, 990, 985, 970 GB
#     x = 0 1 2 3 (mean 1.5), y mean 986.25; Sxx = 5;
#     Sxy = -1.5*13.75 - 0.5*3.75 + 0.5*(-1.25) + 1.5*(-16.25) = -47.5
#     slope = -47.5 / 5 = -9.5 GB/h; full in 970 / 9.5 = 102.105263 h
#   memory used ratio at now-2h, -1h, now: 0.5 0.6 0.7 -> +0.1 per hour
#   probe latency of model m at now-1h, now: 10 s, 12 s -> +2 s per hour
T=t_health
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1
export WANCTL_NVML_LIB=/nonexistent/libnvidia-ml.so.1

D=$SCRATCH/d
M=t2v-1.3B
wt_config "$D" '{"backup":{"enabled":false}}'
cd "$D"
"$MKF" "$D/staging/$M" $M >/dev/null
run 0 "$W" -q deploy $M
DB=$D/production/.wanctl/state.db
check "the state database exists" test -f "$DB"

now=$(date +%s)
{
	echo "BEGIN;"
	i=0
	for v in 1000 990 985 970; do
		echo "INSERT INTO samples VALUES($((now - (3 - i) * 3600)), 'wanctl_disk_free_bytes', '{\"path\":\"/srv/models\"}', ${v}000000000);"
		i=$((i + 1))
	done
	i=0
	for v in 0.5 0.6 0.7; do
		echo "INSERT INTO samples VALUES($((now - (2 - i) * 3600)), 'wanctl_memory_used_ratio', '', $v);"
		i=$((i + 1))
	done
	echo "INSERT INTO samples VALUES($((now - 3600)), 'wanctl_probe_latency_seconds', '{\"model\":\"m\"}', 10);"
	echo "INSERT INTO samples VALUES($now, 'wanctl_probe_latency_seconds', '{\"model\":\"m\"}', 12);"
	# Older than the window: must not count.
	echo "INSERT INTO samples VALUES($((now - 30 * 3600)), 'wanctl_disk_free_bytes', '{\"path\":\"/srv/models\"}', 5);"
	echo "COMMIT;"
} | sqlite3 "$DB"

near() { # jq filter, expected, tolerance
	local got
	got=$(jq -r "$1" "$SCRATCH/out")
	if awk -v g="$got" -v e="$2" -v t="$3" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(g != "" && d <= t) }'; then
		ok
	else
		bad "jq '$1' gave '$got', expected $2 +- $3"
	fi
}

# --- monitor history ---------------------------------------------------------
run 0 "$W" --json monitor history --metric wanctl_disk_free_bytes --hours 4
jq_is '.series | length' 1
jq_is '.series[0].labels.path' /srv/models
jq_is '.series[0].count' 4
near '.series[0].min' 970000000000 0.5
near '.series[0].max' 1000000000000 0.5
near '.series[0].avg' 986250000000 0.5
near '.series[0].last' 970000000000 0.5
jq_is '.series[0].points | length' 4
run 0 "$W" --json monitor history --metric wanctl_disk_free_bytes --hours 48
jq_is '.series[0].count' 5
run 0 "$W" --json monitor history --model m --hours 4
jq_is '[.series[].metric] | join(",")' wanctl_probe_latency_seconds
run 0 "$W" --json monitor history --hours 4
jq_is '[.series[].metric] | join(",")' wanctl_disk_free_bytes,wanctl_memory_used_ratio
run 0 "$W" monitor history --metric wanctl_disk_free_bytes --hours 4
out_has 'wanctl_disk_free_bytes{path="/srv/models"}'
out_has "█"
out_has "▁"
run 0 "$W" monitor history --model nosuch --hours 1
out_has "no samples"
run 2 "$W" monitor history --hours -1

# --- health: trends ---------------------------------------------------------
run 0 "$W" --json health --hours 4
jq_is .status ok
jq_is '.models[0].model' $M
jq_is '.models[0].available' true
jq_is '.models[0].release | test("^[0-9a-f]{16}$")' true
jq_is '.gpus.count' 0
jq_is '.gpus.reason | startswith("no GPU visible")' true
jq_is '.trends.disk | length' 1
jq_is '.trends.disk[0].path' /srv/models
jq_is '.trends.disk[0].samples' 4
near '.trends.disk[0].slope_bytes_per_hour' -9500000000 1
near '.trends.disk[0].hours_until_full' 102.105263 0.000001
near '.trends.memory.slope_ratio_per_hour' 0.1 0.0000001
near '.trends.memory.used_ratio' 0.7 0.0000001
jq_is '.trends.probe[0].model' m
near '.trends.probe[0].slope_seconds_per_hour' 2 0.0000001
jq_is '.system.memory.total_bytes > 0' true
jq_is '.alerts | length' 0

run 0 "$W" health --hours 4
out_has "status: ok"
out_has "full in 102.1 h"
out_has "no GPU visible"

# --output-report writes the same document.
run 0 "$W" health --hours 4 --output-report "$SCRATCH/report.json"
check "report written" jq -e '.trends.disk[0].path == "/srv/models"' "$SCRATCH/report.json" >/dev/null

# A firing warning makes it degraded; the alert is listed.
sqlite3 "$DB" "INSERT INTO alerts(name, labels, state, severity, value, summary, active_since, fired_at)
	VALUES('DiskSpaceLow', '{\"path\":\"/srv/models\"}', 'firing', 'warning', 0.05, 'disk low', $now, $now);"
run 0 "$W" --json health --hours 4
jq_is .status degraded
jq_is '.alerts[0].name' DiskSpaceLow
jq_is '.alerts[0].labels.path' /srv/models
run 1 "$W" --json monitor status
jq_is .running false
jq_is '.alerts[0].name' DiskSpaceLow

# A model no longer deployed is not watched, unless named; named, it is
# unavailable and fails the report (exit 4).
rm "$D/production/$M"
run 0 "$W" --json health --hours 4
jq_is '.models | length' 0
run 4 "$W" --json health --hours 4 --models $M
jq_is .status failed
jq_is '.models[0].available' false
jq_is '.models[0].reason | contains("not deployed")' true

wt_done
