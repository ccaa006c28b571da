/*
 * Backup operations: create, list, verify, restore (into the store or a
 * folder), prune, the automatic backup before a deploy and the restore of
 * missing objects for rollback.
 *
 * Order of writes (see backup_repo.c for B1-B3):
 *  create:  objects (each published, B1) -> snapshot (B2) -> SQLite row.
 *  prune:   SQLite row + snapshot -> unreferenced objects.
 *  restore: every needed object is checked (present, size, index) before
 *           anything is written; each is decoded (and re-hashed) into a
 *           file in <state>/tmp, fsynced, then published into the store
 *           with store_object_publish (a damaged store object is unlinked
 *           first: link(2) never
 *           replaces), then the manifest and the release tree
 *           (release_publish), then tree entries that still point at a
 *           damaged inode are relinked (link + rename per file).
 */
#include "lib/backup_internal.h"
#include "lib/ingest.h"
#include "lib/manifest.h"
#include "lib/state.h"
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

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define BK_SMALL_FILE (4u << 20)    /* below this, no zstd worker threads */

/* Objects decoded at once, each by up to BK_DECODE_THREADS_MAX frame
 * decoders and a thread that hashes and writes (each decode holds about
 * 30 MiB with two decoders): memory stays bounded whatever the release's
 * size. */
#define BK_DECODE_PARALLEL 2

static int cpu_workers(const struct wan_config *cfg)
{
	long n = cfg->deployment.workers > 0 ? (long)cfg->deployment.workers :
		 sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > 16 ? 16 : (int)n;
}

static int decode_workers(const struct wan_config *cfg)
{
	int n = cpu_workers(cfg);
	return n > BK_DECODE_PARALLEL ? BK_DECODE_PARALLEL : n;
}

/* Frame decoders per object: the cores left over by the objects' own
 * threads (on 2 cores, one per object). */
static unsigned decode_threads(const struct wan_config *cfg)
{
	int par = decode_workers(cfg), t = (cpu_workers(cfg) - par) / par;
	return t < 1 ? 1 : t > BK_DECODE_THREADS_MAX ? BK_DECODE_THREADS_MAX : (unsigned)t;
}

/* ---- a small parallel for ---- */

struct par {
	size_t n;
	atomic_size_t next;
	atomic_int stop;
	int (*fn)(void *ctx, size_t i);
	void *ctx;
	pthread_mutex_t lock;
	int err;
	char msg[2048];
};

static void *par_main(void *arg)
{
	struct par *p = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		int err;
		if (i >= p->n || atomic_load(&p->stop))
			break;
		err = p->fn(p->ctx, i);
		if (err < 0) {
			pthread_mutex_lock(&p->lock);
			if (!p->err) {
				p->err = err;
				snprintf(p->msg, sizeof(p->msg), "%s", wan_errmsg());
			}
			pthread_mutex_unlock(&p->lock);
			atomic_store(&p->stop, 1);
		}
	}
	return NULL;
}

/* Run fn(ctx, i) for i < n on up to workers threads; the first error
 * stops the others and is returned with its message. */
static int par_for(size_t n, int workers, int (*fn)(void *, size_t), void *ctx)
{
	struct par p;
	pthread_t th[16];
	int nt = 0;

	memset(&p, 0, sizeof(p));
	p.n = n;
	p.fn = fn;
	p.ctx = ctx;
	pthread_mutex_init(&p.lock, NULL);
	if (workers > 16)
		workers = 16;
	if ((size_t)workers > n)
		workers = (int)n;
	for (int i = 1; i < workers; i++)
		if (pthread_create(&th[nt], NULL, par_main, &p) == 0)
			nt++;
	par_main(&p);
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.lock);
	if (p.err)
		return wan_err(p.err, "%s", p.msg);
	return 0;
}

/* ---- create ---- */

static int db_record_backup(struct wan_state *st, const char *model, const char *release,
			    double created, uint64_t bytes, uint64_t stored)
{
	sqlite3_stmt *q = NULL;
	int err;

	if ((err = wan_db_prepare(st->db, &q, "INSERT OR REPLACE INTO backups(model, release,"
				  " created, bytes, stored_bytes) VALUES(?,?,?,?,?)")) < 0)
		return err;
	sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, release, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 3, created);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)bytes);
	sqlite3_bind_int64(q, 5, (sqlite3_int64)stored);
	err = sqlite3_step(q) == SQLITE_DONE ? 0 :
	      wan_err(WAN_ERROR, "state database: %s", sqlite3_errmsg(wan_db_handle(st->db)));
	sqlite3_finalize(q);
	return err;
}

/* An object already in the repository, with an index that describes it. */
static int object_present(struct bk_repo *r, const char *sha, uint64_t size,
			  uint64_t *stored, uint32_t *codec)
{
	struct bk_index ix;
	uint64_t fsize;
	char rel[128];
	int fd, err;

	if ((err = bk_object_open(r, sha, &fd, &fsize)) < 0) {
		wan_err_clear();
		return 0;
	}
	bk_object_rel(sha, rel, sizeof(rel));
	err = bk_index_read(&ix, fd, fsize, rel);
	xclose(fd);
	if (err == 0 && ix.raw_size == size && !strcmp(ix.sha, sha)) {
		*stored = fsize;
		*codec = ix.codec;
		bk_index_release(&ix);
		return 1;
	}
	if (err == 0)
		bk_index_release(&ix);
	/* A damaged object under its final name (bit rot, a truncating copy):
	 * it cannot be replaced by link(2), so remove it and write it anew. */
	wan_log(WAN_LOG_WARN, "backup object '%s/%s' is damaged (%s); writing it again", r->path,
		rel, err < 0 ? wan_errmsg() : "its index describes another file");
	wan_err_clear();
	return bk_remove(r, rel) < 0 ? -1 : 0;
}

static int open_source(struct wan_state *st, const char *model, const char *release,
		       const char *sha, const char *path, char *name, size_t n)
{
	char dir[WAN_PATH_MAX], rel[WAN_PATH_MAX];
	int fd, rfd;

	wan_store_object_path(st, sha, name, n);
	if ((fd = state_object_open(st, sha, O_RDONLY)) >= 0)
		return fd;
	/* The store lost the object; the release tree may still hold it. */
	wan_release_dir(st, model, release, dir, sizeof(dir));
	if (path_join(name, n, dir, path) == 0 &&
	    wan_snprintf(rel, sizeof(rel), "%s/%s", release, path) == 0 &&
	    (rfd = state_release_open(st, model, false)) >= 0) {
		fd = path_open_beneath(rfd, rel, O_RDONLY, 0);
		xclose(rfd);
		if (fd >= 0)
			return fd;
	}
	return wan_err_sys(0, "cannot read '%s' of %s release %s from the store", path, model,
			   release);
}

