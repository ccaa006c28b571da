/*
 * Walking a staging tree. Symlinks are allowed only when they resolve to
 * a regular file inside the tree, or, in a hub cache snapshot, to a blob of
 * the same repository (whose name, when it is 64 hex digits, is the
 * SHA-256 that ingest checks).
 */
#include "util/common.h"
#include "util/path.h"
#include "lib/source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOURCE_MAX_FILES 1000000
#define SOURCE_MAX_DEPTH 64

static int is_dir(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool under(const char *p, const char *root)
{
	size_t n = strlen(root);
	return !strncmp(p, root, n) && p[n] == '/';
}

static int resolve_root(const char *dir, struct src_tree *t)
{
	char real[PATH_MAX], p[WAN_PATH_MAX], ref[128];
	int err;

	if (!realpath(dir, real))
		return wan_err_sys(errno == ENOENT ? WAN_ENOTFOUND : 0,
				   "cannot open staging folder '%s'", dir);
	if (!is_dir(real))
		return wan_err(WAN_EINVAL, "staging '%s' is not a folder", dir);
	/* A hub repo folder: follow refs/main to its snapshot. */
	if ((err = path_join(p, sizeof(p), real, "refs/main")) < 0)
		return err;
	if (access(p, F_OK) == 0) {
		char snap[WAN_PATH_MAX];
		FILE *f = fopen(p, "re");
		size_t n;

		if (!f)
			return wan_err_sys(0, "cannot read '%s'", p);
		n = fread(ref, 1, sizeof(ref) - 1, f);
		fclose(f);
		ref[n] = '\0';
		while (n && (ref[n - 1] == '\n' || ref[n - 1] == ' '))
			ref[--n] = '\0';
		if (!n || strchr(ref, '/') || !strcmp(ref, ".."))
			return wan_err(WAN_EINVAL, "'%s' does not name a snapshot", p);
		if ((err = wan_snprintf(snap, sizeof(snap), "%s/snapshots/%s", real, ref)) < 0)
			return err;
		if (!realpath(snap, real))
			return wan_err_sys(0, "cannot open hub snapshot '%s'", snap);
	}
	if ((err = wan_snprintf(t->root, sizeof(t->root), "%s", real)) < 0)
		return err;
	/* <repo>/snapshots/<rev>: blobs live in <repo>/blobs. */
	{
		char *slash = strrchr(real, '/');
		if (slash && slash > real) {
			*slash = '\0';
			char *s2 = strrchr(real, '/');
			if (s2 && !strcmp(s2 + 1, "snapshots")) {
				*s2 = '\0';
				if ((err = path_join(t->hf_blobs, sizeof(t->hf_blobs), real, "blobs")) < 0)
					return err;
				t->hf = is_dir(t->hf_blobs);
			}
		}
	}
	return 0;
}

static int add_file(struct src_tree *t, const char *rel, const char *abs,
		    const struct stat *sb, const char *blob)
{
	struct src_file *f;

	if (t->n >= SOURCE_MAX_FILES)
		return wan_err(WAN_EINVAL, "staging '%s' has more than %d files", t->root,
			       SOURCE_MAX_FILES);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct src_file *nf = realloc(t->files, cap * sizeof(*nf));
		if (!nf)
			return wan_err(WAN_ENOMEM, "out of memory listing staging");
		t->files = nf;
		t->cap = cap;
	}
	f = &t->files[t->n];
	memset(f, 0, sizeof(*f));
	f->rel = strdup(rel);
	f->abs = strdup(abs);
	if (!f->rel || !f->abs) {
		free(f->rel);
		free(f->abs);
		return wan_err(WAN_ENOMEM, "out of memory listing staging");
	}
	f->size = (uint64_t)sb->st_size;
	/* Store objects are immutable (0444, or 0555 for executables), so a
	 * file's write bits say nothing about a release: they are left out of
	 * the manifest and of the release id. */
	f->mode = sb->st_mode & 0555;
	f->dev = sb->st_dev;
	f->ino = sb->st_ino;
	f->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	f->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
	if (blob && strlen(blob) == 64 && wan_sha256_is_hex(blob))
		memcpy(f->blob_sha, blob, 65);
	t->n++;
	t->bytes += f->size;
	return 0;
}

