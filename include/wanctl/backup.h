#ifndef WANCTL_BACKUP_H
#define WANCTL_BACKUP_H
/*
 * The backup repository at backup_path (SPEC.md, issue 5): each distinct
 * file of the backed-up releases once, zstd-compressed (float tensors of
 * safetensors files as byte planes first), in independent frames; one
 * snapshot per release (its manifest plus backup metadata). Layout and
 * object format: src/lib/backup_internal.h. The repository is untrusted
 * input when read: bounded parsing, confined paths, every restored file
 * re-hashed.
 *
 * All functions return 0 or a negative WAN_E* code with a message.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "wanctl/config.h"

struct wan_state;

struct wan_backup_create_opts {
	const char *const *models;  /* NULL/0: every deployed model */
	size_t nmodels;
	const char *release;        /* NULL: each model's current release */
};

/*
 * Back up releases (the caller holds the state lock). *out (set even on
 * failure when not NULL) = {"repository", "snapshots":[{"model","release",
 * "status":"created"|"exists","files","bytes","objects","objects_written",
 * "bytes_read","stored_written","seconds"}], "error"}. Objects already in
 * the repository are not written again.
 */
int wan_backup_create(struct wan_state *st, const struct wan_backup_create_opts *o,
		      json_t **out);

/*
 * List snapshots (model NULL: all). *out = {"repository", "snapshots":
 * [{"model","release","created","files","bytes","objects","stored",
 * "shared_objects","shared_stored"}], "bad_snapshots":[{"path","problem"}],
 * "totals":{"snapshots","objects","bytes","stored","ratio"}}. Read-only.
 */
int wan_backup_list(const struct wan_config *cfg, const char *model, json_t **out);

/*
 * Verify the repository: every object of every snapshot (of model, or
 * all) is present, with its recorded size and a valid index (quick), and
 * decompresses to content with its SHA-256 (full). *out = {"repository",
 * "quick","snapshots","objects","bytes","damaged":[{"object","path",
 * "problem","snapshots":[..],"files":[..]}], "bad_snapshots":[{"path",
 * "problem"}], "broken_snapshots":[..], "ok"}. Returns WAN_ECHECK when
 * something is damaged or missing (the message names the first).
 */
int wan_backup_verify(const struct wan_config *cfg, const char *model, bool quick,
		      json_t **out);

/*
 * Restore a release from the repository into the store (objects, the
 * manifest, the release tree) so that rollback can switch to it. The
 * caller holds the state lock. Every object is checked before anything is
 * written and re-hashed as it is restored. *out = {"model","release",
 * "files","bytes","objects_restored","bytes_restored"}.
 */
int wan_backup_restore(struct wan_state *st, const char *model, const char *release,
		       json_t **out);

/*
 * Restore a release into a plain folder dir (created; must be absent or
 * empty), confined beneath it, every file re-hashed. *out as above plus
 * "to".
 */
int wan_backup_restore_dir(const struct wan_config *cfg, const char *model,
			   const char *release, const char *dir, json_t **out);

/*
 * Prune: per model keep the newest backup.keep snapshots (0: all) and drop
 * those older than backup.max_age_days (0: none; the newest of each model
 * stays), never the snapshot of a model's current release; then remove
 * objects no remaining snapshot references (skipped when a snapshot does
 * not parse). *out = {"dry_run","snapshots_removed":[{"model","release",
 * "created","reason"}],"snapshots_kept":N,"objects_removed":N,
 * "bytes_freed":B,"bad_snapshots":[..]}. The caller holds the state lock.
 */
int wan_backup_prune(struct wan_state *st, bool dry_run, json_t **out);

/* Back up release `release` of `model` unless the repository already holds
 * it (does nothing when backup.enabled is false). Called by deploy before
 * any switch when backup.before_deploy; an error stops the deploy. */
int wan_backup_before_deploy(struct wan_state *st, const char *model,
			     const char *release);

/*
 * Restore the objects of a release that the store lacks (missing or
 * damaged: bad is the array of {"path","sha256","problem"} found by the
 * caller, may be empty to mean "the manifest itself") from the backup
 * repository, verifying each, and rebuild the release tree if needed.
 * Returns 0 when everything was restored, else an error naming what could
 * not be recovered (and then nothing was changed when the repository
 * lacks something).
 */
int wan_backup_restore_objects(struct wan_state *st, const char *model,
			       const char *release, json_t *bad);

/* Parse a snapshot document (fuzzing entry point; untrusted input). */
int wan_backup_snapshot_parse(const char *text, size_t len, const char *name,
			      json_t **out);

#endif
