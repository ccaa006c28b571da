#include "util/common.h"
#include "util/path.h"
#include "util/xio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

int path_join(char *dst, size_t size, const char *a, const char *b)
{
	if (!a || !*a)
		return wan_snprintf(dst, size, "%s", b);
	if (a[strlen(a) - 1] == '/')
		return wan_snprintf(dst, size, "%s%s", a, b);
	return wan_snprintf(dst, size, "%s/%s", a, b);
}

int path_check_relative(const char *p)
{
	const char *c = p;
	size_t total = strlen(p);

	if (!total)
		return wan_err(WAN_EINVAL, "empty path");
	if (total >= PATH_MAX)
		return wan_err(WAN_EINVAL, "path longer than %d bytes", PATH_MAX - 1);
	if (p[0] == '/')
		return wan_err(WAN_EINVAL, "absolute path '%s' not allowed", p);
	while (*c) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);

		if (n == 0)
			return wan_err(WAN_EINVAL, "empty component in path '%s'", p);
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return wan_err(WAN_EINVAL, "'.' or '..' in path '%s' not allowed", p);
		if (n > NAME_MAX)
			return wan_err(WAN_EINVAL, "component longer than %d bytes in path '%.64s...'",
				       NAME_MAX, p);
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)c[i];
			if (ch < 0x20 || ch == 0x7f || ch == '\\')
				return wan_err(WAN_EINVAL,
					       "control character or backslash in path '%s'", p);
		}
		if (!end)
			break;
		c = end + 1;
		if (!*c)
			return wan_err(WAN_EINVAL, "trailing slash in path '%s'", p);
	}
	return 0;
}

int path_mkdirs(const char *path, mode_t mode)
{
	char tmp[WAN_PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return wan_err(WAN_EINVAL, "path too long: '%.64s...'", path);
	memcpy(tmp, path, n + 1);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return wan_err_sys(0, "cannot create directory '%s'", tmp);
		*s = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return wan_err_sys(0, "cannot create directory '%s'", tmp);
	return 0;
}

int path_absolute(char *dst, size_t size, const char *base, const char *p)
{
	char cwd[WAN_PATH_MAX], joined[WAN_PATH_MAX * 2];
	char *parts[1024];
	size_t np = 0, o = 0;
	char *save = NULL, *tok;
	int err;

	if (p[0] == '/') {
		err = wan_snprintf(joined, sizeof(joined), "%s", p);
	} else {
		if (!base) {
			if (!getcwd(cwd, sizeof(cwd)))
				return wan_err_sys(0, "cannot get the current directory");
			base = cwd;
		}
		err = wan_snprintf(joined, sizeof(joined), "%s/%s", base, p);
	}
	if (err)
		return err;
	for (tok = strtok_r(joined, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (np)
				np--;
			continue;
		}
		if (np >= ARRAY_SIZE(parts))
			return wan_err(WAN_EINVAL, "path has too many components");
		parts[np++] = tok;
	}
	if (!np)
		return wan_snprintf(dst, size, "/");
	for (size_t i = 0; i < np; i++) {
		size_t n = strlen(parts[i]);
		if (o + n + 2 > size)
			return wan_err(WAN_EINVAL, "path too long");
		dst[o++] = '/';
		memcpy(dst + o, parts[i], n);
		o += n;
	}
	dst[o] = '\0';
	return 0;
}

static int remove_at(int atfd, const char *name)
{
	struct stat st;
	int fd, err = 0;
	DIR *d;
	struct dirent *de;

	if (fstatat(atfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : wan_err_sys(0, "cannot stat '%s'", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(atfd, name, 0) < 0 && errno != ENOENT)
			return wan_err_sys(0, "cannot remove '%s'", name);
		return 0;
	}
	fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return wan_err_sys(0, "cannot open directory '%s'", name);
	/* Read-only trees (releases, objects) need write permission to empty. */
	if (!(st.st_mode & S_IWUSR))
		fchmod(fd, st.st_mode | S_IWUSR | S_IXUSR);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return wan_err_sys(0, "cannot read directory '%s'", name);
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((err = remove_at(dirfd(d), de->d_name)) < 0)
			break;
	}
	closedir(d);
	if (!err && unlinkat(atfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		err = wan_err_sys(0, "cannot remove directory '%s'", name);
	return err;
}

int path_remove_tree(const char *path)
{
	return remove_at(AT_FDCWD, path);
}

int path_open_parent_beneath(int dirfd, const char *rel, const char **base)
{
	char parent[WAN_PATH_MAX];
	const char *slash = strrchr(rel, '/');

	if (!slash) {
		*base = rel;
		return fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	}
	if ((size_t)(slash - rel) >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(parent, rel, (size_t)(slash - rel));
	parent[slash - rel] = '\0';
	*base = slash + 1;
	return path_open_beneath(dirfd, parent, O_RDONLY | O_DIRECTORY, 0);
}

int path_mkdir_beneath(int dirfd, const char *rel, mode_t mode)
{
	const char *base;
	int pfd = path_open_parent_beneath(dirfd, rel, &base), ret = 1;

	if (pfd < 0)
		return -1;
	if (xmkdirat(pfd, base, mode) < 0)
		ret = errno == EEXIST ? 0 : -1;
	close_keep_errno(pfd);
	return ret;
}

int path_remove_beneath(int dirfd, const char *rel)
{
	const char *base;
	int pfd = path_open_parent_beneath(dirfd, rel, &base), err;

	if (pfd < 0)
		return errno == ENOENT ? 0 : wan_err_sys(0, "cannot open the folder of '%s'", rel);
	err = remove_at(pfd, base);
	close(pfd);
	return err;
}

DIR *path_fdopendir(int fd)
{
	DIR *d;

	if (fd < 0)
		return NULL;
	if (!(d = fdopendir(fd)))
		close_keep_errno(fd);
	return d;
}

DIR *path_opendir_at(int dirfd)
{
	return path_fdopendir(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

int path_empty_at(int dirfd, const char *name)
{
	DIR *d = path_opendir_at(dirfd);
	struct dirent *de;
	int err = 0;

	if (!d)
		return wan_err_sys(0, "cannot read directory '%s'", name);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((err = remove_at(dirfd, de->d_name)) < 0)
			break;
	}
	closedir(d);
	return err;
}

int path_open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	do
		fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	if (fd >= 0 || errno != ENOSYS)
		return fd;
	/* Kernels before 5.6: walk the components with O_NOFOLLOW. */
	{
		char tmp[WAN_PATH_MAX];
		char *c, *slash;
		int cur = dirfd, next;
		size_t n = strlen(rel);

		if (n >= sizeof(tmp) || path_check_relative(rel) < 0) {
			errno = EINVAL;
			return -1;
		}
		memcpy(tmp, rel, n + 1);
		c = tmp;
		while ((slash = strchr(c, '/'))) {
			*slash = '\0';
			next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cur != dirfd)
				close(cur);
			if (next < 0)
				return -1;
			cur = next;
			c = slash + 1;
		}
		fd = openat(cur, c, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		if (cur != dirfd)
			close_keep_errno(cur);
		return fd;
	}
}
