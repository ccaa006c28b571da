/*
 * Rollback, history, status, releases, verify and gc.
 */
#include "lib/state.h"
#include "lib/manifest.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "wanctl/backup.h"
#include "wanctl/log.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* A column holding a JSON document (alert labels): the object itself, as
 * monitor prints it; "" (an alert without labels, as alert.c stores it)
 * the empty object; the text when it does not parse; null for NULL. */
static json_t *col_json(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);
	json_t *v;

	if (!t)
		return json_null();
	if (!*t)
		return json_object();
	v = json_loads(t, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(t);
}

static json_t *col_text(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return t ? json_string((const char *)t) : json_null();
}

static json_t *col_time(sqlite3_stmt *q, int i)
{
	char b[32];

	if (sqlite3_column_type(q, i) == SQLITE_NULL)
		return json_null();
	wan_iso_time(sqlite3_column_double(q, i), b, sizeof(b));
	return json_string(b);
}

int wan_manifest_load(const struct wan_state *st, const char *model,
		      const char *id, json_t **out)
{
	char p[WAN_PATH_MAX], name[WAN_RELEASE_ID_LEN + 8];
	int rfd, err;

	*out = NULL;
	wan_release_manifest_path(st, model, id, p, sizeof(p));
	if ((err = wan_snprintf(name, sizeof(name), "%s.json", id)) < 0)
		return err;
	/* Beneath the state folder's descriptor, no symlink followed. */
	if ((rfd = state_release_open(st, model, false)) < 0)
		return wan_err_sys(0, "cannot open manifest '%s'", p);
	err = manifest_load_at(rfd, name, p, out);
	xclose(rfd);
	return err;
}

/* ---- rollback ---- */

static int previous_release(struct wan_state *st, const char *model, const char *cur,
			    char out[WAN_RELEASE_ID_LEN + 1])
{
	sqlite3_stmt *q = NULL;
	int found = 0, err;

	out[0] = '\0';
	/* The release the current one replaced, by the last completed deployment. */
	if ((err = wan_db_prepare(st->db, &q,
				  "SELECT m.from_release FROM deployment_models m JOIN deployments d"
				  " ON d.id = m.deployment_id WHERE m.model = ? AND m.to_release = ?"
				  " AND d.status = 'completed' AND d.kind = 'deploy'"
				  " AND m.from_release IS NOT NULL AND m.from_release != m.to_release"
				  " ORDER BY d.started DESC LIMIT 1")) < 0)
		return err;
	sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, cur, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		snprintf(out, WAN_RELEASE_ID_LEN + 1, "%s", (const char *)sqlite3_column_text(q, 0));
		found = 1;
	}
	sqlite3_finalize(q);
	if (found)
		return 0;
	/* Else the newest other release still in the store that was once
	 * live (a completed deploy or rollback switched to it): a release a
	 * crashed deploy ingested but recovery undid was never production's
	 * (t_seq). */
	if ((err = wan_db_prepare(st->db, &q,
				  "SELECT r.id FROM releases r WHERE r.model = ?1 AND r.id != ?2"
				  " AND EXISTS (SELECT 1 FROM deployment_models m JOIN deployments d"
				  " ON d.id = m.deployment_id WHERE m.model = ?1"
				  " AND m.to_release = r.id AND d.status = 'completed')"
				  " ORDER BY r.created DESC")) < 0)
		return err;
	sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, cur, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(q, 0);
		if (release_exists(st, model, id)) {
			snprintf(out, WAN_RELEASE_ID_LEN + 1, "%s", id);
			found = 1;
			break;
		}
	}
	sqlite3_finalize(q);
	return found ? 0 : wan_err(WAN_ENOTFOUND, "'%s' has no previous release to roll back to",
				   model);
}

struct rb_item {
	char model[256];
	char from[WAN_RELEASE_ID_LEN + 1];
	char to[WAN_RELEASE_ID_LEN + 1];
	bool switched;
};

/* Make sure the target release is usable: present, every object intact;
 * restore missing objects from the backup repository when possible. */

static int rollback_check_target(struct wan_state *st, const char *model, const char *id,
				 bool full)
{
	json_t *m = NULL, *bad = json_array();
	char mname[WAN_RELEASE_ID_LEN + 8];
	struct stat sb;
	int err;

	snprintf(mname, sizeof(mname), "%s.json", id);	/* id: 16 hex (struct rb_item) */
	if (state_release_stat(st, model, mname, &sb) != 0) {
		/* The manifest itself is gone: maybe the backup has it. */
		if (wan_backup_restore_objects(st, model, id, bad) == 0 &&
		    release_exists(st, model, id)) {
			err = 0;
			goto out;
		}
		err = wan_err(WAN_ENOTFOUND, "release %s of '%s' is not in the store", id, model);
		goto out;
	}
	if ((err = wan_manifest_load(st, model, id, &m)) < 0 ||
	    (err = release_check_objects(st, m, full, bad)) < 0)
		goto out;
	if (json_array_size(bad)) {
		json_t *still = json_array();
		if (wan_backup_restore_objects(st, model, id, bad) == 0) {
			release_check_objects(st, m, true, still);
			if (!json_array_size(still)) {
				json_decref(still);
				goto tree;
			}
		}
		{
			char list[1024] = "";
			size_t i, o = 0;
			json_t *b;
			json_t *src = json_array_size(still) ? still : bad;
			json_array_foreach(src, i, b) {
				if (i == 5) {
					snprintf(list + o, sizeof(list) - o, ", ...");
					break;
				}
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s'%s' (%s)",
						      i ? ", " : "",
						      json_string_value(json_object_get(b, "path")),
						      json_string_value(json_object_get(b, "problem")));
				if (o >= sizeof(list))
					break;
			}
			err = wan_err(WAN_ECORRUPT,
				      "release %s of '%s' cannot be used: %zu file(s) missing or "
				      "damaged in the store and not recoverable from the backup "
				      "repository: %s; production unchanged", id, model,
				      json_array_size(src), list);
		}
		json_decref(still);
		goto out;
	}
