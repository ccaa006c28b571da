#!/bin/bash
# wanctl validate pre|post|health against the real binary:
#  - the happy path of every catalog model in miniature (exit 0, no fail);
#  - --json and --output-report (the same document, written atomically);
#  - every defect the fixture generator plants: exit 4 and the right check
#    id failed (jq), and, when `deploy` is built, the same defect makes
#    deploy exit 4 with production unchanged;
#  - system.gpu through the fake NVML library and with none (warn; fail
#    with validation.require_gpu); system.disk on a 2 MiB tmpfs;
#    system.dependencies;
#  - validate post: release.link, release.files (quick and --full against
#    a flipped byte), inference.smoke pass/fail/timeout, service.ready
#    against python3's http.server on loopback; validate health;
#  - usage errors (exit 2).
set -eu
T=t_validate
W=${WANCTL:-build/wanctl}
case $W in /*) ;; *) W=$PWD/$W ;; esac
WB=${WANCTL_BUILD:-$(dirname "$W")}
case $WB in /*) ;; *) WB=$PWD/$WB ;; esac
MKF=$WB/tests/mkfixture
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/wanctl-$T.XXXXXX")
unset WANCTL_CONFIG WANCTL_FAULT
pass=0
failed=0
CLEANUP=()
finish() {
	local rc=$? c
	for c in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do eval "$c" || true; done
	cd /
	chmod -R u+w "$SCRATCH" 2>/dev/null || true
	rm -rf "$SCRATCH"
	[ "$rc" -eq 0 ] || [ -n "${DONE:-}" ] ||
		echo "$T: $pass passed, $failed failed (stopped early)"
	exit "$rc"
}
trap finish EXIT
ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { # description, command...
	local what=$1; shift
	if "$@"; then ok; else bad "$what"; fi
}
# run STATUS cmd...: stdout in $SCRATCH/out, stderr in $SCRATCH/err.
run() {
	local want=$1 rc=0; shift
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" </dev/null || rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "'$*' exited $rc, expected $want: $(head -c 600 "$SCRATCH/err")"
		return 1
	fi
	ok
}
out_has() {
	if grep -qF -- "$1" "$SCRATCH/out"; then ok; else
		bad "stdout lacks '$1': $(head -c 600 "$SCRATCH/out")"; fi
}
jq_is() { # FILTER EXPECTED, over $SCRATCH/out
	local got
	got=$(jq -r "$1" "$SCRATCH/out" 2>&1) || true
	if [ "$got" = "$2" ]; then ok; else
		bad "jq '$1' gave '$got', expected '$2'"; fi
}
wt_config() { # DIR [JSON merged into the base configuration]
	mkdir -p "$1"
	jq -n --argjson x "${2:-"{}"}" \
		'{"source_models_path":"staging","target_models_path":"production",
		  "backup_path":"backups"} * $x' >"$1/wanctl.json"
}
# mtree DIR: names, types, inodes, sizes, modes and link targets.
mtree() {
	(cd "$1" && find . \( -name 'state.db*' -o -path ./.wanctl/lock -o -path ./.wanctl/tmp \) \
		-prune -o -printf '%p %y %i %s %m %l\n' | LC_ALL=C sort)
}
unchanged() { # DIR BEFORE
	local now
	now=$(mtree "$1")
	[ "$now" = "$2" ] && return 0
	diff <(echo "$2") <(echo "$now") | head -8 >&2
	return 1
}
export WANCTL_NO_FSYNC=1
export WANCTL_NVML_LIB=/nonexistent/libnvidia-ml.so.1
FAKE_NVML=$WB/tests/libfake_nvml.so

D=$SCRATCH/d
cd "$SCRATCH"
SPECS="t2v-A14B i2v-A14B ti2v-5B s2v-14B animate-14B t2v-14B t2v-1.3B i2v-14B flf2v-14B vace-14B vace-1.3B"

# status_of ID [MODEL]: the status of the first check with that id.
status_of() {
	if [ $# -gt 1 ]; then
		jq -r --arg id "$1" --arg m "$2" \
			'[.checks[] | select(.id == $id and .model == $m)][0].status' "$SCRATCH/out"
	else
		jq -r --arg id "$1" '[.checks[] | select(.id == $id)][0].status' "$SCRATCH/out"
	fi
}
fails_are() { # the ids of the failed checks, comma-separated, sorted
	local got
	got=$(failed_ids)
	if [ "$got" = "$1" ]; then ok; else bad "failed checks '$got', expected '$1'"; fi
}
failed_ids() {
	jq -r '[.checks[] | select(.status == "fail") | .id] | unique | join(",")' "$SCRATCH/out"
}

# ---- 1. every catalog model in miniature passes ------------------------------
models='{}'
for s in $SPECS; do
	"$MKF" "$D/staging/$s" "$s" >/dev/null
	models=$(jq -c --arg s "$s" '. + {($s): {"spec": $s}}' <<<"$models")
done
wt_config "$D" "{\"models\": $models}"
cd "$D"
run 0 "$W" --json validate pre --output-report "$D/report.json"
jq_is '[.checks[] | select(.status == "fail")] | length' 0
jq_is '[.checks[] | select(.id == "staging.layout" and .status == "pass")] | length' 11
jq_is '[.checks[] | select(.id == "staging.safetensors" and .status == "pass")] | length' 11
jq_is '[.checks[] | select(.id == "staging.architecture" and .status == "fail")] | length' 0
jq_is '[.checks[] | select(.id == "staging.architecture" and .status == "pass")] | length' 13
jq_is '[.checks[] | select(.id == "system.disk")] | length' 1
jq_is '[.checks[] | .id] | index("system.gpu") > 0' true
check "--output-report holds the same report as --json" \
	test "$(jq -cS . "$D/report.json")" = "$(jq -cS . "$SCRATCH/out")"
check "--output-report leaves no temp file" \
	test "$(ls "$D" | grep -c 'report.json.')" = 0
# The table for people; each model's name is on its lines.
run 0 "$W" validate pre t2v-A14B
out_has "staging.layout"
out_has "t2v-A14B: matches spec 't2v-A14B'"
# --full reads the data too.
run 0 "$W" --json validate pre --full ti2v-5B
jq_is "$(printf '[.checks[] | select(.id == "tensors.finite")][0].status')" pass
jq_is '[.checks[] | select(.id == "staging.pth")][0].details.crc_checked' true
# A model named on the command line that the configuration does not list:
# the catalog spec of the same name, staging folder of the same name.
mkdir -p "$D/staging/other" && cp -a "$D/staging/t2v-1.3B/." "$D/staging/other/"
run 0 "$W" --json validate pre other
jq_is '[.checks[] | select(.id == "staging.layout")][0].details.spec' t2v-1.3B
# --source for one model (a folder elsewhere).
run 0 "$W" --json validate pre t2v-1.3B --source "$D/staging/other"
jq_is '[.checks[] | select(.id == "staging.exists")][0].details.path' "$D/staging/other"

# A Hugging Face hub cache repo folder (refs/main -> snapshot of links
# into blobs/) validates like a plain folder; a pointer blob is caught.
R=$SCRATCH/hub/models--Wan-AI--Wan2.1-T2V-1.3B
mkdir -p "$R/blobs" "$R/snapshots/abc123" "$R/refs"
printf abc123 >"$R/refs/main"
(cd "$D/staging/t2v-1.3B" && find . -type f | sed 's|^\./||') | while read -r f; do
	h=$(sha256sum "$D/staging/t2v-1.3B/$f" | cut -d' ' -f1)
	cp "$D/staging/t2v-1.3B/$f" "$R/blobs/$h"
	d=$(dirname "$f")
	up=../..
	[ "$d" = . ] || up="$up/$(echo "$d" | sed 's|[^/]*|..|g')"
	mkdir -p "$R/snapshots/abc123/$d"
	ln -s "$up/blobs/$h" "$R/snapshots/abc123/$f"
done
run 0 "$W" --json validate pre t2v-1.3B --source "$R"
jq_is '[.checks[] | select(.id == "staging.exists")][0].details.path' "$R/snapshots/abc123"
jq_is "$(printf '[.checks[] | select(.id == "staging.architecture")][0].status')" pass
"$MKF" "$SCRATCH/ptr" t2v-1.3B --defect lfs-pointer >/dev/null
h=$(sha256sum "$SCRATCH/ptr/diffusion_pytorch_model.safetensors" | cut -d' ' -f1)
cp "$SCRATCH/ptr/diffusion_pytorch_model.safetensors" "$R/blobs/$h"
ln -sf "../../blobs/$h" "$R/snapshots/abc123/diffusion_pytorch_model.safetensors"
run 4 "$W" --json validate pre t2v-1.3B --source "$R"
fails_are staging.lfs_pointer
jq_is '[.checks[] | select(.id == "staging.lfs_pointer")][0].details.pointers[0].file' diffusion_pytorch_model.safetensors

# A user spec (validation.spec_paths) extending a catalog spec with one
# more required file.
mkdir -p "$D/specs"
cat >"$D/specs/house.json" <<'EOF'
{"name": "house-t2v", "base": "t2v-1.3B",
 "files": ["models_t5_umt5-xxl-enc-bf16.pth", "google/umt5-xxl/", "Wan2.1_VAE.pth",
	   "house/notes.txt"]}
EOF
wt_config "$D" '{"models": {"house": {"spec": "house-t2v", "source": "t2v-1.3B"}},
	"validation": {"spec_paths": ["specs"]}}'
run 4 "$W" --json validate pre house
fails_are staging.layout
jq_is '[.checks[] | select(.id == "staging.layout")][0].details.missing[0]' house/notes.txt
mkdir -p "$D/staging/t2v-1.3B/house" && echo ok >"$D/staging/t2v-1.3B/house/notes.txt"
run 0 "$W" --json validate pre house
jq_is '[.checks[] | select(.id == "staging.layout")][0].details.spec' house-t2v
jq_is "$(printf '[.checks[] | select(.id == "staging.architecture")][0].status')" pass
rm -rf "$D/staging/t2v-1.3B/house"
echo '{"name": "broken", "bogus": 1}' >"$D/specs/zz.json"
run 2 "$W" validate pre house
rm "$D/specs/zz.json"
wt_config "$D" "{\"models\": $models}"

# ---- 2. each plantable defect: exit 4 and the right check id ------------------
for spec_defect_check in \
	t2v-A14B:lfs-pointer:staging.lfs_pointer \
	t2v-A14B:zero-byte:staging.placeholder \
	t2v-A14B:truncated:staging.safetensors \
	t2v-A14B:missing-file:staging.layout \
	t2v-A14B:nan:tensors.finite \
	t2v-A14B:wrong-arch:staging.architecture \
	t2v-A14B:bad-index-shard:staging.index \
	t2v-A14B:bad-index-size:staging.index \
	t2v-A14B:missing-block:staging.architecture \
	t2v-1.3B:lfs-pointer:staging.lfs_pointer \
	t2v-1.3B:missing-file:staging.layout \
	i2v-A14B:wrong-arch:staging.architecture; do
	IFS=: read -r spec defect want <<<"$spec_defect_check"
	rm -rf "$D/staging/bad"
	"$MKF" "$D/staging/bad" "$spec" --defect "$defect" >/dev/null
	run 4 "$W" --json validate pre --full bad --source "$D/staging/bad" ||
		echo "  ($spec $defect)" >&2
	got=$(jq -r --arg id "$want" \
		'[.checks[] | select(.id == $id and .status == "fail")] | length' "$SCRATCH/out")
	check "$spec $defect: $want failed (failed: $(failed_ids))" test "$got" -ge 1
	# Headers-only validation catches every defect but the NaN.
	if [ "$defect" != nan ]; then
		run 4 "$W" --json validate pre bad
		check "$spec $defect (headers only): $want failed" \
			test "$(status_of "$want")" = fail
	fi
done
# The messages name the file and what it stands for.
rm -rf "$D/staging/bad"
"$MKF" "$D/staging/bad" t2v-A14B --defect lfs-pointer >/dev/null
run 4 "$W" validate pre bad
out_has "high_noise_model/diffusion_pytorch_model-00001-of-00006.safetensors' is a git-lfs pointer"
out_has "sha256"
rm -rf "$D/staging/bad"
"$MKF" "$D/staging/bad" t2v-A14B --defect nan >/dev/null
run 4 "$W" --json validate pre --full bad
jq_is '[.checks[] | select(.id == "tensors.finite")][0].message | test("tensor .blocks.0.self_attn.q.weight.*element [0-9]+")' true
# A missing staging folder.
run 4 "$W" --json validate pre nosuchmodel
jq_is "$(printf '[.checks[] | select(.id == "staging.exists")][0].status')" fail

# ---- 3. system.gpu: fake NVML, none, required -----------------------------------
run 0 "$W" --json validate pre t2v-1.3B
jq_is "$(printf '[.checks[] | select(.id == "system.gpu")][0].status')" warn
jq_is '[.checks[] | select(.id == "system.gpu")][0].message | test("no GPU visible")' true
if [ -f "$FAKE_NVML" ]; then
	WANCTL_NVML_LIB=$FAKE_NVML run 0 "$W" --json validate pre t2v-A14B
	jq_is "$(printf '[.checks[] | select(.id == "system.gpu")][0].status')" pass
	jq_is '[.checks[] | select(.id == "system.gpu")][0].details.gpus[0].name' "NVIDIA H100 80GB HBM3"
	jq_is '[.checks[] | select(.id == "system.gpu")][0].details.driver' 550.54.15
	# A 24 GiB card cannot hold an A14B expert (80 GB by the README).
	WANCTL_NVML_LIB=$FAKE_NVML FAKE_NVML_MEM_TOTAL=25769803776 \
		run 4 "$W" --json validate pre t2v-A14B
	jq_is "$(printf '[.checks[] | select(.id == "system.gpu")][0].status')" fail
	jq_is '[.checks[] | select(.id == "system.gpu")][0].details.need_gb' 80
	WANCTL_NVML_LIB=$FAKE_NVML FAKE_NVML_MEM_TOTAL=25769803776 \
		run 0 "$W" --json validate pre ti2v-5B
	jq_is "$(printf '[.checks[] | select(.id == "system.gpu")][0].status')" pass
	# nvmlInit failing is "no GPU visible" too.
	WANCTL_NVML_LIB=$FAKE_NVML FAKE_NVML_INIT=9 run 0 "$W" --json validate pre t2v-1.3B
	jq_is "$(printf '[.checks[] | select(.id == "system.gpu")][0].status')" warn
else
	bad "fake NVML library $FAKE_NVML not built"
fi
wt_config "$D" "{\"models\": $models, \"validation\": {\"require_gpu\": true}}"
run 4 "$W" --json validate pre t2v-1.3B
jq_is "$(printf '[.checks[] | select(.id == "system.gpu")][0].status')" fail
fails_are system.gpu

# ---- 4. dependencies -----------------------------------------------------------
wt_config "$D" "{\"models\": $models, \"validation\": {\"dependencies\": [\"sh\", \"wanctl-no-such-tool\"]}}"
run 4 "$W" --json validate pre t2v-1.3B
fails_are system.dependencies
jq_is '[.checks[] | select(.id == "system.dependencies")][0].details.missing[0]' wanctl-no-such-tool
wt_config "$D" "{\"models\": $models, \"validation\": {\"dependencies\": [\"sh\", \"/bin/sh\"]}}"
run 0 "$W" --json validate pre t2v-1.3B
jq_is "$(printf '[.checks[] | select(.id == "system.dependencies")][0].status')" pass

# ---- 5. system.disk on a 2 MiB filesystem ------------------------------------------
mkdir -p "$SCRATCH/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m tmpfs "$SCRATCH/small" 2>/dev/null; then
	CLEANUP+=("umount '$SCRATCH/small'")
	mkdir -p "$SCRATCH/smallcfg/staging"
	"$MKF" "$SCRATCH/smallcfg/staging/big" t2v-1.3B --shard-bytes 4000000 >/dev/null
	jq -n --arg p "$SCRATCH/small/production" \
		'{"source_models_path":"staging","target_models_path":$p}' >"$SCRATCH/smallcfg/wanctl.json"
	run 4 "$W" --config "$SCRATCH/smallcfg/wanctl.json" --json validate pre big
	fails_are system.disk
	jq_is '[.checks[] | select(.id == "system.disk")][0].details.missing_bytes > 1000000' true
	jq_is '[.checks[] | select(.id == "system.disk")][0].message | test("missing")' true
	check "validate pre created nothing on the small filesystem" \
		test -z "$(ls -A "$SCRATCH/small")"
else
	echo "$T: system.disk tmpfs case skipped: cannot mount a tmpfs (needs root)" >&2
fi

# ---- 6. validate post / health (needs deploy) ----------------------------------------
wt_config "$D" "{\"models\": $models}"
# Before any deploy there is no state folder: nothing is deployed.
run 4 "$W" --json validate health --model t2v-1.3B
fails_are release.link
run 0 "$W" --json validate post
jq_is "$(printf '[.checks[] | select(.id == "release.link")][0].status')" skip
check "validate post created no state folder" test ! -e "$D/production/.wanctl"
if "$W" deploy --help 2>&1 | grep -q "not built"; then
	echo "$T: deploy not built: post-deployment cases skipped" >&2
else
	M=t2v-1.3B
	run 0 "$W" -q deploy $M
	REL=$(basename "$(readlink "$D/production/$M")")
	run 0 "$W" --json validate post $M
	jq_is "$(printf '[.checks[] | select(.id == "release.link")][0].status')" pass
	jq_is '[.checks[] | select(.id == "release.link")][0].details.release' "$REL"
	jq_is "$(printf '[.checks[] | select(.id == "release.files")][0].status')" pass
	jq_is "$(printf '[.checks[] | select(.id == "inference.smoke")][0].status')" skip
	jq_is "$(printf '[.checks[] | select(.id == "service.ready")][0].status')" skip
	run 0 "$W" --json validate post --scan-tensors
	jq_is "$(printf '[.checks[] | select(.id == "tensors.finite")][0].status')" pass
	jq_is '[.checks[] | .model] | unique | map(select(. != null))' "$(jq -n -c --arg m $M '[$m]' | jq -r .)"
	run 0 "$W" validate health --model $M
	out_has "release.link"

	# Smoke command: pass, non-zero exit, timeout.
	wt_config "$D" "{\"models\": $models, \"validation\": {\"inference_command\": \"test -f {ckpt_dir}/config.json && echo ok {size} > {output}\"}}"
	run 0 "$W" --json validate post $M
	jq_is "$(printf '[.checks[] | select(.id == "inference.smoke")][0].status')" pass
	jq_is '[.checks[] | select(.id == "inference.smoke")][0].details.output_bytes' 11
	wt_config "$D" "{\"models\": $models, \"validation\": {\"inference_command\": \"echo failing run; exit 7\"}}"
	run 4 "$W" --json validate post $M
	fails_are inference.smoke
	jq_is '[.checks[] | select(.id == "inference.smoke")][0].details.exit_status' 7
	wt_config "$D" "{\"models\": $models, \"validation\": {\"inference_command\": \"sleep 20\", \"inference_timeout_seconds\": 1}}"
	run 4 "$W" --json validate post $M
	jq_is '[.checks[] | select(.id == "inference.smoke")][0].details.timed_out' true

	# service.ready against python's http.server on a free loopback port.
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$SCRATCH/www" && echo ok >"$SCRATCH/www/ready"
	(cd "$SCRATCH/www" && exec python3 -m http.server "$PORT" --bind 127.0.0.1) \
		>/dev/null 2>&1 &
	HTTP_PID=$!
	CLEANUP+=("kill $HTTP_PID 2>/dev/null")
	wt_config "$D" "{\"models\": $models, \"validation\": {\"readiness_url\": \"http://127.0.0.1:$PORT/ready\", \"readiness_timeout_seconds\": 10}}"
	run 0 "$W" --json validate post $M
	jq_is "$(printf '[.checks[] | select(.id == "service.ready")][0].status')" pass
	jq_is '[.checks[] | select(.id == "service.ready")][0].details.status' 200
	wt_config "$D" "{\"models\": $models, \"validation\": {\"readiness_url\": \"http://127.0.0.1:$PORT/missing\", \"readiness_timeout_seconds\": 1}}"
	run 4 "$W" --json validate post $M
	jq_is '[.checks[] | select(.id == "service.ready")][0].message | test("HTTP 404")' true
	kill "$HTTP_PID" 2>/dev/null || true
	wait "$HTTP_PID" 2>/dev/null || true

	# Deploys whose smoke command fails, times out, or runs slower than the
	# previous release's recorded time end rolled back to the old release.
	for smoke in 'echo boom; exit 3' 'sleep 20' 'sleep 0.6; echo v > {output}'; do
		if [ "$smoke" = 'sleep 0.6; echo v > {output}' ]; then
			# First a fast smoke run, recorded for the release it passes on.
			rm -rf "$D/staging/$M"
			"$MKF" "$D/staging/$M" $M --variant 2 >/dev/null
			wt_config "$D" "{\"models\": $models, \"validation\": {\"inference_command\": \"echo v > {output}\"}}"
			run 0 "$W" -q deploy $M
			REL=$(basename "$(readlink "$D/production/$M")")
		fi
		rm -rf "$D/staging/$M"
		"$MKF" "$D/staging/$M" $M --variant 3 >/dev/null
		wt_config "$D" "$(jq -n --argjson m "$models" --arg c "$smoke" \
			'{"models": $m, "validation": {"inference_command": $c, "inference_timeout_seconds": 1}}')"
		run 4 "$W" -q --json deploy $M || echo "  (smoke: $smoke)" >&2
		jq_is .status rolled_back
		jq_is '.report.checks[] | select(.id == "inference.smoke") | .status' fail
		check "smoke '$smoke': production back on $REL" \
			test "$(basename "$(readlink "$D/production/$M")")" = "$REL"
	done
	jq_is '.report.checks[] | select(.id == "inference.smoke") | .message | test("slower than the previous")' true
	wt_config "$D" "{\"models\": $models}"

	# A flipped byte in production: sizes agree (quick passes), --full fails.
	wt_config "$D" "{\"models\": $models}"
	f="$D/production/$M/Wan2.1_VAE.pth"
	chmod u+w "$f" 2>/dev/null || true
	orig=$(dd if="$f" bs=1 skip=100 count=1 status=none | od -An -tx1 | tr -d ' ')
	printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
	run 0 "$W" --json validate post $M
	jq_is "$(printf '[.checks[] | select(.id == "release.files")][0].status')" pass
	run 4 "$W" --json validate post --full $M
	fails_are release.files
	# Put the byte back (the file is a store object shared by releases).
	printf "\\x$orig" | dd of="$f" bs=1 seek=100 conv=notrunc status=none
	run 0 "$W" --json validate post --full $M

	# Not deployed; an unmanaged folder.
	run 4 "$W" --json validate health --model ti2v-5B
	jq_is "$(printf '[.checks[] | select(.id == "release.link")][0].status')" fail
	mkdir -p "$D/production/ti2v-5B" && echo x >"$D/production/ti2v-5B/f"
	run 4 "$W" --json validate post ti2v-5B
	jq_is '[.checks[] | select(.id == "release.link")][0].message | test("unmanaged")' true

	# A defect makes deploy exit 4 and leaves production unchanged.
	rm -rf "$D/production/ti2v-5B"
	for defect in lfs-pointer truncated missing-file nan wrong-arch; do
		before=$(mtree "$D/production")
		rm -rf "$D/staging/$M"
		"$MKF" "$D/staging/$M" $M --variant 1 --defect "$defect" >/dev/null
		run 4 "$W" -q --json deploy $M || echo "  (deploy $defect)" >&2
		check "deploy with $defect: production unchanged" unchanged "$D/production" "$before"
		check "deploy with $defect: still release $REL" \
			test "$(basename "$(readlink "$D/production/$M")")" = "$REL"
	done
fi

# ---- 7. real files written by other tools ----------------------------------------------
RF=${WANCTL_SHARED:-$(dirname "$0")/../../../shared}/reference/realfiles
if [ -d "$RF" ]; then
	# The sharded FluxML checkpoint is a generic safetensors model.
	run 0 "$W" --json validate pre flux --source "$RF/index/fluxjl__sharded"
	jq_is '[.checks[] | select(.id == "staging.layout")][0].details.spec' safetensors
	jq_is "$(printf '[.checks[] | select(.id == "staging.index")][0].status')" pass
	jq_is "$(printf '[.checks[] | select(.id == "staging.safetensors")][0].status')" pass
	run 0 "$W" --json validate pre --full flux --source "$RF/index/fluxjl__sharded"
	jq_is "$(printf '[.checks[] | select(.id == "tensors.finite")][0].status')" pass
	# git-lfs pointers, named with the size they stand for.
	run 4 "$W" --json validate pre lfs --source "$RF/lfs-pointers"
	jq_is '[.checks[] | select(.id == "staging.lfs_pointer")][0].details.count' 3
	jq_is '[.checks[] | select(.id == "staging.lfs_pointer")][0].details.pointers[] | select(.file == "pythia410m__model.safetensors") | .size' 1415337224
	# Real .pth files: the 3-byte 'abc' is a placeholder, the legacy
	# pickle a warning, the zip archives intact.
	mkdir -p "$SCRATCH/pth" && cp "$RF"/pth/* "$SCRATCH/pth/"
	run 4 "$W" --json validate pre --full pth --source "$SCRATCH/pth"
	fails_are staging.placeholder
	jq_is '[.checks[] | select(.id == "staging.placeholder")][0].details.placeholders[0].file' burn__broken.pt
	jq_is "$(printf '[.checks[] | select(.id == "staging.pth")][0].status')" warn
	jq_is '[.checks[] | select(.id == "staging.pth")][0].details.legacy[0]' burn__simple_legacy.pt
	rm "$SCRATCH/pth/burn__broken.pt" "$SCRATCH/pth/burn__simple_legacy.pt"
	run 0 "$W" --json validate pre --full pth --source "$SCRATCH/pth"
	jq_is "$(printf '[.checks[] | select(.id == "staging.pth")][0].status')" pass
	# Real safetensors: the PASS files pass, the two FAIL files fail.
	run 4 "$W" --json validate pre st --source "$RF/safetensors"
	fails_are staging.placeholder,staging.safetensors
	jq_is '[.checks[] | select(.id == "staging.safetensors")][0].details.invalid_count' 1
	jq_is '[.checks[] | select(.id == "staging.safetensors")][0].details.invalid[0].file' stcpp__safetensors_abuse_attempt_1.safetensors
	jq_is '[.checks[] | select(.id == "staging.placeholder")][0].details.placeholders[0].file' flowerlora__pytorch_lora_weights.safetensors
else
	echo "$T: $RF not found: real-file cases skipped" >&2
fi

# ---- 8. usage ---------------------------------------------------------------------
run 2 "$W" validate
run 2 "$W" validate sideways
run 2 "$W" validate pre --source "$D/staging/t2v-1.3B" t2v-1.3B ti2v-5B
run 2 "$W" validate health
run 2 "$W" validate pre --bogus
run 2 "$W" validate pre ../etc
run 0 "$W" validate --help
out_has "validate pre"

DONE=1
echo "$T: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
