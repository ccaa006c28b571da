/*
 * Release trees and the production switch.
 *
 * Invariants:
 *  R1. releases/<model>/<id>/ appears under its final name only complete:
 *      it is built in tmp/ from hard links to published objects, every
 *      folder of it is fsynced, then it is renamed into place and
 *      releases/<model>/ is fsynced. Its manifest <id>.json is published
 *      before it.
 *  R2. <target>/<model> is only ever replaced by rename(2) of a new symlink
 *      over it (or renameat2(RENAME_EXCHANGE) for an unmanaged folder),
 *      followed by an fsync of <target>. Readers see the old or the new
 *      release, never a missing link.
 *  R3. Names "<target>/.<model>.wanctl-new|-old" are wanctl's own debris;
 *      release_sweep_target() removes them after a crash.
 */
#include "lib/state.h"
#include "lib/manifest.h"
#include "util/buf.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "wanctl/log.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int release_exists(struct wan_state *st, const char *model, const char *id)
{
	char m[WAN_RELEASE_ID_LEN + 8];
	struct stat sb;

	if (wan_snprintf(m, sizeof(m), "%s.json", id) < 0) {
		wan_err_clear();
		return 0;
	}
	return state_release_stat(st, model, id, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	       state_release_stat(st, model, m, &sb) == 0;
}

/* mkdir -p of the parents of rel in the tree tfd (named root in messages),
 * each folder made beneath it; the new ones are added to dirs (relative to
 * tfd) to be fsynced later. */
static int tree_mkdirs(int tfd, const char *root, const char *rel, json_t *dirs)
{
	char p[WAN_PATH_MAX];
	size_t n = strlen(rel);
	int made, fd;

	if (n >= sizeof(p))
		return wan_err(WAN_EINVAL, "path too long: '%.64s...'", rel);
	memcpy(p, rel, n + 1);
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if ((made = path_mkdir_beneath(tfd, p, 0755)) < 0)
			return wan_err_sys(0, "cannot create '%s/%s'", root, p);
		if (made) {
			/* whatever the umask: servers of any user read it */
			fd = path_open_beneath(tfd, p, O_RDONLY | O_DIRECTORY, 0);
			if (fd >= 0)
				fchmod(fd, 0755);
			xclose(fd);
			json_array_append_new(dirs, json_string(p));
		}
		p[i] = '/';
	}
	return 0;
}

/* Link object sha as rel in the tree tfd. */
static int tree_link(struct wan_state *st, int tfd, const char *rel, const char *sha)
{
	char obj[WAN_PATH_MAX];
	const char *base;
	int ofd, pfd = -1, err = 0;

	wan_store_object_path(st, sha, obj, sizeof(obj));
	if ((ofd = state_object_dir(st, sha, false)) < 0)
		return ofd;
	if ((pfd = path_open_parent_beneath(tfd, rel, &base)) < 0 ||
	    xlinkat(ofd, sha + 2, pfd, base) < 0)
		err = wan_err_sys(0, "cannot link object '%s' as '%s'", obj, rel);
	xclose(pfd);
	xclose(ofd);
	return err;
}

/* fsync the new folders of the tree tfd, children before parents (dirs is
 * in creation order), then the tree's root. */
static int tree_fsync(int tfd, const char *root, json_t *dirs)
{
	for (size_t i = json_array_size(dirs); i-- > 0;) {
		const char *d = json_string_value(json_array_get(dirs, i));
		int fd = path_open_beneath(tfd, d, O_RDONLY | O_DIRECTORY, 0);

		if (fd < 0 || xfsync(fd) < 0) {
			int err = wan_err_sys(0, "cannot fsync '%s/%s'", root, d);
			xclose(fd);
			return err;
		}
		xclose(fd);
	}
	if (xfsync(tfd) < 0)
		return wan_err_sys(0, "cannot fsync '%s'", root);
	return 0;
}

