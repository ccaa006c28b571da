/*
 * Deploy, and recovery of interrupted deployments.
 *
 * State diagram of a deployment (deployments.status):
 *
 *   pending --> ingesting --> switching --> verifying --> completed
 *                   |             |             |
 *                   v             v             v
 *                 failed      rolled_back    rolled_back | failed
 *
 *   any of pending/ingesting/switching/verifying --(crash)--> interrupted
 *
 * Transitions, by function:
 *   deployment_begin()     -> ingesting (row and its models inserted: intent)
 *   deploy_ingest_model()  builds releases; nothing visible in production
 *   deployment_set(switching) is COMMITTED before the first switch (D1)
 *   deploy_switch_all()    -> switching (each switch: release_switch())
 *   deploy_verify_all()    -> verifying
 *   deploy_undo()          -> rolled_back (every switched model back)
 *   deploy_recover()       -> interrupted (run by every command first)
 *
 * Invariants:
 *  D1. No production link changes unless the deployment row says
 *      "switching" with every model's from/to release durable in SQLite.
 *  D2. "completed" is committed only after every switch is durable (the
 *      target folder was fsynced) and post checks passed; the CLI prints
 *      success only after that commit.
 *  D3. Recovery of a deployment caught in switching/verifying puts every
 *      model back on its from_release (or removes a link that did not
 *      exist before), so production is always a complete old release.
 */
#include "lib/state.h"
#include "lib/ingest.h"
#include "lib/manifest.h"
#include "util/buf.h"
#include "util/xio.h"
#include "wanctl/log.h"
#include "wanctl/runcmd.h"
#include "wanctl/validate.h"
#include "wanctl/backup.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct model_work {
	const char *name;
	const char *spec;
	char source[WAN_PATH_MAX];
	struct src_tree tree;
	bool scanned;
	char from[WAN_RELEASE_ID_LEN + 1];
	bool unmanaged;
	struct src_tree adopt;
	bool adopt_scanned;
	char to[WAN_RELEASE_ID_LEN + 1];
	json_t *manifest;
	uint64_t to_copy, copied, dedup;
	double seconds;
	bool unchanged;
	bool switched;
};

/*
 * A new deployment id, "dep-YYYYMMDD-HHMMSS-xxxx": 16 random bits within
 * the second, drawn again while the database already has the id (two
 * deploys in one second could collide: found by t_seq, a deploy refused
 * with "UNIQUE constraint failed: deployments.id"). Callers hold the lock,
 * so nobody inserts between the look and their insert.
 */
int deploy_make_id(struct wan_state *st, char *buf, size_t n)
{
	for (int tries = 0; tries < 64; tries++) {
		unsigned char r[2] = { 0, 0 };
		time_t now = time(NULL);
		sqlite3_stmt *q = NULL;
		struct tm tm;
		char ts[32];
		int err, rc;

		if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
			r[0] = (unsigned char)(getpid() + tries);
			r[1] = (unsigned char)(getpid() >> 8);
		}
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
		if ((err = wan_snprintf(buf, n, "dep-%s-%02x%02x", ts, r[0], r[1])) < 0 ||
		    (err = wan_db_prepare(st->db, &q, "SELECT 1 FROM deployments WHERE id = ?")) < 0)
			return err;
		sqlite3_bind_text(q, 1, buf, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		sqlite3_finalize(q);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW)
			return wan_err(WAN_ERROR, "state database: %s",
				       sqlite3_errmsg(wan_db_handle(st->db)));
	}
	return wan_err(WAN_ERROR, "no free deployment id this second");
}

static int db_step_done(struct wan_state *st, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return wan_err(rc == SQLITE_FULL ? WAN_ENOSPC : WAN_ERROR,
			       "state database: %s", sqlite3_errmsg(wan_db_handle(st->db)));
	return 0;
}

/* A query's sqlite3_step() ended with rc, not SQLITE_DONE: finalize, report. */
static int db_step_failed(struct wan_state *st, sqlite3_stmt *q, int rc)
{
	int err = wan_err(rc == SQLITE_FULL ? WAN_ENOSPC : WAN_ERROR, "state database: %s",
			  sqlite3_errmsg(wan_db_handle(st->db)));
	sqlite3_finalize(q);
	return err;
}