static int backup_release(struct wan_state *st, struct bk_repo *r, const char *model,
			  const char *release, json_t **row)
{
	const struct wan_config *cfg = st->cfg;
	json_t *m = NULL, *snap = NULL, *objs = json_object(), *f, *old = NULL;
	char rel[WAN_PATH_MAX], tmpname[128], what[300], srcname[WAN_PATH_MAX];
	uint64_t total = 0, done = 0, bytes = 0, bytes_read = 0, stored_total = 0,
		 stored_written = 0, nwritten = 0, files_done = 0;
	double t0 = wan_now_mono(), now = wan_now_wall();
	char *text = NULL;
	size_t i;
	bool existed;
	int fd = -1, err;

	*row = NULL;
	if (!objs)
		return wan_err(WAN_ENOMEM, "out of memory");
	if ((err = bk_snapshot_rel(model, release, rel, sizeof(rel))) < 0)
		goto out;
	err = bk_snapshot_load(r, model, release, &old);
	if (err == 0) {
		json_t *tot = json_object_get(old, "totals");
		*row = json_pack("{s:s,s:s,s:s,s:O?,s:O?,s:i,s:i,s:i,s:f}", "model", model,
				 "release", release, "status", "exists",
				 "files", json_object_get(tot, "files"),
				 "bytes", json_object_get(tot, "bytes"),
				 "objects_written", 0, "bytes_read", 0, "stored_written", 0,
				 "seconds", wan_now_mono() - t0);
		goto out;
	}
	if (err != WAN_ENOTFOUND) {
		wan_log(WAN_LOG_WARN, "%s; replacing it", wan_errmsg());
		if ((err = bk_remove(r, rel)) < 0)
			goto out;
	}
	wan_err_clear();
	if ((err = wan_manifest_load(st, model, release, &m)) < 0) {
		wan_err_prefix(err, "cannot back up %s release %s", model, release);
		goto out;
	}
	/* Distinct objects; plan the bytes to compress. */
	json_array_foreach(json_object_get(m, "files"), i, f) {
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		uint64_t stored = 0;
		uint32_t codec = 0;
		int p;

		bytes += size;
		if (json_object_get(objs, sha))
			continue;
		p = object_present(r, sha, size, &stored, &codec);
		if (p < 0) {
			err = WAN_ERROR;
			goto out;
		}
		json_object_set_new(objs, sha, json_pack("{s:I,s:I,s:s,s:b,s:s}",
				    "size", (json_int_t)size, "stored", (json_int_t)stored,
				    "codec", bk_codec_name(codec), "present", p,
				    "path", json_string_value(json_object_get(f, "path"))));
		if (!p)
			total += size;
	}
	snprintf(what, sizeof(what), "backup %s", model);
	{
		const char *sha;
		json_t *o;
		size_t nobj = json_object_size(objs);
		json_object_foreach(objs, sha, o) {
			uint64_t size = (uint64_t)json_integer_value(json_object_get(o, "size"));
			const char *path = json_string_value(json_object_get(o, "path"));
			struct bk_enc_opts eo = { (int)cfg->backup.compression_level,
						  size >= BK_SMALL_FILE ? cpu_workers(cfg) : 0,
						  false, 0 };
			struct bk_progress pr = { what, &done, total, files_done, nobj };
			uint64_t stored = 0;
			uint32_t codec = 0;
			char orel[128];
			int in;

			files_done++;
			if (json_is_true(json_object_get(o, "present"))) {
				stored_total += (uint64_t)json_integer_value(json_object_get(o, "stored"));
				continue;
			}
			if ((in = open_source(st, model, release, sha, path, srcname,
					      sizeof(srcname))) < 0) {
				err = in;
				goto out;
			}
			if ((err = bk_tmp_create(r, "obj", tmpname, sizeof(tmpname), &fd)) < 0) {
				xclose(in);
				goto out;
			}
			err = bk_encode(in, size, srcname, path, sha, fd, &eo, &pr, &stored, &codec);
			xclose(in);
			if (err < 0) {
				xclose(fd);
				fd = -1;
				bk_tmp_remove(r, tmpname);
				goto out;
			}
			if ((err = bk_object_rel(sha, orel, sizeof(orel))) < 0 ||
			    (err = bk_publish(r, fd, tmpname, orel, &existed)) < 0) {
				fd = -1;
				goto out;
			}
			fd = -1;
			json_object_set_new(o, "stored", json_integer((json_int_t)stored));
			json_object_set_new(o, "codec", json_string(bk_codec_name(codec)));
			stored_total += stored;
			if (!existed) {
				nwritten++;
				stored_written += stored;
			}
			bytes_read += size;
		}
		/* Keep exactly size, stored, codec in the snapshot. */
		json_object_foreach(objs, sha, o) {
			json_object_del(o, "present");
			json_object_del(o, "path");
		}
	}
	{
		char created[32];
		wan_iso_time(now, created, sizeof(created));
		snap = json_pack("{s:s,s:s,s:s,s:s,s:f,s:O,s:O,s:{s:I,s:I,s:I,s:I}}",
				 "format", BK_SNAPSHOT_FORMAT, "model", model, "release", release,
				 "created", created, "created_ts", now, "manifest", m,
				 "objects", objs, "totals",
				 "files", (json_int_t)json_array_size(json_object_get(m, "files")),
				 "bytes", (json_int_t)bytes,
				 "objects", (json_int_t)json_object_size(objs),
				 "stored", (json_int_t)stored_total);
	}
	text = snap ? json_dumps(snap, JSON_INDENT(1) | JSON_ENSURE_ASCII) : NULL;
	if (!text) {
		err = wan_err(WAN_ENOMEM, "out of memory writing the snapshot");
		goto out;
	}
	if ((err = bk_tmp_create(r, "snap", tmpname, sizeof(tmpname), &fd)) < 0)
		goto out;
	if (xwrite(fd, text, strlen(text)) < 0 || xwrite(fd, "\n", 1) < 0) {
		err = wan_err_sys(0, "cannot write '%s/tmp/%s'", r->path, tmpname);
		xclose(fd);
		fd = -1;
		bk_tmp_remove(r, tmpname);
		goto out;
	}
	err = bk_publish(r, fd, tmpname, rel, &existed);
	fd = -1;
	if (err < 0)
		goto out;
	if ((err = db_record_backup(st, model, release, now, bytes, stored_total)) < 0)
		goto out;
	wan_db_event(st->db, st->command, model, NULL, "backup", "completed", release);
	*row = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "model", model,
			 "release", release, "status", "created",
			 "files", (json_int_t)json_array_size(json_object_get(m, "files")),
			 "bytes", (json_int_t)bytes, "objects", (json_int_t)json_object_size(objs),
			 "stored", (json_int_t)stored_total,
			 "objects_written", (json_int_t)nwritten,
			 "bytes_read", (json_int_t)bytes_read,
			 "stored_written", (json_int_t)stored_written,
			 "seconds", wan_now_mono() - t0);
	wan_log(WAN_LOG_INFO, "backed up %s release %s: %llu objects written (%llu bytes "
		"compressed to %llu)", model, release, (unsigned long long)nwritten,
		(unsigned long long)bytes_read, (unsigned long long)stored_written);
