/*
 * The backup repository on disk: layout, publishing, snapshots.
 *
 * Invariants:
 *  B1. An object or snapshot appears under its final name only complete:
 *      written to tmp/ (O_EXCL, 0444), fsynced, closed without error, then
 *      link(2)ed (never replacing: EEXIST means "already there"), then its
 *      folder is fsynced, then the temp name is removed.
 *  B2. A snapshot is published only after every object it names is
 *      published (bk_publish returned), so a snapshot never points at a
 *      missing object unless something outside wanctl removed it.
 *  B3. The repository is untrusted input: every path below the root is
 *      opened with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; snapshot files are
 *      parsed with limits; object indexes are checked against the file
 *      size (backup_codec.c).
 */
#include "lib/backup_internal.h"
#include "lib/manifest.h"
#include "util/xio.h"
#include "wanctl/log.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const bk_dirs[] = { "tmp", "objects", "objects/sha256", "snapshots" };

static int open_dir_beneath(int root, const char *rel)
{
	return path_open_beneath(root, rel, O_RDONLY | O_DIRECTORY, 0);
}

/* Open (creating as needed) the folder rel beneath root; new folders are
 * fsynced into their parents. Returns an fd or a negative error. */
static int mkdirs_beneath(struct bk_repo *r, const char *rel)
{
	char tmp[WAN_PATH_MAX], *c, *slash;
	int cur, next;
	size_t n = strlen(rel);

	if (n >= sizeof(tmp))
		return wan_err(WAN_EINVAL, "path too long: '%s'", rel);
	memcpy(tmp, rel, n + 1);
	cur = dup(r->root);
	if (cur < 0)
		return wan_err_sys(0, "cannot open '%s'", r->path);
	c = tmp;
	for (;;) {
		slash = strchr(c, '/');
		if (slash)
			*slash = '\0';
		next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			if (xmkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
				int e = wan_err_sys(0, "cannot create '%s/%s'", r->path, rel);
				close(cur);
				return e;
			}
			if (xfsync(cur) < 0) {
				int e = wan_err_sys(0, "cannot fsync a folder of '%s'", r->path);
				close(cur);
				return e;
			}
			next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = wan_err_sys(0, "cannot open '%s/%s' (a symlink or not a folder?)",
					    r->path, rel);
			close(cur);
			return e;
		}
		close(cur);
		cur = next;
		if (!slash)
			break;
		c = slash + 1;
	}
	return cur;
}

static int repo_is_empty_enough(int fd)
{
	int d = dup(fd);
	DIR *dir = d >= 0 ? fdopendir(d) : NULL;
	struct dirent *de;
	int ok = 1;

	if (!dir) {
		if (d >= 0)
			close(d);
		return 0;
	}
	while ((de = readdir(dir))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "tmp") ||
		    !strcmp(n, "objects") || !strcmp(n, "snapshots"))
			continue;
		ok = 0;
	}
	closedir(dir);
	return ok;
}

static int repo_init(struct bk_repo *r)
{
	char name[128];
	bool existed;
	int fd, err;

	if (!repo_is_empty_enough(r->root))
		return wan_err(WAN_EINVAL, "'%s' is not empty and is not a wanctl backup "
			       "repository (no FORMAT file); set backup_path to an empty or "
			       "new folder", r->path);
	for (size_t i = 0; i < ARRAY_SIZE(bk_dirs); i++) {
		int d = mkdirs_beneath(r, bk_dirs[i]);
		if (d < 0)
			return d;
		close(d);
	}
	if ((err = bk_tmp_create(r, "format", name, sizeof(name), &fd)) < 0)
		return err;
	if (xwrite(fd, BK_FORMAT_TEXT, strlen(BK_FORMAT_TEXT)) < 0) {
		err = wan_err_sys(0, "cannot write '%s/tmp/%s'", r->path, name);
		xclose(fd);
		bk_tmp_remove(r, name);
		return err;
	}
	return bk_publish(r, fd, name, "FORMAT", &existed);
}