tree:
	/* m is loaded: only the manifest's own restore returns before. */
	if (!release_exists(st, model, id)) {
		err = wan_err(WAN_ENOTFOUND, "release %s of '%s' is not in the store", id, model);
		goto out;
	}
	{
		/* The tree itself must have every file (hard links to objects). */
		char p[WAN_PATH_MAX];
		json_t *f;
		size_t i;
		json_array_foreach(json_object_get(m, "files"), i, f) {
			if (wan_snprintf(p, sizeof(p), "%s/%s", id,
					 json_string_value(json_object_get(f, "path"))) < 0 ||
			    state_release_stat(st, model, p, &sb) < 0 || (uint64_t)sb.st_size !=
			    (uint64_t)json_integer_value(json_object_get(f, "size"))) {
				err = wan_err(WAN_ECORRUPT, "release %s of '%s': '%s' is missing from "
					      "its tree; production unchanged", id, model,
					      json_string_value(json_object_get(f, "path")));
				goto out;
			}
		}
	}
	err = 0;
out:
	json_decref(m);
	json_decref(bad);
	return err;
}

/* A listing of releases/<model> (releases/ when model is NULL), reached
 * beneath the state folder. */
static DIR *releases_opendir(struct wan_state *st, const char *model)
{
	return path_fdopendir(model ? state_release_open(st, model, false) :
			      path_open_beneath(st->dirfd, "releases", O_RDONLY | O_DIRECTORY, 0));
}

/* A release id, or an unambiguous prefix of one (as `list` shows them). */
static int release_resolve(struct wan_state *st, const char *model, const char *want,
			   char out[WAN_RELEASE_ID_LEN + 1])
{
	size_t n = strlen(want), found = 0;
	DIR *d;
	struct dirent *de;

	if (!n || n > WAN_RELEASE_ID_LEN || strspn(want, "0123456789abcdef") != n)
		return wan_err(WAN_EINVAL, "'%s' is not a release id (16 hex digits, or a "
			       "prefix of one)", want);
	d = releases_opendir(st, model);
	if (!d)
		return wan_err(WAN_ENOTFOUND, "'%s' has no releases in the store", model);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len != WAN_RELEASE_ID_LEN + 5 || strcmp(de->d_name + WAN_RELEASE_ID_LEN, ".json") ||
		    strncmp(de->d_name, want, n))
			continue;
		if (found++)
			break;
		memcpy(out, de->d_name, WAN_RELEASE_ID_LEN);
		out[WAN_RELEASE_ID_LEN] = '\0';
	}
	closedir(d);
	if (found > 1)
		return wan_err(WAN_EINVAL, "'%s' matches several releases of '%s'; give more digits",
			       want, model);
	if (!found) {
		/* Maybe only the backup repository has it: keep the full id. */
		if (n == WAN_RELEASE_ID_LEN) {
			memcpy(out, want, n + 1);
			return 0;
		}
		return wan_err(WAN_ENOTFOUND, "no release '%s' of '%s' (see 'wanctl releases %s')",
			       want, model, model);
	}
	return 0;
}

