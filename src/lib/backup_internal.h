#ifndef WAN_LIB_BACKUP_INTERNAL_H
#define WAN_LIB_BACKUP_INTERNAL_H
/*
 * Internals of the backup repository (include/wanctl/backup.h has the
 * public API).
 *
 * Repository layout under backup_path:
 *   FORMAT                               "wanctl-backup-1\n"
 *   objects/sha256/<2 hex>/<62 hex>.zst  one per distinct file, 0444
 *   snapshots/<model>/<release-id>.json  release manifest + backup metadata
 *   tmp/                                 files being written
 *
 * Object file (backup_codec.c): a sequence of independent zstd frames, each
 * holding at most BK_FRAME_RAW bytes of the original file, followed by one
 * zstd skippable frame (magic 0x184D2A5E) holding the index:
 *
 *   "WBK1" u32 version(2) u64 raw_size u8[32] sha256 u32 codec
 *   u32 nframes u32 nsegs
 *   nframes x { u64 comp_size u64 raw_size u32 nseg }
 *   nsegs   x { u64 offset_in_frame u64 length u32 elem_size|flags }
 *   u32 crc32(everything above) u32 payload_len "WBKX"
 *
 * (all little-endian). A segment is a run of elem_size-byte elements that
 * was stored as byte planes (all byte 0s, then all byte 1s, ...) inside
 * its frame; the rest of the frame is stored as is. Index version 2 adds
 * flags to the element size: with BK_SEG_ROT each element was first
 * rotated left by one bit, so that its top byte holds the exponent (bf16,
 * fp32) and the sign sits in bit 0; with BK_SEG_GROUP the second-highest
 * plane is stored grouped by the value of the highest (a stable counting
 * sort: the mantissa bytes of one exponent together). Version 1 objects
 * (plain planes) are still read. `zstd -d` on an object
 * file yields the (transposed) frames and skips the index. Every size is
 * checked against the file size before anything is allocated.
 */
#include "util/common.h"
#include "util/path.h"
#include "util/sha256.h"

#include <jansson.h>

#define BK_FORMAT_TEXT "wanctl-backup-1\n"
#define BK_SNAPSHOT_FORMAT "wanctl-backup-snapshot-1"
#define BK_FRAME_RAW (4u << 20)         /* raw bytes per frame we write */
#define BK_FRAME_MAX (16u << 20)        /* largest raw frame we accept */
#define BK_INDEX_MAX (64u << 20)        /* largest index we accept */
#define BK_IO_BUF (1u << 20)
#define BK_WRITEBACK (64ull << 20)    /* restore: writeback window */
#define BK_DECODE_THREADS_MAX 2       /* frame decoders per object */
#define BK_SNAPSHOT_MAX (256u << 20)

enum bk_codec {
	BK_CODEC_ZSTD = 0,          /* plain zstd */
	BK_CODEC_BYTEPLANE = 1,     /* byte planes of float tensors, then zstd */
};

const char *bk_codec_name(uint32_t codec);

#define BK_SEG_ROT 0x100u          /* elements rotated (see above) */
#define BK_SEG_GROUP 0x200u        /* mantissa plane grouped by exponent */

struct bk_seg {
	uint64_t off;               /* within the frame */
	uint64_t len;
	uint32_t elem;              /* 2, 4 or 8 */
	uint32_t flags;             /* BK_SEG_ROT, BK_SEG_GROUP */
};

struct bk_frame {
	uint64_t comp_off;          /* in the object file */
	uint64_t comp;
	uint64_t raw_off;           /* in the original file */
	uint64_t raw;
	uint32_t first_seg, nseg;
};

struct bk_index {
	uint32_t version;           /* 1: plain planes only; 2: segment flags */
	uint64_t raw_size;
	char sha[WAN_SHA256_HEX];
	uint32_t codec;
	uint32_t nframes, nsegs;
	struct bk_frame *frames;
	struct bk_seg *segs;
	uint64_t data_size;         /* bytes of the zstd frames */
};

void bk_index_release(struct bk_index *ix);
/* Parse an index payload (the skippable frame's content). data_size is the
 * byte count of the zstd frames before it. name is used in messages.
 * Returns 0 or WAN_ECORRUPT. */
int bk_index_parse(struct bk_index *ix, const void *payload, size_t len,
		   uint64_t data_size, const char *name);
/* Read and parse the index at the end of an object file of file_size. */
int bk_index_read(struct bk_index *ix, int fd, uint64_t file_size,
		  const char *name);

struct bk_progress {
	const char *what;
	uint64_t *done;             /* shared counter (atomic adds) */
	uint64_t total;
	uint64_t files_done, files_total;
};