int bk_repo_open(struct bk_repo *r, const char *path, bool create)
{
	char text[64];
	ssize_t n;
	int fd, err;

	memset(r, 0, sizeof(*r));
	r->root = -1;
	if ((err = wan_snprintf(r->path, sizeof(r->path), "%s", path)) < 0)
		return err;
	if (gethostname(r->host, sizeof(r->host) - 1) < 0 || !r->host[0])
		snprintf(r->host, sizeof(r->host), "host");
	for (char *c = r->host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.'))
			*c = '_';
	r->root = xopen(path, O_RDONLY | O_DIRECTORY, 0);
	if (r->root < 0 && errno == ENOENT && create) {
		if ((err = path_mkdirs(path, 0755)) < 0)
			return err;
		xfsync_parent(path);
		r->root = xopen(path, O_RDONLY | O_DIRECTORY, 0);
	}
	if (r->root < 0) {
		if (errno == ENOENT)
			return wan_err(WAN_ENOTFOUND, "no backup repository at '%s' (run "
				       "'wanctl backup create' first)", path);
		return wan_err_sys(0, errno == ENOTDIR ? "backup_path '%s' is not a folder" :
				   "cannot open backup repository '%s'", path);
	}
	fd = path_open_beneath(r->root, "FORMAT", O_RDONLY, 0);
	if (fd < 0) {
		if (errno != ENOENT) {
			err = wan_err_sys(0, "cannot open '%s/FORMAT'", path);
			goto fail;
		}
		if (!create) {
			err = wan_err(WAN_ENOTFOUND, "no backup repository at '%s' (no FORMAT file; "
				      "run 'wanctl backup create' first)", path);
			goto fail;
		}
		if ((err = repo_init(r)) < 0)
			goto fail;
	} else {
		n = xread(fd, text, sizeof(text) - 1);
		xclose(fd);
		if (n < 0) {
			err = wan_err_sys(0, "cannot read '%s/FORMAT'", path);
			goto fail;
		}
		text[n] = '\0';
		if (strcmp(text, BK_FORMAT_TEXT)) {
			err = wan_err(WAN_ECORRUPT, "'%s/FORMAT' does not say '%.*s': not a backup "
				      "repository this wanctl can read", path,
				      (int)strlen(BK_FORMAT_TEXT) - 1, BK_FORMAT_TEXT);
			goto fail;
		}
		if (create) {
			for (size_t i = 0; i < ARRAY_SIZE(bk_dirs); i++) {
				int d = mkdirs_beneath(r, bk_dirs[i]);
				if (d < 0) {
					err = d;
					goto fail;
				}
				close(d);
			}
		}
	}
	return 0;
fail:
	bk_repo_close(r);
	return err;
}

void bk_repo_close(struct bk_repo *r)
{
	if (r->root >= 0)
		xclose(r->root);
	r->root = -1;
}

int bk_object_rel(const char *sha, char *buf, size_t size)
{
	if (!wan_sha256_is_hex(sha))
		return wan_err(WAN_EINVAL, "'%s' is not a SHA-256", sha);
	return wan_snprintf(buf, size, "objects/sha256/%.2s/%s.zst", sha, sha + 2);
}

int bk_object_open(struct bk_repo *r, const char *sha, int *fd, uint64_t *size)
{
	char rel[128];
	struct stat sb;
	int err;

	*fd = -1;
	if ((err = bk_object_rel(sha, rel, sizeof(rel))) < 0)
		return err;
	*fd = path_open_beneath(r->root, rel, O_RDONLY, 0);
	if (*fd < 0) {
		if (errno == ENOENT)
			return wan_err(WAN_ENOTFOUND, "backup object '%s' is missing", rel);
		return wan_err_sys(errno == ELOOP || errno == EXDEV ? WAN_ECORRUPT : 0,
				   "cannot open backup object '%s'", rel);
	}
	if (fstat(*fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		xclose(*fd);
		*fd = -1;
		return wan_err(WAN_ECORRUPT, "backup object '%s' is not a regular file", rel);
	}
	*size = (uint64_t)sb.st_size;
	return 0;
}

int bk_tmp_create(struct bk_repo *r, const char *prefix, char *name, size_t size, int *fd)
{
	char rel[WAN_PATH_MAX];
	int err;

	*fd = -1;
	if ((err = wan_snprintf(name, size, "%s-%s-%ld-%u", prefix, r->host, (long)getpid(),
				__atomic_fetch_add(&r->seq, 1, __ATOMIC_RELAXED))) < 0 ||
	    (err = wan_snprintf(rel, sizeof(rel), "tmp/%s", name)) < 0)
		return err;
	*fd = path_open_beneath(r->root, rel, O_RDWR | O_CREAT | O_EXCL, 0444);
	if (*fd < 0)
		return wan_err_sys(0, "cannot create '%s/%s'", r->path, rel);
	return 0;
}

void bk_tmp_remove(struct bk_repo *r, const char *name)
{
	int d = open_dir_beneath(r->root, "tmp");

	if (d >= 0) {
		unlinkat(d, name, 0);
		close(d);
	}
}

void bk_tmp_sweep(struct bk_repo *r)
{
	int d = open_dir_beneath(r->root, "tmp");
	int d2 = d >= 0 ? dup(d) : -1;
	DIR *dir = d2 >= 0 ? fdopendir(d2) : NULL;
	struct dirent *de;
	char mine[96];

	snprintf(mine, sizeof(mine), "-%s-", r->host);
	if (!dir) {
		if (d2 >= 0)
			close(d2);
		if (d >= 0)
			close(d);
		return;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, mine))
			continue;
		if (unlinkat(d, de->d_name, 0) == 0)
			wan_log(WAN_LOG_DEBUG, "removed '%s/tmp/%s' left by an interrupted backup",
				r->path, de->d_name);
	}
	closedir(dir);
	close(d);
}

