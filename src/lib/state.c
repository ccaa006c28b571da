/*
 * Opening the state folder: layout, permissions, the lock, the database,
 * recovery of interrupted work.
 *
 * Lock protocol: every mutating command holds flock(LOCK_EX) on
 * <state>/lock for its whole run and writes "pid command since" into it.
 * flock is released by the kernel when the holder dies (even SIGKILL), so
 * a stale lock file never blocks anybody; its content only names the last
 * holder in messages.
 */
#include "lib/state.h"
#include "util/xio.h"
#include "util/buf.h"
#include "wanctl/log.h"
#include "util/sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A folder others could rename entries in (a swap for a symlink needs
 * write access to the folder holding it). */
static bool others_can_write(const struct stat *sb)
{
	return (sb->st_mode & (S_IWGRP | S_IWOTH)) && !(sb->st_mode & S_ISVTX);
}

/* The checks of a folder of the store, on the open folder itself (fstat
 * of the descriptor: nothing can be swapped between check and use). */
static int folder_check(int fd, const char *what, const char *path)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return wan_err_sys(0, "cannot open %s '%s'", what, path);
	if (others_can_write(&sb))
		return wan_err(WAN_EINVAL, "%s '%s' is writable by group or others (mode %03o); "
			       "run 'chmod go-w %s'", what, path,
			       (unsigned)(sb.st_mode & 0777), path);
	if (sb.st_uid != geteuid() && sb.st_uid != 0)
		return wan_err(WAN_EINVAL, "%s '%s' belongs to user %ju, not to the user running "
			       "wanctl (%ju) or root: its owner could swap it for a symlink",
			       what, path, (uintmax_t)sb.st_uid, (uintmax_t)geteuid());
	return 0;
}

/* Why a folder of the store could not be opened without following a
 * symlink. */
static int folder_open_error(const char *what, const char *path)
{
	struct stat sb;

	/* open(O_DIRECTORY|O_NOFOLLOW) of a symlink says ENOTDIR, openat2
	 * with RESOLVE_NO_SYMLINKS says ELOOP: both are the symlink. */
	if (errno == ENOTDIR && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
		errno = ELOOP;
	if (errno == ELOOP)
		return wan_err(WAN_EINVAL, "%s '%s' is a symbolic link; the store's folders must "
			       "be real folders", what, path);
	if (errno == ENOTDIR)
		return wan_err(WAN_EINVAL, "%s '%s' is not a directory", what, path);
	return wan_err_sys(0, "cannot open %s '%s'", what, path);
}

/*
 * Open the state folder once, without following a symlink, creating it
 * when asked: every file of the store is then reached from st->dirfd
 * (bug 13 of docs/RELIABILITY.md: a folder swapped for a symlink by path
 * during a run no longer takes wanctl's writes).
 */
static int state_open_dir(struct wan_state *st, bool create)
{
	int err;

	st->dirfd = xopen(st->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (st->dirfd < 0 && errno == ENOENT && create) {
		if ((err = path_mkdirs(st->path, 0755)) < 0)
			return err;
		xfsync_parent(st->path);
		st->dirfd = xopen(st->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	}
	if (st->dirfd < 0)
		return folder_open_error("state folder", st->path);
	return folder_check(st->dirfd, "state folder", st->path);
}

static int state_layout(struct wan_state *st, bool create)
{
	static const char *const dirs[] = { "objects", "objects/sha256",
					    "releases", "tmp" };
	int err;

	if ((err = state_open_dir(st, create)) < 0)
		return err;
	if (!create)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (path_mkdir_beneath(st->dirfd, dirs[i], 0755) < 0)
			return wan_err_sys(0, "cannot create directory '%s/%s'", st->path,
					   dirs[i]);
	if (xfsync(st->dirfd) < 0)
		return wan_err_sys(0, "cannot fsync '%s'", st->path);
	return 0;
}

/* Open the store folder rel beneath the state folder and check it: *fd is
 * -1 when it does not exist. */
static int store_folder_open(struct wan_state *st, const char *rel, int *fd)
{
	char p[WAN_PATH_MAX];
	int err;

	*fd = -1;
	wan_msgname(p, sizeof(p), "%s/%s", st->path, rel);
	*fd = path_open_beneath(st->dirfd, rel, O_RDONLY | O_DIRECTORY, 0);
	if (*fd < 0)
		return errno == ENOENT ? 0 : folder_open_error("store folder", p);
	if ((err = folder_check(*fd, "store folder", p)) < 0) {
		xclose(*fd);
		*fd = -1;
	}
	return err;
}

/*
 * releases/<model> folders, each opened once per run and kept: every later
 * look at the model's releases goes to the same folder, even if the path
 * has been swapped for a symlink since (the undo of a switch must find the
 * release it switched from; t_swap).
 */
struct state_rdirs {
	pthread_mutex_t lock;
	size_t n, alloc;
	struct state_rdir {
		char *model;
		int fd;
	} *v;
};

static int rdirs_find(struct state_rdirs *r, const char *model)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].model, model))
			return r->v[i].fd;
	return -1;
}

