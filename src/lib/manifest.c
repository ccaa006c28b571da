/*
 * Release manifests. See manifest.h for the format and the id.
 */
#include "util/common.h"
#include "util/buf.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "lib/manifest.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_path(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	return strcmp(json_string_value(json_object_get(x, "path")),
		      json_string_value(json_object_get(y, "path")));
}

int manifest_sort_files(json_t *files)
{
	size_t n = json_array_size(files);
	json_t **v;

	if (n < 2)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return wan_err(WAN_ENOMEM, "out of memory sorting %zu files", n);
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(files, i));
	qsort(v, n, sizeof(*v), cmp_path);
	json_array_clear(files);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(files, v[i]);
	free(v);
	return 0;
}

int manifest_release_id(json_t *files, char id[17])
{
	struct wan_sha256 h;
	char hex[WAN_SHA256_HEX], line[WAN_PATH_MAX + 128];
	size_t i;
	json_t *f;
	int err;

	if ((err = wan_sha256_init(&h)) < 0)
		return err;
	json_array_foreach(files, i, f) {
		int n = snprintf(line, sizeof(line), "%s %llu %o %s\n",
				 json_string_value(json_object_get(f, "sha256")),
				 (unsigned long long)json_integer_value(json_object_get(f, "size")),
				 (unsigned)json_integer_value(json_object_get(f, "mode")),
				 json_string_value(json_object_get(f, "path")));
		/* Every caller passes validated files (paths under PATH_MAX, 64
		 * hex digits, a mode under 010000): a line fits in WAN_PATH_MAX + 128. */
		if (NEVER(n < 0 || (size_t)n >= sizeof(line))) {
			wan_sha256_release(&h);
			return wan_err(WAN_EINVAL, "manifest entry too long");
		}
		wan_sha256_update(&h, line, (size_t)n);
	}
	wan_sha256_final_hex(&h, hex);
	memcpy(id, hex, 16);
	id[16] = '\0';
	return 0;
}

int manifest_validate(json_t *m, const char *name)
{
	json_t *files, *f, *prev = NULL;
	const char *rel, *model;
	char id[17];
	size_t i;
	uint64_t total = 0;

	if (!json_is_object(m))
		return wan_err(WAN_ECORRUPT, "manifest '%s': not a JSON object", name);
	if (!json_is_string(json_object_get(m, "format")) ||
	    strcmp(json_string_value(json_object_get(m, "format")), "wanctl-manifest-1"))
		return wan_err(WAN_ECORRUPT, "manifest '%s': unknown format", name);
	model = json_string_value(json_object_get(m, "model"));
	if (!model || path_check_relative(model) < 0 || strchr(model, '/'))
		return wan_err(WAN_ECORRUPT, "manifest '%s': bad model name", name);
	files = json_object_get(m, "files");
	if (!json_is_array(files))
		return wan_err(WAN_ECORRUPT, "manifest '%s': 'files' is not an array", name);
	if (json_array_size(files) > WAN_MANIFEST_MAX_FILES)
		return wan_err(WAN_ECORRUPT, "manifest '%s': more than %d files", name,
			       WAN_MANIFEST_MAX_FILES);
	json_array_foreach(files, i, f) {
		json_t *p = json_object_get(f, "path"), *s = json_object_get(f, "size");
		json_t *h = json_object_get(f, "sha256"), *md = json_object_get(f, "mode");

		if (!json_is_object(f) || !json_is_string(p) || !json_is_integer(s) ||
		    !json_is_string(h) || !json_is_integer(md) || json_object_size(f) != 4)
			return wan_err(WAN_ECORRUPT, "manifest '%s': files[%zu] must have exactly "
				       "path, size, mode, sha256", name, i);
		if (strlen(json_string_value(p)) != json_string_length(p) ||
		    path_check_relative(json_string_value(p)) < 0)
			return wan_err_prefix(WAN_ECORRUPT, "manifest '%s': files[%zu]", name, i);
		if (json_integer_value(s) < 0 || json_integer_value(md) < 0 ||
		    json_integer_value(md) > 07777)
			return wan_err(WAN_ECORRUPT, "manifest '%s': files[%zu] ('%s'): bad size or mode",
				       name, i, json_string_value(p));
		if (!wan_sha256_is_hex(json_string_value(h)))
			return wan_err(WAN_ECORRUPT, "manifest '%s': files[%zu] ('%s'): bad sha256",
				       name, i, json_string_value(p));
		if (prev && strcmp(json_string_value(json_object_get(prev, "path")),
				   json_string_value(p)) >= 0)
			return wan_err(WAN_ECORRUPT,
				       "manifest '%s': files not sorted or duplicate path '%s'",
				       name, json_string_value(p));
		if (__builtin_add_overflow(total, (uint64_t)json_integer_value(s), &total))
			return wan_err(WAN_ECORRUPT, "manifest '%s': total size overflows", name);
		prev = f;
	}
	/* A file and a folder of the same name cannot both exist. */
	json_array_foreach(files, i, f) {
		const char *p = json_string_value(json_object_get(f, "path"));
		size_t n = strlen(p);
		json_t *next = json_array_get(files, i + 1);
		if (next) {
			const char *q = json_string_value(json_object_get(next, "path"));
			if (!strncmp(p, q, n) && q[n] == '/')
				return wan_err(WAN_ECORRUPT,
					       "manifest '%s': '%s' is both a file and a folder",
					       name, p);
		}
	}
	rel = json_string_value(json_object_get(m, "release"));
	if (rel) {
		int err = manifest_release_id(files, id);
		if (err < 0)
			return err;
		if (strcmp(id, rel))
			return wan_err(WAN_ECORRUPT,
				       "manifest '%s': release id %s does not match its files (%s)",
				       name, rel, id);
	}
	return 0;
}