static void split_rel(const char *rel, char *dir, size_t n, const char **base)
{
	const char *s = strrchr(rel, '/');

	if (!s) {
		snprintf(dir, n, ".");
		*base = rel;
		return;
	}
	snprintf(dir, n, "%.*s", (int)(s - rel), rel);
	*base = s + 1;
}

int bk_publish(struct bk_repo *r, int fd, const char *tmpname, const char *rel, bool *existed)
{
	char dir[WAN_PATH_MAX];
	const char *base;
	int tmpd = -1, dd = -1, err = 0;

	*existed = false;
	if (xfsync(fd) < 0) {
		err = wan_err_sys(0, "cannot fsync '%s/tmp/%s'", r->path, tmpname);
		xclose(fd);
		goto out;
	}
	if (xclose(fd) < 0) {
		err = wan_err_sys(0, "cannot close '%s/tmp/%s'", r->path, tmpname);
		goto out;
	}
	split_rel(rel, dir, sizeof(dir), &base);
	if ((tmpd = open_dir_beneath(r->root, "tmp")) < 0) {
		err = wan_err_sys(0, "cannot open '%s/tmp'", r->path);
		goto out;
	}
	if (!strcmp(dir, ".")) {
		dd = dup(r->root);
	} else if ((dd = mkdirs_beneath(r, dir)) < 0) {
		err = dd;
		dd = -1;
		goto out;
	}
	if (xlinkat(tmpd, tmpname, dd, base) < 0) {
		if (errno != EEXIST) {
			err = wan_err_sys(0, "cannot publish '%s/%s'", r->path, rel);
			goto out;
		}
		*existed = true;
	} else if (xfsync(dd) < 0) {
		err = wan_err_sys(0, "cannot fsync '%s/%s'", r->path, dir);
		goto out;
	}
out:
	if (tmpd >= 0) {
		unlinkat(tmpd, tmpname, 0);
		close(tmpd);
	} else {
		bk_tmp_remove(r, tmpname);
	}
	if (dd >= 0)
		close(dd);
	return err;
}