static int deployment_begin(struct wan_state *st, const char *id, const char *kind,
		     const char *status, struct model_work *w, size_t n)
{
	sqlite3_stmt *q = NULL;
	char user[128];
	double now = wan_now_wall();
	int err;

	if ((err = wan_db_begin(st->db)) < 0)
		return err;
	if ((err = wan_db_prepare(st->db, &q,
				  "INSERT INTO deployments(id, kind, status, started, updated, user, pid, command)"
				  " VALUES(?,?,?,?,?,?,?,?)")) < 0)
		goto fail;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 4, now);
	sqlite3_bind_double(q, 5, now);
	wan_user_name(user, sizeof(user));
	sqlite3_bind_text(q, 6, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 7, (int)getpid());
	sqlite3_bind_text(q, 8, st->command, -1, SQLITE_STATIC);
	if ((err = db_step_done(st, q)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if ((err = wan_db_prepare(st->db, &q,
					  "INSERT INTO deployment_models(deployment_id, model, from_release, to_release)"
					  " VALUES(?,?,?,?)")) < 0)
			goto fail;
		sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, w[i].name, -1, SQLITE_STATIC);
		if (w[i].from[0])
			sqlite3_bind_text(q, 3, w[i].from, -1, SQLITE_STATIC);
		if (w[i].to[0])
			sqlite3_bind_text(q, 4, w[i].to, -1, SQLITE_STATIC);
		if ((err = db_step_done(st, q)) < 0)
			goto fail;
	}
	return wan_db_commit(st->db);
fail:
	wan_db_rollback(st->db);
	return err;
}

/* Set status (and error/report when given); finished when terminal. */
int deployment_set(struct wan_state *st, const char *id, const char *status,
		   const char *error, json_t *report)
{
	sqlite3_stmt *q = NULL;
	bool terminal = !strcmp(status, "completed") || !strcmp(status, "failed") ||
			!strcmp(status, "rolled_back") || !strcmp(status, "interrupted");
	char *rep = report ? json_dumps(report, JSON_COMPACT) : NULL;
	int err;

	err = wan_db_prepare(st->db, &q,
			     "UPDATE deployments SET status = ?, updated = ?,"
			     " finished = CASE WHEN ? THEN ? ELSE finished END,"
			     " error = COALESCE(?, error), report = COALESCE(?, report) WHERE id = ?");
	if (err < 0) {
		free(rep);
		return err;
	}
	sqlite3_bind_text(q, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 2, wan_now_wall());
	sqlite3_bind_int(q, 3, terminal);
	sqlite3_bind_double(q, 4, wan_now_wall());
	sqlite3_bind_text(q, 5, error, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, rep, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, id, -1, SQLITE_STATIC);
	err = db_step_done(st, q);
	free(rep);
	return err;
}

static int deployment_set_model(struct wan_state *st, const char *id,
				const struct model_work *w)
{
	sqlite3_stmt *q = NULL;
	int err;

	if ((err = wan_db_prepare(st->db, &q,
				  "UPDATE deployment_models SET from_release = ?, to_release = ?,"
				  " switched = ?, adopted = ? WHERE deployment_id = ? AND model = ?")) < 0)
		return err;
	if (w->from[0])
		sqlite3_bind_text(q, 1, w->from, -1, SQLITE_STATIC);
	if (w->to[0])
		sqlite3_bind_text(q, 2, w->to, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, w->switched);
	sqlite3_bind_int(q, 4, w->unmanaged);
	sqlite3_bind_text(q, 5, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, w->name, -1, SQLITE_STATIC);
	return db_step_done(st, q);
}

static int deployment_set_bytes(struct wan_state *st, const char *id, uint64_t total,
				uint64_t copied, uint64_t dedup)
{
	sqlite3_stmt *q = NULL;
	int err;

	if ((err = wan_db_prepare(st->db, &q,
				  "UPDATE deployments SET bytes_total = ?, bytes_copied = ?,"
				  " bytes_dedup = ? WHERE id = ?")) < 0)
		return err;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)total);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)copied);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)dedup);
	sqlite3_bind_text(q, 4, id, -1, SQLITE_STATIC);
	return db_step_done(st, q);
}

int release_record(struct wan_state *st, const char *model, json_t *m)
{
	sqlite3_stmt *q = NULL;
	json_t *totals = json_object_get(m, "totals");
	int err;

	if ((err = wan_db_prepare(st->db, &q,
				  "INSERT OR IGNORE INTO releases(model, id, created, spec, source, files, bytes)"
				  " VALUES(?,?,?,?,?,?,?)")) < 0)
		return err;
	sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, json_string_value(json_object_get(m, "release")), -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 3, wan_now_wall());
	sqlite3_bind_text(q, 4, json_string_value(json_object_get(m, "spec")), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, json_string_value(json_object_get(m, "source")), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, json_integer_value(json_object_get(totals, "files")));
	sqlite3_bind_int64(q, 7, json_integer_value(json_object_get(totals, "bytes")));
	return db_step_done(st, q);
}

/* Build the manifest of an ingested tree. */
static int manifest_from_tree(const char *model, const char *spec, const char *source,
			      struct src_tree *t, json_t **out, char id[WAN_RELEASE_ID_LEN + 1])
{
	json_t *m = NULL, *files = json_array(), *stats = json_object();
	char created[32];
	int err = 0;