out:
	if (fd >= 0) {
		xclose(fd);
		bk_tmp_remove(r, tmpname);
	}
	free(text);
	json_decref(snap);
	json_decref(m);
	json_decref(old);
	json_decref(objs);
	return err;
}

static json_t *deployed_models(struct wan_state *st)
{
	json_t *arr = json_array();
	DIR *d = opendir(st->target);
	struct dirent *de;
	char id[WAN_RELEASE_ID_LEN + 1];

	if (!d)
		return arr;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (wan_release_current(st, de->d_name, id, NULL) == 0)
			json_array_append_new(arr, json_pack("{s:s,s:s}", "model", de->d_name,
							     "release", id));
	}
	closedir(d);
	wan_err_clear();
	return arr;
}

int wan_backup_create(struct wan_state *st, const struct wan_backup_create_opts *o,
		      json_t **out)
{
	struct bk_repo r;
	json_t *rows = json_array(), *todo = NULL, *t, *row;
	char errbuf[2048] = "";
	size_t i;
	int err;

	if (out)
		*out = NULL;
	r.root = -1;
	if (o->release && o->nmodels != 1) {
		err = wan_err(WAN_EINVAL, "--release goes with exactly one model");
		goto out;
	}
	if ((err = bk_repo_open(&r, st->cfg->backup_path, true)) < 0)
		goto out;
	bk_tmp_sweep(&r);
	if (o->nmodels) {
		todo = json_array();
		for (i = 0; i < o->nmodels; i++) {
			char id[WAN_RELEASE_ID_LEN + 1];
			if (o->release) {
				snprintf(id, sizeof(id), "%s", o->release);
			} else if ((err = wan_release_current(st, o->models[i], id, NULL)) < 0) {
				wan_err_prefix(err, "cannot back up '%s' (give --release ID)",
					       o->models[i]);
				goto out;
			}
			json_array_append_new(todo, json_pack("{s:s,s:s}", "model", o->models[i],
							      "release", id));
		}
	} else {
		todo = deployed_models(st);
		if (!json_array_size(todo)) {
			err = wan_err(WAN_ENOTFOUND, "no deployed model to back up in '%s'",
				      st->target);
			goto out;
		}
	}
	json_array_foreach(todo, i, t) {
		err = backup_release(st, &r, json_string_value(json_object_get(t, "model")),
				     json_string_value(json_object_get(t, "release")), &row);
		if (err < 0)
			goto out;
		json_array_append_new(rows, row);
	}
out:
	if (err < 0)
		snprintf(errbuf, sizeof(errbuf), "%s", wan_errmsg());
	if (out)
		*out = json_pack("{s:s,s:O,s:s?}", "repository", st->cfg->backup_path,
				 "snapshots", rows, "error", err < 0 ? errbuf : NULL);
	bk_repo_close(&r);
	json_decref(todo);
	json_decref(rows);
	if (err < 0)
		wan_err(err, "%s", errbuf);
	return err;
}

int wan_backup_before_deploy(struct wan_state *st, const char *model, const char *release)
{
	struct bk_repo r;
	json_t *row = NULL;
	int err;

	if (!st->cfg->backup.enabled)
		return 0;
	if ((err = bk_repo_open(&r, st->cfg->backup_path, true)) < 0)
		return err;
	bk_tmp_sweep(&r);
	err = backup_release(st, &r, model, release, &row);
	json_decref(row);
	bk_repo_close(&r);
	return err;
}

/* ---- list ---- */

/* sha -> number of snapshots referencing it */
static json_t *ref_counts(json_t *snaps)
{
	json_t *refs = json_object(), *s, *o;
	const char *sha;
	size_t i;

	json_array_foreach(snaps, i, s) {
		json_object_foreach(json_object_get(s, "objects"), sha, o) {
			json_t *c = json_object_get(refs, sha);
			json_object_set_new(refs, sha, json_integer(c ? json_integer_value(c) + 1 : 1));
		}
	}
	return refs;
}

int wan_backup_list(const struct wan_config *cfg, const char *model, json_t **out)
{
	struct bk_repo r;
	json_t *good = NULL, *bad = NULL, *refs = NULL, *rows = json_array(), *seen = json_object();
	json_t *s, *o;
	uint64_t tbytes = 0, tstored = 0;
	size_t i, nsnap = 0;
	const char *sha;
	int err;

	*out = NULL;
	err = bk_repo_open(&r, cfg->backup_path, false);
	if (err == WAN_ENOTFOUND) {
		wan_err_clear();
		*out = json_pack("{s:s,s:b,s:[],s:[],s:{s:i,s:i,s:i,s:i,s:f}}", "repository",
				 cfg->backup_path, "exists", 0, "snapshots", "bad_snapshots",
				 "totals", "snapshots", 0, "objects", 0, "bytes", 0, "stored", 0,
				 "ratio", 0.0);
		json_decref(rows);
		json_decref(seen);
		return 0;
	}
	if (err < 0)
		goto out;
	if ((err = bk_snapshot_scan(&r, NULL, &good, &bad)) < 0)
		goto out;
	refs = ref_counts(good);
	json_array_foreach(good, i, s) {
		uint64_t stored = 0, shared_stored = 0, nshared = 0;
		json_t *tot = json_object_get(s, "totals");
		if (model && strcmp(model, json_string_value(json_object_get(s, "model"))))
			continue;
		nsnap++;
		json_object_foreach(json_object_get(s, "objects"), sha, o) {
			uint64_t st = (uint64_t)json_integer_value(json_object_get(o, "stored"));
			stored += st;
			if (json_integer_value(json_object_get(refs, sha)) > 1) {
				nshared++;
				shared_stored += st;
			}
			if (!json_object_get(seen, sha)) {
				json_object_set_new(seen, sha, json_true());
				tbytes += (uint64_t)json_integer_value(json_object_get(o, "size"));
				tstored += st;
			}
		}
		json_array_append_new(rows, json_pack("{s:O,s:O,s:O,s:O?,s:O?,s:I,s:I,s:I,s:I}",
			"model", json_object_get(s, "model"), "release", json_object_get(s, "release"),
			"created", json_object_get(s, "created"), "files", json_object_get(tot, "files"),
			"bytes", json_object_get(tot, "bytes"),
			"objects", (json_int_t)json_object_size(json_object_get(s, "objects")),
			"stored", (json_int_t)stored, "shared_objects", (json_int_t)nshared,
			"shared_stored", (json_int_t)shared_stored));
	}
	*out = json_pack("{s:s,s:b,s:O,s:O,s:{s:I,s:I,s:I,s:I,s:f}}", "repository", cfg->backup_path,
			 "exists", 1, "snapshots", rows, "bad_snapshots", bad, "totals",
			 "snapshots", (json_int_t)nsnap, "objects", (json_int_t)json_object_size(seen),
			 "bytes", (json_int_t)tbytes, "stored", (json_int_t)tstored,
			 "ratio", tbytes ? (double)tstored / (double)tbytes : 0.0);
out:
	bk_repo_close(&r);
	json_decref(good);
	json_decref(bad);
	json_decref(refs);
	json_decref(rows);
	json_decref(seen);
	return err;
}

