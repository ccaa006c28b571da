#!/bin/sh
# Regenerates tests/corpus/safetensors/{accept,reject}/ (committed). Each
# reject file has a line "<file>\t<substring its error must contain>" in
# reject/EXPECT; every accept file must parse. Rules: safetensors.md §5 and
# reliability-test-plan.md item 15. Needs python3 (stdlib only).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 - "$here/safetensors" <<'PY'
import os, struct, sys, shutil
root = sys.argv[1]
acc, rej = os.path.join(root, "accept"), os.path.join(root, "reject")
for d in (acc, rej):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)

def raw(path, header, data=b"", n=None):
    if isinstance(header, str):
        header = header.encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header) if n is None else n) + header + data)

def A(name, header, data=b"", n=None):
    raw(os.path.join(acc, name + ".safetensors"), header, data, n)

expect = []
def R(name, sub, header, data=b"", n=None):
    raw(os.path.join(rej, name + ".safetensors"), header, data, n)
    expect.append((name + ".safetensors", sub))

F32x2 = '"dtype":"F32","shape":[2],"data_offsets":[0,8]'
# ---- accept corpus
A("empty", "{}")
A("empty_padded", "{}      ")
A("scalar", '{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', b"\0\0\x80\x3f")
A("zero_size", '{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},'
  '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
  '"z2":{"dtype":"BF16","shape":[4,0,3],"data_offsets":[8,8]}}', bytes(8))
A("zero_size_huge_dim", '{"z":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}}')
A("metadata", '{"__metadata__":{"format":"pt","note":"caf\\u00e9 \\"q\\""},"a":{%s}}' % F32x2, bytes(8))
A("metadata_null", '{"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},"__metadata__":null}', bytes(8))
A("metadata_empty", '{"__metadata__":{},"a":{%s}}' % F32x2, bytes(8))
A("leading_ws", ' \n\t\r{"a":{%s}}' % F32x2, bytes(8))
A("trailing_ws", '{"a":{%s}}   \t\r\n  ' % F32x2, bytes(8))
h = '{"a":{%s}}' % F32x2
A("aligned8", h + " " * (-len(h) % 8), bytes(8))
A("unsorted", '{"b":{"data_offsets":[8,12],"dtype":"I32","shape":[1]},'
  '"a":{"shape":[2],"dtype":"F32","data_offsets":[0,8]},'
  '"c":{"dtype":"U8","shape":[2,2],"data_offsets":[12,16]}}', bytes(16))
A("names", '{"<detail-schemas>":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
  '"blocks.0.attn\\/q":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},'
  '"\\u00e9\\ud83d\\ude00":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},'
  '"\u65e5\u672c":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}', bytes(4))
A("unknown_field", '{"a":{"dtype":"F32","shape":[2],"extra":[1,{"k":[true,false,null,-1.5e3]}],"data_offsets":[0,8]}}', bytes(8))
A("depth128", '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":%s}}' % ("[" * 126 + "]" * 126), bytes(1))
# every dtype, sub-byte ones with whole bytes
dts = [("BOOL",8),("F4",4),("F6_E2M3",6),("F6_E3M2",6),("U8",8),("I8",8),("F8_E5M2",8),
       ("F8_E4M3",8),("F8_E8M0",8),("F8_E4M3FNUZ",8),("F8_E5M2FNUZ",8),("I16",16),("U16",16),
       ("F16",16),("BF16",16),("I32",32),("U32",32),("F32",32),("C64",64),("F64",64),
       ("I64",64),("U64",64)]
ents, off = [], 0
for name, bits in dts:
    n = 4 if bits == 6 else 2 if bits == 4 else 3
    size = n * bits // 8
    ents.append('"t_%s":{"dtype":"%s","shape":[%d],"data_offsets":[%d,%d]}' % (name, name, n, off, off + size))
    off += size
A("every_dtype", "{" + ",".join(ents) + "}", bytes(off))

# ---- reject corpus: one per error class
with open(os.path.join(rej, "too_small.safetensors"), "wb") as f:
    f.write(b"\x02\0\0\0\0")