	*out = NULL;
	if (!files || !stats) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct src_file *f = &t->files[i];
		json_t *e = json_pack("{s:s,s:I,s:i,s:s}", "path", f->rel, "size",
				      (json_int_t)f->size, "mode", (int)(f->mode & 0777),
				      "sha256", f->sha);
		if (!e || json_array_append_new(files, e) < 0) {
			err = wan_err(WAN_ENOMEM, "out of memory");
			goto fail;
		}
		if (f->stats)
			json_object_set(stats, f->rel, f->stats);
	}
	if ((err = manifest_sort_files(files)) < 0 ||
	    (err = manifest_release_id(files, id)) < 0)
		goto fail;
	wan_iso_time(wan_now_wall(), created, sizeof(created));
	m = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s,s:O,s:{s:I,s:I}}",
		      "format", "wanctl-manifest-1", "model", model, "spec", spec,
		      "source", source, "created", created, "release", id,
		      "files", files, "totals", "files", (json_int_t)t->n,
		      "bytes", (json_int_t)t->bytes);
	if (!m) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto fail;
	}
	if (json_object_size(stats))
		json_object_set(m, "tensor_stats", stats);
	*out = m;
fail:
	json_decref(files);
	json_decref(stats);
	return err;
}

/*
 * Run a deployment hook (pre_switch, post_switch, post_rollback) with the
 * deployment in its environment. WANCTL_RELEASE is the release live after
 * the step, WANCTL_FROM_RELEASE the one before. A failure adds a
 * "deployment.hook" check to rep (when given) and returns WAN_ECHECK.
 */
int deploy_run_hook(struct wan_state *st, const char *which, const char *cmd,
		    const char *dep_id, const char *model, const char *release,
		    const char *from, struct wan_report *rep)
{
	char e_model[300], e_rel[64], e_from[64], e_dep[80], e_dir[WAN_PATH_MAX + 32], e_hook[64];
	const char *env[7];
	struct wan_cmd_result res;
	int err;

	if (!cmd)	/* none configured ("" is refused by the configuration) */
		return 0;
	snprintf(e_model, sizeof(e_model), "WANCTL_MODEL=%s", model);
	snprintf(e_rel, sizeof(e_rel), "WANCTL_RELEASE=%s", release);
	snprintf(e_from, sizeof(e_from), "WANCTL_FROM_RELEASE=%s", from);
	snprintf(e_dep, sizeof(e_dep), "WANCTL_DEPLOYMENT_ID=%s", dep_id);
	snprintf(e_dir, sizeof(e_dir), "WANCTL_CKPT_DIR=%s/%s", st->target, model);
	snprintf(e_hook, sizeof(e_hook), "WANCTL_HOOK=%s", which);
	env[0] = e_model; env[1] = e_rel; env[2] = e_from; env[3] = e_dep;
	env[4] = e_dir; env[5] = e_hook; env[6] = NULL;
	if ((err = wan_run_command(cmd, env, NULL,
				   (double)st->cfg->deployment.hooks.timeout_seconds, 4096, &res)) < 0)
		return err;
	if (res.exit_status != 0 || res.timed_out) {
		if (rep)
			wan_report_add(rep, "deployment.hook", model, WAN_CHECK_FAIL,
				       json_pack("{s:s,s:s,s:i,s:b,s:f}", "hook", which, "output",
						 res.output ? res.output : "", "exit_status",
						 res.exit_status, "timed_out", res.timed_out,
						 "seconds", res.seconds),
				       "%s hook '%s' %s", which, cmd,
				       res.timed_out ? "timed out" : "failed");
		err = wan_err(WAN_ECHECK, "%s hook for '%s' %s (exit status %d)", which,
			      model, res.timed_out ? "timed out" : "failed", res.exit_status);
	}
	wan_cmd_result_release(&res);
	return err;
}

/* tensors.finite after an ingest without NaN/Inf: a pass names what was
 * scanned (the data of files copied now, whose header parsed); nothing
 * scanned (every object already stored, no readable safetensors header)
 * is a skip, not a pass. */
static void report_scanned(struct wan_report *rep, const struct model_work *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->tree.n; i++)
		n += m->tree.files[i].stats != NULL;
	if (n)
		wan_report_add(rep, "tensors.finite", m->name, WAN_CHECK_PASS,
			       json_pack("{s:I}", "files", (json_int_t)n),
			       "every float tensor of %zu file(s) scanned while copying is finite", n);
	else
		wan_report_add(rep, "tensors.finite", m->name, WAN_CHECK_SKIP, NULL,
			       "no tensor data scanned: nothing copied, or no readable "
			       "safetensors header");
}

