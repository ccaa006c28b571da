#ifndef WANCTL_STORE_H
#define WANCTL_STORE_H
/*
 * The core of wanctl: the state folder (lock, SQLite, content-addressed
 * objects, release trees, manifests), deploy, rollback, verify, gc.
 *
 * Layout under <state> (default <target>/.wanctl):
 *   lock                         flock(2) + "pid command start"
 *   state.db                     SQLite (WAL)
 *   objects/sha256/<2>/<62>      immutable blobs, 0444
 *   releases/<model>/<id>/...    hard links into objects/
 *   releases/<model>/<id>.json   the release manifest
 *   tmp/                         work in progress; swept by every command
 */
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "wanctl/config.h"
#include "wanctl/report.h"

#define WAN_RELEASE_ID_LEN 16

struct wan_state;
struct wan_db;

enum wan_state_flags {
	WAN_STATE_LOCK = 1 << 0,     /* take the lock (mutating commands) */
	WAN_STATE_NO_RECOVER = 1 << 1,
	WAN_STATE_READONLY = 1 << 2, /* never create anything */
};

/*
 * Open the state folder of cfg: create it if needed (unless READONLY),
 * refuse group/other-writable state folders, take the lock when asked
 * (waiting up to wait_seconds; WAN_ELOCKED names the holder), open the
 * database, and recover interrupted work (the recovery report is kept and
 * read with wan_state_recovered()).
 */
int wan_state_open(struct wan_state **out, const struct wan_config *cfg,
		   unsigned flags, double wait_seconds, const char *command);
void wan_state_close(struct wan_state *st);
struct wan_db *wan_state_db(struct wan_state *st);
const char *wan_state_path(const struct wan_state *st);
/* What recovery did on open: array of {"deployment","status","message"}
 * (borrowed, never NULL). */
json_t *wan_state_recovered(const struct wan_state *st);
/* Run recovery now (needs the lock). */
int wan_state_recover(struct wan_state *st);

/* The current release id of model (from the production link), or
 * WAN_ENOTFOUND; *unmanaged set when <target>/<model> is a real folder. */
int wan_release_current(struct wan_state *st, const char *model,
			char id[WAN_RELEASE_ID_LEN + 1], bool *unmanaged);

struct wan_deploy_opts {
	const char *const *models;
	size_t nmodels;
	const char *source;          /* --source DIR (one model only) */
	int transfer;                /* -1: configuration; else enum wan_transfer */
	bool dry_run;
	bool no_backup;
	bool rehash;                 /* ignore the stat cache */
	bool force;                  /* deploy even if validation warns */
};

/*
 * Deploy. *result (always set when not NULL, even on failure) is the JSON
 * of SPEC.md: {"id","status","models":[{"model","from_release",
 * "to_release","bytes","copied","deduplicated",...}], "report":{...},
 * "error"}. Returns 0, WAN_ECHECK (a validation failed; production
 * untouched or rolled back), or another error.
 */
int wan_deploy(struct wan_state *st, const struct wan_deploy_opts *o,
	       json_t **result);

struct wan_rollback_opts {
	const char *deployment_id;   /* roll back a whole deployment */
	const char *model;           /* or one model ... */
	const char *to;              /* ... to this release (default: previous) */
	bool verify;                 /* re-hash the target's files first */
};
int wan_rollback(struct wan_state *st, const struct wan_rollback_opts *o,
		 json_t **result);

/* {"deployments":[...]} newest first. status/model may be NULL. */
int wan_deploy_list(struct wan_state *st, const char *status,
		    const char *model, int limit, json_t **out);
/* {"models":[{model, release, unmanaged}], "deployments":[last 5],
 *  "interrupted":[...], "alerts":[firing]} */
int wan_status(struct wan_state *st, json_t **out);
/* {"model","current","releases":[{id,created,files,bytes,unique_bytes,
 *  shared_bytes,current,previous}]} */
int wan_releases(struct wan_state *st, const char *model, json_t **out);
/* Verify production against the manifests (quick: sizes and inodes).
 * models NULL: every deployed model. Adds release.files checks to rep. */
int wan_verify(struct wan_state *st, const char *const *models, size_t n,
	       bool quick, struct wan_report *rep);
/* Garbage collection; *out = {"releases_removed":[...],
 * "objects_removed":N,"bytes_freed":B,"dry_run":bool}. */
int wan_gc(struct wan_state *st, bool dry_run, json_t **out);

/* Paths, for messages only (files are reached through descriptors of the
 * state folder): cut short to the buffer, never failing; return buf. */
const char *wan_store_object_path(const struct wan_state *st, const char *sha,
				  char *buf, size_t size);
const char *wan_release_dir(const struct wan_state *st, const char *model,
			    const char *id, char *buf, size_t size);
const char *wan_release_manifest_path(const struct wan_state *st, const char *model,
				      const char *id, char *buf, size_t size);
/* Load a release manifest as JSON (validated: confined paths, sizes,
 * hashes, no duplicates). */
int wan_manifest_load(const struct wan_state *st, const char *model,
		      const char *id, json_t **out);
const struct wan_config *wan_state_config(const struct wan_state *st);

#endif