/* ---- verify ---- */

struct vobj {
	char sha[WAN_SHA256_HEX];
	uint64_t size, stored;
	char *problem;              /* NULL: fine */
};

struct vctx {
	struct bk_repo *r;
	struct vobj *objs;
	bool quick;
	unsigned threads;
	uint64_t done, total;
	atomic_uint_least64_t files_done;
	size_t n;
};

/* Check one object; returns the problem (malloc'd) or NULL. */
static char *check_object(struct bk_repo *r, const char *sha, uint64_t size, uint64_t stored,
			  bool quick, unsigned threads, struct bk_progress *p)
{
	struct bk_index ix;
	uint64_t fsize;
	char rel[128], msg[2300];
	int fd, err;

	bk_object_rel(sha, rel, sizeof(rel));
	if ((err = bk_object_open(r, sha, &fd, &fsize)) < 0)
		return strdup(err == WAN_ENOTFOUND ? "missing" : wan_errmsg());
	if (stored && fsize != stored) {
		snprintf(msg, sizeof(msg), "%s: %llu bytes, the snapshot recorded %llu (%s)",
			 fsize < stored ? "truncated" : "wrong size", (unsigned long long)fsize,
			 (unsigned long long)stored, fsize < stored ? "cut short" : "grown");
		xclose(fd);
		return strdup(msg);
	}
	if ((err = bk_index_read(&ix, fd, fsize, rel)) < 0) {
		xclose(fd);
		return strdup(wan_errmsg());
	}
	if (ix.raw_size != size || strcmp(ix.sha, sha)) {
		snprintf(msg, sizeof(msg), "its index describes another file (%llu bytes, %s)",
			 (unsigned long long)ix.raw_size, ix.sha);
		bk_index_release(&ix);
		xclose(fd);
		return strdup(msg);
	}
	err = quick ? 0 : bk_decode(fd, &ix, rel, -1, threads, p);
	bk_index_release(&ix);
	xclose(fd);
	return err < 0 ? strdup(wan_errmsg()) : NULL;
}

static int verify_one(void *arg, size_t i)
{
	struct vctx *c = arg;
	struct vobj *o = &c->objs[i];
	struct bk_progress p = { "backup verify", &c->done, c->total,
				 atomic_fetch_add(&c->files_done, 1), c->n };

	o->problem = check_object(c->r, o->sha, o->size, o->stored, c->quick, c->threads,
				  c->quick ? NULL : &p);
	if (c->quick)
		wan_progress("backup verify", atomic_load(&c->files_done), c->n,
			     atomic_load(&c->files_done), c->n);
	wan_err_clear();
	return 0;
}

int wan_backup_verify(const struct wan_config *cfg, const char *model, bool quick, json_t **out)
{
	struct bk_repo r;
	json_t *good = NULL, *bad = NULL, *map = json_object(), *damaged = json_array();
	json_t *broken = json_object(), *s, *o, *f, *blist = json_array();
	struct vctx c;
	const char *sha;
	size_t i, k = 0;
	int err;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if ((err = bk_repo_open(&r, cfg->backup_path, false)) < 0)
		goto out;
	if ((err = bk_snapshot_scan(&r, model, &good, &bad)) < 0)
		goto out;
	/* sha -> {size, stored, snapshots[], files[]} */
	json_array_foreach(good, i, s) {
		char label[300];
		snprintf(label, sizeof(label), "%s/%s", json_string_value(json_object_get(s, "model")),
			 json_string_value(json_object_get(s, "release")));
		json_object_foreach(json_object_get(s, "objects"), sha, o) {
			json_t *e = json_object_get(map, sha);
			if (!e) {
				e = json_pack("{s:O,s:O,s:[],s:[]}", "size", json_object_get(o, "size"),
					      "stored", json_object_get(o, "stored"), "snapshots", "files");
				json_object_set_new(map, sha, e);
			}
			json_array_append_new(json_object_get(e, "snapshots"), json_string(label));
		}
		json_array_foreach(json_object_get(json_object_get(s, "manifest"), "files"), k, f) {
			json_t *e = json_object_get(map, json_string_value(json_object_get(f, "sha256")));
			char fl[WAN_PATH_MAX + 300];
			snprintf(fl, sizeof(fl), "%s:%s", label,
				 json_string_value(json_object_get(f, "path")));
			if (e)
				json_array_append_new(json_object_get(e, "files"), json_string(fl));
		}
	}
	c.r = &r;
	c.quick = quick;
	c.n = json_object_size(map);
	c.objs = calloc(c.n ? c.n : 1, sizeof(*c.objs));
	if (!c.objs) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	k = 0;
	json_object_foreach(map, sha, o) {
		memcpy(c.objs[k].sha, sha, WAN_SHA256_HEX);
		c.objs[k].size = (uint64_t)json_integer_value(json_object_get(o, "size"));
		c.objs[k].stored = (uint64_t)json_integer_value(json_object_get(o, "stored"));
		c.total += c.objs[k].size;
		k++;
	}
	c.threads = decode_threads(cfg);
	par_for(c.n, c.quick ? cpu_workers(cfg) : decode_workers(cfg), verify_one, &c);
	for (k = 0; k < c.n; k++) {
		char rel[128];
		json_t *e;
		if (!c.objs[k].problem)
			continue;
		e = json_object_get(map, c.objs[k].sha);
		bk_object_rel(c.objs[k].sha, rel, sizeof(rel));
		json_array_append_new(damaged, json_pack("{s:s,s:s,s:s,s:O,s:O}", "object",
			c.objs[k].sha, "path", rel, "problem", c.objs[k].problem,
			"snapshots", json_object_get(e, "snapshots"), "files", json_object_get(e, "files")));
		json_array_foreach(json_object_get(e, "snapshots"), i, s)
			json_object_set_new(broken, json_string_value(s), json_true());
	}
	{
		const char *key;
		json_object_foreach(broken, key, o)
			json_array_append_new(blist, json_string(key));
	}
	{
		uint64_t bytes = 0;
		for (k = 0; k < c.n; k++)
			bytes += c.objs[k].size;
		*out = json_pack("{s:s,s:b,s:I,s:I,s:I,s:O,s:O,s:O,s:b}", "repository",
				 cfg->backup_path, "quick", quick,
				 "snapshots", (json_int_t)json_array_size(good),
				 "objects", (json_int_t)c.n, "bytes", (json_int_t)bytes,
				 "damaged", damaged, "bad_snapshots", bad, "broken_snapshots", blist,
				 "ok", !json_array_size(damaged) && !json_array_size(bad));
	}
	if (json_array_size(damaged)) {
		json_t *d = json_array_get(damaged, 0);
		err = wan_err(WAN_ECHECK, "backup repository '%s': %zu damaged or missing object(s), "
			      "%zu snapshot(s) broken; first: '%s' (%s), needed by %s",
			      cfg->backup_path, json_array_size(damaged), json_array_size(blist),
			      json_string_value(json_object_get(d, "path")),
			      json_string_value(json_object_get(d, "problem")),
			      json_string_value(json_array_get(json_object_get(d, "files"), 0)));
	} else if (json_array_size(bad)) {
		json_t *d = json_array_get(bad, 0);
		err = wan_err(WAN_ECHECK, "backup repository '%s': %zu snapshot(s) cannot be read; "
			      "first: %s", cfg->backup_path, json_array_size(bad),
			      json_string_value(json_object_get(d, "problem")));
	}
out:
	if (c.objs)
		for (k = 0; k < c.n; k++)
			free(c.objs[k].problem);
	free(c.objs);
	bk_repo_close(&r);
	json_decref(good);
	json_decref(bad);
	json_decref(map);
	json_decref(damaged);
	json_decref(broken);
	json_decref(blist);
	return err;
}