int bk_remove(struct bk_repo *r, const char *rel)
{
	char dir[WAN_PATH_MAX];
	const char *base;
	int dd, err = 0;

	split_rel(rel, dir, sizeof(dir), &base);
	dd = !strcmp(dir, ".") ? dup(r->root) : open_dir_beneath(r->root, dir);
	if (dd < 0)
		return errno == ENOENT ? 0 : wan_err_sys(0, "cannot open '%s/%s'", r->path, dir);
	if (xunlinkat(dd, base, 0) < 0) {
		if (errno != ENOENT)
			err = wan_err_sys(0, "cannot remove '%s/%s'", r->path, rel);
	} else if (xfsync(dd) < 0) {
		err = wan_err_sys(0, "cannot fsync '%s/%s'", r->path, dir);
	}
	close(dd);
	return err;
}

/* ---- snapshots ---- */

static bool valid_model(const char *m)
{
	bool ok;

	if (!m || !*m || m[0] == '.' || strchr(m, '/') || strlen(m) > 200)
		return false;
	ok = path_check_relative(m) == 0;
	wan_err_clear();
	return ok;
}

static bool valid_release(const char *id)
{
	if (!id || strlen(id) != 16)
		return false;
	for (size_t i = 0; i < 16; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

int bk_snapshot_rel(const char *model, const char *release, char *buf, size_t size)
{
	if (!valid_model(model))
		return wan_err(WAN_EINVAL, "'%s' is not a valid model name", model ? model : "");
	if (!valid_release(release))
		return wan_err(WAN_EINVAL, "'%s' is not a release id (16 hex digits)",
			       release ? release : "");
	return wan_snprintf(buf, size, "snapshots/%s/%s.json", model, release);
}

int bk_snapshot_parse(const char *text, size_t len, const char *name, json_t **out)
{
	json_error_t je;
	json_t *s = NULL, *m, *objs, *files, *f, *seen = NULL, *ts;
	const char *model, *release, *created;
	size_t i;
	int err;

	*out = NULL;
	if (len > BK_SNAPSHOT_MAX)
		return wan_err(WAN_ECORRUPT, "snapshot '%s' is larger than %u bytes", name,
			       BK_SNAPSHOT_MAX);
	s = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!s)
		return wan_err(WAN_ECORRUPT, "snapshot '%s': line %d column %d: %s", name,
			       je.line, je.column, je.text);
#define BAD(...) do { err = wan_err(WAN_ECORRUPT, __VA_ARGS__); goto fail; } while (0)
	if (!json_is_object(s))
		BAD("snapshot '%s': not a JSON object", name);
	if (!json_is_string(json_object_get(s, "format")) ||
	    strcmp(json_string_value(json_object_get(s, "format")), BK_SNAPSHOT_FORMAT))
		BAD("snapshot '%s': 'format' is not \"%s\"", name, BK_SNAPSHOT_FORMAT);
	model = json_string_value(json_object_get(s, "model"));
	release = json_string_value(json_object_get(s, "release"));
	created = json_string_value(json_object_get(s, "created"));
	ts = json_object_get(s, "created_ts");
	if (!valid_model(model))
		BAD("snapshot '%s': bad or missing 'model'", name);
	if (!valid_release(release))
		BAD("snapshot '%s': bad or missing 'release'", name);
	if (!created || strlen(created) > 64)
		BAD("snapshot '%s': bad or missing 'created'", name);
	if (!json_is_number(ts) || !isfinite(json_number_value(ts)) || json_number_value(ts) < 0)
		BAD("snapshot '%s': bad or missing 'created_ts'", name);
	m = json_object_get(s, "manifest");
	if (!json_is_object(m))
		BAD("snapshot '%s': 'manifest' is not an object", name);
	if ((err = manifest_validate(m, name)) < 0)
		goto fail;
	if (!json_is_string(json_object_get(m, "model")) ||
	    strcmp(json_string_value(json_object_get(m, "model")), model) ||
	    !json_is_string(json_object_get(m, "release")) ||
	    strcmp(json_string_value(json_object_get(m, "release")), release))
		BAD("snapshot '%s': its manifest is of another model or release", name);
	objs = json_object_get(s, "objects");
	if (!json_is_object(objs))
		BAD("snapshot '%s': 'objects' is not an object", name);
	seen = json_object();
	if (!seen)
		BAD("out of memory");
	files = json_object_get(m, "files");
	json_array_foreach(files, i, f) {
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		const char *path = json_string_value(json_object_get(f, "path"));
		json_int_t size = json_integer_value(json_object_get(f, "size"));
		json_t *o = json_object_get(objs, sha), *os, *st, *co;

		if (!json_is_object(o))
			BAD("snapshot '%s': no object entry for '%s' (%s)", name, path, sha);
		os = json_object_get(o, "size");
		st = json_object_get(o, "stored");
		co = json_object_get(o, "codec");
		if (json_object_size(o) != 3 || !json_is_integer(os) || !json_is_integer(st) ||
		    !json_is_string(co))
			BAD("snapshot '%s': object %s must have exactly size, stored, codec", name, sha);
		if (json_integer_value(os) != size)
			BAD("snapshot '%s': object %s: size %lld does not match '%s' (%lld bytes)",
			    name, sha, (long long)json_integer_value(os), path, (long long)size);
		if (json_integer_value(st) <= 0)
			BAD("snapshot '%s': object %s: bad stored size", name, sha);
		if (strcmp(json_string_value(co), bk_codec_name(BK_CODEC_ZSTD)) &&
		    strcmp(json_string_value(co), bk_codec_name(BK_CODEC_BYTEPLANE)))
			BAD("snapshot '%s': object %s: unknown codec '%s'", name, sha,
			    json_string_value(co));
		json_object_set_new(seen, sha, json_true());
	}
	if (json_object_size(seen) != json_object_size(objs))
		BAD("snapshot '%s': 'objects' lists %zu objects, its files use %zu", name,
		    json_object_size(objs), json_object_size(seen));
#undef BAD
	json_decref(seen);
	*out = s;
	return 0;
fail:
	json_decref(seen);
	json_decref(s);
	return err;
}

static int snapshot_read_fd(int fd, const char *name, json_t **out)
{
	struct stat sb;
	char *text;
	ssize_t n;
	int err;

	if (fstat(fd, &sb) < 0)
		return wan_err_sys(0, "cannot stat snapshot '%s'", name);
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > BK_SNAPSHOT_MAX)
		return wan_err(WAN_ECORRUPT, "snapshot '%s' is not a regular file of at most %u "
			       "bytes", name, BK_SNAPSHOT_MAX);
	text = malloc((size_t)sb.st_size + 1);
	if (!text)
		return wan_err(WAN_ENOMEM, "out of memory reading '%s'", name);
	n = xread(fd, text, (size_t)sb.st_size);
	if (n < 0)
		err = wan_err_sys(0, "cannot read snapshot '%s'", name);
	else
		err = bk_snapshot_parse(text, (size_t)n, name, out);
	free(text);
	return err;
}

