#ifndef WAN_LIB_SOURCE_H
#define WAN_LIB_SOURCE_H
/*
 * Staging trees: a folder under source_models_path, or a Hugging Face hub
 * cache snapshot (models--Org--Name/snapshots/<rev>, or the repo folder,
 * which means refs/main). Staging is only ever read.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/sha256.h"

struct src_file {
	char *rel;               /* path inside the release */
	char *abs;               /* file to read (symlinks resolved) */
	uint64_t size;
	unsigned mode;
	dev_t dev;
	ino_t ino;
	int64_t mtime_ns, ctime_ns;
	char blob_sha[WAN_SHA256_HEX]; /* HF blob named by its SHA-256, else "" */
	char sha[WAN_SHA256_HEX];      /* filled by ingest */
	bool cached;             /* hash from the stat cache, data not read */
	bool present;            /* object already in the store */
	uint64_t copied;         /* bytes written into the store */
	json_t *stats;           /* tensor statistics, or NULL */
	int64_t recorded_ns;     /* when hashing began (stat cache) */
};

struct src_tree {
	char root[4096];         /* resolved staging folder */
	bool hf;                 /* a hub cache snapshot */
	char hf_blobs[4096];     /* <repo>/blobs when hf */
	struct src_file *files;
	size_t n, cap;
	uint64_t bytes;
};

/* Resolve dir (HF repo folder -> snapshot of refs/main) and list every
 * regular file, refusing symlinks that leave the tree (except hub blobs)
 * and special files. */
int source_scan(const char *dir, struct src_tree *t);
void source_tree_release(struct src_tree *t);

#endif
