/*
 * The content-addressed store: objects/sha256/<2 hex>/<62 hex>.
 *
 * Invariants (numbered as referred to by docs/DURABILITY.md):
 *  S1. An object is visible under its final name only after its bytes are
 *      complete, hashed, fsynced and closed without error: it is written
 *      to <state>/tmp (O_EXCL, 0444), then published with link(2), which
 *      never replaces (EEXIST = already stored), then the object's folder
 *      is fsynced.
 *  S2. A failed fsync is final for that file: the temp file is discarded,
 *      never fsynced again and trusted (fsyncgate).
 *  S3. Objects are immutable (0444); the name is the SHA-256 of the
 *      content, so a reader can always re-verify.
 *  S4. Staging is only read. A staging file that changes while it is read
 *      (size or mtime) makes the ingest fail.
 *
 * Transfer modes: copy (read, hash, write in one pass), reflink (FICLONE,
 * then hash the source once), hardlink (link the staging inode itself;
 * staging must then never be edited in place), auto (reflink where the
 * filesystem supports it, else copy).
 */
#include "lib/ingest.h"
#include "util/xio.h"
#include "wanctl/formats.h"
#include "wanctl/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#define INGEST_BUF (2u << 20)       /* per worker */
#define INGEST_WINDOW (64ull << 20) /* sync_file_range window */
#define INGEST_MAX_WORKERS 16

struct ingest_ctx {
	struct wan_state *st;
	struct src_tree *t;
	const struct ingest_opts *o;
	size_t *order;              /* files, biggest first */
	atomic_size_t next;
	atomic_uint_least64_t bytes_done;
	atomic_uint_least64_t files_done;
	atomic_uint_least64_t copied;
	atomic_int failed;
	int reflink_ok;             /* auto: -1 unknown, 0 no, 1 yes */
	pthread_mutex_t lock;
	int err;
	char errmsg[2048];
	uint64_t total;
};

/* Publish tmp (a state_tmp_name path) as object sha (S1): linked from
 * tmp/ into its folder, both reached through descriptors of the state
 * folder. */
