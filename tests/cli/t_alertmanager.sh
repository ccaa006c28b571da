#!/bin/bash
# A real Prometheus Alertmanager on loopback receives wanctl's alerts
# through its API: a corrupted production file fires
# ModelIntegrityMismatch (POST /api/v2/alerts), and Alertmanager lists it
# with our labels and annotations; after the file is restored the resolve
# (endsAt = now) makes it leave the active list.
T=t_alertmanager
. "$(dirname "$0")/../crash/lib.sh"
export WANCTL_NO_FSYNC=1

AM=$(command -v prometheus-alertmanager || true)
[ -n "$AM" ] || wt_skip "prometheus-alertmanager is not installed"

# A free loopback port: bind, then let Alertmanager retry on a clash.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 30000))
}
mkdir -p "$SCRATCH/am"
cat >"$SCRATCH/am/am.yml" <<'EOF'
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
EOF
AMPID=
for _ in 1 2 3; do
	PORT=$(free_port)
	"$AM" --config.file="$SCRATCH/am/am.yml" --storage.path="$SCRATCH/am/data" \
		--web.listen-address=127.0.0.1:$PORT --cluster.listen-address= \
		>"$SCRATCH/am/log" 2>&1 &
	AMPID=$!
	WT_CLEANUP+=("kill $AMPID 2>/dev/null; wait $AMPID 2>/dev/null")
	up=0
	for _ in $(seq 100); do
		if curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1; then up=1; break; fi
		kill -0 $AMPID 2>/dev/null || break
		sleep 0.1
	done
	[ $up = 1 ] && break
	kill $AMPID 2>/dev/null || true
done
check "alertmanager is up" test "$up" = 1
[ "$up" = 1 ] || { cat "$SCRATCH/am/log" >&2; wt_done; exit 1; }
AMURL=http://127.0.0.1:$PORT

# A webhook receiver (python3's http.server) that keeps each POST body;
# it answers the very first POST with 503, so the alert arrives only
# through the handler's retry.
HOOKS=$SCRATCH/hooks
mkdir -p "$HOOKS"
HPORT=$(free_port)
python3 - "$HPORT" "$HOOKS" >"$SCRATCH/hook.log" 2>&1 <<'EOF' &
import http.server, sys, os, itertools
port, out = int(sys.argv[1]), sys.argv[2]
seq = itertools.count()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        n = next(seq)
        if n == 0:
            open(os.path.join(out, "refused"), "wb").write(body)
            self.send_response(503); self.end_headers()
            return
        with open(os.path.join(out, "hook.%d.json" % n), "wb") as f:
            f.write(body)
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
HOOKPID=$!
WT_CLEANUP+=("kill $HOOKPID 2>/dev/null")
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$HPORT/" && break
	sleep 0.1
done

D=$SCRATCH/d
M=t2v-1.3B
wt_config "$D" "$(jq -n --arg url "$AMURL" --arg hook "http://127.0.0.1:$HPORT/hook" '{
	backup: {enabled: false},
	monitoring: {interval_seconds: 1, scrub_mb_per_s: 50,
		alert_handlers: [{type: "alertmanager", url: $url, timeout_seconds: 5},
				 {type: "webhook", url: $hook, timeout_seconds: 5}]}}')"
cd "$D"
"$MKF" "$D/staging/$M" $M >/dev/null
run 0 "$W" -q deploy $M
F=$D/production/$M/diffusion_pytorch_model.safetensors
cp "$F" "$SCRATCH/orig"
chmod u+w "$F"
printf '\x00' | dd of="$F" bs=1 seek=300 conv=notrunc 2>/dev/null
cmp -s "$F" "$SCRATCH/orig" && printf '\x01' | dd of="$F" bs=1 seek=300 conv=notrunc 2>/dev/null

# One sample fires the alert; --once waits for the handlers to finish.
run 0 "$W" --json monitor run --once --listen ""
jq_is '.models[0].integrity_ok' false
am_alerts() {
	curl -sf "$AMURL/api/v2/alerts?active=true&silenced=false&inhibited=false" >"$SCRATCH/out"
}
check "alertmanager answers" am_alerts
jq_is '[.[] | select(.labels.alertname == "ModelIntegrityMismatch")] | length' 1
jq_is '.[] | select(.labels.alertname == "ModelIntegrityMismatch") | .labels.model' $M
jq_is '.[] | select(.labels.alertname == "ModelIntegrityMismatch") | .labels.severity' critical
jq_is '.[] | select(.labels.alertname == "ModelIntegrityMismatch") | .annotations.summary | contains("does not match")' true
jq_is '.[] | select(.labels.alertname == "ModelIntegrityMismatch") | .status.state' active
jq_is '.[] | select(.labels.alertname == "ModelIntegrityMismatch") | .generatorURL | test("^http://")' true
jq_is '.[] | select(.labels.alertname == "ModelIntegrityMismatch") | .endsAt > .startsAt' true

hook_has() { # STATE
	grep -l '"ModelIntegrityMismatch"' "$HOOKS"/*.json 2>/dev/null |
		xargs -r grep -l "\"state\":\"$1\"" | grep -q .
}
check "the webhook's first POST was refused" test -s "$HOOKS/refused"
check "the webhook received the firing alert on a retry" hook_has firing
cp "$(ls "$HOOKS"/*.json | head -1)" "$SCRATCH/out"
jq_is .labels.model $M

# Restored: the resolve carries endsAt = now, so the alert is no longer
# active.
cat "$SCRATCH/orig" >"$F"
run 0 "$W" --json monitor run --once --listen ""
jq_is '.models[0].integrity_ok' true
gone() {
	am_alerts && [ "$(jq '[.[] | select(.labels.alertname == "ModelIntegrityMismatch")] | length' "$SCRATCH/out")" = 0 ]
}
n=0
until gone || [ $n -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
check "the resolved alert leaves Alertmanager's active list" gone
check "the webhook received the resolve" hook_has resolved

wt_done
