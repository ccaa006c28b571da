#!/bin/bash
# CLI scenarios of `wanctl demo`: it exits 0 in seconds and leaves the
# configuration, the staging models and (where deploy is built) production.
set -eu

W=${WANCTL:-build/wanctl}
case $W in /*) ;; *) W=$PWD/$W ;; esac
SCRATCH=$(mktemp -d /tmp/wanctl-t_demo.XXXXXX)
unset WANCTL_CONFIG
pass=0
failed=0
finish() {
	local rc=$?
	chmod -R u+w "$SCRATCH" 2>/dev/null || true
	rm -rf "$SCRATCH"
	[ "$rc" -eq 0 ] || echo "t_demo: $pass passed, $failed failed (stopped early)"
	exit "$rc"
}
trap finish EXIT

ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { # description, command...
	local what=$1; shift
	if "$@"; then ok; else bad "$what"; fi
}
run() { # EXPECTED_STATUS cmd...
	local want=$1 rc=0; shift
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "'$*' exited $rc, expected $want: $(head -c 2000 "$SCRATCH/out") $(head -c 400 "$SCRATCH/err")"
		return 1
	fi
	ok
}
cd "$SCRATCH"

# The demo in a given folder: exit 0, within seconds.
D=$SCRATCH/demo
start=$(date +%s)
run 0 "$W" demo "$D"
end=$(date +%s)
check "demo finishes in seconds ($((end - start)) s)" test $((end - start)) -lt 30
check "summary line" grep -Eq '^demo finished in [0-9.]+ s: [0-9]+ steps ok, [0-9]+ not built yet, 0 failed' "$SCRATCH/out"
check "one line per step with its command" grep -Eq '^ *[0-9]+\. .*wanctl deploy t2v-1\.3B ti2v-5B' "$SCRATCH/out"

# What it leaves behind.
check "config written" jq -e '.source_models_path == "staging" and .target_models_path == "production" and .backup_path == "backups"' "$D/wanctl.json" >/dev/null
check "t2v-1.3B staging: single DiT file" test -s "$D/staging/t2v-1.3B/diffusion_pytorch_model.safetensors"
check "t2v-1.3B staging: T5 .pth is a zip" test "$(head -c 2 "$D/staging/t2v-1.3B/models_t5_umt5-xxl-enc-bf16.pth")" = PK
check "t2v-1.3B staging: tokenizer" test -s "$D/staging/t2v-1.3B/google/umt5-xxl/spiece.model"
for s in 1 2 3; do
	check "ti2v-5B shard $s" test -s "$D/staging/ti2v-5B/diffusion_pytorch_model-0000$s-of-00003.safetensors"
done
check "ti2v-5B index names 3 shards" test "$(jq '[.weight_map[]] | unique | length' "$D/staging/ti2v-5B/diffusion_pytorch_model.safetensors.index.json")" -eq 3
check "ti2v-5B config model_type" test "$(jq -r .model_type "$D/staging/ti2v-5B/config.json")" = ti2v
check "ti2v-5B has the 2.2 VAE" test -s "$D/staging/ti2v-5B/Wan2.2_VAE.pth"
# Production, where deploy is built: links into releases, rolled back at the
# end (the demo's last t2v-1.3B release is the first one).
if grep -Eq 'deploy both models +ok' "$SCRATCH/out"; then
	for m in t2v-1.3B ti2v-5B; do
		check "production/$m is a link to a release" test -L "$D/production/$m"
		check "production/$m resolves" test -s "$D/production/$m/config.json"
	done
	check "verify caught the flipped byte" grep -Eq 'verify catches it +caught \(exit [0-9]+\)' "$SCRATCH/out"
	check "the commands work on the demo folder afterwards" \
		bash -c "cd '$D' && '$W' status >/dev/null"
fi

# JSON form, a temporary folder removed at the end.
run 0 env TMPDIR="$SCRATCH" "$W" --json demo
check "json: steps and no failure" jq -e '(.steps | length) > 5 and .failed == 0 and .kept == false' "$SCRATCH/out" >/dev/null
T=$(jq -r .dir "$SCRATCH/out")
check "temporary folder is under TMPDIR" test "${T#"$SCRATCH"/wanctl-demo-}" != "$T"
check "temporary folder removed" test ! -e "$T"
run 0 env TMPDIR="$SCRATCH" "$W" --json demo --keep --size 64K
T=$(jq -r .dir "$SCRATCH/out")
check "--keep keeps the folder" test -f "$T/wanctl.json"

# Usage errors.
run 2 "$W" demo "$D" || true
check "non-empty folder refused" grep -q "is not empty" "$SCRATCH/err"
run 2 "$W" demo "$SCRATCH/x" --size lots || true
check "bad --size named" grep -q -- "--size" "$SCRATCH/err"
check "nothing created on a usage error" test ! -e "$SCRATCH/x"
run 2 "$W" demo a b || true
run 0 "$W" demo --help
check "help names --keep" grep -q -- "--keep" "$SCRATCH/out"

echo "t_demo: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