/* Keep fd for model: 0, or -1 when out of memory (fd is not kept). */
static int rdirs_add(struct state_rdirs *r, const char *model, int fd)
{
	struct state_rdir *v;
	char *name;

	if (r->n == r->alloc) {
		size_t alloc = r->alloc ? 2 * r->alloc : 8;

		if (!(v = realloc(r->v, alloc * sizeof(*v))))
			return -1;
		r->v = v;
		r->alloc = alloc;
	}
	if (!(name = strdup(model)))
		return -1;
	r->v[r->n].model = name;
	r->v[r->n].fd = fd;
	r->n++;
	return 0;
}

static struct state_rdirs *rdirs_new(void)
{
	struct state_rdirs *r = calloc(1, sizeof(*r));

	if (r)
		pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void rdirs_free(struct state_rdirs *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		xclose(r->v[i].fd);
		free(r->v[i].model);
	}
	free(r->v);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Check every folder inside the store folder rel (fd); with keep, the
 * folders stay open as the model folders of releases/ (state_release_open). */
static int store_subfolders_safe(struct wan_state *st, const char *rel, int fd, bool keep)
{
	char sub[WAN_PATH_MAX];
	DIR *d = path_opendir_at(fd);
	struct dirent *de;
	int sfd, err = 0;

	if (!d)
		return wan_err_sys(0, "cannot read store folder '%s/%s'", st->path, rel);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		/* rel is "objects" or "releases": a name (NAME_MAX) always fits */
		snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		if ((err = store_folder_open(st, sub, &sfd)) < 0)
			break;
		if (!keep || sfd < 0 || rdirs_add(st->rdirs, de->d_name, sfd) < 0)
			xclose(sfd);
	}
	closedir(d);
	return err;
}

/*
 * Nobody but the owner may be able to swap a folder of the store for a
 * symlink: the production folder (which holds the state folder by
 * default) and every folder of the store are checked to be real folders
 * that group and others cannot write (t_swap: a swapped folder would take
 * wanctl's writes outside the roots). The state folder itself was checked
 * when it was opened. tmp/ and objects/sha256/ stay open (st->tmpfd,
 * st->objfd).
 */
static int folders_safe(struct wan_state *st)
{
	struct stat sb;
	int fd, err;

	if (stat(st->target, &sb) == 0 && others_can_write(&sb))
		return wan_err(WAN_EINVAL, "production folder '%s' is writable by group or others "
			       "(mode %03o) without the sticky bit: anyone could swap the store "
			       "for a symlink; run 'chmod go-w %s'", st->target,
			       (unsigned)(sb.st_mode & 0777), st->target);
	if ((err = store_folder_open(st, "objects", &fd)) < 0)
		return err;
	xclose(fd);
	if ((err = store_folder_open(st, "objects/sha256", &st->objfd)) < 0 ||
	    (st->objfd >= 0 &&
	     (err = store_subfolders_safe(st, "objects/sha256", st->objfd, false)) < 0))
		return err;
	if ((err = store_folder_open(st, "releases", &fd)) < 0)
		return err;
	err = fd >= 0 ? store_subfolders_safe(st, "releases", fd, true) : 0;
	xclose(fd);
	if (err < 0)
		return err;
	return store_folder_open(st, "tmp", &st->tmpfd);
}

static int same_filesystem(struct wan_state *st)
{
	struct stat a, b;

	if (stat(st->target, &a) < 0)
		return wan_err_sys(0, "cannot open production folder '%s'", st->target);
	if (fstat(st->dirfd, &b) < 0)
		return wan_err_sys(0, "cannot open state folder '%s'", st->path);
	if (a.st_dev != b.st_dev)
		return wan_err(WAN_EINVAL,
			       "store '%s' and production '%s' are on different filesystems; "
			       "the switch must be one rename(2): set state_path on the "
			       "filesystem of target_models_path",
			       st->path, st->target);
	return 0;
}

/* Split an absolute path into components (in place). */
static size_t split_components(char *p, char **parts, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(p, "/", &save); t && n < max; t = strtok_r(NULL, "/", &save))
		parts[n++] = t;
	return n;
}

