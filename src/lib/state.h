#ifndef WAN_LIB_STATE_H
#define WAN_LIB_STATE_H
/* Internal view of an open state folder (store.h has the public API). */
#include "util/common.h"
#include "util/path.h"
#include "wanctl/store.h"
#include "lib/db.h"

#include <sys/stat.h>

struct wan_state {
	const struct wan_config *cfg;
	char path[WAN_PATH_MAX];      /* <state> (for messages) */
	char target[WAN_PATH_MAX];    /* <target_models_path> */
	char tmp[WAN_PATH_MAX];       /* <state>/tmp */
	char rel_prefix[WAN_PATH_MAX]; /* relative path from target to <state>/releases */
	/* The state folder, opened once without following a symlink: every
	 * file of the store is reached from it (openat2 beneath, *at calls),
	 * never by a path a swapped folder could redirect. */
	int dirfd;
	int tmpfd;                    /* <state>/tmp (-1: absent, read-only) */
	int objfd;                    /* <state>/objects/sha256 (likewise) */
	struct state_rdirs *rdirs;    /* releases/<model> folders opened */
	int lockfd;                   /* -1 when not locked */
	struct wan_db *db;
	json_t *recovered;
	char command[256];
	unsigned tmp_seq;
};

/*
 * The longest state folder path: the names wanctl makes inside it (temp
 * names "<state>/tmp/<prefix>-<pid>-<seq>") then always fit in
 * WAN_PATH_MAX; wan_state_open refuses a longer one.
 */
#define WAN_STATE_PATH_MAX (WAN_PATH_MAX - 64)

/* A unique temp name under <state>/tmp: "<prefix>-<pid>-<seq>" (prefix a
 * short literal; buf of WAN_PATH_MAX). */
void state_tmp_name(struct wan_state *st, const char *prefix, char *buf, size_t size);
/* The name of a state_tmp_name path relative to st->tmpfd. */
const char *state_tmp_rel(const struct wan_state *st, const char *tmp);
/* Remove everything under <state>/tmp (through st->tmpfd). */
int state_sweep_tmp(struct wan_state *st);

/* The folder of object sha (objects/sha256/<2 hex>) opened beneath the
 * state folder; with create it is made when missing (objects/sha256 then
 * fsynced). Returns the descriptor, or an error (< 0, message set). */
int state_object_dir(struct wan_state *st, const char *sha, bool create);
/* Object sha opened beneath the state folder, no symlink followed:
 * a descriptor, or -1 with errno. */
int state_object_open(const struct wan_state *st, const char *sha, int flags);
/* stat of object sha, reached likewise: 0, or -1 with errno. */
int state_object_stat(const struct wan_state *st, const char *sha, struct stat *sb);
/* releases/<model> opened beneath the state folder; with create it is made
 * when missing (releases/ then fsynced). The folder is opened once per run
 * and kept (later calls reach the same folder whatever its path has become);
 * each call returns a descriptor of its own for the caller to close, or -1
 * with errno (no message: the caller names what it was doing). */
int state_release_open(const struct wan_state *st, const char *model, bool create);
/* stat of releases/<model>/<name> (name: "<id>", "<id>.json", a file of a
 * tree "<id>/<path>") beneath the state folder, no symlink followed: 0, or
 * -1 with errno. */
int state_release_stat(const struct wan_state *st, const char *model, const char *name,
		       struct stat *sb);

/* release.c */
int release_switch(struct wan_state *st, const char *model, const char *id);
/* After a failed release_switch: whether production runs id anyway (the
 * rename landed, a later fsync failed); the error message is kept. */
bool release_switch_landed(struct wan_state *st, const char *model, const char *id, int err);
int release_unlink(struct wan_state *st, const char *model);
int release_exists(struct wan_state *st, const char *model, const char *id);
/* Remove debris of interrupted switches in the target folder. */
int release_sweep_target(struct wan_state *st);
/* Publish a manifest (JSON text) and build the release tree. */
int release_publish(struct wan_state *st, const char *model, const char *id,
		    json_t *manifest);
/* Relink every file of a release tree that is not its store object. */
int release_relink_tree(struct wan_state *st, const char *model, const char *id,
			json_t *manifest);
/* Check that every object of a manifest exists with the right size (and
 * hash when full). Adds the names of the bad files to *bad (array). */
int release_check_objects(struct wan_state *st, json_t *manifest, bool full,
			  json_t *bad);
/* deploy.c */
int deploy_recover(struct wan_state *st);
/* A new deployment id, dep-YYYYMMDD-HHMMSS-xxxx. */
int deploy_make_id(struct wan_state *st, char *buf, size_t n);
/* Set a deployment's status (and error/report when given). */
int deployment_set(struct wan_state *st, const char *id, const char *status,
		   const char *error, json_t *report);
/* ops.c: release.link and release.files of a model just switched. */
int deploy_check_release(struct wan_state *st, const char *model, const char *id,
			 bool full, struct wan_report *rep);
/* Run a hook; see deploy.c. rep may be NULL. */
int deploy_run_hook(struct wan_state *st, const char *which, const char *cmd,
		    const char *dep_id, const char *model, const char *release,
		    const char *from, struct wan_report *rep);
/* Record a published release (manifest m) in the releases table; a row
 * already there is kept. */
int release_record(struct wan_state *st, const char *model, json_t *m);

#endif