/* Switch every switched model back to its from_release (D3). */
static int deploy_undo(struct wan_state *st, const char *dep_id, struct model_work *w,
		       size_t n, struct wan_report *rep)
{
	int first = 0;

	for (size_t i = n; i-- > 0;) {
		int err;
		if (!w[i].switched)
			continue;
		err = w[i].from[0] ? release_switch(st, w[i].name, w[i].from)
				   : release_unlink(st, w[i].name);
		if (err < 0) {
			wan_log(WAN_LOG_ERROR, "cannot roll back '%s': %s", w[i].name, wan_errmsg());
			if (!first)
				first = err;
			continue;
		}
		w[i].switched = false;
		deployment_set_model(st, dep_id, &w[i]);
		wan_log(WAN_LOG_INFO, "rolled back %s to %s", w[i].name,
			w[i].from[0] ? w[i].from : "(not deployed)");
		deploy_run_hook(st, "post_rollback", st->cfg->deployment.hooks.post_rollback,
				dep_id, w[i].name, w[i].from, w[i].to, rep);
		wan_err_clear();
	}
	return first;
}


static json_t *result_json(const char *dep_id, const char *status, struct model_work *w,
			   size_t n, struct wan_report *rep, const char *error, bool dry)
{
	json_t *models = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(models, json_pack(
			"{s:s,s:s?,s:s?,s:b,s:b,s:I,s:I,s:I,s:I,s:f}",
			"model", w[i].name, "from_release", w[i].from[0] ? w[i].from : NULL,
			"to_release", w[i].to[0] ? w[i].to : NULL, "unchanged", w[i].unchanged,
			"adopted", w[i].unmanaged, "files", (json_int_t)w[i].tree.n,
			"bytes", (json_int_t)w[i].tree.bytes,
			dry ? "to_copy" : "copied", (json_int_t)(dry ? w[i].to_copy : w[i].copied),
			"deduplicated", (json_int_t)(dry ? w[i].tree.bytes - w[i].to_copy : w[i].dedup),
			"seconds", w[i].seconds));
	return json_pack("{s:s?,s:s,s:b,s:o,s:O,s:s?}", "id", dep_id, "status", status,
			 "dry_run", dry, "models", models, "report", wan_report_json(rep),
			 "error", error);
}