/* Relative path from the target folder to <state>/releases. */
static int compute_rel_prefix(struct wan_state *st)
{
	char t[WAN_PATH_MAX], s[WAN_PATH_MAX];
	char *tp[512], *sp[512];
	size_t nt, ns, c = 0;
	struct buf b = BUF_INIT;
	int err = 0;

	memcpy(t, st->target, strlen(st->target) + 1);
	memcpy(s, st->path, strlen(st->path) + 1);
	nt = split_components(t, tp, ARRAY_SIZE(tp));
	ns = split_components(s, sp, ARRAY_SIZE(sp));
	while (c < nt && c < ns && !strcmp(tp[c], sp[c]))
		c++;
	for (size_t i = c; i < nt && !err; i++)
		err = buf_adds(&b, "../");
	for (size_t i = c; i < ns && !err; i++)
		err = buf_printf(&b, "%s/", sp[i]);
	if (!err)
		err = buf_adds(&b, "releases");
	if (!err)
		err = wan_snprintf(st->rel_prefix, sizeof(st->rel_prefix), "%s", buf_str(&b));
	buf_release(&b);
	return err;
}

static void lock_describe(int fd, char *buf, size_t size)
{
	ssize_t n = xpread(fd, buf, size - 1, 0);

	if (n <= 0) {
		snprintf(buf, size, "unknown holder");
		return;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

static int state_lock(struct wan_state *st, double wait_seconds)
{
	char p[WAN_PATH_MAX], info[512], since[64];
	double deadline = wan_now_mono() + wait_seconds;
	struct tm tm;
	time_t now;
	int fd, err;

	wan_msgname(p, sizeof(p), "%s/lock", st->path);
	fd = xopenat(st->dirfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW, 0644);
	if (fd < 0)
		return wan_err_sys(0, "cannot open lock file '%s'", p);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK) {
			err = wan_err_sys(0, "cannot lock '%s'", p);
			xclose(fd);
			return err;
		}
		if (wan_now_mono() >= deadline) {
			lock_describe(fd, info, sizeof(info));
			xclose(fd);
			return wan_err(WAN_ELOCKED,
				       "another wanctl holds the lock '%s' (%s)%s", p, info,
				       wait_seconds > 0 ? "; gave up waiting" :
				       "; retry later or use --wait SECONDS");
		}
		usleep(100 * 1000);
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(info, sizeof(info), "pid %ld, command '%s', since %s\n",
		 (long)getpid(), st->command, since);
	/* Write, then cut: a contender reading meanwhile always sees a pid. */
	if (xpwrite(fd, info, strlen(info), 0) < 0 || ftruncate(fd, (off_t)strlen(info)) < 0)
		wan_log(WAN_LOG_DEBUG, "cannot record the lock holder in '%s'", p);
	st->lockfd = fd;
	return 0;
}

static bool folder_has_entries(int fd)
{
	DIR *d = path_opendir_at(fd);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return any;
}

/* Is there anything for recovery to do? (Read-only commands take the lock
 * only then, so that they never make a concurrent deploy exit 3.) */
static bool recovery_needed(struct wan_state *st)
{
	sqlite3_stmt *q = NULL;
	bool busy = false;
	DIR *d;
	struct dirent *de;

	if (wan_db_prepare(st->db, &q, "SELECT 1 FROM deployments WHERE status IN"
			   " ('pending','ingesting','switching','verifying') LIMIT 1") == 0) {
		busy = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_finalize(q);
	}
	if (busy)
		return true;
	if (st->tmpfd >= 0 && folder_has_entries(st->tmpfd))
		return true;
	/* Debris of an interrupted switch in the target folder. */
	d = opendir(st->target);
	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] == '.' && strstr(de->d_name, ".wanctl-")) {
				busy = true;
				break;
			}
		closedir(d);
	}
	return busy;
}

/* Called by the parallel ingest workers too: the counter is taken
 * atomically, or two workers get the same name and one fails with EEXIST
 * (found by tests/crash/t_seq.sh under load). */
void state_tmp_name(struct wan_state *st, const char *prefix, char *buf, size_t size)
{
	/* Fits: st->tmp is at most WAN_STATE_PATH_MAX + 4 bytes. */
	snprintf(buf, size, "%s/%s-%ld-%u", st->tmp, prefix, (long)getpid(),
		 __atomic_fetch_add(&st->tmp_seq, 1, __ATOMIC_RELAXED));
}

const char *state_tmp_rel(const struct wan_state *st, const char *tmp)
{
	size_t n = strlen(st->tmp);

	/* Only names made by state_tmp_name come here. */
	if (NEVER(strncmp(tmp, st->tmp, n) || tmp[n] != '/'))
		return tmp;
	return tmp + n + 1;
}