int wan_rollback(struct wan_state *st, const struct wan_rollback_opts *o, json_t **result)
{
	struct rb_item *items = NULL;
	size_t n = 0;
	char dep[64] = "";
	sqlite3_stmt *q = NULL;
	json_t *models = json_array();
	const char *status = "failed";
	char errbuf[2048] = "";
	int err = 0;

	if (result)
		*result = NULL;
	if (!!o->deployment_id == !!o->model) {
		err = wan_err(WAN_EINVAL, "give either --deployment-id ID or --model M");
		goto out;
	}
	if (o->deployment_id) {
		size_t cap = 0;
		int found = 0;
		if ((err = wan_db_prepare(st->db, &q, "SELECT 1 FROM deployments WHERE id = ?")) < 0)
			goto out;
		sqlite3_bind_text(q, 1, o->deployment_id, -1, SQLITE_STATIC);
		found = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_finalize(q);
		if (!found) {
			err = wan_err(WAN_ENOTFOUND, "no deployment '%s' (see 'wanctl list')",
				      o->deployment_id);
			goto out;
		}
		if ((err = wan_db_prepare(st->db, &q,
					  "SELECT model, from_release FROM deployment_models"
					  " WHERE deployment_id = ? ORDER BY model")) < 0)
			goto out;
		sqlite3_bind_text(q, 1, o->deployment_id, -1, SQLITE_STATIC);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *from = (const char *)sqlite3_column_text(q, 1);
			if (n == cap) {
				cap = cap ? cap * 2 : 4;
				struct rb_item *ni = realloc(items, cap * sizeof(*ni));
				if (!ni) {
					sqlite3_finalize(q);
					err = wan_err(WAN_ENOMEM, "out of memory");
					goto out;
				}
				items = ni;
			}
			memset(&items[n], 0, sizeof(items[n]));
			snprintf(items[n].model, sizeof(items[n].model), "%s",
				 (const char *)sqlite3_column_text(q, 0));
			if (!from) {
				sqlite3_finalize(q);
				err = wan_err(WAN_EINVAL, "deployment %s was the first deploy of '%s': "
					      "there is no earlier release to go back to",
					      o->deployment_id, items[n].model);
				goto out;
			}
			snprintf(items[n].to, sizeof(items[n].to), "%s", from);
			n++;
		}
		sqlite3_finalize(q);
	} else {
		items = calloc(1, sizeof(*items));
		if (!items) {
			err = wan_err(WAN_ENOMEM, "out of memory");
			goto out;
		}
		n = 1;
		snprintf(items[0].model, sizeof(items[0].model), "%s", o->model);
	}
	for (size_t i = 0; i < n; i++) {
		struct rb_item *it = &items[i];
		bool unmanaged = false;
		if ((err = wan_config_model_name_check(it->model)) < 0)
			goto out;
		if ((err = wan_release_current(st, it->model, it->from, &unmanaged)) < 0) {
			/* Nothing in production (e.g. after the disk was lost and
			 * the release restored from the backup): --to puts it back. */
			if (err != WAN_ENOTFOUND || unmanaged || !o->to || o->deployment_id)
				goto out;
			it->from[0] = '\0';
			wan_err_clear();
			err = 0;
		}
		if (!it->to[0]) {
			if (o->to) {
				if ((err = release_resolve(st, it->model, o->to, it->to)) < 0)
					goto out;
			} else if ((err = previous_release(st, it->model, it->from, it->to)) < 0) {
				goto out;
			}
		}
		if (!strcmp(it->to, it->from)) {
			wan_log(WAN_LOG_INFO, "%s already runs release %s", it->model, it->to);
			continue;
		}
		if ((err = rollback_check_target(st, it->model, it->to, o->verify)) < 0)
			goto out;
	}
	if ((err = deploy_make_id(st, dep, sizeof(dep))) < 0)
		goto out;
	/* Intent first (D1): the rollback is a deployment of kind "rollback". */
	{
		double now = wan_now_wall();
		if ((err = wan_db_begin(st->db)) < 0)
			goto out;
		if ((err = wan_db_prepare(st->db, &q,
					  "INSERT INTO deployments(id, kind, status, started, updated, pid, command)"
					  " VALUES(?, 'rollback', 'switching', ?, ?, ?, ?)")) < 0)
			goto dbfail;
		sqlite3_bind_text(q, 1, dep, -1, SQLITE_STATIC);
		sqlite3_bind_double(q, 2, now);
		sqlite3_bind_double(q, 3, now);
		sqlite3_bind_int(q, 4, (int)getpid());
		sqlite3_bind_text(q, 5, st->command, -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE) {
			sqlite3_finalize(q);
			err = wan_err(WAN_ERROR, "state database: %s", sqlite3_errmsg(wan_db_handle(st->db)));
			goto dbfail;
		}
		sqlite3_finalize(q);
		for (size_t i = 0; i < n; i++) {
			if ((err = wan_db_prepare(st->db, &q,
						  "INSERT INTO deployment_models(deployment_id, model, from_release, to_release)"
						  " VALUES(?,?,?,?)")) < 0)
				goto dbfail;
			sqlite3_bind_text(q, 1, dep, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, items[i].model, -1, SQLITE_STATIC);
			if (items[i].from[0])
				sqlite3_bind_text(q, 3, items[i].from, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 4, items[i].to, -1, SQLITE_STATIC);
			if (sqlite3_step(q) != SQLITE_DONE) {
				sqlite3_finalize(q);
				err = wan_err(WAN_ERROR, "state database: %s",
					      sqlite3_errmsg(wan_db_handle(st->db)));
				goto dbfail;
			}
			sqlite3_finalize(q);
		}
		if ((err = wan_db_commit(st->db)) < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct rb_item *it = &items[i];
		if (!strcmp(it->to, it->from))
			continue;
		if ((err = release_switch(st, it->model, it->to)) < 0) {
			it->switched = release_switch_landed(st, it->model, it->to, err);
			goto undo;
		}
		it->switched = true;
		wan_log(WAN_LOG_INFO, "rolled back %s: %s -> %s", it->model,
			it->from[0] ? it->from : "(none)", it->to);
	}
	status = "completed";
	if ((err = deployment_set(st, dep, status, NULL, NULL)) < 0)
		goto undo;
	for (size_t i = 0; i < n; i++)
		if (items[i].switched &&
		    deploy_run_hook(st, "post_rollback", st->cfg->deployment.hooks.post_rollback,
				    dep, items[i].model, items[i].to, items[i].from, NULL) < 0)
			wan_log(WAN_LOG_WARN, "%s", wan_errmsg());
	wan_db_event(st->db, st->command, o->model, dep, "rollback", "completed", o->deployment_id);
	goto out;
undo:
	snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
	for (size_t i = n; i-- > 0;)
		if (items[i].switched &&
		    (items[i].from[0] ? release_switch(st, items[i].model, items[i].from)
				      : release_unlink(st, items[i].model)) == 0)
			items[i].switched = false;
	deployment_set(st, dep, "failed", errbuf, NULL);
	wan_err(err, "%s; production left on the releases it had", errbuf);
	goto out;
dbfail:
	wan_db_rollback(st->db);
out:
	if (err < 0)
		snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
	for (size_t i = 0; i < n; i++)
		json_array_append_new(models, json_pack("{s:s,s:s?,s:s?}", "model", items[i].model,
							"from_release", items[i].from[0] ? items[i].from : NULL,
							"to_release", items[i].to[0] ? items[i].to : NULL));
	if (result)
		*result = json_pack("{s:s?,s:s,s:s,s:O,s:s?}", "id", dep[0] ? dep : NULL,
				    "kind", "rollback", "status", err < 0 ? "failed" : status,
				    "models", models, "error", err < 0 ? errbuf : NULL);
	json_decref(models);
	free(items);
	if (err < 0)
		wan_err(err, "%s", errbuf);
	return err;
}