int wan_deploy(struct wan_state *st, const struct wan_deploy_opts *o, json_t **result)
{
	const struct wan_config *cfg = st->cfg;
	struct model_work *w = NULL;
	struct wan_report *rep = wan_report_new();
	const char **specs = NULL;
	char dep_id[64] = "";
	const char *status = "failed";
	char errbuf[2048] = "";
	uint64_t to_copy = 0, total = 0, copied = 0, dedup = 0;
	double start = wan_now_mono();
	enum wan_transfer transfer = o->transfer >= 0 ? (enum wan_transfer)o->transfer
						      : cfg->deployment.transfer;
	bool begun = false, any_change = false;
	int err = 0;

	if (result)
		*result = NULL;
	if (!rep)
		return wan_err(WAN_ENOMEM, "out of memory");
	if (!o->nmodels) {
		err = wan_err(WAN_EINVAL, "no model to deploy");
		goto out;
	}
	if (o->source && o->nmodels != 1) {
		err = wan_err(WAN_EINVAL, "--source names the staging folder of one model; %zu given",
			      o->nmodels);
		goto out;
	}
	w = calloc(o->nmodels, sizeof(*w));
	specs = calloc(o->nmodels, sizeof(*specs));
	if (!w || !specs) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	/* Plan: resolve, scan, deduplicate. Nothing is written. */
	for (size_t i = 0; i < o->nmodels; i++) {
		struct model_work *m = &w[i];
		char prod[WAN_PATH_MAX];

		m->name = o->models[i];
		for (size_t j = 0; j < i; j++)
			if (!strcmp(w[j].name, m->name)) {
				err = wan_err(WAN_EINVAL, "model '%s' named twice", m->name);
				goto out;
			}
		if ((err = wan_config_model(cfg, m->name, &m->spec, m->source,
					    sizeof(m->source))) < 0)
			goto out;
		if (o->source && (err = path_absolute(m->source, sizeof(m->source), NULL,
						      o->source)) < 0) {
			wan_err_prefix(err, "--source '%.64s...'", o->source);
			goto out;
		}
		specs[i] = m->spec;
		/* Not deployed, or an unmanaged folder (adopted): no release
		 * to come from. Anything else there (a plain file, a link not
		 * to a release) is somebody's and is not replaced. */
		err = wan_release_current(st, m->name, m->from, &m->unmanaged);
		if (err < 0 && err != WAN_ENOTFOUND) {
			char why[512];

			snprintf(why, sizeof(why), "%s", wan_errmsg());
			err = wan_err(err, "%s: not replaced by a release of '%s' (move it "
				      "away first); production untouched", why, m->name);
			goto out;
		}
		err = 0;        /* m->from is empty when there was no release */
		wan_err_clear();
		err = source_scan(m->source, &m->tree);
		if (err < 0) {
			wan_report_add(rep, "staging.exists", m->name, WAN_CHECK_FAIL,
				       json_pack("{s:s}", "source", m->source), "%s", wan_errmsg());
			err = 0;
			continue;
		}
		m->scanned = true;
		if (!m->tree.n) {
			wan_report_add(rep, "staging.exists", m->name, WAN_CHECK_FAIL,
				       json_pack("{s:s}", "source", m->source),
				       "staging folder '%s' is empty", m->source);
			continue;
		}
		wan_report_add(rep, "staging.exists", m->name, WAN_CHECK_PASS,
			       json_pack("{s:s,s:I,s:I}", "source", m->tree.root, "files",
					 (json_int_t)m->tree.n, "bytes", (json_int_t)m->tree.bytes),
			       "staging '%s': %zu files, %llu bytes", m->tree.root, m->tree.n,
			       (unsigned long long)m->tree.bytes);
		if ((err = ingest_plan(st, &m->tree, o->rehash, &m->to_copy)) < 0)
			goto out;
		if (m->unmanaged) {
			if ((err = path_join(prod, sizeof(prod), st->target, m->name)) < 0 ||
			    (err = source_scan(prod, &m->adopt)) < 0)
				goto out;
			m->adopt_scanned = true;
		}
		to_copy += transfer == WAN_TRANSFER_HARDLINK ? 0 : m->to_copy;
		total += m->tree.bytes;
	}
	if (cfg->validation.enabled) {
		for (size_t i = 0; i < o->nmodels; i++)
			if (w[i].scanned &&
			    (err = wan_validate_staging(cfg, w[i].name, w[i].spec, w[i].tree.root, rep)) < 0)
				goto out;
		if ((err = wan_validate_system(cfg, st, specs, o->nmodels, to_copy, rep)) < 0)
			goto out;
	}
	if (wan_report_worst(rep) == WAN_CHECK_FAIL) {
		err = wan_err(WAN_ECHECK, "validation failed: %s; production untouched",
			      wan_report_first_failure(rep));
		goto out;
	}
	if (o->dry_run) {
		status = "planned";
		goto out;
	}
	if (transfer == WAN_TRANSFER_HARDLINK)
		wan_log(WAN_LOG_WARN, "--transfer hardlink: the store shares inodes with staging; "
			"never edit staging files in place (they are now read-only)");

	/* Intent: the deployment and its models are recorded before anything else. */
	if ((err = deploy_make_id(st, dep_id, sizeof(dep_id))) < 0 ||
	    (err = deployment_begin(st, dep_id, "deploy", "ingesting", w, o->nmodels)) < 0)
		goto out;
	begun = true;
	wan_db_event(st->db, st->command, NULL, dep_id, "deploy", "started", NULL);

	for (size_t i = 0; i < o->nmodels; i++) {
		struct model_work *m = &w[i];
		struct ingest_opts io = { transfer, (int)cfg->deployment.workers, o->rehash,
					  cfg->validation.scan_tensors, NULL };
		char what[320];
		double t0 = wan_now_mono();
		bool existed;
		uint64_t c = 0, d = 0;

		if (m->unmanaged) {
			/* Adopt the unmanaged folder as a release first. */
			json_t *am = NULL;
			char pdir[WAN_PATH_MAX];
			struct ingest_opts ao = io;

			ao.transfer = WAN_TRANSFER_HARDLINK;
			ao.scan = false;
			snprintf(what, sizeof(what), "adopt %s", m->name);
			ao.what = what;
			if ((err = ingest_tree(st, &m->adopt, &ao, &c, &d)) < 0)
				goto fail;
			path_join(pdir, sizeof(pdir), st->target, m->name);
			if ((err = manifest_from_tree(m->name, m->spec, pdir, &m->adopt, &am, m->from)) < 0)
				goto fail;
			err = release_publish(st, m->name, m->from, am);
			if (!err)
				err = release_record(st, m->name, am);
			json_decref(am);
			if (err < 0 || (err = deployment_set_model(st, dep_id, m)) < 0)
				goto fail;
			wan_log(WAN_LOG_INFO, "adopted the unmanaged folder '%s' as release %s",
				pdir, m->from);
		}
		snprintf(what, sizeof(what), "ingest %s", m->name);
		io.what = what;
		if ((err = ingest_tree(st, &m->tree, &io, &m->copied, &m->dedup)) < 0) {
			if (!strncmp(wan_errmsg(), "tensors.finite", 14)) {
				wan_report_add(rep, "tensors.finite", m->name, WAN_CHECK_FAIL, NULL,
					       "%s", wan_errmsg() + 16);
				err = wan_err(WAN_ECHECK, "validation failed: %s; production untouched",
					      wan_report_first_failure(rep));
			}
			goto fail;
		}
		copied += m->copied;
		dedup += m->dedup;
		if ((err = manifest_from_tree(m->name, m->spec, m->tree.root, &m->tree,
					      &m->manifest, m->to)) < 0)
			goto fail;
		/* An existing release whose lost objects this ingest made
		 * again: its tree is relinked to them. */
		existed = release_exists(st, m->name, m->to);
		if ((err = release_publish(st, m->name, m->to, m->manifest)) < 0 ||
		    (existed && (err = release_relink_tree(st, m->name, m->to, m->manifest)) < 0) ||
		    (err = release_record(st, m->name, m->manifest)) < 0)
			goto fail;
		m->unchanged = m->from[0] && !strcmp(m->from, m->to) && !m->unmanaged;
		if (!m->unchanged)
			any_change = true;
		if (cfg->validation.scan_tensors)
			report_scanned(rep, m);
		m->seconds = wan_now_mono() - t0;
		if ((err = deployment_set_model(st, dep_id, m)) < 0)
			goto fail;
	}
	deployment_set_bytes(st, dep_id, total, copied, dedup);
	if (cfg->deployment.max_deployment_time > 0 &&
	    wan_now_mono() - start > (double)cfg->deployment.max_deployment_time) {
		err = wan_err(WAN_ETIMEOUT, "deployment exceeded max_deployment_time (%llds) "
			      "before the switch; production untouched",
			      (long long)cfg->deployment.max_deployment_time);
		goto fail;
	}
	if (!any_change) {
		status = "completed";
		if ((err = deployment_set(st, dep_id, status, NULL, wan_report_json(rep))) < 0)
			goto fail;
		wan_log(WAN_LOG_INFO, "nothing to do: production already runs these releases");
		goto out;
	}
	/* Backups of the releases about to be replaced, before any switch. */
	if (cfg->backup.enabled && cfg->backup.before_deploy && !o->no_backup) {
		for (size_t i = 0; i < o->nmodels; i++) {
			if (w[i].unchanged || !w[i].from[0])
				continue;
			if ((err = wan_backup_before_deploy(st, w[i].name, w[i].from)) < 0) {
				wan_err_prefix(err, "backup of %s release %s failed (use --no-backup "
					       "to deploy without it); production untouched",
					       w[i].name, w[i].from);
				goto fail;
			}
		}
	}
	/* D1: the switch intent is durable before the first switch. */
	if ((err = deployment_set(st, dep_id, "switching", NULL, NULL)) < 0)
		goto fail;
	for (size_t i = 0; i < o->nmodels; i++) {
		struct model_work *m = &w[i];
		if (m->unchanged)
			continue;
		if ((err = deploy_run_hook(st, "pre_switch", cfg->deployment.hooks.pre_switch,
					   dep_id, m->name, m->to, m->from, rep)) < 0)
			goto undo;
		if ((err = release_switch(st, m->name, m->to)) < 0) {
			m->switched = release_switch_landed(st, m->name, m->to, err);
			goto undo;
		}
		m->switched = true;
		deployment_set_model(st, dep_id, m);
		wan_log(WAN_LOG_INFO, "switched %s: %s -> %s", m->name,
			m->from[0] ? m->from : "(none)", m->to);
		if ((err = deploy_run_hook(st, "post_switch", cfg->deployment.hooks.post_switch,
					   dep_id, m->name, m->to, m->from, rep)) < 0)
			goto undo;
	}
	if ((err = deployment_set(st, dep_id, "verifying", NULL, NULL)) < 0)
		goto undo;
	for (size_t i = 0; i < o->nmodels; i++) {
		struct model_work *m = &w[i];
		struct wan_post_ctx pc;
		char dir[WAN_PATH_MAX];
		double smoke = -1;

		if (m->unchanged)
			continue;
		if ((err = deploy_check_release(st, m->name, m->to,
						cfg->deployment.verify == WAN_VERIFY_FULL, rep)) < 0)
			goto undo;
		if (!cfg->validation.enabled)
			continue;
		memset(&pc, 0, sizeof(pc));
		path_join(dir, sizeof(dir), st->target, m->name);
		pc.model = m->name;
		pc.spec = m->spec;
		pc.release = m->to;
		pc.ckpt_dir = dir;
		pc.prev_smoke_seconds = -1;
		pc.scan_tensors = false; /* scanned while ingesting */
		if (m->from[0]) {
			sqlite3_stmt *q = NULL;
			if (wan_db_prepare(st->db, &q, "SELECT smoke_seconds FROM releases"
					   " WHERE model = ? AND id = ?") == 0) {
				sqlite3_bind_text(q, 1, m->name, -1, SQLITE_STATIC);
				sqlite3_bind_text(q, 2, m->from, -1, SQLITE_STATIC);
				if (sqlite3_step(q) == SQLITE_ROW &&
				    sqlite3_column_type(q, 0) != SQLITE_NULL)
					pc.prev_smoke_seconds = sqlite3_column_double(q, 0);
				sqlite3_finalize(q);
			}
		}
		if ((err = wan_validate_post(cfg, &pc, rep, &smoke)) < 0)
			goto undo;
		if (smoke >= 0) {
			sqlite3_stmt *q = NULL;
			if (wan_db_prepare(st->db, &q, "UPDATE releases SET smoke_seconds = ?"
					   " WHERE model = ? AND id = ?") == 0) {
				sqlite3_bind_double(q, 1, smoke);
				sqlite3_bind_text(q, 2, m->name, -1, SQLITE_STATIC);
				sqlite3_bind_text(q, 3, m->to, -1, SQLITE_STATIC);
				db_step_done(st, q);
			}
		}
	}
	if (wan_report_worst(rep) == WAN_CHECK_FAIL) {
		err = wan_err(WAN_ECHECK, "post-deployment check failed: %s",
			      wan_report_first_failure(rep));
		goto undo;
	}
	if (cfg->deployment.max_deployment_time > 0 &&
	    wan_now_mono() - start > (double)cfg->deployment.max_deployment_time) {
		err = wan_err(WAN_ETIMEOUT, "deployment exceeded max_deployment_time (%llds)",
			      (long long)cfg->deployment.max_deployment_time);
		goto undo;
	}
	/* D2: every switch is durable; only now is the deployment completed. */
	status = "completed";
	if ((err = deployment_set(st, dep_id, status, NULL, wan_report_json(rep))) < 0)
		goto undo;
	wan_db_event(st->db, st->command, NULL, dep_id, "deploy", "completed", NULL);
	goto out;

undo:
	snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
	{
		bool any = false;
		for (size_t i = 0; i < o->nmodels; i++)
			any = any || w[i].switched;
		if (!any) {
			/* Failed before its first switch (e.g. a pre_switch hook). */
			status = "failed";
			wan_err(err, "%s; nothing was switched: production untouched", errbuf);
			snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
			deployment_set(st, dep_id, status, errbuf, wan_report_json(rep));
			wan_db_event(st->db, st->command, NULL, dep_id, "deploy", status, errbuf);
			goto out;
		}
	}
	if (cfg->deployment.auto_rollback) {
		int uerr = deploy_undo(st, dep_id, w, o->nmodels, rep);
		if (uerr == 0) {
			status = "rolled_back";
			wan_err(err, "%s; rolled back to the previous releases", errbuf);
		} else {
			char why[512];

			/* wan_errmsg() is the buffer wan_err() writes: copy it. */
			snprintf(why, sizeof(why), "%s", wan_errmsg());
			status = "failed";
			wan_err(err, "%s; ROLLBACK FAILED: %s", errbuf, why);
		}
	} else {
		status = "failed";
		wan_err(err, "%s; auto_rollback is off: production left on the new releases",
			errbuf);
	}
	snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
	deployment_set(st, dep_id, status, errbuf, wan_report_json(rep));
	wan_db_event(st->db, st->command, NULL, dep_id, "deploy", status, errbuf);
	wan_err(err, "%s", errbuf);
	goto out;
fail:
	/* Nothing was switched: production untouched. */
	snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
	if (!strstr(errbuf, "production untouched")) {
		size_t n = strlen(errbuf);
		snprintf(errbuf + n, sizeof(errbuf) - n, "; production untouched");
	}
	status = "failed";
	deployment_set(st, dep_id, status, errbuf, wan_report_json(rep));
	wan_db_event(st->db, st->command, NULL, dep_id, "deploy", "failed", errbuf);
	state_sweep_tmp(st);
	wan_err(err, "%s", errbuf);
out:
	if (err < 0 && !begun && !errbuf[0])
		snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
	if (result && w)
		*result = result_json(dep_id[0] ? dep_id : NULL, err < 0 && !strcmp(status, "planned") ? "failed" : status,
				      w, o->nmodels, rep, err < 0 ? errbuf : NULL, o->dry_run);
	if (w) {
		for (size_t i = 0; i < o->nmodels; i++) {
			source_tree_release(&w[i].tree);
			source_tree_release(&w[i].adopt);
			json_decref(w[i].manifest);
		}
	}
	if (err < 0 && errbuf[0])
		wan_err(err, "%s", errbuf);
	free(w);
	free(specs);
	wan_report_free(rep);
	return err;
}

