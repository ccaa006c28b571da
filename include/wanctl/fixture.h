#ifndef WANCTL_FIXTURE_H
#define WANCTL_FIXTURE_H
/*
 * Miniature but structurally faithful Wan checkpoints, for the demo, the
 * tests and the benchmarks; plus the two writers they need: a streaming
 * safetensors writer and a minimal torch.save zip writer.
 *
 * A fixture has the folder layout and file names of the catalog spec
 * (expert subfolders, diffusion_pytorch_model-0000N-of-0000M.safetensors
 * with a consistent .safetensors.index.json, T5/VAE/CLIP .pth as real
 * PyTorch zip archives, tokenizer folders, wav2vec2, process_checkpoint),
 * a config.json with the real keys but small dim/ffn_dim/heads/layers (the
 * real in_dim/out_dim/model_type), and exactly the tensors
 * wan_arch_expected() derives from that config.json, filled with
 * deterministic pseudo-random BF16 values (finite, |x| in [2^-8, 2^-4)).
 * Not derived, hence not written: s2v audio modules and animate
 * motion/face modules (see wan_arch_expected's open prefixes).
 */
#include <stddef.h>
#include <stdint.h>

#include "wanctl/catalog.h"

/* ---- safetensors writer -------------------------------------------------- */

/*
 * Usage: open, add every tensor (and metadata), begin (writes the header:
 * tensors sorted by name, data in that order, header padded with spaces so
 * the data starts 8-aligned, as the reference writer does), then for
 * i = 0..count-1 write exactly tensor_at(i)'s bytes with write() (any chunk
 * sizes), then finish (checks the byte count, closes). free() is NULL-safe
 * and closes an unfinished file (leaving what was written).
 */
struct wan_st_writer;

int wan_st_writer_open(struct wan_st_writer **out, const char *path);
/* dtype: a name of the allow-list ("BF16", "F32", ...). Copies name. */
int wan_st_writer_add(struct wan_st_writer *w, const char *name,
		      const char *dtype, const uint64_t *shape, uint32_t ndim);
int wan_st_writer_metadata(struct wan_st_writer *w, const char *key,
			   const char *value);
int wan_st_writer_begin(struct wan_st_writer *w);
size_t wan_st_writer_count(const struct wan_st_writer *w);
/* The i-th tensor in data order: name and byte size. */
const char *wan_st_writer_tensor_at(const struct wan_st_writer *w, size_t i,
				    uint64_t *nbytes);
int wan_st_writer_write(struct wan_st_writer *w, const void *data, size_t len);
int wan_st_writer_finish(struct wan_st_writer *w);
/* Header length N (after begin) and the total file size 8 + N + data. */
uint64_t wan_st_writer_header_len(const struct wan_st_writer *w);
uint64_t wan_st_writer_file_size(const struct wan_st_writer *w);
void wan_st_writer_free(struct wan_st_writer *w);

/* ---- torch.save zip writer -------------------------------------------------- */

struct wan_pth_tensor {
	const char *name;
	const char *dtype;          /* "BF16", "F16", "F32", "I64" */
	const uint64_t *shape;
	uint32_t ndim;
	const void *data;           /* contiguous, little-endian */
	size_t nbytes;              /* = numel * element size */
};

enum wan_pth_flags {
	/* Pickle {"state_dict": OrderedDict(...)} instead of the OrderedDict
	 * (relighting_lora.ckpt is read as torch.load(...)["state_dict"]). */
	WAN_PTH_STATE_DICT = 1 << 0,
};

/*
 * Write a torch.save (>= 1.6, zip) archive: <archive>/data.pkl (protocol 2
 * pickle of an OrderedDict of tensors rebuilt with
 * torch._utils._rebuild_tensor_v2 on BFloat16Storage/HalfStorage/
 * FloatStorage/LongStorage), .format_version, .storage_alignment,
 * byteorder, data/<n> (payload 64-byte aligned like torch), version,
 * .data/serialization_id; all stored, with CRC-32. No zip64: each entry and
 * the archive must stay below 4 GiB (WAN_EINVAL).
 */
int wan_pth_write(const char *path, const char *archive,
		  const struct wan_pth_tensor *t, size_t n, unsigned flags);

/* ---- fixtures ---------------------------------------------------------------- */

enum wan_fixture_defect {
	WAN_DEFECT_NONE = 0,
	WAN_DEFECT_LFS_POINTER,     /* a file replaced by its git-lfs pointer */
	WAN_DEFECT_ZERO_BYTE,       /* a file left empty */
	WAN_DEFECT_TRUNCATED,       /* a shard cut short (header intact) */
	WAN_DEFECT_MISSING_FILE,    /* a required file not written */
	WAN_DEFECT_NAN,             /* one NaN element in one tensor */
	WAN_DEFECT_WRONG_ARCH,      /* i2v weights under a t2v config (or t2v
				     * weights under an i2v/flf2v/animate one) */
	WAN_DEFECT_BAD_INDEX_SHARD, /* weight_map names a shard that is absent */
	WAN_DEFECT_BAD_INDEX_SIZE,  /* metadata.total_size is wrong */
	WAN_DEFECT_MISSING_BLOCK,   /* the last transformer block's tensors absent */
};

/* "lfs-pointer", "zero-byte", "truncated", "missing-file", "nan",
 * "wrong-arch", "bad-index-shard", "bad-index-size", "missing-block". */
const char *wan_fixture_defect_name(enum wan_fixture_defect d);
int wan_fixture_defect_parse(const char *name, enum wan_fixture_defect *out);

struct wan_fixture_opts {
	uint64_t seed;              /* data seed */
	/* 0: first release. N > 0: the last shard (or the single DiT file) of
	 * each DiT folder holds different values; every other file is
	 * byte-identical to variant 0 of the same seed. */
	uint32_t variant;
	/* Approximate bytes per DiT shard (single file: the file). 0: the
	 * miniature default (dim 64, a few hundred KiB per DiT). Larger values
	 * widen dim/ffn_dim (2 layers); 1 KiB .. many GiB. */
	uint64_t shard_bytes;
	enum wan_fixture_defect defect;
	/* Relative path the file defects (lfs, zero-byte, truncated, missing)
	 * apply to; NULL: a default (the first shard of the first DiT
	 * folder; missing-file: the VAE .pth). */
	const char *defect_file;
	/* NaN tensor name; NULL: blocks.0.self_attn.q.weight. */
	const char *defect_tensor;
};

struct wan_fixture_result {
	uint64_t bytes;             /* bytes written */
	uint64_t files;             /* files written */
	char defect_path[512];      /* relative path of the planted defect */
	char defect_tensor[256];    /* NaN: tensor name */
	uint64_t defect_index;      /* NaN: element index */
	uint32_t dim;               /* DiT dim used */
};

/*
 * Write the fixture of the catalog spec spec_name (built-in or user spec
 * with an architecture; "safetensors" writes a generic 2-shard checkpoint)
 * into dir (created; existing files are overwritten). res may be NULL.
 * Returns 0, WAN_ENOTFOUND (unknown spec), WAN_EINVAL (a defect that the
 * spec's layout cannot carry, e.g. bad-index on a single-file DiT), or the
 * I/O error of a write (message names the file).
 */
int wan_fixture_write(const char *dir, const char *spec_name,
		      const struct wan_fixture_opts *o,
		      struct wan_fixture_result *res);

/* The miniature architecture a fixture of spec s uses for shard_bytes
 * (config.json values). */
void wan_fixture_arch(const struct wan_spec *s, uint64_t shard_bytes,
		      struct wan_arch *out);

#endif
