#!/bin/sh
# Benchmarks of the format layer:
#  1. `wanctl inspect` of a Wan2.1-14B-shaped sharded checkpoint: 6 shards,
#     ~1,100 BF16 tensors (dim 5120, ffn 13824, 40 blocks), data sparse
#     (inspect reads headers only); target < 50 ms. Also the index check of
#     the same set (all shard headers + the weight_map).
#  2. tensor-scan throughput: `inspect --full` (reads + scans every tensor)
#     of a 1 GiB BF16 file with real data, against `cat` (read only) and
#     `openssl dgst -sha256` (the hashing ingest must do anyway; wanctl
#     hashes with OpenSSL EVP too) of the same file. Wall and CPU (user +
#     system) times are both printed: on a shared machine the CPU figures
#     are the ones to trust. tests/unit/test_tscan prints the in-cache
#     scan throughput (CPU time) as well.
# Usage: bench/bench_inspect.sh [BUILD]   (needs hyperfine, python3)
set -eu
cd "$(dirname "$0")/.."
W=${1:-build}/wanctl
[ -x "$W" ] || { echo "no $W: build first (make)"; exit 1; }
D=$(mktemp -d "${TMPDIR:-/tmp}/wanctl-bench-inspect.XXXXXX")
trap 'rm -rf "$D"' EXIT

python3 - "$D" <<'PY'
import json, os, struct, sys
d = sys.argv[1]
dim, ffn, text, freq, L = 5120, 13824, 4096, 256, 40
T = []
def t(n, *shape): T.append((n, list(shape)))
t("patch_embedding.weight", dim, 16, 1, 2, 2); t("patch_embedding.bias", dim)
for p in ("text_embedding.0", "text_embedding.2"):
    t(p + ".weight", dim, text if p.endswith("0") else dim); t(p + ".bias", dim)
for p in ("time_embedding.0", "time_embedding.2"):
    t(p + ".weight", dim, freq if p.endswith("0") else dim); t(p + ".bias", dim)
t("time_projection.1.weight", dim * 6, dim); t("time_projection.1.bias", dim * 6)
for i in range(L):
    b = "blocks.%d." % i
    t(b + "modulation", 1, 6, dim)
    for a in ("self_attn", "cross_attn"):
        for q in "qkvo":
            t(b + a + "." + q + ".weight", dim, dim); t(b + a + "." + q + ".bias", dim)
        t(b + a + ".norm_q.weight", dim); t(b + a + ".norm_k.weight", dim)
    t(b + "norm3.weight", dim); t(b + "norm3.bias", dim)
    t(b + "ffn.0.weight", ffn, dim); t(b + "ffn.0.bias", ffn)
    t(b + "ffn.2.weight", dim, ffn); t(b + "ffn.2.bias", dim)
t("head.modulation", 1, 2, dim); t("head.head.weight", 64, dim); t("head.head.bias", 64)
n = len(T)
shards, per = 6, (n + 5) // 6
wm, total = {}, 0
for s in range(shards):
    name = "diffusion_pytorch_model-%05d-of-%05d.safetensors" % (s + 1, shards)
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for tn, shape in T[s * per:(s + 1) * per]:
        size = 2
        for x in shape: size *= x
        hdr[tn] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + size]}
        off += size
        wm[tn] = name
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.truncate(8 + len(h) + off)   # sparse data
    total += off
with open(os.path.join(d, "diffusion_pytorch_model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)
# 1 GiB of BF16 with real values (N(0, 0.02)-like, no NaN)
import random
random.seed(1)
n1 = (1 << 30) // 2
blk = bytearray()
for i in range(1 << 20):
    v = random.gauss(0, 0.02)
    blk += struct.pack("<f", v)[2:4]
blk = bytes(blk)  # 2 MiB of bf16
hdr = json.dumps({"w": {"dtype": "BF16", "shape": [n1], "data_offsets": [0, n1 * 2]}}).encode()
with open(os.path.join(d, "scan.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr)
    for i in range((n1 * 2) // len(blk)):
        f.write(blk)
print("%d tensors in %d shards, %.1f GB (sparse)" % (n, shards, total / 1e9))
PY

echo "== 1. inspect, 6 shards (headers only)"
"$W" inspect "$D"/diffusion_pytorch_model-*.safetensors | tail -1
hyperfine -N --warmup 5 --runs 50 --export-json "$D/h1.json" \
	"$W inspect $D/diffusion_pytorch_model-00001-of-00006.safetensors $D/diffusion_pytorch_model-00002-of-00006.safetensors $D/diffusion_pytorch_model-00003-of-00006.safetensors $D/diffusion_pytorch_model-00004-of-00006.safetensors $D/diffusion_pytorch_model-00005-of-00006.safetensors $D/diffusion_pytorch_model-00006-of-00006.safetensors" \
	"$W inspect $D/diffusion_pytorch_model.safetensors.index.json" >/dev/null
python3 - "$D/h1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
for name, x in zip(("inspect 6 shards", "inspect index (+6 shard headers)"), r):
    print("%-36s mean %.1f ms  (min %.1f, max %.1f)  target < 50 ms: %s" % (
        name, x["mean"] * 1e3, x["min"] * 1e3, x["max"] * 1e3, "ok" if x["mean"] < 0.05 else "MISSED"))
PY

echo "== 2. tensor scan of 1 GiB BF16 (page cache warm)"
cat "$D/scan.safetensors" >/dev/null
hyperfine -N --warmup 1 --runs 5 --export-json "$D/h2.json" \
	"cat $D/scan.safetensors" \
	"openssl dgst -sha256 $D/scan.safetensors" \
	"$W inspect $D/scan.safetensors" \
	"$W inspect --full $D/scan.safetensors" >/dev/null
python3 - "$D/h2.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
def key(c):
    return c.split()[0].split("/")[-1] + (" --full" if "--full" in c else "")
gib = (1 << 30) / 1e9
r = {key(x["command"]): x for x in res}
cat, sha, hdr, full = r["cat"], r["openssl"], r["wanctl"], r["wanctl --full"]
print("wall: cat %.3f s, openssl sha256 %.3f s, inspect --full %.3f s" % (cat["mean"], sha["mean"], full["mean"]))
# The scan is user time: inspect --full minus header-only inspect. The
# read (pread from the page cache) is system time, which ingest pays anyway.
scan = max(full["user"] - hdr["user"], 1e-9)
shacpu = sha["user"] + sha["system"]
print("cpu:  scan %.3f s = %.2f GB/s; sha256 %.3f s = %.2f GB/s; read (cat) %.3f s"
      % (scan, gib / scan, shacpu, gib / shacpu, cat["user"] + cat["system"]))
print("scan = %.1f%% of read + sha256 CPU (the least ingest does; target < 10%%)"
      % (100 * scan / (shacpu + cat["user"] + cat["system"])))
PY
