#!/bin/bash
# CLI scenarios of `wanctl config show|init` and configuration errors.
set -eu

W=${WANCTL:-build/wanctl}
case $W in /*) ;; *) W=$PWD/$W ;; esac
SCRATCH=$(mktemp -d /tmp/wanctl-t_config.XXXXXX)
unset WANCTL_CONFIG
pass=0
failed=0
finish() {
	local rc=$?
	rm -rf "$SCRATCH"
	# A failing `run` outside a condition ends the script under set -e.
	[ "$rc" -eq 0 ] || echo "t_config: $pass passed, $failed failed (stopped early)"
	exit "$rc"
}
trap finish EXIT

ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { # description, command...
	local what=$1; shift
	if "$@"; then ok; else bad "$what"; fi
}
# run EXPECTED_STATUS cmd... : runs in the current folder, keeps out/err
run() {
	local want=$1 rc=0; shift
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "'$*' exited $rc, expected $want: $(head -c 400 "$SCRATCH/err")"
		return 1
	fi
	ok
}
err_has() {
	if grep -qF -- "$1" "$SCRATCH/err"; then ok; else
		bad "stderr lacks '$1': $(head -c 400 "$SCRATCH/err")"; fi
}

A=$SCRATCH/a
mkdir -p "$A"
cd "$A"

# The built-in defaults, named on stderr.
if [ ! -e /etc/wanctl/config.json ]; then
	run 0 "$W" config show
	err_has "# configuration: built-in defaults"
	check "show prints JSON" jq -e . "$SCRATCH/out" >/dev/null
	run 0 "$W" --json config show
	cp "$SCRATCH/out" "$SCRATCH/defaults.json"
	check "--json: nothing on stderr" test ! -s "$SCRATCH/err"
	check "defaults: paths are absolute in the cwd" \
		test "$(jq -r .source_models_path "$SCRATCH/defaults.json")" = "$A/models/staging"
	check "defaults: state_path follows the target" \
		test "$(jq -r .state_path "$SCRATCH/defaults.json")" = "$A/models/production/.wanctl"
	check "defaults: eight default alert rules written out" \
		test "$(jq '.monitoring.alert_rules | length' "$SCRATCH/defaults.json")" = 8
	check "defaults: ModelIntegrityMismatch fires at once" \
		test "$(jq -c '.monitoring.alert_rules[] | select(.name=="ModelIntegrityMismatch") | [.metric,.comparison,.threshold,.for,.severity]' "$SCRATCH/defaults.json")" = \
		'["wanctl_model_integrity_ok","==",0,0,"CRITICAL"]'
	check "defaults: one log handler" \
		test "$(jq -c '.monitoring.alert_handlers' "$SCRATCH/defaults.json")" = \
		'[{"type":"log","command":null,"url":null,"timeout_seconds":10}]'
else
	echo "note: /etc/wanctl/config.json exists; skipping the built-in defaults checks" >&2
fi

# config init writes the template: valid JSON, every key, mode 0644.
run 0 "$W" config init
check "init wrote ./wanctl.json" test -f "$A/wanctl.json"
check "template is JSON" jq -e . "$A/wanctl.json" >/dev/null
check "template mode 0644" test "$(stat -c %a "$A/wanctl.json")" = 644
check "template has relative paths as written" \
	test "$(jq -r .source_models_path "$A/wanctl.json")" = models/staging
check "template has state_path null" test "$(jq -r .state_path "$A/wanctl.json")" = null
check "template has every section" \
	test "$(jq -c 'keys' "$A/wanctl.json")" = \
	'["backup","backup_path","deployment","models","monitoring","source_models_path","state_path","target_models_path","validation"]'
check "no temporary file left" test "$(ls -A "$A")" = wanctl.json

# Round trip: the template loads back as the defaults.
cd /
run 0 "$W" --config "$A/wanctl.json" --json config show
if [ -e "$SCRATCH/defaults.json" ]; then
	if diff <(jq -S . "$SCRATCH/defaults.json") <(jq -S . "$SCRATCH/out") >"$SCRATCH/diff"; then
		ok
	else
		bad "template does not round-trip: $(head -20 "$SCRATCH/diff")"
	fi
fi
# ... and config show's output loads back to itself.
cp "$SCRATCH/out" "$SCRATCH/shown.json"
run 0 "$W" --config "$SCRATCH/shown.json" --json config show
if diff <(jq -S . "$SCRATCH/shown.json") <(jq -S . "$SCRATCH/out") >/dev/null; then ok; else
	bad "config show output does not load back to itself"; fi

# Refuses to overwrite: exit 1, "already exists", file unchanged.
cd "$A"
cp wanctl.json "$SCRATCH/before.json"
echo '{}' >"$SCRATCH/mine.json"
run 1 "$W" config init
err_has "already exists"
check "existing template unchanged" cmp -s wanctl.json "$SCRATCH/before.json"
run 1 "$W" config init "$SCRATCH/mine.json"
check "existing file unchanged" test "$(cat "$SCRATCH/mine.json")" = '{}'
run 0 "$W" config init "$SCRATCH/other.json"
check "init FILE writes FILE" jq -e .deployment "$SCRATCH/other.json" >/dev/null
run 1 "$W" config init "$SCRATCH/no/such/dir/c.json"
run 2 "$W" config init a.json b.json

# A failed write, fsync or link leaves nothing behind (WANCTL_FAULT hooks).
for fault in write:1:ENOSPC fsync:1:EIO link:1:EIO; do
	mkdir -p "$SCRATCH/fault"
	rc=0
	WANCTL_FAULT=$fault "$W" config init "$SCRATCH/fault/c.json" 2>"$SCRATCH/err" || rc=$?
	if [ "$rc" -eq 0 ] && [ -f "$SCRATCH/fault/c.json" ]; then
		echo "note: fault hooks not compiled in; skipping $fault" >&2
	elif [ "$rc" -eq 1 ] && [ -z "$(ls -A "$SCRATCH/fault")" ]; then
		ok
	else
		bad "init under $fault: exit $rc, left: $(ls -A "$SCRATCH/fault") $(cat "$SCRATCH/err")"
	fi
	rm -rf "$SCRATCH/fault"
done

# Discovery: ./wanctl.json, then $WANCTL_CONFIG over it, then --config.
echo '{"deployment": {"keep_releases": 7}}' >wanctl.json.new
mv wanctl.json.new wanctl.json
run 0 "$W" config show
err_has "# configuration: $A/wanctl.json"
check "./wanctl.json is read" test "$(jq .deployment.keep_releases "$SCRATCH/out")" = 7
echo '{"deployment": {"keep_releases": 8}}' >"$SCRATCH/env.json"
run 0 env WANCTL_CONFIG="$SCRATCH/env.json" "$W" --json config show
check "\$WANCTL_CONFIG beats ./wanctl.json" test "$(jq .deployment.keep_releases "$SCRATCH/out")" = 8
echo '{"deployment": {"keep_releases": 9}}' >"$SCRATCH/explicit.json"
run 0 env WANCTL_CONFIG="$SCRATCH/env.json" "$W" --config "$SCRATCH/explicit.json" --json config show
check "--config beats \$WANCTL_CONFIG" test "$(jq .deployment.keep_releases "$SCRATCH/out")" = 9
# --config also works after the command.
run 0 "$W" config show --json --config "$SCRATCH/explicit.json"
check "--config after the command" test "$(jq .deployment.keep_releases "$SCRATCH/out")" = 9
run 2 "$W" --config "$SCRATCH/missing.json" config show
err_has "missing.json"
run 2 env WANCTL_CONFIG="$SCRATCH/gone.json" "$W" config show
err_has "gone.json"
run 0 "$W" -q config show
check "-q: no source line" test ! -s "$SCRATCH/err"

# Relative paths resolve against the file's folder.
mkdir -p "$SCRATCH/etc"
echo '{"source_models_path": "../stage", "backup_path": "bk", "state_path": "/var/tmp/./st"}' \
	>"$SCRATCH/etc/w.json"
cd /
run 0 "$W" --config "$SCRATCH/etc/w.json" --json config show
check "relative path against the file's folder" \
	test "$(jq -r .source_models_path "$SCRATCH/out")" = "$SCRATCH/stage"
check "relative backup_path" test "$(jq -r .backup_path "$SCRATCH/out")" = "$SCRATCH/etc/bk"
check "absolute state_path normalised" test "$(jq -r .state_path "$SCRATCH/out")" = /var/tmp/st
cd "$A"

# Errors: exit 2, the file and the key path named.
bad_config() { # json, fragment...
	local json=$1; shift
	printf '%s\n' "$json" >"$SCRATCH/bad.json"
	run 2 "$W" --config "$SCRATCH/bad.json" config show || return 0
	err_has "'$SCRATCH/bad.json'"
	for f in "$@"; do err_has "$f"; done
	check "nothing on stdout for a bad config" test ! -s "$SCRATCH/out"
}
bad_config '{"deploymnet": {"workers": 2}}' "deploymnet" "did you mean 'deployment'?"
bad_config '{"deployment": {"workers": -1}}' "deployment.workers: must be >= 0, got -1"
bad_config '{"deployment": {"workers": "2"}}' "deployment.workers: must be an integer"
bad_config '{"deployment": {"transfer": "rsync"}}' "deployment.transfer" "rsync"
bad_config '{"monitoring": {"interval_seconds": 0}}' "monitoring.interval_seconds"
bad_config '{"monitoring": {"listen": "127.0.0.1:70000"}}' "monitoring.listen" "70000"
bad_config '{"monitoring": {"alert_handlers": [{"type": "pager"}]}}' \
	"monitoring.alert_handlers[0].type" "pager"
bad_config '{"monitoring": {"alert_handlers": [{"type": "exec"}]}}' \
	"monitoring.alert_handlers[0]" "command"
bad_config '{"backup": {"compression_level": 22}}' "backup.compression_level"
bad_config '{"validation": {"disk_margin_percent": 120}}' "validation.disk_margin_percent"
bad_config '{"backup": {"keep": 1, "keep": 2}}' "duplicate"
bad_config '{
  "deployment": {
    "workers": 2,
  }
}' "line 4"
bad_config '{"models": {"../etc": {}}}' "models.../etc"

# Usage.
run 0 "$W" config --help
grep -q "config init \[FILE\]" "$SCRATCH/out" && ok || bad "help lacks init"
run 0 "$W" config show --help
run 2 "$W" config
run 2 "$W" config frobnicate
err_has "frobnicate"
run 2 "$W" config show extra

# The documentation's key table is the one the parser uses.
if [ -n "${WANCTL_SRC:-}" ] && [ -f "$WANCTL_SRC/docs/CONFIGURATION.md" ]; then
	run 0 "$W" config keys --markdown
	sed -n '/^<!-- BEGIN KEYS/,/^<!-- END KEYS/p' "$WANCTL_SRC/docs/CONFIGURATION.md" |
		sed '1d;$d' >"$SCRATCH/doc-table"
	check "docs/CONFIGURATION.md matches 'config keys --markdown'" \
		cmp -s "$SCRATCH/doc-table" "$SCRATCH/out"
	# The example of the doc is a valid configuration.
	sed -n '/^## Example/,$p' "$WANCTL_SRC/docs/CONFIGURATION.md" |
		sed -n '/^```json/,/^```/p' | sed '1d;$d' >"$SCRATCH/example.json"
	run 0 "$W" --config "$SCRATCH/example.json" --json config show
	check "the doc's example loads" \
		test "$(jq -r '.models["t2v-A14B"].source' "$SCRATCH/out")" = Wan2.2-T2V-A14B
fi

echo "t_config: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
