#ifndef WANCTL_FORMATS_H
#define WANCTL_FORMATS_H
/*
 * Checkpoint formats: safetensors headers (and sharded indexes), the
 * streaming tensor scan, PyTorch zip archives (.pth), git-lfs pointers and
 * the per-file inspection used by `wanctl inspect` and by validation.
 *
 * Every function here reads untrusted bytes. Limits (all rejected cleanly,
 * WAN_ECORRUPT with a message naming the file, tensor and byte offset):
 *   - safetensors header length N <= WAN_ST_HEADER_MAX (100,000,000), and
 *     8 + N <= file size, both checked before anything is allocated;
 *   - header is strict UTF-8 (no overlong forms, no surrogates, <= U+10FFFF);
 *   - JSON nesting depth <= WAN_ST_DEPTH_MAX (128; 129 is rejected);
 *   - at most WAN_ST_TENSORS_MAX (1,000,000) tensors, WAN_ST_NDIM_MAX (16)
 *     dimensions per tensor;
 *   - whitespace policy: JSON whitespace (space, tab, CR, LF) before and
 *     after the header object is accepted (safetensors PR #686; the
 *     reference writer pads with trailing spaces); anything else is not;
 *   - duplicate keys are rejected everywhere (tensor names, entry fields,
 *     __metadata__ keys), stricter than the reference;
 *   - unknown fields inside a tensor entry are ignored (as serde does) but
 *     must be well-formed JSON within the depth limit;
 *   - __metadata__ is null or an object of string values;
 *   - strings may not contain U+0000 (as \u0000) or lone surrogates.
 * Integers (shape dimensions, offsets) are unsigned 64-bit decimal
 * integers; a sign, fraction or exponent is a schema error, a value above
 * 2^64-1 is rejected, and every size product/sum is overflow-checked.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wanctl/report.h"
#include "wanctl/safetensors.h"

#define WAN_ST_HEADER_MAX 100000000ULL
#define WAN_ST_DEPTH_MAX 128
#define WAN_ST_TENSORS_MAX 1000000
#define WAN_ST_NDIM_MAX 16

struct wan_st_tensor {
	char *name;
	const struct wan_st_dtype *dtype;
	unsigned ndim;
	uint64_t shape[WAN_ST_NDIM_MAX];
	uint64_t begin, end;    /* offsets relative to data start */
};

struct wan_st_header {
	uint64_t header_len;
	uint64_t data_start;    /* 8 + header_len */
	uint64_t file_size;
	size_t ntensors;
	struct wan_st_tensor *tensors;  /* in file (offset) order */
	json_t *metadata;       /* NULL or object (string values) */
};

/*
 * Parse and validate the header of an open safetensors file of file_size
 * bytes: every rule of the reference plus the limits above. Reads only the
 * header (pread). name is used in messages. Returns 0, WAN_ECORRUPT
 * (invalid), WAN_EIO (read error) or WAN_ENOMEM; *out is set on success
 * and owned by the caller (wan_st_header_free).
 */
int wan_st_parse_fd(struct wan_st_header **out, int fd, uint64_t file_size,
		    const char *name);
/* The same on a whole file in memory (fuzzing, tests). */
int wan_st_parse_buf(struct wan_st_header **out, const void *buf, size_t len,
		     const char *name);
/*
 * The same through a read callback: read(ctx, dst, len, off) fills dst with
 * exactly len bytes at file offset off and returns 0, or a negative WAN_E*
 * code with a message. Only [0, 8 + N) is ever requested.
 */
typedef int (*wan_st_read_fn)(void *ctx, void *dst, size_t len, uint64_t off);
int wan_st_parse_cb(struct wan_st_header **out, wan_st_read_fn read, void *ctx,
		    uint64_t file_size, const char *name);
void wan_st_header_free(struct wan_st_header *h);

/* Number of elements of t (the header check guarantees no overflow). */
uint64_t wan_st_tensor_elements(const struct wan_st_tensor *t);
/* Index of the tensor named name, or -1 (linear scan). */
long wan_st_header_find(const struct wan_st_header *h, const char *name);

/*
 * Streaming finite scan + per-tensor stats while another component streams
 * the file bytes in order (no second read). feed() gets consecutive chunks
 * starting at file offset 0 (any chunk sizes, elements may straddle chunk
 * ends). finish() returns WAN_ECORRUPT with a message naming the tensor and
 * element index of the first NaN/Inf, or WAN_ECORRUPT when fewer or more
 * bytes than the file size were fed; *stats_out (may be NULL; set even on
 * WAN_ECORRUPT for a NaN/Inf) = {"<tensor>": {"dtype","min","max","mean",
 * "std","zeros","count","nonfinite"}, ...} for float tensors (F16, BF16,
 * F32, F64, F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E8M0; F4/F6
 * have no NaN/Inf encodings and are not scanned). min/max/mean/std cover
 * the finite elements (null when there are none); std is the population
 * standard deviation. h must outlive ts.
 */