int bk_snapshot_load(struct bk_repo *r, const char *model, const char *release, json_t **out)
{
	char rel[WAN_PATH_MAX], name[WAN_PATH_MAX * 2];
	int fd, err;

	*out = NULL;
	if ((err = bk_snapshot_rel(model, release, rel, sizeof(rel))) < 0)
		return err;
	snprintf(name, sizeof(name), "%s/%s", r->path, rel);
	fd = path_open_beneath(r->root, rel, O_RDONLY, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return wan_err(WAN_ENOTFOUND, "the backup repository '%s' has no snapshot "
				       "of %s release %s", r->path, model, release);
		return wan_err_sys(errno == ELOOP || errno == EXDEV ? WAN_ECORRUPT : 0,
				   "cannot open snapshot '%s'", name);
	}
	err = snapshot_read_fd(fd, name, out);
	xclose(fd);
	if (!err && (strcmp(json_string_value(json_object_get(*out, "model")), model) ||
		     strcmp(json_string_value(json_object_get(*out, "release")), release))) {
		json_decref(*out);
		*out = NULL;
		err = wan_err(WAN_ECORRUPT, "snapshot '%s' describes another model or release", name);
	}
	return err;
}

static int snap_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(x, "model")),
		       json_string_value(json_object_get(y, "model")));
	double tx, ty;

	if (c)
		return c;
	tx = json_number_value(json_object_get(x, "created_ts"));
	ty = json_number_value(json_object_get(y, "created_ts"));
	if (tx != ty)
		return tx < ty ? 1 : -1;
	return strcmp(json_string_value(json_object_get(x, "release")),
		      json_string_value(json_object_get(y, "release")));
}

