#!/bin/bash
# wanctl inspect against the corpora, the real files of
# $WANCTL_SHARED/reference/realfiles and files written here: exit statuses
# (0 valid, 4 invalid, 1 unreadable, 2 usage), the human output and --json.
set -eu
W=${WANCTL:-build/wanctl}
SRC=${WANCTL_SRC:-.}
R=${WANCTL_SHARED:-../shared}/reference/realfiles
C=$SRC/tests/corpus/safetensors
T=$(mktemp -d /tmp/wanctl-t_inspect.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# run EXPECTED_RC ARGS... ; output in $T/out, stderr in $T/err
run() {
	local want=$1 rc=0
	shift
	"$W" "$@" >"$T/out" 2>"$T/err" || rc=$?
	if [ "$rc" = "$want" ]; then ok; else bad "wanctl $* exited $rc, want $want: $(head -c 600 "$T/out" "$T/err")"; fi
}
has() { if grep -qF -- "$1" "$T/out"; then ok; else bad "output lacks '$1': $(head -c 600 "$T/out")"; fi; }
jq_is() { local got; got=$(jq -r "$1" "$T/out"); if [ "$got" = "$2" ]; then ok; else bad "jq '$1' = '$got', want '$2'"; fi; }

# real safetensors files: PASS ones valid, FAIL ones invalid (README verdicts)
files=""
for f in hfst__overall candle__voices candle__jfk-codes mlxex__adapters burn__multi_layer \
	fluxjl__model.with_metadata stcpp__model rst__hello tinygradmnist__model savetest__model \
	peftgpt2__adapter_model sdlora__pytorch_lora_weights textinv__learned_embeds; do
	files="$files $R/safetensors/$f.safetensors"
done
# shellcheck disable=SC2086
run 0 --json inspect $files
jq_is '[.files[] | select(.valid and .format == "safetensors")] | length' 13
run 4 inspect "$R/safetensors/stcpp__safetensors_abuse_attempt_1.safetensors"
has "header length 1000 + 8 exceeds the file size 88"
run 4 inspect "$R/safetensors/flowerlora__pytorch_lora_weights.safetensors"
has "shorter than the 8-byte header length field"

# one run over all of them, --json, --full (finite scan on every float tensor)
run 0 --json inspect --full "$R"/safetensors/{hfst__overall,mlxex__adapters,sdlora__pytorch_lora_weights,fluxjl__model.with_metadata}.safetensors
jq_is '.files | length' 4
jq_is '[.files[].valid] | all' true
jq_is '.files[1].metadata' null
jq_is '.files[2].tensors' 256
jq_is '.files[2].dtypes.BF16' 256
jq_is '.files[2].parameters' 829952
jq_is '.files[2].data_bytes' 1659904
jq_is '.files[3].finite' true
jq_is '.files[3].stats | length' 18
jq_is '.files[0].metadata.test' a

# the human summary
run 0 inspect "$R/safetensors/fluxjl__model.with_metadata.safetensors"
has "safetensors, 36 tensors, 1476 parameters"
has "BF16 3"
has "metadata: test=metadata version=2.2"

# .pth: zip ones valid, broken and legacy invalid with their own messages
files=""
for f in candle__test.pt candle__fortran_tensor_3d.pth candle__boolean.pt burn__bfloat16.pt \
	burn__checkpoint.pt burn__mnist.pt imdblora__rng_state.pth imdblora__scheduler.pt; do
	files="$files $R/pth/$f"
done
# shellcheck disable=SC2086
run 0 inspect --full $files
has "PyTorch zip archive 'scheduler', 6 entries, 0 data records"
has "PyTorch zip archive 'mnist', 24 entries, 20 data records"
has "8 files: 8 valid, 0 invalid"
run 4 inspect "$R/pth/burn__broken.pt"
has "not a zip archive"
run 4 --json inspect "$R/pth/burn__simple_legacy.pt"
jq_is '.files[0].format' pth-legacy
jq_is '.files[0].error | contains("legacy (pre-1.6, non-zip) PyTorch file")' true

# git-lfs pointers: reported with the size they stand for
run 4 inspect "$R/lfs-pointers/pythia410m__model.safetensors"
has "git-lfs pointer for 1.3 GiB (1415337224 bytes), oid sha256:d5d9a9d7a2b18fa5"
run 4 --json inspect "$R"/lfs-pointers/*
jq_is '[.files[].format] | unique | join(",")' lfs-pointer
jq_is '[.files[].lfs.size] | sort | map(tostring) | join(",")' 45118424,327211206,1415337224

# the sharded checkpoint: index checked with its shards
run 0 inspect "$R/index/fluxjl__sharded/model.safetensors.index.json" "$R"/index/fluxjl__sharded/*.safetensors
has "safetensors index, 36 tensors in 6 shards"
has "7 files: 7 valid, 0 invalid"
mkdir "$T/sh"
cp "$R"/index/fluxjl__sharded/* "$T/sh/"
chmod u+w "$T"/sh/*
rm "$T/sh/model-00004-of-00006.safetensors"
run 4 inspect "$T/sh/model.safetensors.index.json"
has "shard 'model-00004-of-00006.safetensors' named by the weight_map cannot be opened"
run 0 inspect "$R/index/wan22ti2v5b__config.json"

# corpora: accept -> 0, reject -> 4
run 0 --json inspect "$C"/accept/*.safetensors
jq_is '[.files[] | select(.valid | not)] | length' 0
jq_is '.files | length >= 16' true
run 4 --json inspect "$C"/reject/*.safetensors
jq_is '[.files[] | select(.valid)] | length' 0
jq_is '.files | length >= 45' true
jq_is '[.files[].error] | unique | length >= 40' true
run 4 inspect "$C/reject/dup_differential.safetensors"
has "duplicate key 'w'"

# a NaN in the data: only --full sees it, naming tensor and element index
python3 - "$T/nan.safetensors" <<'PY'
import struct, sys
h = b'{"ok":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"blk.w":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]}}'
d = struct.pack("<2f", 1.0, 2.0) + struct.pack("<4H", 0x3f80, 0x3f80, 0x7fc0, 0)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + d)
PY
run 0 inspect "$T/nan.safetensors"
run 4 inspect --full "$T/nan.safetensors"
has "tensor 'blk.w' of '$T/nan.safetensors' holds NaN at element 2"

# placeholders and misnamed files
: > "$T/empty.safetensors"
run 4 inspect "$T/empty.safetensors"
has "is empty"
cp "$R/pth/candle__test.pt" "$T/zip.safetensors"
run 4 inspect "$T/zip.safetensors"
has "is a zip archive"

# mixed: one invalid -> 4; unreadable -> 1; usage -> 2
run 4 inspect "$R/safetensors/hfst__overall.safetensors" "$R/pth/burn__broken.pt"
has "2 files: 1 valid, 1 invalid"
run 1 inspect "$T/does-not-exist.safetensors"
grep -q "cannot open" "$T/err" && ok || bad "no 'cannot open' on stderr"
run 1 inspect "$T"
run 2 inspect
run 2 inspect --bogus "$R/safetensors/hfst__overall.safetensors"
run 0 inspect --help
has "--full"

echo "t_inspect: $pass passed, $fail failed"
[ "$fail" = 0 ]