/* Through the descriptor: a symlink planted in tmp/ is removed, never
 * followed, and a tmp/ swapped meanwhile is not the one emptied. */
int state_sweep_tmp(struct wan_state *st)
{
	if (st->tmpfd < 0)
		return 0;
	return path_empty_at(st->tmpfd, st->tmp);
}

int wan_state_open(struct wan_state **out, const struct wan_config *cfg,
		   unsigned flags, double wait_seconds, const char *command)
{
	struct wan_state *st;
	bool create = !(flags & WAN_STATE_READONLY);
	int err;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return wan_err(WAN_ENOMEM, "out of memory");
	st->cfg = cfg;
	st->lockfd = -1;
	st->dirfd = st->tmpfd = st->objfd = -1;
	if (!(st->rdirs = rdirs_new())) {
		free(st);
		return wan_err(WAN_ENOMEM, "out of memory");
	}
	snprintf(st->command, sizeof(st->command), "%s", command ? command : "wanctl");
	if (strlen(cfg->state_path) > WAN_STATE_PATH_MAX) {
		err = wan_err(WAN_EINVAL, "the state folder's path is %zu bytes long, over the "
			      "%d allowed (names inside it must fit in PATH_MAX): '%.64s...'",
			      strlen(cfg->state_path), WAN_STATE_PATH_MAX, cfg->state_path);
		goto fail;
	}
	snprintf(st->path, sizeof(st->path), "%s", cfg->state_path);
	snprintf(st->tmp, sizeof(st->tmp), "%s/tmp", cfg->state_path);
	/* The configuration's paths are shorter than PATH_MAX (config.c). */
	snprintf(st->target, sizeof(st->target), "%s", cfg->target_models_path);
	if (create && (err = path_mkdirs(st->target, 0755)) < 0)
		goto fail;
	if ((err = state_layout(st, create)) < 0 ||
	    (err = folders_safe(st)) < 0 ||
	    (err = same_filesystem(st)) < 0 ||
	    (err = compute_rel_prefix(st)) < 0)
		goto fail;
	st->recovered = json_array();
	if (flags & WAN_STATE_LOCK) {
		if ((err = state_lock(st, wait_seconds)) < 0)
			goto fail;
	}
	if ((err = wan_db_open_at(&st->db, st->path, st->dirfd)) < 0)
		goto fail;
	if (!(flags & WAN_STATE_NO_RECOVER) && create) {
		/* Read-only commands recover too when nobody else holds the lock. */
		bool took = false;
		if (st->lockfd < 0 && recovery_needed(st) && state_lock(st, 0) == 0)
			took = true;
		if (st->lockfd >= 0 && (err = wan_state_recover(st)) < 0)
			goto fail;
		if (took) {
			xclose(st->lockfd);
			st->lockfd = -1;
		}
		wan_err_clear();
	}
	*out = st;
	return 0;
fail:
	wan_state_close(st);
	return err;
}

int wan_state_recover(struct wan_state *st)
{
	int err;

	/* The target's debris first: a kill between the RENAME_EXCHANGE of an
	 * adoption and the move aside leaves the old folder under the
	 * ".<model>.wanctl-new" name that putting the model back would reuse. */
	if ((err = release_sweep_target(st)) < 0)
		return err;
	if ((err = deploy_recover(st)) < 0)
		return err;
	return state_sweep_tmp(st);
}

void wan_state_close(struct wan_state *st)
{
	if (!st)
		return;
	wan_db_close(st->db);
	if (st->lockfd >= 0)
		xclose(st->lockfd);   /* releases the flock */
	rdirs_free(st->rdirs);
	xclose(st->objfd);
	xclose(st->tmpfd);
	xclose(st->dirfd);
	json_decref(st->recovered);
	free(st);
}

struct wan_db *wan_state_db(struct wan_state *st)
{
	return st->db;
}

const char *wan_state_path(const struct wan_state *st)
{
	return st->path;
}

json_t *wan_state_recovered(const struct wan_state *st)
{
	return st->recovered;
}

const struct wan_config *wan_state_config(const struct wan_state *st)
{
	return st->cfg;
}

/*
 * The names below are for messages only: every file of the state folder is
 * reached through its descriptors (bug 13). A name longer than the buffer
 * is cut short rather than failing the operation it describes (a state
 * folder near PATH_MAX made a deploy fail on the message of an object).
 */
