#ifndef WAN_LIB_INGEST_H
#define WAN_LIB_INGEST_H
/*
 * Ingest: every staging file is copied once into the store while it is
 * hashed (and, for safetensors, scanned for NaN/Inf), by a pool of
 * workers. See store.c for the publish protocol of one object.
 */
#include "lib/source.h"
#include "lib/state.h"

struct ingest_opts {
	enum wan_transfer transfer;
	int workers;        /* 0: one per core (at most 16) */
	bool rehash;        /* ignore the stat cache */
	bool scan;          /* tensor scan of safetensors files */
	const char *what;   /* progress label */
};

/*
 * Plan: for each file, whether the stat cache knows its hash and the
 * store already holds that object (no read needed). *to_copy = bytes that
 * must be copied.
 */
int ingest_plan(struct wan_state *st, struct src_tree *t, bool rehash,
		uint64_t *to_copy);
/* Ingest all files; fills sha/copied/stats of each. */
int ingest_tree(struct wan_state *st, struct src_tree *t,
		const struct ingest_opts *o, uint64_t *copied, uint64_t *dedup);
/*
 * Publish tmp (a complete, fsynced, read-only file in <state>/tmp whose
 * content hashes to sha) as the object sha: link without replacing, fsync
 * the folder. *existed: the object was already there (left alone; its size
 * is checked). The caller removes tmp.
 */
int store_object_publish(struct wan_state *st, const char *tmp, const char *sha,
			 uint64_t size, bool *existed);
/* Unlink the (damaged) object sha, through its folder's descriptor; a
 * missing object is fine. */
int store_object_remove(struct wan_state *st, const char *sha);

#endif