/* Lists the folder open at dfd (taken over), rel inside the tree. Every
 * step goes through the parent's descriptor without following symlinks:
 * a folder swapped for a symlink during the walk makes it fail, never
 * leads it outside the tree. */
static int walk(struct src_tree *t, int dfd, const char *rel, int depth)
{
	char abs[WAN_PATH_MAX], child_rel[WAN_PATH_MAX], child_abs[WAN_PATH_MAX];
	DIR *d;
	struct dirent *de;
	int err = 0;

	if ((err = path_join(abs, sizeof(abs), t->root, rel)) < 0) {
		close(dfd);
		return err;
	}
	if (depth > SOURCE_MAX_DEPTH) {
		close(dfd);
		return wan_err(WAN_EINVAL, "staging folder '%s' is nested deeper than %d levels",
			       rel, SOURCE_MAX_DEPTH);
	}
	d = fdopendir(dfd);
	if (!d) {
		err = wan_err_sys(0, "cannot read staging folder '%s'", abs);
		close(dfd);
		return err;
	}
	while ((de = readdir(d))) {
		struct stat sb;
		const char *name = de->d_name;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		/* Version-control and download-tool bookkeeping is not model content. */
		if (depth == 0 && (!strcmp(name, ".git") || !strcmp(name, ".cache")))
			continue;
		if ((err = path_join(child_rel, sizeof(child_rel), rel, name)) < 0 ||
		    (err = path_join(child_abs, sizeof(child_abs), t->root, child_rel)) < 0)
			break;
		if ((err = path_check_relative(child_rel)) < 0) {
			wan_err_prefix(err, "staging '%s'", t->root);
			break;
		}
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			err = wan_err_sys(0, "cannot stat '%s'", child_abs);
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(d), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				err = wan_err_sys(0, "cannot read staging folder '%s'", child_abs);
				break;
			}
			if ((err = walk(t, sub, child_rel, depth + 1)) < 0)
				break;
		} else if (S_ISREG(sb.st_mode)) {
			if ((err = add_file(t, child_rel, child_abs, &sb, NULL)) < 0)
				break;
		} else if (S_ISLNK(sb.st_mode)) {
			char real[PATH_MAX];
			struct stat rs;
			const char *base;

			if (!realpath(child_abs, real) || stat(real, &rs) < 0) {
				err = wan_err_sys(0, "staging symlink '%s' is broken", child_rel);
				break;
			}
			if (t->hf && under(real, t->hf_blobs) && S_ISREG(rs.st_mode)) {
				base = strrchr(real, '/') + 1;
				if ((err = add_file(t, child_rel, real, &rs, base)) < 0)
					break;
			} else if (under(real, t->root) && S_ISREG(rs.st_mode)) {
				if ((err = add_file(t, child_rel, real, &rs, NULL)) < 0)
					break;
			} else {
				err = wan_err(WAN_EINVAL,
					      "staging symlink '%s' points outside the staging tree "
					      "(to '%s'); refused", child_rel, real);
				break;
			}
		} else {
			err = wan_err(WAN_EINVAL, "staging entry '%s' is not a regular file or folder",
				      child_rel);
			break;
		}
	}
	closedir(d);
	return err;
}

static int cmp_rel(const void *a, const void *b)
{
	return strcmp(((const struct src_file *)a)->rel, ((const struct src_file *)b)->rel);
}

int source_scan(const char *dir, struct src_tree *t)
{
	int err, fd;

	memset(t, 0, sizeof(*t));
	if ((err = resolve_root(dir, t)) < 0)
		return err;
	fd = open(t->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return wan_err_sys(0, "cannot read staging folder '%s'", t->root);
	if ((err = walk(t, fd, "", 0)) < 0) {
		source_tree_release(t);
		return err;
	}
	if (t->n)       /* qsort(NULL, 0) is undefined */
		qsort(t->files, t->n, sizeof(*t->files), cmp_rel);
	return 0;
}

void source_tree_release(struct src_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->files[i].rel);
		free(t->files[i].abs);
		json_decref(t->files[i].stats);
	}
	free(t->files);
	t->files = NULL;
	t->n = t->cap = 0;
}