const char *wan_store_object_path(const struct wan_state *st, const char *sha,
				  char *buf, size_t size)
{
	/* strnlen: a name shorter than 2 is not read past its end. */
	return wan_msgname(buf, size, "%s/objects/sha256/%.2s/%s", st->path, sha,
			   sha + strnlen(sha, 2));
}

/* "<2 hex>/<62 hex>": object sha relative to st->objfd. */
static int object_rel(const char *sha, char *buf, size_t size)
{
	if (!wan_sha256_is_hex(sha))
		return wan_err(WAN_EINVAL, "invalid object name '%.70s'", sha);
	return wan_snprintf(buf, size, "%.2s/%s", sha, sha + 2);
}

int state_object_dir(struct wan_state *st, const char *sha, bool create)
{
	char rel[3];
	int fd, made = 0;

	if (!wan_sha256_is_hex(sha))
		return wan_err(WAN_EINVAL, "invalid object name '%.70s'", sha);
	memcpy(rel, sha, 2);
	rel[2] = '\0';
	if (create && (made = path_mkdir_beneath(st->objfd, rel, 0755)) < 0)
		return wan_err_sys(0, "cannot create '%s/objects/sha256/%s'", st->path, rel);
	if (made && xfsync(st->objfd) < 0)
		return wan_err_sys(0, "cannot fsync '%s/objects/sha256'", st->path);
	fd = path_open_beneath(st->objfd, rel, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s/objects/sha256/%s'", st->path, rel);
	return fd;
}

int state_object_open(const struct wan_state *st, const char *sha, int flags)
{
	char rel[80];

	if (object_rel(sha, rel, sizeof(rel)) < 0) {
		errno = EINVAL;
		return -1;
	}
	return path_open_beneath(st->objfd, rel, flags, 0);
}

/* stat of rel beneath dirfd, no symlink followed: 0, or -1 with errno. */
static int stat_beneath(int dirfd, const char *rel, struct stat *sb)
{
	int fd = path_open_beneath(dirfd, rel, O_PATH, 0), ret;

	if (fd < 0)
		return -1;
	ret = fstat(fd, sb);
	close_keep_errno(fd);
	return ret;
}

int state_object_stat(const struct wan_state *st, const char *sha, struct stat *sb)
{
	char rel[80];

	if (object_rel(sha, rel, sizeof(rel)) < 0) {
		errno = EINVAL;
		return -1;
	}
	return stat_beneath(st->objfd, rel, sb);
}

int state_release_stat(const struct wan_state *st, const char *model, const char *name,
		       struct stat *sb)
{
	int fd = state_release_open(st, model, false), ret;

	if (fd < 0)
		return -1;
	ret = stat_beneath(fd, name, sb);
	close_keep_errno(fd);
	return ret;
}

/* Open (with create: make, fsyncing releases/) releases/<model> beneath
 * the state folder. */
static int release_dir_open(const struct wan_state *st, const char *model, bool create)
{
	char rel[WAN_PATH_MAX];
	int made = 0, fd;

	if (wan_snprintf(rel, sizeof(rel), "releases/%s", model) < 0) {
		wan_err_clear();
		errno = ENAMETOOLONG;
		return -1;
	}
	if (create && (made = path_mkdir_beneath(st->dirfd, rel, 0755)) < 0)
		return -1;
	if (made) {
		fd = path_open_beneath(st->dirfd, "releases", O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0 || xfsync(fd) < 0) {
			close_keep_errno(fd);
			return -1;
		}
		xclose(fd);
	}
	return path_open_beneath(st->dirfd, rel, O_RDONLY | O_DIRECTORY, 0);
}

int state_release_open(const struct wan_state *st, const char *model, bool create)
{
	struct state_rdirs *r = st->rdirs;
	int fd;

	pthread_mutex_lock(&r->lock);
	fd = rdirs_find(r, model);
	if (fd < 0) {
		fd = release_dir_open(st, model, create);
		if (fd >= 0 && rdirs_add(r, model, fd) < 0) {
			/* Not kept (out of memory): this one is the caller's. */
			pthread_mutex_unlock(&r->lock);
			return fd;
		}
	}
	/* A description of its own: the caller may list it, and closes it. */
	if (fd >= 0)
		fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pthread_mutex_unlock(&r->lock);
	return fd;
}

const char *wan_release_dir(const struct wan_state *st, const char *model,
			    const char *id, char *buf, size_t size)
{
	return wan_msgname(buf, size, "%s/releases/%s/%s", st->path, model, id);
}

const char *wan_release_manifest_path(const struct wan_state *st, const char *model,
				      const char *id, char *buf, size_t size)
{
	return wan_msgname(buf, size, "%s/releases/%s/%s.json", st->path, model, id);
}