int store_object_publish(struct wan_state *st, const char *tmp, const char *sha,
			 uint64_t size, bool *existed)
{
	char obj[WAN_PATH_MAX];
	struct stat sb;
	int dfd, err = 0;

	*existed = false;
	wan_store_object_path(st, sha, obj, sizeof(obj));
	if ((dfd = state_object_dir(st, sha, true)) < 0)
		return dfd;
	if (xlinkat(st->tmpfd, state_tmp_rel(st, tmp), dfd, sha + 2) < 0) {
		if (errno != EEXIST) {
			err = wan_err_sys(0, "cannot publish object '%s'", obj);
			goto out;
		}
		if (fstatat(dfd, sha + 2, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			err = wan_err_sys(0, "cannot stat object '%s'", obj);
			goto out;
		}
		if ((uint64_t)sb.st_size != size) {
			err = wan_err(WAN_ECORRUPT,
				      "store object '%s' exists with %llu bytes instead of %llu: "
				      "the store is damaged; run 'wanctl verify'", obj,
				      (unsigned long long)sb.st_size, (unsigned long long)size);
			goto out;
		}
		*existed = true;
		goto out;
	}
	if (xfsync(dfd) < 0)
		err = wan_err_sys(0, "cannot fsync '%s/objects/sha256/%.2s'", st->path, sha);
out:
	xclose(dfd);
	return err;
}

int store_object_remove(struct wan_state *st, const char *sha)
{
	char obj[WAN_PATH_MAX];
	int dfd, err = 0;

	wan_store_object_path(st, sha, obj, sizeof(obj));
	if ((dfd = state_object_dir(st, sha, false)) < 0)
		return dfd;
	if (xunlinkat(dfd, sha + 2, 0) < 0 && errno != ENOENT)
		err = wan_err_sys(0, "cannot remove damaged store object '%s'", obj);
	xclose(dfd);
	return err;
}

static bool object_present(struct wan_state *st, const char *sha, uint64_t size)
{
	struct stat sb;

	return state_object_stat(st, sha, &sb) == 0 && S_ISREG(sb.st_mode) &&
	       (uint64_t)sb.st_size == size;
}

struct stream {
	const char *name;          /* for messages */
	int in;                    /* source */
	int out;                   /* -1: hash only */
	uint64_t size;
	struct wan_tscan *scan;    /* may be NULL */
	char *buf;
	atomic_uint_least64_t *progress;
	struct ingest_ctx *ctx;    /* the ingest this file belongs to */
};

/* Read in, hash, scan, write out: one pass over the data. */
static int stream_copy(struct stream *s, char sha[WAN_SHA256_HEX])
{
	struct wan_sha256 h;
	uint64_t off = 0, last_window = 0;
	int err;

	if ((err = wan_sha256_init(&h)) < 0)
		return err;
	posix_fadvise(s->in, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (off < s->size) {
		size_t want = s->size - off < INGEST_BUF ? (size_t)(s->size - off) : INGEST_BUF;
		ssize_t n = xpread(s->in, s->buf, want, (off_t)off);

		if (n < 0) {
			err = wan_err_sys(0, "cannot read '%s' at byte %llu", s->name,
					  (unsigned long long)off);
			goto fail;
		}
		if ((size_t)n < want) {
			err = wan_err(WAN_EIO, "'%s' shrank while being read (%llu of %llu bytes); "
				      "is something still writing to staging?", s->name,
				      (unsigned long long)(off + (uint64_t)n),
				      (unsigned long long)s->size);
			goto fail;
		}
		wan_sha256_update(&h, s->buf, (size_t)n);
		if (s->scan && (err = wan_tscan_feed(s->scan, s->buf, (size_t)n)) < 0)
			goto fail;
		if (s->out >= 0 && xpwrite(s->out, s->buf, (size_t)n, (off_t)off) < 0) {
			err = wan_err_sys(0, "cannot write the store copy of '%s'", s->name);
			goto fail;
		}
		off += (uint64_t)n;
		if (s->out >= 0 && off - last_window >= INGEST_WINDOW) {
			last_window = off - off % INGEST_WINDOW;
			xwriteback(s->out, last_window, INGEST_WINDOW);
		}
		posix_fadvise(s->in, (off_t)(off - (uint64_t)n), n, POSIX_FADV_DONTNEED);
		{
			uint64_t done = atomic_fetch_add(s->progress, (uint64_t)n) + (uint64_t)n;
			wan_progress(s->ctx->o->what, done, s->ctx->total,
				     atomic_load(&s->ctx->files_done), s->ctx->t->n);
		}
		/* Another worker failed: stop reading. */
		if (atomic_load(&s->ctx->failed)) {
			err = WAN_ERROR;
			goto fail;
		}
	}
	wan_sha256_final_hex(&h, sha);
	return 0;
fail:
	wan_sha256_release(&h);
	return err;
}

/* Stat-cache lookup: the hash is trusted only when (dev, ino, size, mtime,
 * ctime) match and the entry is not racily clean (git): the file's mtime
 * must be strictly older than the moment its hash was recorded. */
static int cache_lookup(struct wan_state *st, struct src_file *f)
{
	sqlite3_stmt *q = NULL;
	int found = 0;

	if (wan_db_prepare(st->db, &q,
			   "SELECT dev, ino, size, mtime_ns, ctime_ns, sha256, recorded_ns"
			   " FROM stat_cache WHERE path = ?") < 0)
		return 0;
	sqlite3_bind_text(q, 1, f->abs, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW &&
	    (uint64_t)sqlite3_column_int64(q, 0) == (uint64_t)f->dev &&
	    (uint64_t)sqlite3_column_int64(q, 1) == (uint64_t)f->ino &&
	    (uint64_t)sqlite3_column_int64(q, 2) == f->size &&
	    sqlite3_column_int64(q, 3) == f->mtime_ns &&
	    sqlite3_column_int64(q, 4) == f->ctime_ns &&
	    f->mtime_ns < sqlite3_column_int64(q, 6) &&
	    f->ctime_ns < sqlite3_column_int64(q, 6)) {
		const char *sha = (const char *)sqlite3_column_text(q, 5);
		if (sha && wan_sha256_is_hex(sha)) {
			memcpy(f->sha, sha, WAN_SHA256_HEX);
			found = 1;
		}
	}
	sqlite3_finalize(q);
	return found;
}

int ingest_plan(struct wan_state *st, struct src_tree *t, bool rehash,
		uint64_t *to_copy)
{
	*to_copy = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct src_file *f = &t->files[i];
		f->cached = !rehash && cache_lookup(st, f);
		f->present = f->cached && object_present(st, f->sha, f->size);
		if (!f->present)
			*to_copy += f->size;
	}
	return 0;
}

static bool is_safetensors(const char *p)
{
	size_t n = strlen(p);
	return n > 12 && !strcmp(p + n - 12, ".safetensors");
}

static int ingest_one(struct ingest_ctx *c, struct src_file *f, char *buf,
		      int64_t *recorded_ns)
{
	struct wan_state *st = c->st;
	char tmp[WAN_PATH_MAX];
	struct wan_st_header *hdr = NULL;
	struct wan_tscan *scan = NULL;
	struct stream s;
	struct stat a, b;
	struct timespec now;
	enum wan_transfer mode = c->o->transfer;
	bool existed = false, tmp_made = false;
	int in = -1, out = -1, err = 0;

	if (f->present) {
		atomic_fetch_add(&c->bytes_done, f->size);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	*recorded_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	/* The path is opened again after the listing: a folder on it may have
	 * been swapped for a symlink since. Only the inode the listing found
	 * (same device and inode, a regular file) is read; O_NONBLOCK keeps a
	 * fifo put in its place from blocking the open. */
	in = xopen(f->abs, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
	if (in < 0)
		return wan_err_sys(0, "cannot open staging file '%s'", f->abs);
	if (fstat(in, &a) < 0) {
		err = wan_err_sys(0, "cannot stat '%s'", f->abs);
		goto out;
	}
	if (!S_ISREG(a.st_mode) || (uint64_t)a.st_size != f->size || a.st_ino != f->ino ||
	    a.st_dev != f->dev) {
		err = wan_err(WAN_EIO, "staging file '%s' changed since it was listed", f->abs);
		goto out;
	}
	/* A writable inode with other names (hard links outside staging) is
	 * copied, not made the store's object: making it read-only would
	 * change it under names wanctl does not own. A read-only one (such as
	 * a file a failed adoption already linked into the store) is linked. */
	if (mode == WAN_TRANSFER_HARDLINK && a.st_nlink > 1 && (a.st_mode & 0222)) {
		wan_log(WAN_LOG_INFO, "'%s' is writable and has %ju hard links: copied, not linked",
			f->rel, (uintmax_t)a.st_nlink);
		mode = WAN_TRANSFER_COPY;
	}
	if (c->o->scan && is_safetensors(f->rel) && f->size >= 8) {
		/* Only the header is read here; the data is scanned as it streams. */
		if (wan_st_parse_fd(&hdr, in, f->size, f->rel) == 0 &&
		    (err = wan_tscan_new(&scan, hdr, f->rel)) < 0)
			goto out;
		wan_err_clear();
	}
	state_tmp_name(st, "obj", tmp, sizeof(tmp));
	memset(&s, 0, sizeof(s));
	s.name = f->abs;
	s.in = in;
	s.out = -1;
	s.size = f->size;
	s.scan = scan;
	s.buf = buf;
	s.progress = &c->bytes_done;
	s.ctx = c;

	if (mode == WAN_TRANSFER_HARDLINK) {
		if (xlinkat(AT_FDCWD, f->abs, st->tmpfd, state_tmp_rel(st, tmp)) < 0) {
			err = wan_err_sys(0, errno == EXDEV ?
					  "cannot hard-link '%s' into the store: staging is on another filesystem (use --transfer copy)" :
					  "cannot hard-link '%s' into the store", f->abs);
			goto out;
		}
		tmp_made = true;
		/* linkat went by the path again: it must have linked the inode
		 * that is open (and hashed), not whatever the path reaches now. */
		if (fstatat(st->tmpfd, state_tmp_rel(st, tmp), &b, AT_SYMLINK_NOFOLLOW) < 0 ||
		    b.st_dev != a.st_dev || b.st_ino != a.st_ino) {
			err = wan_err(WAN_EIO, "staging file '%s' changed while it was linked", f->abs);
			goto out;
		}
		/* The staging inode becomes the object: make it immutable (S3). */
		if (fchmod(in, a.st_mode & 0555) < 0) {
			err = wan_err_sys(0, "cannot make '%s' read-only", f->abs);
			goto out;
		}
	} else {
		out = xopenat(st->tmpfd, state_tmp_rel(st, tmp),
			      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0444);
		if (out < 0) {
			err = wan_err_sys(0, "cannot create '%s'", tmp);
			goto out;
		}
		tmp_made = true;
		if (fchmod(out, 0444) < 0) {
			err = wan_err_sys(0, "cannot chmod '%s'", tmp);
			goto out;
		}
		if (mode == WAN_TRANSFER_REFLINK || (mode == WAN_TRANSFER_AUTO && c->reflink_ok != 0)) {
			if (ioctl(out, FICLONE, in) == 0) {
				c->reflink_ok = 1;
			} else if (mode == WAN_TRANSFER_REFLINK) {
				err = wan_err_sys(0, "cannot reflink '%s' (--transfer reflink needs a "
						  "filesystem with reflinks, such as xfs or btrfs)", f->abs);
				goto out;
			} else {
				c->reflink_ok = 0;
				s.out = out;
			}
		} else {
			s.out = out;
		}
	}
	if ((err = stream_copy(&s, f->sha)) < 0)
		goto out;
	if (fstat(in, &b) < 0) {
		err = wan_err_sys(0, "cannot stat '%s'", f->abs);
		goto out;
	}
	if (b.st_size != a.st_size || b.st_mtim.tv_sec != a.st_mtim.tv_sec ||
	    b.st_mtim.tv_nsec != a.st_mtim.tv_nsec) {
		err = wan_err(WAN_EIO, "staging file '%s' was modified while being copied", f->abs);
		goto out;
	}
	if (f->blob_sha[0] && strcmp(f->blob_sha, f->sha)) {
		err = wan_err(WAN_ECORRUPT,
			      "hub cache blob for '%s' ('%s') hashes to %s, not to its name: "
			      "the download is damaged", f->rel, f->abs, f->sha);
		goto out;
	}
	if (scan) {
		if ((err = wan_tscan_finish(scan, &f->stats)) < 0) {
			wan_err_prefix(err, "tensors.finite: '%s'", f->rel);
			goto out;
		}
	}
	if (out >= 0) {
		if (xfsync(out) < 0) {
			err = wan_err_sys(0, "cannot fsync '%s'", tmp);
			goto out;
		}
		err = xclose(out);
		out = -1;
		if (err < 0) {
			err = wan_err_sys(0, "cannot close '%s'", tmp);
			goto out;
		}
	} else {
		/* Hardlink transfer (the only one without an out file): the
		 * staging inode itself is published: fsync it through the
		 * name that will be linked (S1). */
		int tfd = xopenat(st->tmpfd, state_tmp_rel(st, tmp), O_RDONLY | O_NOFOLLOW, 0);
		if (tfd < 0 || xfsync(tfd) < 0) {
			err = wan_err_sys(0, "cannot fsync '%s'", f->abs);
			xclose(tfd);
			goto out;
		}
		xclose(tfd);
	}
	if ((err = store_object_publish(st, tmp, f->sha, f->size, &existed)) < 0)
		goto out;
	if (!existed) {
		f->copied = mode == WAN_TRANSFER_HARDLINK ? 0 : f->size;
		atomic_fetch_add(&c->copied, f->copied);
	}
out:
	if (out >= 0)
		xclose(out);
	if (tmp_made)
		unlinkat(st->tmpfd, state_tmp_rel(st, tmp), 0);
	xclose(in);
	wan_tscan_free(scan);
	wan_st_header_free(hdr);
	return err;
}

static void *ingest_worker(void *arg)
{
	struct ingest_ctx *c = arg;
	char *buf = malloc(INGEST_BUF);

	if (!buf) {
		pthread_mutex_lock(&c->lock);
		if (!c->err) {
			c->err = WAN_ENOMEM;
			snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
		}
		atomic_store(&c->failed, 1);
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	for (;;) {
		size_t k = atomic_fetch_add(&c->next, 1);
		struct src_file *f;
		int err;

		if (k >= c->t->n || atomic_load(&c->failed))
			break;
		f = &c->t->files[c->order[k]];
		err = ingest_one(c, f, buf, &f->recorded_ns);
		if (err < 0) {
			pthread_mutex_lock(&c->lock);
			if (!c->err) {
				c->err = err;
				snprintf(c->errmsg, sizeof(c->errmsg), "%s", wan_errmsg());
			}
			atomic_store(&c->failed, 1);
			pthread_mutex_unlock(&c->lock);
			break;
		}
		atomic_fetch_add(&c->files_done, 1);
	}
	free(buf);
	return NULL;
}

static const struct src_tree *sort_tree;

static int cmp_size_desc(const void *a, const void *b)
{
	uint64_t x = sort_tree->files[*(const size_t *)a].size;
	uint64_t y = sort_tree->files[*(const size_t *)b].size;
	return x < y ? 1 : x > y ? -1 : 0;
}

static int cache_store(struct wan_state *st, struct src_tree *t)
{
	sqlite3_stmt *q = NULL;
	int err;

	if ((err = wan_db_begin(st->db)) < 0)
		return err;
	if ((err = wan_db_prepare(st->db, &q,
				  "INSERT OR REPLACE INTO stat_cache(path, dev, ino, size,"
				  " mtime_ns, ctime_ns, sha256, recorded_ns) VALUES(?,?,?,?,?,?,?,?)")) < 0)
		goto fail;
	for (size_t i = 0; i < t->n; i++) {
		struct src_file *f = &t->files[i];
		if (!f->recorded_ns)
			continue;
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, f->abs, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)f->dev);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)f->ino);
		sqlite3_bind_int64(q, 4, (sqlite3_int64)f->size);
		sqlite3_bind_int64(q, 5, f->mtime_ns);
		sqlite3_bind_int64(q, 6, f->ctime_ns);
		sqlite3_bind_text(q, 7, f->sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 8, f->recorded_ns);
		if (sqlite3_step(q) != SQLITE_DONE) {
			err = wan_err(WAN_ERROR, "cannot update the stat cache: %s",
				      sqlite3_errmsg(wan_db_handle(st->db)));
			goto fail;
		}
	}
	sqlite3_finalize(q);
	return wan_db_commit(st->db);
fail:
	sqlite3_finalize(q);
	wan_db_rollback(st->db);
	return err;
}