/*
 * Compress size bytes of in (read with pread from offset 0) into out, a
 * new file written from offset 0 (its writeback is started behind the
 * writes). path (relative, may be NULL) picks the codec: safetensors files
 * with float tensors get byte planes. The input is hashed on the way and
 * must hash to expect_sha.
 * *stored = bytes written to out. Memory: a few BK_FRAME_RAW buffers.
 */
struct bk_enc_opts {
	int level;
	int workers;                /* zstd worker threads (0: none) */
	bool plain;                 /* never use byte planes */
	uint32_t frame;             /* raw bytes per frame (0: BK_FRAME_RAW) */
};
int bk_encode(int in, uint64_t size, const char *name, const char *path,
	      const char *expect_sha, int out, const struct bk_enc_opts *o,
	      struct bk_progress *p, uint64_t *stored, uint32_t *codec);

/*
 * Decode object file fd (index ix) into out (-1: only hash), checking
 * every frame's size and the SHA-256 of the whole, with up to threads
 * (1..BK_DECODE_THREADS_MAX) frames decompressed in parallel. name is used
 * in messages. Returns 0 or WAN_ECORRUPT naming the frame and byte offset.
 */
int bk_decode(int fd, const struct bk_index *ix, const char *name, int out,
	      unsigned threads, struct bk_progress *p);

/* Byte-plane transforms (exposed for the unit tests). n elements of elem
 * bytes. The float forms apply the segment flags (BK_SEG_*) and need n
 * bytes of scratch in tmp. */
void bk_planes_split(uint8_t *dst, const uint8_t *src, size_t n, unsigned elem);
void bk_planes_join(uint8_t *dst, const uint8_t *src, size_t n, unsigned elem);
void bk_float_split(uint8_t *dst, const uint8_t *src, size_t n, unsigned elem, uint32_t flags,
		    uint8_t *tmp);
void bk_float_join(uint8_t *dst, const uint8_t *src, size_t n, unsigned elem, uint32_t flags,
		   uint8_t *tmp);

/* ---- the repository (backup_repo.c) ---- */

struct bk_repo {
	char path[WAN_PATH_MAX];
	int root;                   /* O_DIRECTORY fd of backup_path */
	unsigned seq;
	char host[72];              /* in temp names: "<prefix>-<host>-<pid>-<n>" */
};

/* Open the repository at path; create (and initialise) it when create.
 * WAN_ENOTFOUND when it does not exist and !create. */
int bk_repo_open(struct bk_repo *r, const char *path, bool create);
void bk_repo_close(struct bk_repo *r);
/* "objects/sha256/ab/<62>.zst" */
int bk_object_rel(const char *sha, char *buf, size_t size);
/* Open an object beneath the root (no symlinks). WAN_ENOTFOUND if absent. */
int bk_object_open(struct bk_repo *r, const char *sha, int *fd, uint64_t *size);
/* Create a temp file in tmp/ (O_EXCL, 0444); name gets its name in tmp/. */
int bk_tmp_create(struct bk_repo *r, const char *prefix, char *name,
		  size_t size, int *fd);
void bk_tmp_remove(struct bk_repo *r, const char *name);
/* Remove this host's files in tmp/ (the caller holds the state lock; a
 * repository shared by several hosts keeps the others' work in progress). */
void bk_tmp_sweep(struct bk_repo *r);
/* fsync+close the temp file fd, then link tmp/<name> to rel (creating its
 * folders), fsync the folder, remove the temp name. *existed: rel was
 * already there (left alone). */
int bk_publish(struct bk_repo *r, int fd, const char *tmpname, const char *rel,
	       bool *existed);
/* Remove rel (file) and fsync its folder; missing is fine. */
int bk_remove(struct bk_repo *r, const char *rel);

/* Snapshots. */
int bk_snapshot_rel(const char *model, const char *release, char *buf,
		    size_t size);
/* Parse and validate a snapshot (untrusted). name is used in messages. */
int bk_snapshot_parse(const char *text, size_t len, const char *name,
		      json_t **out);
/* Load snapshots/<model>/<release>.json; WAN_ENOTFOUND when absent. */
int bk_snapshot_load(struct bk_repo *r, const char *model, const char *release,
		     json_t **out);
/*
 * Every snapshot (of model, or all when NULL): *good = array of parsed
 * snapshots, *bad = array of {"path","problem"} for files that do not
 * parse. Sorted by model, then created (newest first).
 */
int bk_snapshot_scan(struct bk_repo *r, const char *model, json_t **good,
		     json_t **bad);

#endif