/* ---- list / status ---- */

static json_t *deployment_row(struct wan_state *st, sqlite3_stmt *q)
{
	sqlite3_stmt *m = NULL;
	json_t *models = json_array();
	const char *id = (const char *)sqlite3_column_text(q, 0);
	json_t *d;

	if (wan_db_prepare(st->db, &m, "SELECT model, from_release, to_release, adopted"
			   " FROM deployment_models WHERE deployment_id = ? ORDER BY model") == 0) {
		sqlite3_bind_text(m, 1, id, -1, SQLITE_STATIC);
		while (sqlite3_step(m) == SQLITE_ROW)
			json_array_append_new(models, json_pack("{s:o,s:o,s:o,s:b}",
				"model", col_text(m, 0), "from_release", col_text(m, 1),
				"to_release", col_text(m, 2), "adopted", sqlite3_column_int(m, 3)));
		sqlite3_finalize(m);
	}
	d = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:o,s:o}",
		      "id", id, "kind", col_text(q, 1), "status", col_text(q, 2),
		      "started", col_time(q, 3), "finished", col_time(q, 4),
		      "user", col_text(q, 5),
		      "bytes", (json_int_t)sqlite3_column_int64(q, 6),
		      "bytes_copied", (json_int_t)sqlite3_column_int64(q, 7),
		      "bytes_deduplicated", (json_int_t)sqlite3_column_int64(q, 8),
		      "error", col_text(q, 9), "models", models);
	return d;
}

#define DEP_COLS "d.id, d.kind, d.status, d.started, d.finished, d.user, d.bytes_total," \
		 " d.bytes_copied, d.bytes_dedup, d.error"

int wan_deploy_list(struct wan_state *st, const char *status, const char *model,
		    int limit, json_t **out)
{
	sqlite3_stmt *q = NULL;
	json_t *arr = json_array();
	int err, rc;

	*out = NULL;
	if ((err = wan_db_prepare(st->db, &q,
				  "SELECT " DEP_COLS " FROM deployments d WHERE (?1 IS NULL OR d.status = ?1)"
				  " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM deployment_models m"
				  " WHERE m.deployment_id = d.id AND m.model = ?2))"
				  " ORDER BY d.started DESC, d.rowid DESC LIMIT ?3")) < 0) {
		json_decref(arr);
		return err;
	}
	if (status)
		sqlite3_bind_text(q, 1, status, -1, SQLITE_STATIC);
	if (model)
		sqlite3_bind_text(q, 2, model, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		json_array_append_new(arr, deployment_row(st, q));
	sqlite3_finalize(q);
	/* A read error is not the end of the list: never print a partial one. */
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return wan_err(WAN_EIO, "cannot read the deployments from '%s/state.db': %s",
			       st->path, sqlite3_errstr(rc));
	}
	*out = json_pack("{s:o}", "deployments", arr);
	return 0;
}

/* Models in production: every link under target pointing into releases,
 * every unmanaged folder of a configured model. */
static json_t *production_models(struct wan_state *st)
{
	json_t *arr = json_array();
	DIR *d = opendir(st->target);
	struct dirent *de;
	char id[WAN_RELEASE_ID_LEN + 1];

	if (!d)
		return arr;
	while ((de = readdir(d))) {
		bool unmanaged = false;
		if (de->d_name[0] == '.')
			continue;
		if (wan_release_current(st, de->d_name, id, &unmanaged) == 0)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:b}", "model", de->d_name,
							     "release", id, "unmanaged", 0));
		else if (unmanaged)
			json_array_append_new(arr, json_pack("{s:s,s:n,s:b}", "model", de->d_name,
							     "release", "unmanaged", 1));
	}
	closedir(d);
	wan_err_clear();
	return arr;
}