int manifest_parse(const char *text, size_t len, const char *name, json_t **out)
{
	json_error_t je;
	json_t *m;
	int err;

	*out = NULL;
	if (len > WAN_MANIFEST_MAX_BYTES)
		return wan_err(WAN_ECORRUPT, "manifest '%s' is larger than %u bytes", name,
			       WAN_MANIFEST_MAX_BYTES);
	m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!m)
		return wan_err(WAN_ECORRUPT, "manifest '%s': line %d column %d: %s", name,
			       je.line, je.column, je.text);
	if ((err = manifest_validate(m, name)) < 0) {
		json_decref(m);
		return err;
	}
	*out = m;
	return 0;
}

int manifest_load_at(int dirfd, const char *name, const char *path, json_t **out)
{
	struct stat sb;
	char *text = NULL;
	ssize_t n;
	int fd, err;

	*out = NULL;
	fd = xopenat(dirfd, name, O_RDONLY | O_NOFOLLOW, 0);
	if (fd < 0)
		return wan_err_sys(0, "cannot open manifest '%s'", path);
	if (fstat(fd, &sb) < 0) {
		err = wan_err_sys(0, "cannot stat manifest '%s'", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > WAN_MANIFEST_MAX_BYTES) {
		err = wan_err(WAN_ECORRUPT, "manifest '%s' is not a regular file of at most %u bytes",
			      path, WAN_MANIFEST_MAX_BYTES);
		goto out;
	}
	text = malloc((size_t)sb.st_size + 1);
	if (!text) {
		err = wan_err(WAN_ENOMEM, "out of memory reading '%s'", path);
		goto out;
	}
	n = xread(fd, text, (size_t)sb.st_size);
	if (n < 0) {
		err = wan_err_sys(0, "cannot read manifest '%s'", path);
		goto out;
	}
	err = manifest_parse(text, (size_t)n, path, out);
out:
	free(text);
	xclose(fd);
	return err;
}

int manifest_write_at(json_t *m, int dirfd, const char *name, const char *path,
		      int tmpfd, const char *tmpdir)
{
	/* tname: the temp file in tmpfd; tmp: its name in messages. */
	char tname[64], tmp[WAN_PATH_MAX];
	char *text = NULL;
	struct stat sb;
	bool made = false;
	int fd = -1, err = 0;
	static unsigned seq;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	text = json_dumps(m, JSON_INDENT(1) | JSON_ENSURE_ASCII);
	if (!text)
		return wan_err(WAN_ENOMEM, "out of memory writing manifest");
	snprintf(tname, sizeof(tname), "manifest-%ld-%u", (long)getpid(),
		 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	wan_msgname(tmp, sizeof(tmp), "%s/%s", tmpdir, tname);
	fd = xopenat(tmpfd, tname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0444);
	if (fd < 0) {
		err = wan_err_sys(0, "cannot create '%s'", tmp);
		goto out;
	}
	made = true;
	if (xwrite(fd, text, strlen(text)) < 0 || xwrite(fd, "\n", 1) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", tmp);
		goto out;
	}
	if (xfsync(fd) < 0) {
		err = wan_err_sys(0, "cannot fsync '%s'", tmp);
		goto out;
	}
	if (xclose(fd) < 0) {
		fd = -1;
		err = wan_err_sys(0, "cannot close '%s'", tmp);
		goto out;
	}
	fd = -1;
	if (xlinkat(tmpfd, tname, dirfd, name) < 0 && errno != EEXIST) {
		err = wan_err_sys(0, "cannot publish manifest '%s'", path);
		goto out;
	}
	if (xfsync(dirfd) < 0)
		err = wan_err_sys(0, "cannot fsync the folder of '%s'", path);
out:
	if (fd >= 0)
		xclose(fd);
	if (made)
		unlinkat(tmpfd, tname, 0);
	free(text);
	return err;
}