/* ---- restore ---- */

struct robj {
	char sha[WAN_SHA256_HEX];
	const char *path;           /* first file using it (borrowed) */
	uint64_t size, stored;
	uint32_t mode;
	bool damaged;               /* the store holds a bad copy */
};

struct rctx {
	struct wan_state *st;       /* store restore */
	struct bk_repo *r;
	struct robj *objs;
	size_t n;
	int dirfd;                  /* folder restore */
	unsigned threads;           /* frame decoders per object */
	uint64_t done, total;
	atomic_uint_least64_t files_done, restored_bytes;
	atomic_uint seq;
	pthread_mutex_t store_lock;
	char what[300];
};

/* Check an object before anything is written: present, recorded size,
 * index matches. Returns the problem or NULL. */
static char *precheck_object(struct bk_repo *r, const struct robj *o)
{
	return check_object(r, o->sha, o->size, o->stored, true, 1, NULL);
}

static int precheck_all(struct bk_repo *r, struct robj *objs, size_t n, const char *model,
			const char *release)
{
	struct { char s[1800]; size_t len; } list = { "", 0 };
	size_t nbad = 0, shown = 0;
	char first[600] = "";

	for (size_t i = 0; i < n; i++) {
		char *p = precheck_object(r, &objs[i]);
		wan_err_clear();
		if (!p)
			continue;
		if (!nbad)
			snprintf(first, sizeof(first), "%s", p);
		nbad++;
		if (list.len < sizeof(list.s) - 300) {
			int w = snprintf(list.s + list.len, sizeof(list.s) - list.len, "%s'%s' (%s)",
					 shown ? ", " : "", objs[i].path, p);
			if (w > 0)
				list.len += (size_t)w < sizeof(list.s) - list.len ? (size_t)w :
					    sizeof(list.s) - list.len - 1;
			shown++;
		}
		free(p);
	}
	if (!nbad)
		return 0;
	return wan_err(WAN_ECORRUPT, "cannot recover %zu file(s) of %s release %s from the backup "
		       "repository '%s': %s%s; nothing changed", nbad, model, release, r->path,
		       list.s, shown < nbad ? ", ..." : "");
}

/* Decode object o into an open, empty file fd (verified by SHA-256). */
static int decode_to_fd(struct rctx *c, const struct robj *o, int fd)
{
	struct bk_index ix;
	struct bk_progress p = { c->what, &c->done, c->total,
				 atomic_load(&c->files_done), c->n };
	uint64_t fsize;
	char rel[128];
	int in, err;

	bk_object_rel(o->sha, rel, sizeof(rel));
	if ((err = bk_object_open(c->r, o->sha, &in, &fsize)) < 0)
		return err;
	if ((err = bk_index_read(&ix, in, fsize, rel)) < 0) {
		xclose(in);
		return err;
	}
	if (ix.raw_size != o->size || strcmp(ix.sha, o->sha))
		err = wan_err(WAN_ECORRUPT, "backup object '%s' describes another file", rel);
	else
		err = bk_decode(in, &ix, rel, fd, c->threads, &p);
	bk_index_release(&ix);
	xclose(in);
	if (err < 0)
		wan_err_prefix(err, "cannot restore '%s'", o->path);
	return err;
}

static int restore_store_one(void *arg, size_t i)
{
	struct rctx *c = arg;
	struct robj *o = &c->objs[i];
	char tmp[WAN_PATH_MAX];
	bool existed;
	int fd, err;

	if ((err = wan_snprintf(tmp, sizeof(tmp), "%s/bkrestore-%ld-%u", c->st->tmp,
				(long)getpid(), atomic_fetch_add(&c->seq, 1))) < 0)
		return err;
	/* Decoded (and verified) straight into a temp file of the store,
	 * made durable, then published like any ingested object. */
	fd = xopenat(c->st->tmpfd, state_tmp_rel(c->st, tmp),
		     O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0444);
	if (fd < 0)
		return wan_err_sys(0, "cannot create '%s'", tmp);
	if ((err = decode_to_fd(c, o, fd)) < 0)
		goto out;
	if (fchmod(fd, 0444) < 0 || xfsync(fd) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", tmp);
		goto out;
	}
	err = xclose(fd);
	fd = -1;
	if (err < 0) {
		err = wan_err_sys(0, "cannot write '%s'", tmp);
		goto out;
	}
	pthread_mutex_lock(&c->store_lock);
	err = o->damaged ? store_object_remove(c->st, o->sha) : 0;
	if (err == 0)
		err = store_object_publish(c->st, tmp, o->sha, o->size, &existed);
	pthread_mutex_unlock(&c->store_lock);
	if (err == 0) {
		atomic_fetch_add(&c->restored_bytes, o->size);
		atomic_fetch_add(&c->files_done, 1);
	}
out:
	if (fd >= 0)
		xclose(fd);
	unlinkat(c->st->tmpfd, state_tmp_rel(c->st, tmp), 0);
	return err;
}