/* Build the tree of manifest in tmp/ (the state_tmp_name path tmp). */
static int tree_build(struct wan_state *st, const char *tmp, json_t *manifest)
{
	const char *trel = state_tmp_rel(st, tmp);
	json_t *dirs = json_array(), *f;
	size_t i;
	int tfd, err = 0;

	if (!dirs)
		return wan_err(WAN_ENOMEM, "out of memory");
	tfd = xopenat(st->tmpfd, trel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (tfd < 0 || fchmod(tfd, 0755) < 0) {
		err = wan_err_sys(0, "cannot create '%s'", tmp);
		goto out;
	}
	json_array_foreach(json_object_get(manifest, "files"), i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));

		if ((err = tree_mkdirs(tfd, tmp, rel, dirs)) < 0 ||
		    (err = tree_link(st, tfd, rel, sha)) < 0)
			goto out;
	}
	err = tree_fsync(tfd, tmp, dirs);
out:
	xclose(tfd);
	json_decref(dirs);
	return err;
}

/*
 * The manifest, then the tree: built in tmp/, renamed into releases/<model>/
 * (R1). Everything through descriptors of the state folder: a folder of it
 * swapped for a symlink meanwhile does not receive the release (bug 13).
 */
int release_publish(struct wan_state *st, const char *model, const char *id,
		    json_t *manifest)
{
	char mdir[WAN_PATH_MAX], mpath[WAN_PATH_MAX], final[WAN_PATH_MAX], mname[64];
	/* tmp is empty until made: the cleanup at out: tests it. */
	char tmp[WAN_PATH_MAX] = "";
	struct stat sb;
	int mfd = -1, err;

	if (release_exists(st, model, id))
		return 0;
	/* Names for messages; mname is "<16 hex>.json" (ids are computed, or
	 * checked by the backup repository, before they come here). */
	wan_msgname(mdir, sizeof(mdir), "%s/releases/%s", st->path, model);
	wan_release_manifest_path(st, model, id, mpath, sizeof(mpath));
	wan_release_dir(st, model, id, final, sizeof(final));
	snprintf(mname, sizeof(mname), "%s.json", id);
	if ((mfd = state_release_open(st, model, true)) < 0)
		return wan_err_sys(0, "cannot create '%s'", mdir);
	if ((err = manifest_write_at(manifest, mfd, mname, mpath, st->tmpfd, st->tmp)) < 0)
		goto out;
	if (fstatat(mfd, id, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		goto out;
	state_tmp_name(st, "rel", tmp, sizeof(tmp));
	if (xmkdirat(st->tmpfd, state_tmp_rel(st, tmp), 0755) < 0) {
		err = wan_err_sys(0, "cannot create '%s'", tmp);
		tmp[0] = '\0';
		goto out;
	}
	if ((err = tree_build(st, tmp, manifest)) < 0)
		goto out;
	if (xrenameat(st->tmpfd, state_tmp_rel(st, tmp), mfd, id, 0) < 0) {
		err = wan_err_sys(0, "cannot publish release '%s'", final);
		goto out;
	}
	if (xfsync(mfd) < 0) {
		err = wan_err_sys(0, "cannot fsync '%s'", mdir);
		goto out;
	}
	err = 0;
out:
	if (err < 0 && tmp[0])
		path_remove_beneath(st->tmpfd, state_tmp_rel(st, tmp));
	xclose(mfd);
	return err;
}

static int link_text(struct wan_state *st, const char *model, const char *id,
		     char *buf, size_t size)
{
	return wan_snprintf(buf, size, "%s/%s/%s", st->rel_prefix, model, id);
}

static int open_target(struct wan_state *st)
{
	int fd = xopen(st->target, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		wan_err_sys(0, "cannot open production folder '%s'", st->target);
	return fd;
}

/*
 * After a failed release_switch(): did the switch land anyway? The rename
 * can succeed and the fsync of the production folder after it fail; then
 * production already runs id (durability unknown) and the caller must
 * treat the model as switched so that its undo puts the old release back
 * (found by tests/crash/t_faults.sh). Keeps the error message.
 */
bool release_switch_landed(struct wan_state *st, const char *model, const char *id, int err)
{
	char msg[1024], cur[WAN_RELEASE_ID_LEN + 1];
	bool landed;

	snprintf(msg, sizeof(msg), "%s", wan_errmsg());
	landed = wan_release_current(st, model, cur, NULL) == 0 && !strcmp(cur, id);
	wan_err(err, "%s", msg);
	return landed;
}

/*
 * The folder p (".<model>.wanctl-new" or "-old") left by an adoption that
 * stopped after its RENAME_EXCHANGE: the old unmanaged folder. It is
 * dropped only once the model's link points at a release in the store (its
 * content was adopted); otherwise it is kept and an error says so.
 */
static int drop_adoption_leftover(struct wan_state *st, const char *model, const char *p)
{
	char id[WAN_RELEASE_ID_LEN + 1];

	if (wan_release_current(st, model, id, NULL) < 0 || !release_exists(st, model, id))
		return wan_err(WAN_EEXISTS, "'%s' left by an interrupted adoption kept: "
			       "'%s' has no release yet", p, model);
	wan_log(WAN_LOG_INFO, "removing '%s' left by an interrupted adoption", p);
	return path_remove_tree(p);
}

int release_switch(struct wan_state *st, const char *model, const char *id)
{
	char text[WAN_PATH_MAX], tmpname[512], oldname[512];
	struct stat sb;
	int fd, err = 0;

	if (!release_exists(st, model, id))
		return wan_err(WAN_ENOTFOUND, "release %s of '%s' is not in the store", id, model);
	if ((err = link_text(st, model, id, text, sizeof(text))) < 0)
		return err;
	/* Model names are at most 255 bytes (wan_config_model_name_check). */
	snprintf(tmpname, sizeof(tmpname), ".%s.wanctl-new", model);
	snprintf(oldname, sizeof(oldname), ".%s.wanctl-old", model);
	if ((fd = open_target(st)) < 0)
		return WAN_ERROR;
	/* A folder there is an adoption's: the undo of an adoption whose
	 * move aside failed comes here with the old folder still under the
	 * temp name (t_faults adopt rows). */
	if (unlinkat(fd, tmpname, 0) < 0 && errno != ENOENT) {
		char p[WAN_PATH_MAX];
		if (errno != EISDIR || (err = path_join(p, sizeof(p), st->target, tmpname)) < 0 ||
		    (err = drop_adoption_leftover(st, model, p)) < 0) {
			err = err < 0 ? err : wan_err_sys(0, "cannot remove stale '%s/%s'",
							  st->target, tmpname);
			goto out;
		}
	}
	if (xsymlinkat(text, fd, tmpname) < 0) {
		err = wan_err_sys(0, "cannot create symlink '%s/%s'", st->target, tmpname);
		goto out;
	}
	if (fstatat(fd, model, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode)) {
		/* An unmanaged folder: exchange it with the link atomically, then
		 * move it aside and remove it (its content was adopted). */
		if (xrenameat(fd, tmpname, fd, model, RENAME_EXCHANGE) < 0) {
			err = wan_err_sys(0, "cannot exchange '%s/%s' with its release link",
					  st->target, model);
			unlinkat(fd, tmpname, 0);
			goto out;
		}
		if (xrenameat(fd, tmpname, fd, oldname, 0) < 0) {
			err = wan_err_sys(0, "cannot move the adopted folder aside to '%s/%s'",
					  st->target, oldname);
			goto out;
		}
		if (xfsync(fd) < 0) {
			err = wan_err_sys(0, "cannot fsync '%s'", st->target);
			goto out;
		}
		/* Through the production folder's descriptor, as the renames. */
		if ((err = path_remove_beneath(fd, oldname)) < 0) {
			wan_err_prefix(err, "production folder '%s'", st->target);
			goto out;
		}
		if (xfsync(fd) < 0)
			err = wan_err_sys(0, "cannot fsync '%s'", st->target);
		goto out;
	}
	if (xrenameat(fd, tmpname, fd, model, 0) < 0) {
		err = wan_err_sys(0, "cannot switch '%s/%s'", st->target, model);
		unlinkat(fd, tmpname, 0);
		goto out;
	}
	if (xfsync(fd) < 0)
		err = wan_err_sys(0, "cannot fsync '%s' after the switch", st->target);
out:
	xclose(fd);
	return err;
}

int release_unlink(struct wan_state *st, const char *model)
{
	struct stat sb;
	int fd, err = 0;

	if ((fd = open_target(st)) < 0)
		return WAN_ERROR;
	if (fstatat(fd, model, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode)) {
		if (xunlinkat(fd, model, 0) < 0)
			err = wan_err_sys(0, "cannot remove '%s/%s'", st->target, model);
		else if (xfsync(fd) < 0)
			err = wan_err_sys(0, "cannot fsync '%s'", st->target);
	}
	xclose(fd);
	return err;
}

/* Make the file rel of the release trees folder rfd a link to its store
 * object sha (the tree may still hold the inode of a damaged object);
 * *fixed when it was relinked. p names it in messages. */
static int repair_file(struct wan_state *st, int rfd, const char *release, const char *rel,
		       const char *sha, const char *p, bool *fixed)
{
	char fix[WAN_PATH_MAX + 32], obj[WAN_PATH_MAX];
	const char *base;
	struct stat a, b;
	int pfd = -1, ofd = -1, err = 0;

	*fixed = false;
	wan_store_object_path(st, sha, obj, sizeof(obj));
	if (state_object_stat(st, sha, &b) < 0)
		return wan_err_sys(0, "cannot stat store object '%s'", obj);
	if ((pfd = path_open_parent_beneath(rfd, rel, &base)) < 0)
		return wan_err_sys(0, "cannot open the folder of '%s'", p);
	/* A tree file that cannot be looked at is not relinked blindly:
	 * rename(2) over another name of the same inode does nothing and
	 * would leave the fix name behind (t_faults_sys, EIO here). */
	if (fstatat(pfd, base, &a, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			err = wan_err_sys(0, "cannot stat '%s'", p);
			goto out;
		}
	} else if (a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
		goto out;
	}
	/* base is one component: at most NAME_MAX bytes (path_check_relative). */
	snprintf(fix, sizeof(fix), "%s.wanctl-fix", base);
	if ((ofd = state_object_dir(st, sha, false)) < 0) {
		err = ofd;
		goto out;
	}
	unlinkat(pfd, fix, 0);
	if (xlinkat(ofd, sha + 2, pfd, fix) < 0) {
		err = wan_err_sys(0, "cannot link '%s' into release %s", obj, release);
		goto out;
	}
	if (xrenameat(pfd, fix, pfd, base, 0) < 0) {
		err = wan_err_sys(0, "cannot replace '%s'", p);
		unlinkat(pfd, fix, 0);
		goto out;
	}
	if (xfsync(pfd) < 0) {
		err = wan_err_sys(0, "cannot fsync the folder of '%s'", p);
		goto out;
	}
	*fixed = true;
out:
	xclose(ofd);
	xclose(pfd);
	return err;
}

/* Make every file of the release tree a link to its store object: after a
 * backup restore (the tree may still hold the inode of a damaged object)
 * and after a deploy that re-created a lost object of an existing release
 * (the tree holds the old inode; quick verify compares inodes). */
int release_relink_tree(struct wan_state *st, const char *model, const char *release, json_t *m)
{
	char dir[WAN_PATH_MAX], p[WAN_PATH_MAX], rel[WAN_PATH_MAX];
	json_t *f;
	size_t i;
	int rfd, err = 0;

	wan_release_dir(st, model, release, dir, sizeof(dir));
	if ((rfd = state_release_open(st, model, false)) < 0)
		return wan_err_sys(0, "cannot open release %s ('%s')", release, dir);
	json_array_foreach(json_object_get(m, "files"), i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		bool fixed;

		wan_msgname(p, sizeof(p), "%s/%s", dir, path);
		if ((err = wan_snprintf(rel, sizeof(rel), "%s/%s", release, path)) < 0 ||
		    (err = repair_file(st, rfd, release, rel, sha, p, &fixed)) < 0)
			break;
		if (fixed)
			wan_log(WAN_LOG_INFO, "release %s of '%s': '%s' relinked to its store "
				"object", release, model, path);
	}
	xclose(rfd);
	return err;
}

int wan_release_current(struct wan_state *st, const char *model,
			char id[WAN_RELEASE_ID_LEN + 1], bool *unmanaged)
{
	char p[WAN_PATH_MAX], text[WAN_PATH_MAX], want[WAN_PATH_MAX];
	struct stat sb;
	ssize_t n;
	const char *base;
	int err;

	if (unmanaged)
		*unmanaged = false;
	id[0] = '\0';
	if ((err = path_join(p, sizeof(p), st->target, model)) < 0)
		return err;
	if (lstat(p, &sb) < 0)
		return errno == ENOENT ? wan_err(WAN_ENOTFOUND, "'%s' is not deployed", model) :
		       wan_err_sys(0, "cannot read '%s'", p);
	if (S_ISDIR(sb.st_mode)) {
		if (unmanaged)
			*unmanaged = true;
		return wan_err(WAN_ENOTFOUND, "'%s' is an unmanaged folder", p);
	}
	if (!S_ISLNK(sb.st_mode))
		return wan_err(WAN_EINVAL, "'%s' is neither a release link nor a folder", p);
	n = readlink(p, text, sizeof(text) - 1);
	if (n < 0)
		return wan_err_sys(0, "cannot read link '%s'", p);
	text[n] = '\0';
	if ((err = wan_snprintf(want, sizeof(want), "%s/%s/", st->rel_prefix, model)) < 0)
		return err;
	base = text + strlen(want);
	if (strncmp(text, want, strlen(want)) || strlen(base) != WAN_RELEASE_ID_LEN)
		return wan_err(WAN_EINVAL, "'%s' points to '%s', not to a wanctl release", p, text);
	memcpy(id, base, WAN_RELEASE_ID_LEN + 1);
	return 0;
}

int release_sweep_target(struct wan_state *st)
{
	DIR *d = opendir(st->target);
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		const char *n = de->d_name, *suffix;
		char model[256], p[WAN_PATH_MAX];
		struct stat sb;
		size_t len;

		if (n[0] != '.')
			continue;
		suffix = strstr(n, ".wanctl-");
		if (!suffix || (strcmp(suffix, ".wanctl-new") && strcmp(suffix, ".wanctl-old")))
			continue;
		len = (size_t)(suffix - n - 1);
		if (len == 0 || len >= sizeof(model))
			continue;
		memcpy(model, n + 1, len);
		model[len] = '\0';
		if (path_join(p, sizeof(p), st->target, n) < 0 || lstat(p, &sb) < 0)
			continue;
		if (S_ISLNK(sb.st_mode))
			unlink(p);
		else if (S_ISDIR(sb.st_mode) && drop_adoption_leftover(st, model, p) < 0)
			wan_log(WAN_LOG_WARN, "%s", wan_errmsg());
	}
	closedir(d);
	wan_err_clear();
	xfsync_dir(st->target);
	return 0;
}

int release_check_objects(struct wan_state *st, json_t *manifest, bool full,
			  json_t *bad)
{
	json_t *f;
	size_t i;
	char obj[WAN_PATH_MAX], hex[WAN_SHA256_HEX];

	json_array_foreach(json_object_get(manifest, "files"), i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		struct stat sb;

		wan_store_object_path(st, sha, obj, sizeof(obj));
		if (state_object_stat(st, sha, &sb) < 0) {
			json_array_append_new(bad, json_pack("{s:s,s:s,s:s}", "path", rel,
							     "sha256", sha, "problem", "missing"));
			continue;
		}
		if ((uint64_t)sb.st_size != size) {
			json_array_append_new(bad, json_pack("{s:s,s:s,s:s}", "path", rel,
							     "sha256", sha, "problem", "wrong size"));
			continue;
		}
		if (full) {
			char *buf = malloc(1u << 20);
			int fd = state_object_open(st, sha, O_RDONLY), r;

			if (!buf || fd < 0) {
				free(buf);
				xclose(fd);
				return wan_err_sys(0, "cannot read object '%s'", obj);
			}
			r = wan_sha256_fd(fd, buf, 1u << 20, hex, NULL, NULL);
			free(buf);
			xclose(fd);
			if (r == WAN_ENOMEM)
				return r;
			if (r < 0 || strcmp(hex, sha))
				json_array_append_new(bad, json_pack("{s:s,s:s,s:s}", "path", rel,
								     "sha256", sha, "problem",
								     r < 0 ? "unreadable" : "damaged"));
		}
	}
	return 0;
}
