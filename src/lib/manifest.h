#ifndef WAN_LIB_MANIFEST_H
#define WAN_LIB_MANIFEST_H
/*
 * Release manifests: {"format":"wanctl-manifest-1","model","spec","source",
 * "created","release","files":[{"path","size","mode","sha256"}],
 * "totals":{"files","bytes"},"tensor_stats":{...}}.
 *
 * The release id is the first 16 hex digits of the SHA-256 of the
 * canonical listing: one line "<sha256> <size> <mode, octal> <path>\n" per
 * file, sorted by path (bytewise). Identical content gives the same id.
 */
#include <jansson.h>
#include <stdint.h>

#define WAN_MANIFEST_MAX_BYTES (256u << 20)  /* 256 MiB */
#define WAN_MANIFEST_MAX_FILES 1000000

/* Sort files by path and compute the id of a files array. */
int manifest_sort_files(json_t *files);
int manifest_release_id(json_t *files, char id[17]);
/* Validate a manifest document (structure, confined unique paths, sizes,
 * hashes, the id matches the files). name is used in messages. */
int manifest_validate(json_t *m, const char *name);
/* Load and validate (bounded) the manifest file name in the folder dirfd
 * (AT_FDCWD: a path), not followed if a symlink; path names it in
 * messages. */
int manifest_load_at(int dirfd, const char *name, const char *path, json_t **out);
/* Parse manifest text (fuzzing entry point). */
int manifest_parse(const char *text, size_t len, const char *name, json_t **out);
/* Publish m as name in the folder dirfd (path names it in messages): a temp
 * file made in the folder tmpfd (tmpdir names it), fsync, link (no
 * replace), fsync of dirfd. An existing file is left alone (same id, same
 * content). */
int manifest_write_at(json_t *m, int dirfd, const char *name, const char *path,
		      int tmpfd, const char *tmpdir);

#endif
