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
	char p[WAN_PATH_MAX], m[WAN_PATH_MAX];
	struct stat sb;

	if (wan_release_dir(st, model, id, p, sizeof(p)) < 0 ||
	    wan_release_manifest_path(st, model, id, m, sizeof(m)) < 0)
		return 0;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && access(m, F_OK) == 0;
}

/* mkdir -p of the parents of rel under root, fsyncing new folders later. */
static int tree_mkdirs(const char *root, const char *rel, json_t *dirs)
{
	char p[WAN_PATH_MAX];
	size_t n = strlen(rel);
	int err;

	if ((err = path_join(p, sizeof(p), root, rel)) < 0)
		return err;
	for (size_t i = strlen(root) + 1; i < strlen(root) + 1 + n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) == 0) {
			chmod(p, 0755); /* whatever the umask: servers of any user read it */
			json_array_append_new(dirs, json_string(p));
		}
		else if (errno != EEXIST)
			return wan_err_sys(0, "cannot create '%s'", p);
		p[i] = '/';
	}
	return 0;
}

int release_publish(struct wan_state *st, const char *model, const char *id,
		    json_t *manifest)
{
	char mdir[WAN_PATH_MAX], mpath[WAN_PATH_MAX], final[WAN_PATH_MAX];
	/* tmp is empty until named: the cleanup at out: tests it. */
	char tmp[WAN_PATH_MAX] = "", obj[WAN_PATH_MAX], dst[WAN_PATH_MAX];
	json_t *dirs = json_array(), *f, *d;
	size_t i;
	int err;

	if (!dirs)
		return wan_err(WAN_ENOMEM, "out of memory");
	if (release_exists(st, model, id)) {
		json_decref(dirs);
		return 0;
	}
	if ((err = wan_snprintf(mdir, sizeof(mdir), "%s/releases/%s", st->path, model)) < 0)
		goto out;
	if (mkdir(mdir, 0755) == 0) {
		char parent[WAN_PATH_MAX];
		if ((err = wan_snprintf(parent, sizeof(parent), "%s/releases", st->path)) < 0)
			goto out;
		if (xfsync_dir(parent) < 0) {
			err = wan_err_sys(0, "cannot fsync '%s'", parent);
			goto out;
		}
	} else if (errno != EEXIST) {
		err = wan_err_sys(0, "cannot create '%s'", mdir);
		goto out;
	}
	if ((err = wan_release_manifest_path(st, model, id, mpath, sizeof(mpath))) < 0 ||
	    (err = manifest_write(manifest, mpath, st->tmp)) < 0)
		goto out;
	if ((err = wan_release_dir(st, model, id, final, sizeof(final))) < 0)
		goto out;
	if (access(final, F_OK) == 0) {
		err = 0;
		goto out;
	}
	if ((err = state_tmp_name(st, "rel", tmp, sizeof(tmp))) < 0)
		goto out;
	if (mkdir(tmp, 0755) < 0 || chmod(tmp, 0755) < 0) {
		err = wan_err_sys(0, "cannot create '%s'", tmp);
		goto out;
	}
	json_array_append_new(dirs, json_string(tmp));
	json_array_foreach(json_object_get(manifest, "files"), i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));

		if ((err = tree_mkdirs(tmp, rel, dirs)) < 0 ||
		    (err = wan_store_object_path(st, sha, obj, sizeof(obj))) < 0 ||
		    (err = path_join(dst, sizeof(dst), tmp, rel)) < 0)
			goto out;
		if (xlinkat(AT_FDCWD, obj, AT_FDCWD, dst) < 0) {
			err = wan_err_sys(0, "cannot link object '%s' as '%s'", obj, rel);
			goto out;
		}
	}
	/* Children before parents: the array is in creation order. */
	for (i = json_array_size(dirs); i-- > 0;) {
		d = json_array_get(dirs, i);
		if (xfsync_dir(json_string_value(d)) < 0) {
			err = wan_err_sys(0, "cannot fsync '%s'", json_string_value(d));
			goto out;
		}
	}
	if (xrename(tmp, final) < 0) {
		err = wan_err_sys(0, "cannot publish release '%s'", final);
		goto out;
	}
	if (xfsync_dir(mdir) < 0) {
		err = wan_err_sys(0, "cannot fsync '%s'", mdir);
		goto out;
	}
	err = 0;
out:
	if (err < 0 && tmp[0] && access(tmp, F_OK) == 0)
		path_remove_tree(tmp);
	json_decref(dirs);
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

int release_switch(struct wan_state *st, const char *model, const char *id)
{
	char text[WAN_PATH_MAX], tmpname[512], oldname[512];
	struct stat sb;
	int fd, err = 0;

	if (!release_exists(st, model, id))
		return wan_err(WAN_ENOTFOUND, "release %s of '%s' is not in the store", id, model);
	if ((err = link_text(st, model, id, text, sizeof(text))) < 0 ||
	    (err = wan_snprintf(tmpname, sizeof(tmpname), ".%s.wanctl-new", model)) < 0 ||
	    (err = wan_snprintf(oldname, sizeof(oldname), ".%s.wanctl-old", model)) < 0)
		return err;
	if ((fd = open_target(st)) < 0)
		return WAN_ERROR;
	if (unlinkat(fd, tmpname, 0) < 0 && errno != ENOENT) {
		err = wan_err_sys(0, "cannot remove stale '%s/%s'", st->target, tmpname);
		goto out;
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
		if (xrenameat(fd, tmpname, fd, oldname, 0) < 0 || xfsync(fd) < 0) {
			err = wan_err_sys(0, "cannot fsync '%s'", st->target);
			goto out;
		}
		char old[WAN_PATH_MAX];
		if ((err = path_join(old, sizeof(old), st->target, oldname)) < 0)
			goto out;
		if ((err = path_remove_tree(old)) < 0)
			goto out;
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
		return wan_err(WAN_ENOTFOUND, "'%s' is not deployed", model);
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
		char model[256], p[WAN_PATH_MAX], id[WAN_RELEASE_ID_LEN + 1];
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
		if (S_ISLNK(sb.st_mode)) {
			unlink(p);
		} else if (S_ISDIR(sb.st_mode)) {
			/* The old unmanaged folder: safe to drop only once the model's
			 * link points at a release (its content was adopted). */
			if (wan_release_current(st, model, id, NULL) == 0 &&
			    release_exists(st, model, id)) {
				wan_log(WAN_LOG_INFO, "removing '%s' left by an interrupted adoption", p);
				path_remove_tree(p);
			} else {
				wan_log(WAN_LOG_WARN, "'%s' left by an interrupted adoption kept: "
					"'%s' has no release yet", p, model);
			}
		}
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
	int err;

	json_array_foreach(json_object_get(manifest, "files"), i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		struct stat sb;

		if ((err = wan_store_object_path(st, sha, obj, sizeof(obj))) < 0)
			return err;
		if (stat(obj, &sb) < 0) {
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
			int fd = xopen(obj, O_RDONLY, 0), r;

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
