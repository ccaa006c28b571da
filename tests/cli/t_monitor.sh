#!/bin/bash
# The monitor against a deployed model: `monitor run` on loopback with a
# 1 s interval; /metrics passes promtool; /healthz and /readyz answer
# 200; a corrupted byte in production fires ModelIntegrityMismatch
# through an exec handler (alert JSON on stdin) and turns /readyz 503;
# restoring the byte resolves it once. Also: start/stop/status with the
# pid file, a second monitor refused, SIGHUP reload, SIGTERM exit, --once,
# --models, the fake NVML library, read-only HTTP.
T=t_monitor
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

D=$SCRATCH/d
ALERTS=$SCRATCH/alerts
mkdir -p "$ALERTS"
M=t2v-1.3B
wt_config "$D" "$(jq -n --arg dir "$ALERTS" '{
	backup: {enabled: false},
	monitoring: {interval_seconds: 1, scrub_mb_per_s: 20,
		alert_handlers: [{type: "log"},
			{type: "exec", timeout_seconds: 5,
			 command: ("cat > " + $dir + "/alert.$$.$(date +%s%N).json")}]}}')"
cd "$D"
P=$D/production
"$MKF" "$D/staging/$M" $M >/dev/null
run 0 "$W" -q --json deploy $M
DEP=$(jq -r .id "$SCRATCH/out")
REL=$(current "$P" $M)

export WANCTL_NVML_LIB=$WB/tests/libfake_nvml.so FAKE_NVML_GPUS=2 FAKE_NVML_TEMP_1=50

# --- --once --------------------------------------------------------------
run 0 "$W" --json monitor run --once
jq_is '.models[0].model' $M
jq_is '.models[0].release' "$REL"
jq_is '.models[0].available' true
jq_is '.models[0].integrity_ok' true
jq_is '.models[0].scrub.checked' true
jq_is '.gpus.count' 2
jq_is '.gpus.devices[1].temperature_celsius' 50
jq_is '.ready' true
run 0 "$W" --json monitor run --once --models nosuch
jq_is '[.models[].model] | join(",")' nosuch
jq_is '.models[0].available' false
jq_is '.ready' false
run 0 env -u WANCTL_NVML_LIB WANCTL_NVML_LIB=/nonexistent/libnvidia-ml.so.1 \
	"$W" --json monitor run --once
jq_is '.gpus.count' 0
jq_is '.gpus.reason' "no GPU visible: /nonexistent/libnvidia-ml.so.1 not found"
run 0 "$W" --json monitor run --once --deployment-id "$DEP"
jq_is '[.models[].model] | join(",")' $M
run 1 "$W" monitor run --once --deployment-id dep-nosuch
err_has "deployment 'dep-nosuch' not found"
# GPU figures feed the rules: a hot GPU 1 fires a for-0 rule with its label.
jq '.monitoring.alert_rules = [{name: "GpuHot", metric: "wanctl_gpu_temperature_celsius",
	comparison: ">", threshold: 85, for: 0, severity: "CRITICAL",
	summary: "GPU {labels.gpu} at {value} C"}]' wanctl.json >gpu.json
run 0 env FAKE_NVML_TEMP_1=91 "$W" --config gpu.json --json monitor run --once
jq_is '[.alerts[] | select(.name == "GpuHot") | .labels.gpu] | join(",")' 1
jq_is '.alerts[] | select(.name == "GpuHot") | .summary' "GPU 1 at 91 C"
run 2 "$W" monitor run --interval 0

# The smoke probe: placeholders filled, latency measured, failure seen.
jq --arg out "$SCRATCH/probe.args" '.validation.inference_command =
	("sleep 0.2; echo {model} {ckpt_dir} {output} > " + $out) |
	.monitoring.probe_interval_seconds = 60' wanctl.json >probe.json
run 0 "$W" --config probe.json --json monitor run --once
jq_is '.models[0].probe.ok' true
jq_is '.models[0].probe.latency_seconds >= 0.2' true
check "probe placeholders filled" grep -q "^$M $P/$M $P/.wanctl/tmp/probe-$M-" "$SCRATCH/probe.args"
jq '.validation.inference_command = "exit 3"' probe.json >probe-fail.json
run 0 "$W" --config probe-fail.json --json monitor run --once
jq_is '.models[0].probe.ok' false
jq '.validation.inference_command = "sleep 5" | .validation.inference_timeout_seconds = 1' \
	probe.json >probe-slow.json
t0=$(date +%s%N)
run 0 "$W" --config probe-slow.json --json monitor run --once
check "probe killed at its timeout" test $((($(date +%s%N) - t0) / 1000000)) -lt 4000
jq_is '.models[0].probe.ok' false
run 2 "$W" monitor frobnicate

# --- monitor run in the foreground ------------------------------------------
LOG=$SCRATCH/monitor.log
FAKE_NVML_XID_0=79 "$W" monitor run --listen 127.0.0.1:0 >"$SCRATCH/run.out" 2>"$LOG" &
MPID=$!
WT_CLEANUP+=("kill -9 $MPID 2>/dev/null")
URL=
for _ in $(seq 100); do
	URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -1)
	[ -n "$URL" ] && break
	sleep 0.1