int wan_status(struct wan_state *st, json_t **out)
{
	json_t *deps = NULL, *inter = json_array(), *alerts = json_array(), *list = NULL;
	sqlite3_stmt *q = NULL;
	int err;

	*out = NULL;
	if ((err = wan_deploy_list(st, NULL, NULL, 5, &list)) < 0)
		goto fail;
	deps = json_incref(json_object_get(list, "deployments"));
	json_decref(list);
	if ((err = wan_deploy_list(st, "interrupted", NULL, 5, &list)) < 0)
		goto fail;
	json_decref(inter);
	inter = json_incref(json_object_get(list, "deployments"));
	json_decref(list);
	if (wan_db_prepare(st->db, &q, "SELECT name, labels, severity, value, summary, fired_at"
			   " FROM alerts WHERE state = 'firing' ORDER BY fired_at") == 0) {
		while (sqlite3_step(q) == SQLITE_ROW)
			json_array_append_new(alerts, json_pack("{s:o,s:o,s:o,s:f,s:o,s:o}",
				"name", col_text(q, 0), "labels", col_json(q, 1),
				"severity", col_text(q, 2), "value", sqlite3_column_double(q, 3),
				"summary", col_text(q, 4), "since", col_time(q, 5)));
		sqlite3_finalize(q);
	}
	*out = json_pack("{s:s,s:s,s:o,s:o,s:o,s:O,s:o}", "target", st->target, "state", st->path,
			 "models", production_models(st), "deployments", deps,
			 "interrupted", inter, "recovered", st->recovered, "alerts", alerts);
	return 0;
fail:
	json_decref(deps);
	json_decref(inter);
	json_decref(alerts);
	return err;
}

/* ---- releases ---- */

int wan_releases(struct wan_state *st, const char *model, json_t **out)
{
	char cur[WAN_RELEASE_ID_LEN + 1] = "", prev[WAN_RELEASE_ID_LEN + 1] = "";
	json_t *arr = json_array();
	DIR *d;
	struct dirent *de;
	int err;

	*out = NULL;
	if ((err = wan_config_model_name_check(model)) < 0)
		goto fail;
	if (wan_release_current(st, model, cur, NULL) == 0)
		previous_release(st, model, cur, prev);
	wan_err_clear();
	d = releases_opendir(st, model);
	if (!d) {
		err = wan_err(WAN_ENOTFOUND, "'%s' has no releases in the store", model);
		goto fail;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char id[WAN_RELEASE_ID_LEN + 1];
		json_t *m = NULL, *f;
		uint64_t unique = 0, shared = 0;
		size_t i;
		double created = 0;
		sqlite3_stmt *q = NULL;

		if (len != WAN_RELEASE_ID_LEN + 5 || strcmp(de->d_name + WAN_RELEASE_ID_LEN, ".json"))
			continue;
		memcpy(id, de->d_name, WAN_RELEASE_ID_LEN);
		id[WAN_RELEASE_ID_LEN] = '\0';
		if (!release_exists(st, model, id) || wan_manifest_load(st, model, id, &m) < 0) {
			wan_err_clear();
			continue;
		}
		json_array_foreach(json_object_get(m, "files"), i, f) {
			struct stat sb;
			uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
			if (state_object_stat(st, json_string_value(json_object_get(f, "sha256")),
					      &sb) == 0 && sb.st_nlink <= 2)
				unique += size;
			else
				shared += size;
		}
		if (wan_db_prepare(st->db, &q, "SELECT created FROM releases WHERE model = ? AND id = ?") == 0) {
			sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
			if (sqlite3_step(q) == SQLITE_ROW)
				created = sqlite3_column_double(q, 0);
			sqlite3_finalize(q);
		}
		{
			char c[32] = "";
			if (created > 0)
				wan_iso_time(created, c, sizeof(c));
			json_array_append_new(arr, json_pack("{s:s,s:s,s:f,s:O,s:O,s:I,s:I,s:b,s:b}",
				"id", id, "created", c[0] ? c : json_string_value(json_object_get(m, "created")),
				"created_ts", created,
				"files", json_object_get(json_object_get(m, "totals"), "files"),
				"bytes", json_object_get(json_object_get(m, "totals"), "bytes"),
				"unique_bytes", (json_int_t)unique, "shared_bytes", (json_int_t)shared,
				"current", !strcmp(id, cur), "previous", !strcmp(id, prev)));
		}
		json_decref(m);
	}
	closedir(d);
	/* Newest first. */
	{
		size_t n = json_array_size(arr);
		for (size_t a = 1; a < n; a++)
			for (size_t b = a; b > 0; b--) {
				json_t *x = json_array_get(arr, b - 1), *y = json_array_get(arr, b);
				if (json_real_value(json_object_get(x, "created_ts")) >=
				    json_real_value(json_object_get(y, "created_ts")))
					break;
				json_incref(x);
				json_array_set(arr, b - 1, y);
				json_array_set_new(arr, b, x);
			}
	}
	*out = json_pack("{s:s,s:s?,s:s?,s:o}", "model", model, "current", cur[0] ? cur : NULL,
			 "previous", prev[0] ? prev : NULL, "releases", arr);
	return 0;
fail:
	json_decref(arr);
	return err;
}

/* ---- verify ---- */

struct vjob {
	const char *dir;
	int dirfd;
	json_t *files;
	struct wan_state *st;
	bool quick;
	atomic_size_t next;
	pthread_mutex_t lock;
	json_t *bad;
	atomic_uint_least64_t bytes;
	uint64_t total;
	const char *what;
};