static void add_bad(json_t *bad, const char *path, const char *problem)
{
	json_array_append_new(bad, json_pack("{s:s,s:s}", "path", path, "problem", problem));
}

static void scan_model(struct bk_repo *r, const char *model, json_t *good, json_t *bad)
{
	char rel[WAN_PATH_MAX], full[WAN_PATH_MAX * 3];
	int d, d2;
	DIR *dir;
	struct dirent *de;

	snprintf(rel, sizeof(rel), "snapshots/%s", model);
	snprintf(full, sizeof(full), "%s/%s", r->path, rel);
	d = open_dir_beneath(r->root, rel);
	if (d < 0) {
		wan_err_sys(0, "cannot open '%s' (a symlink or not a folder?)", full);
		add_bad(bad, full, wan_errmsg());
		return;
	}
	d2 = dup(d);
	dir = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!dir) {
		if (d2 >= 0)
			close(d2);
		close(d);
		return;
	}
	while ((de = readdir(dir))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		char release[17];
		json_t *s = NULL;

		if (n[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s/%s", r->path, rel, n);
		if (len != 21 || strcmp(n + 16, ".json")) {
			add_bad(bad, full, "not a snapshot name (<release-id>.json)");
			continue;
		}
		memcpy(release, n, 16);
		release[16] = '\0';
		if (!valid_release(release)) {
			add_bad(bad, full, "not a snapshot name (<release-id>.json)");
			continue;
		}
		if (bk_snapshot_load(r, model, release, &s) < 0) {
			add_bad(bad, full, wan_errmsg());
			continue;
		}
		json_array_append_new(good, s);
	}
	closedir(dir);
	close(d);
}

int bk_snapshot_scan(struct bk_repo *r, const char *model, json_t **good, json_t **bad)
{
	int d, d2;
	DIR *dir;
	struct dirent *de;
	json_t **v;
	size_t n;

	*good = json_array();
	*bad = json_array();
	if (!*good || !*bad)
		return wan_err(WAN_ENOMEM, "out of memory");
	d = open_dir_beneath(r->root, "snapshots");
	if (d < 0) {
		if (errno == ENOENT)
			return 0;
		return wan_err_sys(0, "cannot open '%s/snapshots'", r->path);
	}
	d2 = dup(d);
	dir = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!dir) {
		if (d2 >= 0)
			close(d2);
		close(d);
		return wan_err_sys(0, "cannot read '%s/snapshots'", r->path);
	}
	while ((de = readdir(dir))) {
		char full[WAN_PATH_MAX * 2];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (model && strcmp(model, de->d_name))
			continue;
		if (!valid_model(de->d_name)) {
			snprintf(full, sizeof(full), "%s/snapshots/%s", r->path, de->d_name);
			add_bad(*bad, full, "not a valid model folder name");
			continue;
		}
		scan_model(r, de->d_name, *good, *bad);
	}
	closedir(dir);
	close(d);
	wan_err_clear();
	n = json_array_size(*good);
	if (n > 1) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return wan_err(WAN_ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(*good, i));
		qsort(v, n, sizeof(*v), snap_cmp);
		json_array_clear(*good);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(*good, v[i]);
		free(v);
	}
	return 0;
}