/* Distinct objects of a snapshot's manifest (paths borrowed from snap). */
static int snapshot_objects(json_t *snap, struct robj **out, size_t *n)
{
	json_t *files = json_object_get(json_object_get(snap, "manifest"), "files");
	json_t *objs = json_object_get(snap, "objects"), *f, *seen = json_object();
	struct robj *v = calloc(json_array_size(files) ? json_array_size(files) : 1, sizeof(*v));
	size_t i, k = 0;

	if (!v || !seen) {
		free(v);
		json_decref(seen);
		return wan_err(WAN_ENOMEM, "out of memory");
	}
	json_array_foreach(files, i, f) {
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		if (json_object_get(seen, sha))
			continue;
		json_object_set_new(seen, sha, json_true());
		memcpy(v[k].sha, sha, WAN_SHA256_HEX);
		v[k].path = json_string_value(json_object_get(f, "path"));
		v[k].size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		v[k].mode = (uint32_t)json_integer_value(json_object_get(f, "mode"));
		v[k].stored = (uint64_t)json_integer_value(
			json_object_get(json_object_get(objs, sha), "stored"));
		k++;
	}
	json_decref(seen);
	*out = v;
	*n = k;
	return 0;
}

/*
 * Restore into the store what it lacks of the release in snap: objects
 * missing or of the wrong size, plus the shas listed in bad (damaged).
 */
static int restore_core(struct wan_state *st, struct bk_repo *r, json_t *snap, json_t *bad,
			json_t **out)
{
	const char *model = json_string_value(json_object_get(snap, "model"));
	const char *release = json_string_value(json_object_get(snap, "release"));
	json_t *m = json_object_get(snap, "manifest"), *b;
	struct robj *all = NULL, *need = NULL;
	size_t nall = 0, nneed = 0, i;
	struct rctx c;
	int err;

	memset(&c, 0, sizeof(c));
	if ((err = snapshot_objects(snap, &all, &nall)) < 0)
		return err;
	need = calloc(nall ? nall : 1, sizeof(*need));
	if (!need) {
		free(all);
		return wan_err(WAN_ENOMEM, "out of memory");
	}
	for (i = 0; i < nall; i++) {
		struct stat sb;
		bool listed = false;
		size_t k;
		json_array_foreach(bad, k, b)
			if (!strcmp(json_string_value(json_object_get(b, "sha256")) ?
				    json_string_value(json_object_get(b, "sha256")) : "", all[i].sha))
				listed = true;
		if (state_object_stat(st, all[i].sha, &sb) == 0) {
			if ((uint64_t)sb.st_size == all[i].size && !listed)
				continue;
			all[i].damaged = true;
		}
		need[nneed++] = all[i];
	}
	if ((err = precheck_all(r, need, nneed, model, release)) < 0)
		goto out;
	c.st = st;
	c.r = r;
	c.objs = need;
	c.n = nneed;
	c.dirfd = -1;
	for (i = 0; i < nneed; i++)
		c.total += need[i].size;
	snprintf(c.what, sizeof(c.what), "restore %s", model);
	pthread_mutex_init(&c.store_lock, NULL);
	c.threads = decode_threads(st->cfg);
	err = par_for(nneed, decode_workers(st->cfg), restore_store_one, &c);
	pthread_mutex_destroy(&c.store_lock);
	if (err < 0)
		goto out;
	if ((err = release_publish(st, model, release, m)) < 0 ||
	    (err = release_relink_tree(st, model, release, m)) < 0 ||
	    (err = release_record(st, model, m)) < 0)
		goto out;
	wan_db_event(st->db, st->command, model, NULL, "backup-restore", "completed", release);
	wan_log(WAN_LOG_INFO, "restored %s release %s from the backup: %zu object(s), %llu bytes",
		model, release, nneed, (unsigned long long)c.total);
	if (out)
		*out = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "model", model, "release", release,
				 "files", (json_int_t)json_array_size(json_object_get(m, "files")),
				 "bytes", json_integer_value(json_object_get(json_object_get(m, "totals"),
									     "bytes")),
				 "objects_restored", (json_int_t)nneed,
				 "bytes_restored", (json_int_t)c.total);
out:
	free(all);
	free(need);
	return err;
}

int wan_backup_restore(struct wan_state *st, const char *model, const char *release,
		       json_t **out)
{
	struct bk_repo r;
	json_t *snap = NULL;
	int err;

	if (out)
		*out = NULL;
	if ((err = bk_repo_open(&r, st->cfg->backup_path, false)) < 0)
		return err;
	if ((err = bk_snapshot_load(&r, model, release, &snap)) == 0)
		err = restore_core(st, &r, snap, NULL, out);
	json_decref(snap);
	bk_repo_close(&r);
	return err;
}

static int unrecoverable(const char *model, const char *release, json_t *bad, const char *why)
{
	char list[1200] = "";
	size_t i, o = 0;
	json_t *b;

	json_array_foreach(bad, i, b) {
		int w;
		if (o >= sizeof(list) - 200) {
			snprintf(list + o, sizeof(list) - o, ", ...");
			break;
		}
		w = snprintf(list + o, sizeof(list) - o, "%s'%s' (%s)", i ? ", " : "",
			     json_string_value(json_object_get(b, "path")),
			     json_string_value(json_object_get(b, "problem")));
		if (w > 0)
			o += (size_t)w;
	}
	if (!json_array_size(bad))
		snprintf(list, sizeof(list), "its manifest and every file");
	return wan_err(WAN_ENOTFOUND, "cannot recover %s release %s: %s; unrecoverable: %s",
		       model, release, why, list);
}