static void verify_tick(void *ud, size_t n)
{
	struct vjob *j = ud;
	uint64_t done = atomic_fetch_add(&j->bytes, (uint64_t)n) + (uint64_t)n;

	wan_progress(j->what, done, j->total, 0, 0);
}

/* Manifest paths are opened beneath the release folder with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a path that escapes, or
 * a symlink planted anywhere on it, is damage, never followed. */
static void verify_file(struct vjob *j, json_t *f, char *buf, size_t bufsize)
{
	const char *rel = json_string_value(json_object_get(f, "path"));
	const char *sha = json_string_value(json_object_get(f, "sha256"));
	uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
	char hex[WAN_SHA256_HEX];
	const char *problem = NULL;
	struct stat sb, ob;
	int fd = path_open_beneath(j->dirfd, rel, O_RDONLY | O_NONBLOCK, 0);

	if (fd < 0) {
		problem = errno == ENOENT ? "missing" :
			  (errno == ELOOP || errno == EXDEV) ? "a symlink or an escaping path" :
			  "unreadable";
	} else if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		problem = "not a regular file";
	} else if ((uint64_t)sb.st_size != size) {
		problem = "wrong size";
	} else if (j->quick) {
		if (state_object_stat(j->st, sha, &ob) < 0)
			problem = "store object missing";
		else if (ob.st_ino != sb.st_ino || ob.st_dev != sb.st_dev)
			problem = "not the store object (inode differs)";
	} else {
		int r = wan_sha256_fd(fd, buf, bufsize, hex, verify_tick, j);
		if (r < 0)
			problem = r == -1 ? "read error" : "unreadable";
		else if (strcmp(hex, sha))
			problem = "content differs from the manifest (sha256 mismatch)";
	}
	xclose(fd);
	if (problem) {
		pthread_mutex_lock(&j->lock);
		json_array_append_new(j->bad, json_pack("{s:s,s:s,s:s}", "path", rel, "problem",
							problem, "sha256", sha));
		pthread_mutex_unlock(&j->lock);
	}
}

static void *verify_worker(void *arg)
{
	struct vjob *j = arg;
	size_t bs = 1u << 20;
	char *buf = malloc(bs);

	for (;;) {
		size_t k = atomic_fetch_add(&j->next, 1);
		if (k >= json_array_size(j->files) || !buf)
			break;
		verify_file(j, json_array_get(j->files, k), buf, bs);
	}
	free(buf);
	return NULL;
}

static void extra_bad(json_t *bad, const char *path, const char *problem)
{
	json_array_append_new(bad, json_pack("{s:s,s:s}", "path", path[0] ? path : ".",
					     "problem", problem));
}

/* Files in a release tree that its manifest does not list (damage): the
 * folder dfd (rel in the tree) walked through descriptors. What cannot be
 * walked (too deep, a name too long, unreadable) is reported, not skipped:
 * a file hidden there would otherwise pass. */
static void find_extra(int dfd, const char *rel, json_t *files, json_t *bad, int depth)
{
	struct dirent *de;
	DIR *d;

	if (depth > 64) {
		extra_bad(bad, rel, "folder nested too deeply to check (over 64 levels)");
		return;
	}
	if (!(d = path_opendir_at(dfd))) {
		extra_bad(bad, rel, "folder unreadable");
		return;
	}
	while ((de = readdir(d))) {
		char r[WAN_PATH_MAX];
		struct stat sb;
		int sfd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (path_join(r, sizeof(r), rel, de->d_name) < 0) {
			wan_err_clear();
			extra_bad(bad, de->d_name, "path too long to check");
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			extra_bad(bad, r, "unreadable");
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			sfd = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0) {
				extra_bad(bad, r, "folder unreadable");
				continue;
			}
			find_extra(sfd, r, files, bad, depth + 1);
			close(sfd);
		} else if (!json_object_get(files, r)) {
			extra_bad(bad, r, "extra file not in the manifest");
		}
	}
	closedir(d);
}

