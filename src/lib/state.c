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
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int mkdir_checked(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return wan_err_sys(0, "cannot create directory '%s'", path);
	return 0;
}

static int state_layout(struct wan_state *st, bool create)
{
	static const char *const dirs[] = { "objects", "objects/sha256",
					    "releases", "tmp" };
	char p[WAN_PATH_MAX];
	struct stat sb;
	int err;

	if (stat(st->path, &sb) < 0) {
		if (errno != ENOENT || !create)
			return wan_err_sys(0, "cannot open state folder '%s'", st->path);
		if ((err = path_mkdirs(st->path, 0755)) < 0)
			return err;
		xfsync_parent(st->path);
		if (stat(st->path, &sb) < 0)
			return wan_err_sys(0, "cannot open state folder '%s'", st->path);
	}
	if (!S_ISDIR(sb.st_mode))
		return wan_err(WAN_EINVAL, "state folder '%s' is not a directory", st->path);
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) && !(sb.st_mode & S_ISVTX))
		return wan_err(WAN_EINVAL,
			       "state folder '%s' is writable by group or others (mode %03o); "
			       "run 'chmod go-w %s'", st->path,
			       (unsigned)(sb.st_mode & 0777), st->path);
	if (!create)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		if ((err = path_join(p, sizeof(p), st->path, dirs[i])) < 0 ||
		    (err = mkdir_checked(p)) < 0)
			return err;
	}
	if (xfsync_dir(st->path) < 0)
		return wan_err_sys(0, "cannot fsync '%s'", st->path);
	return 0;
}

/* A folder others could rename entries in (a swap for a symlink needs
 * write access to the folder holding it). */
static bool others_can_write(const struct stat *sb)
{
	return (sb->st_mode & (S_IWGRP | S_IWOTH)) && !(sb->st_mode & S_ISVTX);
}

static int folder_safe(const char *path, const char *what)
{
	struct stat sb;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : wan_err_sys(0, "cannot open %s '%s'", what, path);
	if (S_ISLNK(sb.st_mode))
		return wan_err(WAN_EINVAL, "%s '%s' is a symbolic link; the store's folders must "
			       "be real folders", what, path);
	if (!S_ISDIR(sb.st_mode))
		return wan_err(WAN_EINVAL, "%s '%s' is not a directory", what, path);
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

/*
 * Nobody but the owner may be able to swap a folder of the store for a
 * symlink: the production folder (which holds the state folder by
 * default) and every folder of the store are checked to be real folders
 * that group and others cannot write (t_swap: a swapped folder would take
 * wanctl's writes outside the roots).
 */
static int folders_safe(struct wan_state *st)
{
	static const char *const dirs[] = { "objects", "objects/sha256", "releases", "tmp" };
	static const char *const sub[] = { "objects/sha256", "releases" };
	char p[WAN_PATH_MAX];
	struct stat sb;
	int err;

	if (stat(st->path, &sb) == 0 && sb.st_uid != geteuid() && sb.st_uid != 0)
		return wan_err(WAN_EINVAL, "state folder '%s' belongs to user %ju, not to the user "
			       "running wanctl (%ju) or root", st->path, (uintmax_t)sb.st_uid,
			       (uintmax_t)geteuid());
	if (stat(st->target, &sb) == 0 && others_can_write(&sb))
		return wan_err(WAN_EINVAL, "production folder '%s' is writable by group or others "
			       "(mode %03o) without the sticky bit: anyone could swap the store "
			       "for a symlink; run 'chmod go-w %s'", st->target,
			       (unsigned)(sb.st_mode & 0777), st->target);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if ((err = path_join(p, sizeof(p), st->path, dirs[i])) < 0 ||
		    (err = folder_safe(p, "store folder")) < 0)
			return err;
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		char dir[WAN_PATH_MAX];
		struct dirent *de;
		DIR *d;

		if ((err = path_join(dir, sizeof(dir), st->path, sub[i])) < 0)
			return err;
		if (!(d = opendir(dir)))
			continue;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			if ((err = path_join(p, sizeof(p), dir, de->d_name)) < 0 ||
			    (err = folder_safe(p, "store folder")) < 0)
				break;
		}
		closedir(d);
		if (err < 0)
			return err;
	}
	return 0;
}

static int same_filesystem(struct wan_state *st)
{
	struct stat a, b;

	if (stat(st->target, &a) < 0)
		return wan_err_sys(0, "cannot open production folder '%s'", st->target);
	if (stat(st->path, &b) < 0)
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

	if ((err = path_join(p, sizeof(p), st->path, "lock")) < 0)
		return err;
	fd = xopen(p, O_RDWR | O_CREAT, 0644);
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
	d = opendir(st->tmp);
	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				busy = true;
				break;
			}
		closedir(d);
	}
	/* Debris of an interrupted switch in the target folder. */
	d = busy ? NULL : opendir(st->target);
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
int state_tmp_name(struct wan_state *st, const char *prefix, char *buf, size_t size)
{
	return wan_snprintf(buf, size, "%s/%s-%ld-%u", st->tmp, prefix, (long)getpid(),
			    __atomic_fetch_add(&st->tmp_seq, 1, __ATOMIC_RELAXED));
}

int state_sweep_tmp(struct wan_state *st)
{
	int err;

	if ((err = path_remove_tree(st->tmp)) < 0)
		return err;
	if (mkdir(st->tmp, 0755) < 0 && errno != EEXIST)
		return wan_err_sys(0, "cannot create '%s'", st->tmp);
	return 0;
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
	snprintf(st->command, sizeof(st->command), "%s", command ? command : "wanctl");
	if ((err = wan_snprintf(st->path, sizeof(st->path), "%s", cfg->state_path)) < 0 ||
	    (err = wan_snprintf(st->target, sizeof(st->target), "%s",
				cfg->target_models_path)) < 0 ||
	    (err = path_join(st->tmp, sizeof(st->tmp), st->path, "tmp")) < 0)
		goto fail;
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
	if ((err = wan_db_open(&st->db, st->path)) < 0)
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

int wan_store_object_path(const struct wan_state *st, const char *sha,
			  char *buf, size_t size)
{
	if (!wan_sha256_is_hex(sha))
		return wan_err(WAN_EINVAL, "invalid object name '%.70s'", sha);
	return wan_snprintf(buf, size, "%s/objects/sha256/%.2s/%s", st->path, sha, sha + 2);
}

int wan_release_dir(const struct wan_state *st, const char *model,
		    const char *id, char *buf, size_t size)
{
	return wan_snprintf(buf, size, "%s/releases/%s/%s", st->path, model, id);
}

int wan_release_manifest_path(const struct wan_state *st, const char *model,
			      const char *id, char *buf, size_t size)
{
	return wan_snprintf(buf, size, "%s/releases/%s/%s.json", st->path, model, id);
}