done
check "monitor run logs its address" test -n "$URL"
[ -n "$URL" ] || { cat "$LOG" >&2; wt_done; exit 1; }

# HTTP: status <code> for a GET of <path>.
code() { curl -s -o "$SCRATCH/body" -w '%{http_code}' --max-time 5 "$URL$1"; }
wait_for() { # seconds, command...: poll until the command succeeds
	local n=$(($1 * 10)); shift
	while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}
check "/healthz 200" test "$(code /healthz)" = 200
check "/readyz 200" test "$(code /readyz)" = 200
# The first sample may still be in flight on a loaded machine: wait for it.
metrics_ready() {
	[ "$(code /metrics)" = 200 ] && grep -q '^wanctl_model_available{' "$SCRATCH/body" &&
		grep -q '^wanctl_gpu_memory_used_bytes{' "$SCRATCH/body"
}
check "/metrics 200 with a first sample" wait_for 60 metrics_ready
check "promtool check metrics" promtool check metrics <"$SCRATCH/body"
check "wanctl_model_available of the model is 1" \
	grep -qx "wanctl_model_available{model=\"$M\"} 1" "$SCRATCH/body"
check "wanctl_model_release_info names the release" \
	grep -qx "wanctl_model_release_info{model=\"$M\",release=\"$REL\"} 1" "$SCRATCH/body"
check "wanctl_model_integrity_ok is 1" \
	grep -qx "wanctl_model_integrity_ok{model=\"$M\"} 1" "$SCRATCH/body"
check "disk free of production" grep -q "^wanctl_disk_free_bytes{path=\"$P\"} [0-9]" "$SCRATCH/body"
check "GPU memory from NVML" \
	grep -qx 'wanctl_gpu_memory_used_bytes{gpu="1"} 1073741824' "$SCRATCH/body"
check "HELP and TYPE" grep -qx '# TYPE wanctl_model_available gauge' "$SCRATCH/body"
check "an XID event of GPU 0 is counted" \
	grep -qx 'wanctl_gpu_xid_errors_total{gpu="0"} 1' "$SCRATCH/body"
check "GPU 1 had none" grep -qx 'wanctl_gpu_xid_errors_total{gpu="1"} 0' "$SCRATCH/body"
check "/api/v1/status 200" test "$(code /api/v1/status)" = 200
check "status JSON: model available" \
	test "$(jq -r '.models[0].available' "$SCRATCH/body")" = true
check "unknown path 404" test "$(code /nope)" = 404
check "POST refused (read-only)" \
	test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$URL/metrics")" = 405