static int verify_release(struct wan_state *st, const char *model, const char *id,
			  bool quick, const char *check, struct wan_report *rep)
{
	struct vjob j;
	json_t *m = NULL, *f;
	char dir[WAN_PATH_MAX], what[300];
	pthread_t th[16];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nw, started = 0, rfd, err;
	size_t i;

	if ((err = wan_manifest_load(st, model, id, &m)) < 0)
		return wan_report_add(rep, check, model, WAN_CHECK_FAIL, NULL,
				      "cannot read the manifest of release %s: %s", id, wan_errmsg());
	memset(&j, 0, sizeof(j));
	wan_release_dir(st, model, id, dir, sizeof(dir));
	snprintf(what, sizeof(what), "verify %s", model);
	j.dir = dir;
	/* Beneath the state folder's descriptor, no symlink followed. */
	if ((rfd = state_release_open(st, model, false)) >= 0) {
		j.dirfd = path_open_beneath(rfd, id, O_RDONLY | O_DIRECTORY, 0);
		xclose(rfd);
	} else {
		j.dirfd = -1;
	}
	if (j.dirfd < 0) {
		err = wan_report_add(rep, check, model, WAN_CHECK_FAIL, NULL,
				     "cannot open release %s ('%s'): %s", id, dir, strerror(errno));
		json_decref(m);
		return err;
	}
	j.files = json_object_get(m, "files");
	j.st = st;
	j.quick = quick;
	j.bad = json_array();
	j.what = what;
	pthread_mutex_init(&j.lock, NULL);
	json_array_foreach(j.files, i, f)
		j.total += (uint64_t)json_integer_value(json_object_get(f, "size"));
	nw = quick ? 1 : (int)(ncpu > 0 ? ncpu : 1);
	if (nw > 16)
		nw = 16;
	for (int k = 0; k < nw; k++)
		if (pthread_create(&th[started], NULL, verify_worker, &j) == 0)
			started++;
	if (!started)
		verify_worker(&j);
	for (int k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	{
		json_t *names = json_object();
		json_array_foreach(j.files, i, f)
			json_object_set_new(names, json_string_value(json_object_get(f, "path")),
					    json_true());
		find_extra(j.dirfd, "", names, j.bad, 0);
		json_decref(names);
	}
	if (json_array_size(j.bad)) {
		json_t *b0 = json_array_get(j.bad, 0);
		err = wan_report_add(rep, check, model, WAN_CHECK_FAIL,
				     json_pack("{s:s,s:s,s:O}", "release", id, "mode",
					       quick ? "quick" : "full", "files", j.bad),
				     "release %s: %zu file(s) do not match the manifest; first: '%s' (%s)",
				     id, json_array_size(j.bad),
				     json_string_value(json_object_get(b0, "path")),
				     json_string_value(json_object_get(b0, "problem")));
	} else {
		err = wan_report_add(rep, check, model, WAN_CHECK_PASS,
				     json_pack("{s:s,s:s,s:I,s:I}", "release", id, "mode",
					       quick ? "quick" : "full", "files",
					       (json_int_t)json_array_size(j.files),
					       "bytes", (json_int_t)j.total),
				     "release %s: %zu files match the manifest (%s)", id,
				     json_array_size(j.files), quick ? "sizes and inodes" : "sha256");
	}
	pthread_mutex_destroy(&j.lock);
	xclose(j.dirfd);
	json_decref(j.bad);
	json_decref(m);
	return err;
}

int deploy_check_release(struct wan_state *st, const char *model, const char *id,
			 bool full, struct wan_report *rep)
{
	char cur[WAN_RELEASE_ID_LEN + 1], p[WAN_PATH_MAX];
	struct stat sb;
	int err;

	path_join(p, sizeof(p), st->target, model);
	if (wan_release_current(st, model, cur, NULL) < 0 || strcmp(cur, id) ||
	    stat(p, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL, NULL,
			       "'%s' does not resolve to release %s", p, id);
		return 0;
	}
	if ((err = wan_report_add(rep, "release.link", model, WAN_CHECK_PASS, NULL,
				  "'%s' resolves to release %s", p, id)) < 0)
		return err;
	return verify_release(st, model, id, !full, "release.files", rep);
}

int wan_verify(struct wan_state *st, const char *const *models, size_t n,
	       bool quick, struct wan_report *rep)
{
	json_t *prod = NULL, *e;
	size_t i;
	int err = 0;

	if (!n) {
		prod = production_models(st);
		json_array_foreach(prod, i, e) {
			const char *model = json_string_value(json_object_get(e, "model"));
			const char *id = json_string_value(json_object_get(e, "release"));
			if (!id) {
				wan_report_add(rep, "release.files", model, WAN_CHECK_WARN, NULL,
					       "'%s' is an unmanaged folder: nothing to verify (deploy "
					       "once to adopt it)", model);
				continue;
			}
			if ((err = verify_release(st, model, id, quick, "release.files", rep)) < 0)
				break;
		}
		if (!json_array_size(prod))
			wan_report_add(rep, "release.files", NULL, WAN_CHECK_SKIP, NULL,
				       "no model is deployed under '%s'", st->target);
		json_decref(prod);
		return err;
	}
	for (i = 0; i < n; i++) {
		char id[WAN_RELEASE_ID_LEN + 1];
		if ((err = wan_config_model_name_check(models[i])) < 0)
			return err;
		if (wan_release_current(st, models[i], id, NULL) < 0) {
			wan_report_add(rep, "release.link", models[i], WAN_CHECK_FAIL, NULL,
				       "%s", wan_errmsg());
			continue;
		}
		if ((err = verify_release(st, models[i], id, quick, "release.files", rep)) < 0)
			return err;
	}
	return 0;
}

/* ---- gc ---- */

static int gc_collect_refs(struct wan_state *st, json_t *refs)
{
	DIR *d, *md;
	struct dirent *de, *me;

	if (!(d = releases_opendir(st, NULL)))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!(md = releases_opendir(st, de->d_name)))
			continue;
		while ((me = readdir(md))) {
			size_t len = strlen(me->d_name);
			char id[WAN_RELEASE_ID_LEN + 1];
			json_t *m = NULL, *f;
			size_t i;
			if (len != WAN_RELEASE_ID_LEN + 5 || strcmp(me->d_name + WAN_RELEASE_ID_LEN, ".json"))
				continue;
			memcpy(id, me->d_name, WAN_RELEASE_ID_LEN);
			id[WAN_RELEASE_ID_LEN] = '\0';
			if (wan_manifest_load(st, de->d_name, id, &m) < 0) {
				closedir(md);
				closedir(d);
				return wan_err_prefix(WAN_ECORRUPT, "gc stopped (nothing deleted)");
			}
			json_array_foreach(json_object_get(m, "files"), i, f)
				json_object_set_new(refs, json_string_value(json_object_get(f, "sha256")),
						    json_true());
			json_decref(m);
		}
		closedir(md);
	}
	closedir(d);
	return 0;
}