int wan_backup_restore_objects(struct wan_state *st, const char *model, const char *release,
			       json_t *bad)
{
	struct bk_repo r;
	json_t *snap = NULL;
	char why[2300];
	int err;

	if ((err = bk_repo_open(&r, st->cfg->backup_path, false)) < 0) {
		snprintf(why, sizeof(why), "%s", wan_errmsg());
		return unrecoverable(model, release, bad, why);
	}
	err = bk_snapshot_load(&r, model, release, &snap);
	if (err < 0) {
		snprintf(why, sizeof(why), "%s", wan_errmsg());
		bk_repo_close(&r);
		return unrecoverable(model, release, bad, why);
	}
	err = restore_core(st, &r, snap, bad, NULL);
	json_decref(snap);
	bk_repo_close(&r);
	return err;
}

/* -- into a folder -- */

/* Open (creating) the parent folder of rel beneath dirfd, no symlinks. */
static int open_parent_beneath(int dirfd, const char *rel, const char **base)
{
	char tmp[WAN_PATH_MAX], *c, *slash;
	int cur = dup(dirfd), next;
	size_t n = strlen(rel);

	if (cur < 0 || n >= sizeof(tmp)) {
		if (cur >= 0)
			close(cur);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, rel, n + 1);
	c = tmp;
	while ((slash = strchr(c, '/'))) {
		*slash = '\0';
		if (xmkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
			close(cur);
			return -1;
		}
		next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(cur);
		if (next < 0)
			return -1;
		cur = next;
		c = slash + 1;
	}
	*base = rel + (size_t)(c - tmp);
	return cur;
}

struct dfile {
	const char *path, *sha;
	uint64_t size;
	uint32_t mode;
};

struct dctx {
	struct rctx rc;
	struct dfile *files;
	size_t n;
	const char *dir;
};

static int restore_dir_one(void *arg, size_t i)
{
	struct dctx *c = arg;
	struct dfile *f = &c->files[i];
	struct robj o;
	char tmpname[300];
	const char *base = NULL;
	int pd, fd = -1, err = 0;

	memset(&o, 0, sizeof(o));
	memcpy(o.sha, f->sha, WAN_SHA256_HEX);
	o.path = f->path;
	o.size = f->size;
	pd = open_parent_beneath(c->rc.dirfd, f->path, &base);
	if (pd < 0)
		return wan_err_sys(0, "cannot create the folder of '%s/%s'", c->dir, f->path);
	snprintf(tmpname, sizeof(tmpname), ".wanctl-tmp-%u", atomic_fetch_add(&c->rc.seq, 1));
	fd = xopenat(pd, tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = wan_err_sys(0, "cannot create a file in the folder of '%s/%s'", c->dir, f->path);
		goto out;
	}
	if ((err = decode_to_fd(&c->rc, &o, fd)) < 0)
		goto out;
	if (fchmod(fd, (mode_t)(f->mode & 0777)) < 0 || xfsync(fd) < 0) {
		err = wan_err_sys(0, "cannot write '%s/%s'", c->dir, f->path);
		goto out;
	}
	err = xclose(fd);
	fd = -1;
	if (err < 0) {
		err = wan_err_sys(0, "cannot write '%s/%s'", c->dir, f->path);
		goto out;
	}
	if (xrenameat(pd, tmpname, pd, base, RENAME_NOREPLACE) < 0) {
		err = wan_err_sys(0, "cannot create '%s/%s'", c->dir, f->path);
		goto out;
	}
	tmpname[0] = '\0';
	if (xfsync(pd) < 0)
		err = wan_err_sys(0, "cannot fsync the folder of '%s/%s'", c->dir, f->path);
	atomic_fetch_add(&c->rc.files_done, 1);
	atomic_fetch_add(&c->rc.restored_bytes, f->size);
out:
	if (fd >= 0)
		xclose(fd);
	if (tmpname[0])
		unlinkat(pd, tmpname, 0);
	close(pd);
	return err;
}

static int dir_empty_or_absent(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : wan_err_sys(0, "cannot open '%s'", dir);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n ? wan_err(WAN_EEXISTS, "'%s' is not empty; restore into a new or empty "
			   "folder", dir) : 0;
}

int wan_backup_restore_dir(const struct wan_config *cfg, const char *model, const char *release,
			   const char *dir, json_t **out)
{
	struct bk_repo r;
	json_t *snap = NULL, *files, *f;
	struct robj *objs = NULL;
	size_t nobj = 0, i;
	struct dctx c;
	int err;

	if (out)
		*out = NULL;
	memset(&c, 0, sizeof(c));
	c.rc.dirfd = -1;
	if ((err = bk_repo_open(&r, cfg->backup_path, false)) < 0)
		return err;
	if ((err = bk_snapshot_load(&r, model, release, &snap)) < 0 ||
	    (err = snapshot_objects(snap, &objs, &nobj)) < 0 ||
	    (err = precheck_all(&r, objs, nobj, model, release)) < 0 ||
	    (err = dir_empty_or_absent(dir)) < 0 ||
	    (err = path_mkdirs(dir, 0755)) < 0)
		goto out;
	c.rc.dirfd = xopen(dir, O_RDONLY | O_DIRECTORY, 0);
	if (c.rc.dirfd < 0) {
		err = wan_err_sys(0, "cannot open '%s'", dir);
		goto out;
	}
	files = json_object_get(json_object_get(snap, "manifest"), "files");
	c.n = json_array_size(files);
	c.files = calloc(c.n ? c.n : 1, sizeof(*c.files));
	if (!c.files) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(files, i, f) {
		c.files[i].path = json_string_value(json_object_get(f, "path"));
		c.files[i].sha = json_string_value(json_object_get(f, "sha256"));
		c.files[i].size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		c.files[i].mode = (uint32_t)json_integer_value(json_object_get(f, "mode"));
		c.rc.total += c.files[i].size;
	}
	c.rc.r = &r;
	c.rc.n = c.n;
	c.dir = dir;
	snprintf(c.rc.what, sizeof(c.rc.what), "restore %s", model);
	c.rc.threads = decode_threads(cfg);
	if ((err = par_for(c.n, decode_workers(cfg), restore_dir_one, &c)) < 0)
		goto out;
	xfsync(c.rc.dirfd);
	if (out)
		*out = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "model", model, "release", release,
				 "to", dir, "files", (json_int_t)c.n, "bytes", (json_int_t)c.rc.total,
				 "objects_restored", (json_int_t)nobj,
				 "bytes_restored", (json_int_t)c.rc.total);
out:
	if (c.rc.dirfd >= 0)
		xclose(c.rc.dirfd);
	free(c.files);
	free(objs);
	json_decref(snap);
	bk_repo_close(&r);
	return err;
}

/* ---- prune ---- */