struct wan_tscan;
int wan_tscan_new(struct wan_tscan **out, const struct wan_st_header *h,
		  const char *name);
int wan_tscan_feed(struct wan_tscan *ts, const void *buf, size_t len);
int wan_tscan_finish(struct wan_tscan *ts, json_t **stats_out);
void wan_tscan_free(struct wan_tscan *ts);

/*
 * git-lfs pointer: returns 1 if buf (first bytes of a file, up to 1024) is
 * a well-formed pointer ("version https://git-lfs.github.com/spec/v1",
 * "oid sha256:<64 lowercase hex>", "size <decimal>", other keys allowed,
 * LF line ends), filling oid and size; 0 if not.
 */
#define WAN_LFS_POINTER_MAX 1024
int wan_lfs_pointer_parse(const void *buf, size_t len, char oid[65],
			  uint64_t *size);

/*
 * .pth: a valid zip (zip64 aware: EOCD, central directory, local headers
 * bounded by the file size, entries not overlapping, no duplicate names, no
 * encryption) with the PyTorch layout (<archive>/data.pkl, <archive>/version
 * or <archive>/.format_version, <archive>/data/<n>). check_crc re-reads the
 * stored entries and checks CRC-32 (streamed, 1 MiB buffer). Never
 * unpickles. *summary (may be NULL) gets {"archive","entries",
 * "data_records","bytes"}. Returns 0 or WAN_ECORRUPT with a message naming
 * file and entry/offset (WAN_EIO on read errors); a legacy (non-zip,
 * pickle 0x80 0x02) torch file is reported as such (its own message).
 * Limits: at most WAN_PTH_ENTRIES_MAX entries, central directory at most
 * WAN_PTH_CD_MAX bytes.
 */
#define WAN_PTH_ENTRIES_MAX 1000000
#define WAN_PTH_CD_MAX (256ULL << 20)
int wan_pth_check_fd(int fd, uint64_t file_size, int check_crc,
		     const char *name, json_t **summary);
int wan_pth_check_buf(const void *buf, size_t len, int check_crc,
		      const char *name, json_t **summary);

/*
 * A parsed <stem>.safetensors.index.json: {"metadata": {"total_size": n,
 * ...}?, "weight_map": {"tensor": "shard file", ...}}. Shard names must be
 * confined relative paths (path_check_relative). Duplicate keys rejected.
 */
#define WAN_ST_INDEX_MAX (256ULL << 20)
struct wan_st_index {
	json_t *root;           /* the whole document */
	json_t *weight_map;     /* borrowed from root */
	int has_total_size;
	uint64_t total_size;
	size_t nshards;
	char **shards;          /* distinct shard names, sorted */
};
int wan_st_index_parse(struct wan_st_index **out, const void *buf, size_t len,
		       const char *name);
void wan_st_index_free(struct wan_st_index *ix);

/*
 * Sharded checkpoint: dir holds index_relpath (<stem>.safetensors.index.json);
 * checks weight_map names exist as shards, every <stem>-NNNNN-of-MMMMM shard
 * file in the index's folder is referenced, the series is complete, no
 * tensor in two shards, every weight_map tensor is in the shard it names
 * and every shard tensor is in the weight_map, shard headers are valid,
 * metadata.total_size equals the sum of tensor bytes. Adds checks (id
 * "staging.index", model may be NULL) to rep: one "fail" per problem (at
 * most 20, then a summary), or one "pass". Returns 0 (see rep), or
 * WAN_ENOMEM.
 */
int wan_st_index_check(const char *dir, const char *index_relpath,
		       const char *model, struct wan_report *rep);

/*
 * Detect the format by name + content and check one file: "safetensors",
 * "pth" (zip), "pth-legacy", "lfs-pointer", "index" (*.index.json), "json",
 * "empty", "unknown". *summary = {"file","format","valid","error",
 * "size", and per format: "tensors","dtypes":{...},"parameters",
 * "data_bytes","header_bytes","metadata" (safetensors), "archive",
 * "entries","data_records","bytes" (pth), "lfs":{"oid","size"},
 * "weight_map_entries","shards","total_size" (index)}. A git-lfs pointer,
 * an empty file and an unrecognised file are invalid. full: safetensors
 * data is scanned for NaN/Inf ("stats" added), .pth CRCs are checked.
 * Returns 0 if valid, WAN_ECORRUPT if invalid (summary filled, "error" set),
 * or another negative code when the file cannot be read (summary NULL).
 */
int wan_inspect_file(const char *path, int full, json_t **summary);

#endif