int wan_gc(struct wan_state *st, bool dry_run, json_t **out)
{
	json_t *removed = json_array(), *refs = json_object(), *models = NULL, *e;
	int64_t keep = st->cfg->deployment.keep_releases;
	uint64_t freed = 0, nobj = 0;
	char dir[WAN_PATH_MAX];
	DIR *d;
	struct dirent *de;
	size_t i;
	int err = 0, rfd;

	*out = NULL;
	if (keep < 2)
		keep = 2;  /* never the current or the previous release */
	/* Releases: per model, newest first; keep `keep`, the current and the previous. */
	if ((d = releases_opendir(st, NULL))) {
		models = json_array();
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				json_array_append_new(models, json_string(de->d_name));
		closedir(d);
	}
	json_array_foreach(models, i, e) {
		const char *model = json_string_value(e);
		json_t *rl = NULL, *r;
		size_t k;
		int64_t kept = 0;

		if (wan_releases(st, model, &rl) < 0) {
			wan_err_clear();
			continue;
		}
		json_array_foreach(json_object_get(rl, "releases"), k, r) {
			const char *id = json_string_value(json_object_get(r, "id"));
			bool pin = json_is_true(json_object_get(r, "current")) ||
				   json_is_true(json_object_get(r, "previous"));
			char rdir[WAN_PATH_MAX], mpath[WAN_PATH_MAX];
			sqlite3_stmt *q = NULL;

			if (pin || kept < keep) {
				kept++;
				continue;
			}
			json_array_append_new(removed, json_pack("{s:s,s:s,s:O}", "model", model,
								 "release", id, "bytes",
								 json_object_get(r, "unique_bytes")));
			if (dry_run)
				continue;
			/* Row first, then files, then the folder's fsync. */
			if (wan_db_prepare(st->db, &q, "DELETE FROM releases WHERE model = ? AND id = ?") == 0) {
				sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
				sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
				sqlite3_step(q);
				sqlite3_finalize(q);
			}
			/* Through the model folder's descriptor, no symlinks followed. */
			wan_release_dir(st, model, id, rdir, sizeof(rdir));
			if ((rfd = state_release_open(st, model, false)) < 0) {
				err = wan_err_sys(0, "cannot open the folder of '%s'", rdir);
				json_decref(rl);
				goto out;
			}
			/* id: a listed release, 16 hex (wan_releases) */
			snprintf(mpath, sizeof(mpath), "%s.json", id);
			if ((err = path_remove_beneath(rfd, id)) < 0 ||
			    (err = path_remove_beneath(rfd, mpath)) < 0) {
				xclose(rfd);
				json_decref(rl);
				goto out;
			}
			xfsync(rfd);
			xclose(rfd);
		}
		json_decref(rl);
	}
	/* Objects no remaining manifest references. */
	if ((err = gc_collect_refs(st, refs)) < 0)
		goto out;
	/* Through folder descriptors, never following a symlink: a folder
	 * swapped for one cannot take the unlinks outside the store. */
	wan_msgname(dir, sizeof(dir), "%s/objects/sha256", st->path);
	d = st->objfd >= 0 ? path_opendir_at(st->objfd) : NULL;
	while (d && (de = readdir(d))) {
		DIR *sd;
		struct dirent *oe;
		bool changed = false;
		int fd;

		if (strlen(de->d_name) != 2)
			continue;
		/* sd owns fd: closed with it. */
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);
		if (!(sd = path_fdopendir(fd)))
			continue;
		while ((oe = readdir(sd))) {
			char sha[WAN_SHA256_HEX];
			struct stat sb;
			if (strlen(oe->d_name) != 62)
				continue;
			memcpy(sha, de->d_name, 2);
			memcpy(sha + 2, oe->d_name, 63); /* 62 hex + NUL */
			if (!wan_sha256_is_hex(sha) || json_object_get(refs, sha))
				continue;
			if (fstatat(fd, oe->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			/* Counted only once gone (or, dry, as it would be). */
			if (!dry_run && xunlinkat(fd, oe->d_name, 0) < 0) {
				wan_log(WAN_LOG_WARN, "cannot remove unreferenced object "
					"'%s/%s/%s': %s", dir, de->d_name, oe->d_name,
					strerror(errno));
				continue;
			}
			nobj++;
			freed += (uint64_t)sb.st_size;
			changed = !dry_run;
		}
		if (changed && xfsync(fd) < 0)
			wan_log(WAN_LOG_WARN, "cannot fsync '%s/%s': %s", dir, de->d_name,
				strerror(errno));
		closedir(sd);
	}
	if (d)
		closedir(d);
	wan_db_event(st->db, st->command, NULL, NULL, "gc", dry_run ? "dry-run" : "completed", NULL);
	*out = json_pack("{s:O,s:I,s:I,s:b}", "releases_removed", removed,
			 "objects_removed", (json_int_t)nobj, "bytes_freed", (json_int_t)freed,
			 "dry_run", dry_run);
out:
	json_decref(removed);
	json_decref(refs);
	json_decref(models);
	return err;
}