static int db_forget_backup(struct wan_state *st, const char *model, const char *release)
{
	sqlite3_stmt *q = NULL;
	int err;

	if ((err = wan_db_prepare(st->db, &q, "DELETE FROM backups WHERE model = ? AND release = ?")) < 0)
		return err;
	sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, release, -1, SQLITE_STATIC);
	sqlite3_step(q);
	sqlite3_finalize(q);
	return 0;
}

static int sweep_objects(struct bk_repo *r, json_t *keep, bool dry_run, uint64_t *nobj,
			 uint64_t *bytes)
{
	int d = path_open_beneath(r->root, "objects/sha256", O_RDONLY | O_DIRECTORY, 0);
	int d2 = d >= 0 ? dup(d) : -1;
	DIR *top = d2 >= 0 ? fdopendir(d2) : NULL;
	struct dirent *de, *fe;
	int err = 0;

	if (!top) {
		if (d2 >= 0)
			close(d2);
		if (d >= 0)
			close(d);
		return errno == ENOENT ? 0 : wan_err_sys(0, "cannot open '%s/objects/sha256'", r->path);
	}
	while ((de = readdir(top)) && !err) {
		int sd, sd2;
		DIR *sub;
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		sd = openat(d, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sd < 0)
			continue;
		sd2 = dup(sd);
		sub = sd2 >= 0 ? fdopendir(sd2) : NULL;
		if (!sub) {
			if (sd2 >= 0)
				close(sd2);
			close(sd);
			continue;
		}
		while ((fe = readdir(sub))) {
			char sha[WAN_SHA256_HEX];
			struct stat sb;
			size_t len = strlen(fe->d_name);
			if (len != 66 || strcmp(fe->d_name + 62, ".zst"))
				continue;
			memcpy(sha, de->d_name, 2);
			memcpy(sha + 2, fe->d_name, 62);
			sha[64] = '\0';
			if (json_object_get(keep, sha))
				continue;
			if (fstatat(sd, fe->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (!dry_run) {
				if (xunlinkat(sd, fe->d_name, 0) < 0) {
					err = wan_err_sys(0, "cannot remove '%s/objects/sha256/%s/%s'",
							  r->path, de->d_name, fe->d_name);
					break;
				}
			}
			(*nobj)++;
			*bytes += (uint64_t)sb.st_size;
		}
		if (!dry_run && !err && xfsync(sd) < 0)
			err = wan_err_sys(0, "cannot fsync '%s/objects/sha256/%s'", r->path, de->d_name);
		closedir(sub);
		close(sd);
	}
	closedir(top);
	close(d);
	return err;
}

int wan_backup_prune(struct wan_state *st, bool dry_run, json_t **out)
{
	const struct wan_config *cfg = st->cfg;
	struct bk_repo r;
	json_t *good = NULL, *bad = NULL, *removed = json_array(), *keep = json_object(), *s, *o;
	const char *prev = "", *sha;
	char cur[WAN_RELEASE_ID_LEN + 1] = "";
	double now = wan_now_wall();
	uint64_t nobj = 0, bytes = 0;
	size_t i, rank = 0, kept = 0;
	bool swept = false;
	int err;

	*out = NULL;
	err = bk_repo_open(&r, cfg->backup_path, false);
	if (err == WAN_ENOTFOUND) {
		wan_err_clear();
		*out = json_pack("{s:b,s:[],s:i,s:i,s:i,s:[]}", "dry_run", dry_run,
				 "snapshots_removed", "snapshots_kept", 0, "objects_removed", 0,
				 "bytes_freed", 0, "bad_snapshots");
		json_decref(removed);
		json_decref(keep);
		return 0;
	}
	if (err < 0)
		goto out;
	if (!dry_run)
		bk_tmp_sweep(&r);
	if ((err = bk_snapshot_scan(&r, NULL, &good, &bad)) < 0)
		goto out;
	/* good is sorted by model, newest first. */
	json_array_foreach(good, i, s) {
		const char *model = json_string_value(json_object_get(s, "model"));
		const char *rel = json_string_value(json_object_get(s, "release"));
		double age = now - json_number_value(json_object_get(s, "created_ts"));
		const char *reason = NULL;
		char why[64];

		if (strcmp(model, prev)) {
			rank = 0;
			prev = model;
			if (wan_release_current(st, model, cur, NULL) < 0)
				cur[0] = '\0';
			wan_err_clear();
		}
		if (strcmp(rel, cur)) {
			if (cfg->backup.keep > 0 && rank >= (size_t)cfg->backup.keep) {
				snprintf(why, sizeof(why), "beyond the newest %lld",
					 (long long)cfg->backup.keep);
				reason = why;
			} else if (cfg->backup.max_age_days > 0 && rank > 0 &&
				   age > (double)cfg->backup.max_age_days * 86400.0) {
				snprintf(why, sizeof(why), "older than %lld days",
					 (long long)cfg->backup.max_age_days);
				reason = why;
			}
		}
		rank++;
		if (!reason) {
			kept++;
			json_object_foreach(json_object_get(s, "objects"), sha, o)
				json_object_set_new(keep, sha, json_true());
			continue;
		}
		json_array_append_new(removed, json_pack("{s:s,s:s,s:O,s:s}", "model", model,
							 "release", rel, "created",
							 json_object_get(s, "created"), "reason", reason));
		if (!dry_run) {
			char srel[WAN_PATH_MAX];
			db_forget_backup(st, model, rel);
			if ((err = bk_snapshot_rel(model, rel, srel, sizeof(srel))) < 0 ||
			    (err = bk_remove(&r, srel)) < 0)
				goto out;
		}
	}
	if (json_array_size(bad)) {
		wan_log(WAN_LOG_WARN, "%zu snapshot(s) cannot be read (first: %s): unreferenced "
			"objects are kept until they are fixed or removed", json_array_size(bad),
			json_string_value(json_object_get(json_array_get(bad, 0), "path")));
	} else {
		if ((err = sweep_objects(&r, keep, dry_run, &nobj, &bytes)) < 0)
			goto out;
		swept = true;
	}
	*out = json_pack("{s:b,s:O,s:I,s:I,s:I,s:b,s:O}", "dry_run", dry_run,
			 "snapshots_removed", removed, "snapshots_kept", (json_int_t)kept,
			 "objects_removed", (json_int_t)nobj, "bytes_freed", (json_int_t)bytes,
			 "objects_swept", swept, "bad_snapshots", bad);
out:
	bk_repo_close(&r);
	json_decref(good);
	json_decref(bad);
	json_decref(removed);
	json_decref(keep);
	return err;
}

int wan_backup_snapshot_parse(const char *text, size_t len, const char *name, json_t **out)
{
	return bk_snapshot_parse(text, len, name, out);
}