expect.append(("too_small.safetensors", "shorter than the 8-byte"))
R("header_too_large", "exceeds the limit of 100000000", "{}", n=100000001)
R("header_beyond_eof", "exceeds the file size", '{"a":{%s}}' % F32x2, bytes(8), n=1000)
R("empty_header", "header is empty or blank", "", n=0)
R("blank_header", "header is empty or blank", "        ")
R("not_utf8", "not valid UTF-8", b'{"a\xff":{' + F32x2.encode() + b'}}', bytes(8))
R("overlong_utf8", "not valid UTF-8", b'{"a\xc0\xaf":{' + F32x2.encode() + b'}}', bytes(8))
R("surrogate_utf8", "not valid UTF-8", b'{"a\xed\xa0\x80":{' + F32x2.encode() + b'}}', bytes(8))
R("bad_json", "invalid JSON: expected a string", '{"a":{"dtype":"F32",}}')
R("bad_json_unterminated", "unterminated string", '{"a')
R("not_object", "does not start with an object", "[]")
R("trailing_garbage", "after the header object", "{} x")
R("control_char", "control character", '{"a\tb":{%s}}' % F32x2, bytes(8))
R("unknown_dtype", "unknown dtype 'F128'", '{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', bytes(16))
R("dtype_not_string", "dtype of tensor 'a' is not a string", '{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}', bytes(4))
R("entry_not_object", "entry of tensor 'a' is not an object", '{"a":[1,2]}')
R("missing_shape", "has no 'shape'", '{"a":{"dtype":"F32","data_offsets":[0,4]}}', bytes(4))
R("gap", "gap in the data buffer: bytes [4,8)",
  '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', bytes(12))
R("gap_at_start", "gap in the data buffer: bytes [0,4)", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8))
R("overlap", "overlap tensor",
  '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12))
R("overlap_zero_size_inside", "overlap tensor",
  '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}', bytes(8))
R("end_before_begin", "before begin offset", '{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}', bytes(8))
R("size_mismatch", "needs 8 bytes", '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', bytes(4))
R("shape_overflow", "overflows 64 bits", '{"a":{"dtype":"F32","shape":[2,18446744073709551614],"data_offsets":[0,8]}}', bytes(8))
R("shape_overflow_to_4", "overflows 64 bits",
  '{"a":{"dtype":"U8","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}', bytes(4))
R("bits_overflow", "overflows 64 bits", '{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}', bytes(8))
R("subbyte", "not a whole number of bytes", '{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', bytes(2))
R("subbyte_f6", "not a whole number of bytes", '{"a":{"dtype":"F6_E2M3","shape":[3],"data_offsets":[0,3]}}', bytes(3))
R("trailing_bytes", "trailing bytes after the last tensor", '{"a":{%s}}' % F32x2, bytes(8) + b"PK\3\4polyglot")
R("missing_bytes", "bytes missing", '{"a":{%s}}' % F32x2, bytes(6))
R("metadata_not_string", "__metadata__ value of key 'n' is not a string", '{"__metadata__":{"n":1}}')
R("metadata_nested", "__metadata__ value of key 'o' is not a string", '{"__metadata__":{"o":{"a":"b"}}}')
R("metadata_array", "__metadata__ must be an object of strings or null", '{"__metadata__":["a"]}')
R("nesting", "JSON nesting deeper than 128", '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":%s}}' % ("[" * 127 + "]" * 127), bytes(1))
R("nesting_deep", "JSON nesting deeper than 128", '{"a":{"x":%s}}' % ("[" * 100000))
R("dup_tensor", "duplicate key 'a'",
  '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8))
R("dup_differential", "duplicate key 'w'",
  '{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4))
R("dup_field", "duplicate key 'dtype' in tensor 'a'", '{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', bytes(4))
R("dup_metadata", "duplicate key '__metadata__'", '{"__metadata__":{},"__metadata__":{}}')
R("dup_metadata_key", "duplicate key 'k' in __metadata__", '{"__metadata__":{"k":"1","k":"2"}}')
R("offsets_arity1", "must have 2 entries, not 1", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', bytes(4))
R("offsets_arity3", "must have 2 entries, not at least 3", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}', bytes(4))
R("negative_shape", "entry 0 of shape of tensor 'a' is negative", '{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', bytes(4))
R("float_shape", "entry 0 of shape of tensor 'a' is not an integer", '{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', bytes(4))
R("exp_offset", "entry 1 of data_offsets of tensor 'a' is not an integer", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4e0]}}', bytes(4))
R("huge_integer", "exceeds 2^64-1", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}', bytes(4))
R("ndim17", "has more than 16 entries", '{"a":{"dtype":"U8","shape":[%s],"data_offsets":[0,1]}}' % ",".join(["1"] * 17), bytes(1))
R("nul_in_name", "\\u0000 (NUL) in string", '{"a\\u0000b":{%s}}' % F32x2, bytes(8))
R("lone_surrogate", "lone surrogate", '{"\\ud800":{%s}}' % F32x2, bytes(8))
with open(os.path.join(rej, "lfs_pointer.safetensors"), "wb") as f:
    f.write(b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 + b"\nsize 12345\n")
expect.append(("lfs_pointer.safetensors", "exceeds the limit of 100000000"))
with open(os.path.join(rej, "EXPECT"), "w") as f:
    for name, sub in expect:
        f.write("%s\t%s\n" % (name, sub))
print("accept: %d files, reject: %d files" % (len(os.listdir(acc)), len(expect)))
PY