# Idle clients holding connections (more than the connection limit) do
# not stall sampling; the listener serves again once they go.
HP=${URL##*:}
rows() { sqlite3 "$P/.wanctl/state.db" \
	"SELECT count(*) FROM samples WHERE metric='wanctl_model_available'"; }
before=$(rows)
FDS=()
for _ in $(seq 40); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$HP" 2>/dev/null && FDS+=("$fd") || break
done
sleep 2.5
check "sampling goes on while idle clients hold the listener" test "$(rows)" -ge $((before + 2))
for fd in "${FDS[@]}"; do exec {fd}>&-; done
check "the listener answers after the idle clients leave" wait_for 10 test "$(code /healthz)" = 200

# The pid file and a second monitor.
run 0 "$W" --json monitor status
jq_is .running true
jq_is .pid "$MPID"
run 3 "$W" monitor start --listen 127.0.0.1:0
err_has "already running (pid $MPID"
run 3 "$W" monitor run --listen 127.0.0.1:0

# A daemon that cannot listen says so through `start` (exit 1) and leaves
# no pid file behind (another state folder, the same port).
jq '.target_models_path = "production2"' wanctl.json >other.json
mkdir -p production2
run 1 "$W" --config other.json monitor start --listen "127.0.0.1:$HP"
err_has "monitor did not start: cannot listen on '127.0.0.1:$HP'"
run 1 "$W" --config other.json --json monitor status
jq_is .running false

# --- a changed byte in production -------------------------------------------
F=$P/$M/diffusion_pytorch_model.safetensors
cp "$F" "$SCRATCH/orig"
chmod u+w "$F"
printf '\xff' | dd of="$F" bs=1 seek=200 conv=notrunc 2>/dev/null
alert_file() { # STATE: the exec handler wrote that alert
	grep -l "\"ModelIntegrityMismatch\"" "$ALERTS"/*.json 2>/dev/null |
		xargs -r grep -l "\"state\":\"$1\"" | head -1 | grep -q .
}
check "ModelIntegrityMismatch fires through the exec handler" wait_for 15 alert_file firing
A=$(grep -l '"ModelIntegrityMismatch"' "$ALERTS"/*.json | xargs grep -l '"state":"firing"' | head -1)
cp "$A" "$SCRATCH/out"
jq_is .name ModelIntegrityMismatch
jq_is .state firing
jq_is .severity critical
jq_is .labels.model $M
jq_is .value 0
jq_is '.summary | contains("does not match")' true
jq_is '.starts_at | test("^20[0-9-]+T[0-9:.]+Z$")' true
jq_is .ends_at null
check "/readyz 503 while corrupted" test "$(code /readyz)" = 503
check "/readyz names the file" grep -q "diffusion_pytorch_model.safetensors" "$SCRATCH/body"
code /metrics >/dev/null
check "wanctl_model_integrity_ok is 0" \
	grep -qx "wanctl_model_integrity_ok{model=\"$M\"} 0" "$SCRATCH/body"
check "wanctl_alerts_firing is 1" grep -qx "wanctl_alerts_firing 1" "$SCRATCH/body"
run 0 "$W" --json monitor status
jq_is '[.alerts[].name] | index("ModelIntegrityMismatch") != null' true
check "the scrub logs the file" grep -q "integrity scrub: '$M/diffusion_pytorch_model.safetensors'" "$LOG"

# --- restore: resolved once ---------------------------------------------------
cat "$SCRATCH/orig" >"$F"
check "the alert resolves" wait_for 15 alert_file resolved
R=$(grep -l '"ModelIntegrityMismatch"' "$ALERTS"/*.json | xargs grep -l '"state":"resolved"' | head -1)
cp "$R" "$SCRATCH/out"
jq_is '.ends_at | test("Z$")' true
check "/readyz 200 again" wait_for 5 test "$(code /readyz)" = 200
sleep 2
check "resolved is sent once" test "$(grep -l '"ModelIntegrityMismatch"' "$ALERTS"/*.json |
	xargs grep -l '"state":"resolved"' | wc -l)" = 1
check "firing was sent once" test "$(grep -l '"ModelIntegrityMismatch"' "$ALERTS"/*.json |
	xargs grep -l '"state":"firing"' | wc -l)" = 1

# --- SIGHUP reloads, SIGTERM stops -------------------------------------------
# The reloaded configuration is the one in effect: a new rule fires.
jq '.monitoring.alert_rules = [{name: "ReloadedRule", metric: "wanctl_gpus_visible",
	comparison: ">=", threshold: 0, for: 0, severity: "INFO"}]' wanctl.json >wanctl.json.new
mv wanctl.json.new wanctl.json
kill -HUP $MPID
check "SIGHUP reloads the configuration" wait_for 5 grep -q "configuration reloaded" "$LOG"
check "a rule added by the reload fires" wait_for 5 sh -c "grep -l ReloadedRule '$ALERTS'/*.json | grep -q ."
check "still serving after the reload" test "$(code /healthz)" = 200
# A model deployed while the monitor runs is watched from the next sample.
M2=ti2v-5B
"$MKF" "$D/staging/$M2" $M2 >/dev/null
run 0 "$W" -q deploy $M2
metric_is() { code /metrics >/dev/null && grep -qx "$1" "$SCRATCH/body"; }
check "a model deployed later is watched" wait_for 10 \
	metric_is "wanctl_model_available{model=\"$M2\"} 1"
kill -TERM $MPID
rc=0
wait_for 10 sh -c "! kill -0 $MPID 2>/dev/null" || rc=1
check "SIGTERM stops the monitor" test $rc = 0
wait $MPID && rc=0 || rc=$?
check "monitor run exits 0 on SIGTERM" test $rc = 0
check "the pid file is gone" test ! -e "$P/.wanctl/monitor.pid"
run 1 "$W" monitor status
out_has "not running"
check "alert transitions were recorded" test "$(sqlite3 "$P/.wanctl/state.db" \
	"SELECT count(*) FROM alert_events WHERE name='ModelIntegrityMismatch'")" -ge 2
check "samples were recorded" test "$(sqlite3 "$P/.wanctl/state.db" \
	"SELECT count(*) FROM samples WHERE metric='wanctl_model_available'")" -ge 2

# --- start / stop in the background ------------------------------------------
run 0 "$W" --json monitor start --interval 1 --listen 127.0.0.1:0
jq_is .running true
DPID=$(jq -r .pid "$SCRATCH/out")
WT_CLEANUP+=("kill -9 $DPID 2>/dev/null")
URL=http://$(jq -r .listen "$SCRATCH/out")
check "the daemon answers /healthz" test "$(code /healthz)" = 200
check "pid file names the daemon" test "$(cat "$P/.wanctl/monitor.pid")" = "$DPID"
check "the daemon logs to monitor.log" wait_for 5 grep -q "monitor started" "$P/.wanctl/monitor.log"
run 3 "$W" monitor start --listen 127.0.0.1:0
err_has "already running (pid $DPID"
run 0 "$W" monitor stop
check "the daemon is gone" wait_for 5 sh -c "! kill -0 $DPID 2>/dev/null"
run 0 "$W" monitor stop
err_has "no monitor is running"

wt_done