int ingest_tree(struct wan_state *st, struct src_tree *t,
		const struct ingest_opts *o, uint64_t *copied, uint64_t *dedup)
{
	struct ingest_ctx c;
	pthread_t th[INGEST_MAX_WORKERS];
	int nw = o->workers, started = 0, err = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	*copied = *dedup = 0;
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.t = t;
	c.o = o;
	c.reflink_ok = -1;
	pthread_mutex_init(&c.lock, NULL);
	for (size_t i = 0; i < t->n; i++)
		c.total += t->files[i].size;
	if (nw <= 0)
		nw = ncpu > 0 ? (int)ncpu : 1;
	if (nw > INGEST_MAX_WORKERS)
		nw = INGEST_MAX_WORKERS;
	if ((size_t)nw > t->n)
		nw = t->n ? (int)t->n : 1;
	c.order = malloc((t->n ? t->n : 1) * sizeof(*c.order));
	if (!c.order)
		return wan_err(WAN_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n; i++)
		c.order[i] = i;
	sort_tree = t;
	qsort(c.order, t->n, sizeof(*c.order), cmp_size_desc);
	for (int i = 0; i < nw; i++) {
		if (pthread_create(&th[i], NULL, ingest_worker, &c) != 0)
			break;
		started++;
	}
	if (!started)
		ingest_worker(&c);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (c.err) {
		err = wan_err(c.err, "%s", c.errmsg);
		goto out;
	}
	wan_progress(o->what, c.total, c.total, t->n, t->n);
	*copied = atomic_load(&c.copied);
	*dedup = c.total - *copied;
	if ((err = cache_store(st, t)) < 0)
		wan_log(WAN_LOG_WARN, "stat cache not updated: %s", wan_errmsg());
	err = 0;
out:
	free(c.order);
	pthread_mutex_destroy(&c.lock);
	return err;
}
