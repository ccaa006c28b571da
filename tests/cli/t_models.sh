#!/bin/bash
# CLI scenarios of `wanctl models [MODEL]`: the catalog table, one spec,
# --json, user specs from validation.spec_paths, unknown model.
set -eu

W=${WANCTL:-build/wanctl}
case $W in /*) ;; *) W=$PWD/$W ;; esac
SCRATCH=$(mktemp -d /tmp/wanctl-t_models.XXXXXX)
unset WANCTL_CONFIG
pass=0
failed=0
finish() {
	local rc=$?
	rm -rf "$SCRATCH"
	[ "$rc" -eq 0 ] || echo "t_models: $pass passed, $failed failed (stopped early)"
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
		bad "'$*' exited $rc, expected $want: $(head -c 400 "$SCRATCH/err")"
		return 1
	fi
	ok
}
out_has() {
	if grep -qF -- "$1" "$SCRATCH/out"; then ok; else
		bad "stdout lacks '$1': $(head -c 400 "$SCRATCH/out")"; fi
}
err_has() {
	if grep -qF -- "$1" "$SCRATCH/err"; then ok; else
		bad "stderr lacks '$1': $(head -c 400 "$SCRATCH/err")"; fi
}

cd "$SCRATCH"
echo '{}' >"$SCRATCH/empty.json"
C="--config $SCRATCH/empty.json"

# The table lists every catalog model with its figures.
run 0 "$W" $C models
for m in t2v-A14B i2v-A14B ti2v-5B s2v-14B animate-14B t2v-14B t2v-1.3B \
	i2v-14B flf2v-14B vace-14B vace-1.3B diffusers safetensors; do
	check "table lists $m" grep -q "^$m " "$SCRATCH/out"
done
check "t2v-A14B row: 2.2, 126 GB, 80 GB" grep -Eq '^t2v-A14B +2\.2 .* 126 GB +80 GB' "$SCRATCH/out"
check "ti2v-5B row: 24 GB" grep -Eq '^ti2v-5B .* 24 GB ' "$SCRATCH/out"
check "t2v-1.3B row: 8.19 GB" grep -Eq '^t2v-1\.3B .* 8\.19 GB ' "$SCRATCH/out"

# One model in detail.
run 0 "$W" $C models t2v-A14B
out_has "Wan-AI/Wan2.2-T2V-A14B"
out_has "high_noise_model/diffusion_pytorch_model-00006-of-00006.safetensors"
out_has "low_noise_model/config.json"
out_has "Wan2.1_VAE.pth  507609880 B"
out_has "python generate.py --task t2v-A14B --size {size} --ckpt_dir {ckpt_dir}"
out_has "dim=5120 ffn_dim=13824 num_heads=40 num_layers=40 in_dim=16"
run 0 "$W" $C models i2v-14B
out_has "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
out_has "xlm-roberta-large/"

# JSON: all specs, one spec.
run 0 "$W" $C --json models
check "json lists 13 specs" test "$(jq '.models | length' "$SCRATCH/out")" -eq 13
check "json: diffusers kind" test "$(jq -r '.models[] | select(.name=="diffusers") | .kind' "$SCRATCH/out")" = diffusers
run 0 "$W" $C models ti2v-5B --json
check "json: ti2v-5B gpu 24" test "$(jq '.gpu_memory_gb' "$SCRATCH/out")" = 24
check "json: ti2v-5B has the 2.2 VAE with its size" \
	test "$(jq '.files[] | select(.path=="Wan2.2_VAE.pth") | .size' "$SCRATCH/out")" = 2818839170
check "json: ti2v-5B DiT config in_dim 48" test "$(jq '.dits[0].config.in_dim' "$SCRATCH/out")" = 48
check "json: smoke command has {output}" jq -e '.smoke_command | contains("{output}")' "$SCRATCH/out" >/dev/null

# Unknown model: exit 2 with a hint.
run 2 "$W" $C models t2v-A14 || true
err_has "unknown model 't2v-A14'"
err_has "did you mean 't2v-A14B'?"
run 2 "$W" $C models zzzzzzzzzz || true
err_has "wanctl models"
run 2 "$W" $C models --frobnicate || true
run 2 "$W" $C models a b || true

# User specs from validation.spec_paths.
mkdir -p "$SCRATCH/specs"
cat >"$SCRATCH/specs/custom.json" <<'JSON'
{"name": "my-t2v", "base": "t2v-14B", "version": "2.1-ft", "gpu_memory_gb": 48,
 "files": ["models_t5_umt5-xxl-enc-bf16.pth", "Wan2.1_VAE.pth", "lora/"]}
JSON
cat >"$SCRATCH/site.json" <<JSON
{"validation": {"spec_paths": ["specs"]}}
JSON
run 0 "$W" --config "$SCRATCH/site.json" models
check "user spec in the table" grep -Eq '^my-t2v .*48 GB .* user$' "$SCRATCH/out"
run 0 "$W" --config "$SCRATCH/site.json" --json models my-t2v
check "user spec json source" jq -e '.source | endswith("custom.json")' "$SCRATCH/out" >/dev/null
check "user spec keeps the base DiT" test "$(jq -r '.files[-1].path' "$SCRATCH/out")" = diffusion_pytorch_model-00006-of-00006.safetensors
# A broken user spec: exit 2 naming the file and the key.
echo '{"name": "x", "colour": 1}' >"$SCRATCH/specs/broken.json"
run 2 "$W" --config "$SCRATCH/site.json" models || true
err_has "broken.json"
err_has "'colour'"

echo "t_models: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
