#ifndef WAN_UTIL_PATH_H
#define WAN_UTIL_PATH_H
/* Path helpers. Relative paths from manifests are checked here. */
#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

#define WAN_PATH_MAX 4096

/* dst = a + "/" + b; WAN_EINVAL when it does not fit. */
int path_join(char *dst, size_t size, const char *a, const char *b);
/*
 * A confined relative path: not empty, not absolute, no "." or ".."
 * component, no empty component ("a//b"), no backslash, no control
 * characters, each component <= NAME_MAX, the whole < PATH_MAX.
 * Returns 0 or WAN_EINVAL with a message naming the path.
 */
int path_check_relative(const char *p);
/* mkdir -p with mode; existing directories are fine. */
int path_mkdirs(const char *path, mode_t mode);
/* Absolute, lexically normalised version of p relative to base (or cwd). */
int path_absolute(char *dst, size_t size, const char *base, const char *p);
/* rm -rf (does not follow symlinks). Missing is fine. */
int path_remove_tree(const char *path);
/* Open path beneath dirfd with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
 * (falls back to a component walk with O_NOFOLLOW where openat2 is absent). */
int path_open_beneath(int dirfd, const char *rel, int flags, mode_t mode);
/* Open the folder holding rel beneath dirfd with path_open_beneath (a
 * duplicate of dirfd when rel has one component); *base is set to rel's
 * last component. -1 with errno. */
int path_open_parent_beneath(int dirfd, const char *rel, const char **base);
/* mkdir rel beneath dirfd (its parents opened with path_open_beneath):
 * 1 when created, 0 when something of that name exists, -1 with errno. */
int path_mkdir_beneath(int dirfd, const char *rel, mode_t mode);
/* fdopendir(fd), fd closed when that fails (or already -1): NULL with
 * errno. The listing owns fd. */
DIR *path_fdopendir(int fd);
/* A listing of the folder dirfd with its own position (dirfd itself is not
 * moved); NULL with errno. */
DIR *path_opendir_at(int dirfd);
/* Remove everything inside the folder dirfd (rm -rf of its entries, no
 * symlink followed: a symlink inside is removed, not its target); name is
 * the folder's path for messages. */
int path_empty_at(int dirfd, const char *name);
/* Remove rel (a file or a whole tree) beneath dirfd: its folder is opened
 * with path_open_beneath, nothing on the way is a followed symlink. A
 * missing rel is fine. */
int path_remove_beneath(int dirfd, const char *rel);

#endif