/* Release id of model back in the store from the backup repository? */
static bool recover_from_backup(struct wan_state *st, const char *model, const char *id)
{
	json_t *none = json_array();
	bool back = wan_backup_restore_objects(st, model, id, none) == 0 &&
		    release_exists(st, model, id);

	if (!back)
		wan_log(WAN_LOG_WARN, "recovery: release %s of '%s' is not in the store: %s",
			id, model, wan_errmsg());
	wan_err_clear();
	json_decref(none);
	return back;
}

/*
 * Recovery (D3): a deployment left pending/ingesting by a crash never
 * switched anything; one left switching/verifying is undone model by
 * model, by looking at where each production link actually points.
 */
int deploy_recover(struct wan_state *st)
{
	sqlite3_stmt *q = NULL;
	json_t *todo = json_array();
	size_t i;
	json_t *d;
	int err, rc;

	if ((err = wan_db_prepare(st->db, &q,
				  "SELECT id, status, kind FROM deployments WHERE status IN"
				  " ('pending','ingesting','switching','verifying') ORDER BY started")) < 0) {
		json_decref(todo);
		return err;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		json_array_append_new(todo, json_pack("{s:s,s:s,s:s}",
			"id", (const char *)sqlite3_column_text(q, 0),
			"status", (const char *)sqlite3_column_text(q, 1),
			"kind", (const char *)sqlite3_column_text(q, 2)));
	if (rc != SQLITE_DONE) {
		json_decref(todo);
		return db_step_failed(st, q, rc);
	}
	sqlite3_finalize(q);

	json_array_foreach(todo, i, d) {
		const char *id = json_string_value(json_object_get(d, "id"));
		const char *was = json_string_value(json_object_get(d, "status"));
		char msg[1024], kept[400] = "";
		bool switched_any = false;
		int bad = 0;

		if (!strcmp(was, "switching") || !strcmp(was, "verifying")) {
			if ((err = wan_db_prepare(st->db, &q,
						  "SELECT model, from_release, to_release FROM deployment_models"
						  " WHERE deployment_id = ?")) < 0)
				goto out;
			sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
			while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
				const char *model = (const char *)sqlite3_column_text(q, 0);
				const char *from = (const char *)sqlite3_column_text(q, 1);
				const char *to = (const char *)sqlite3_column_text(q, 2);
				char cur[WAN_RELEASE_ID_LEN + 1];
				int e;

				if (!model || !to)
					continue;
				/* Not deployed, a folder, a link elsewhere: not on the
				 * new release. A link that cannot be read is not
				 * "consistent": the deployment stays in flight. */
				e = wan_release_current(st, model, cur, NULL);
				if (e < 0 && e != WAN_ENOTFOUND && e != WAN_EINVAL) {
					wan_log(WAN_LOG_ERROR, "recovery: %s", wan_errmsg());
					bad = e;
					continue;
				}
				if (e < 0 || strcmp(cur, to))
					continue;
				if (from && !strcmp(from, to))
					continue;
				/* The previous release is gone from the store (deleted
				 * by hand, lost with a disk): restored from the backup
				 * repository when it has it; otherwise production stays
				 * on the new release, which is complete (R1), rather
				 * than every command failing here from now on (bug 35). */
				if (from && !release_exists(st, model, from) &&
				    !recover_from_backup(st, model, from)) {
					snprintf(kept, sizeof(kept), "; '%s' stays on %s: its previous "
						 "release %s is no longer in the store (run 'wanctl "
						 "verify %s')", model, to, from, model);
					continue;
				}
				e = from ? release_switch(st, model, from) : release_unlink(st, model);
				if (e < 0) {
					wan_log(WAN_LOG_ERROR, "recovery: cannot put '%s' back on %s: %s",
						model, from ? from : "(none)", wan_errmsg());
					bad = e;
				} else {
					switched_any = true;
				}
			}
			/* A read error is not "no model switched": the deployment
			 * stays in flight for the next recovery (t_faults). */
			if (rc != SQLITE_DONE) {
				err = db_step_failed(st, q, rc);
				goto out;
			}
			sqlite3_finalize(q);
		}
		if (bad) {
			err = bad;
			goto out;
		}
		snprintf(msg, sizeof(msg), "deployment %s was interrupted while %s; %s%s", id, was,
			 switched_any ? "production was put back on the previous releases" :
			 kept[0] ? "production was left on the new releases" :
			 "production was consistent and left as it was", kept);
		if ((err = deployment_set(st, id, "interrupted", msg, NULL)) < 0)
			goto out;
		wan_db_event(st->db, st->command, NULL, id, "recover", "interrupted", msg);
		json_array_append_new(st->recovered, json_pack("{s:s,s:s,s:s}", "deployment", id,
							       "status", was, "message", msg));
		wan_log(WAN_LOG_WARN, "recovered: %s", msg);
	}
	err = 0;
out:
	json_decref(todo);
	return err;
}
