#!/bin/sh
# Regenerates the committed seed inputs of the format fuzz targets:
#   corpus/st_declared/  8-byte declared file size + the first bytes of a file
#   corpus/pth/          PyTorch-layout zip archives (plain, zip64, odd ones)
#   corpus/index/        shard index documents
# (fuzz_st_header uses tests/corpus/safetensors/{accept,reject} directly.)
# Needs python3 (stdlib only).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 - "$here" <<'PY'
import io, os, struct, sys, zipfile, shutil, json
here = sys.argv[1]
st = os.path.join(here, "..", "corpus", "safetensors")
out = os.path.join(here, "corpus")
for t in ("st_declared", "pth", "index"):
    shutil.rmtree(os.path.join(out, t), ignore_errors=True)
    os.makedirs(os.path.join(out, t))

def put(t, name, data):
    with open(os.path.join(out, t, name), "wb") as f:
        f.write(data)

# st_declared: real size, bigger, smaller, huge
for sub in ("accept", "reject"):
    for fn in sorted(os.listdir(os.path.join(st, sub))):
        if not fn.endswith(".safetensors"):
            continue
        b = open(os.path.join(st, sub, fn), "rb").read()
        if len(b) > 4096:
            continue
        put("st_declared", sub + "_" + fn, struct.pack("<Q", len(b)) + b)
b = open(os.path.join(st, "accept", "unsorted.safetensors"), "rb").read()
put("st_declared", "bigger", struct.pack("<Q", len(b) + (1 << 33)) + b)
put("st_declared", "smaller", struct.pack("<Q", len(b) - 1) + b)
put("st_declared", "huge", struct.pack("<Q", (1 << 64) - 1) + b)
put("st_declared", "hdr_100m", struct.pack("<QQ", 200000000, 100000000) + b"{}")

# pth: torch.save-like layout
def torchzip(arc="archive", zip64=False, extra=True, records=2, comment=b""):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
        def w(n, d):
            zi = zipfile.ZipInfo(arc + "/" + n)
            with z.open(zi, "w", force_zip64=zip64) as f:
                f.write(d)
        w("data.pkl", b"\x80\x02}q\x00(X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02.")
        w("byteorder", b"little")
        for i in range(records):
            w("data/%d" % i, bytes(range(64)) * (i + 1))
        w("version", b"3\n")
        if extra:
            w(".format_version", b"1")
            w(".storage_alignment", b"64")
            w(".data/serialization_id", b"1234567890123456789012345678901234567890")
        z.comment = comment
    return bio.getvalue()
put("pth", "plain.pth", torchzip())
put("pth", "zip64.pth", torchzip(zip64=True))
put("pth", "old_layout.pt", torchzip(arc="test", extra=False, records=1))
put("pth", "no_records.pt", torchzip(arc="scheduler", records=0))
put("pth", "comment.pth", torchzip(comment=b"a zip comment"))
put("pth", "legacy.pt", b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.")
put("pth", "truncated.pth", torchzip()[:-30])
put("pth", "empty_zip.zip", b"PK\x05\x06" + bytes(18))

# index
put("index", "fluxjl_like.json", json.dumps({"metadata": {"total_size": 4305},
    "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}, indent=2).encode())
put("index", "no_meta.json", b'{"weight_map":{"x.weight":"diffusion_pytorch_model-00001-of-00001.safetensors"}}')
put("index", "crlf.json", b'{\r\n  "metadata": {"total_size": 16292561536},\r\n  "weight_map": {"t": "m.safetensors"}\r\n}\r\n')
put("index", "dup.json", b'{"weight_map":{"a":"x.safetensors","a":"y.safetensors"}}')
put("index", "unsafe.json", b'{"weight_map":{"a":"../x.safetensors"}}')
put("index", "real_total.json", b'{"metadata":{"total_size":1.5e10},"weight_map":{}}')
print("seeds written")
PY
