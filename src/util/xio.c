#include "util/common.h"
#include "util/xio.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/fs.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static atomic_uint_least64_t fsyncs;

enum xio_op { OP_OPEN, OP_READ, OP_WRITE, OP_FSYNC, OP_RENAME, OP_LINK,
	      OP_MKDIR, OP_UNLINK, OP_SYMLINK, OP_CLOSE, OP__N };

#ifdef WAN_TEST_HOOKS
static const char *const op_names[OP__N] = {
	"open", "read", "write", "fsync", "rename", "link", "mkdir",
	"unlink", "symlink", "close",
};

struct fault {
	int op;
	uint64_t when;
	int err;	/* errno, or -1 short, -2 kill */
};

static struct fault faults[16];
static int nfaults = -1;
static atomic_uint_least64_t counts[OP__N];
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

static int errno_by_name(const char *s)
{
	static const struct { const char *n; int e; } tab[] = {
		{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
		{ "EROFS", EROFS }, { "EINTR", EINTR }, { "ENOMEM", ENOMEM },
		{ "EACCES", EACCES }, { "EFBIG", EFBIG },
	};
	for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
		if (!strcmp(s, tab[i].n))
			return tab[i].e;
	if (!strcmp(s, "short"))
		return -1;
	if (!strcmp(s, "kill"))
		return -2;
	return 0;
}

static void fault_parse_spec(const char *env)
{
	char spec[512], *save = NULL, *tok;

	nfaults = 0;
	if (!env || !*env || strlen(env) >= sizeof(spec))
		return;
	memcpy(spec, env, strlen(env) + 1);
	for (tok = strtok_r(spec, ",", &save); tok && nfaults < 16;
	     tok = strtok_r(NULL, ",", &save)) {
		char *a = strchr(tok, ':'), *b;
		if (!a)
			continue;
		*a++ = '\0';
		b = strchr(a, ':');
		if (!b)
			continue;
		*b++ = '\0';
		for (int op = 0; op < OP__N; op++) {
			if (strcmp(tok, op_names[op]))
				continue;
			faults[nfaults].op = op;
			faults[nfaults].when = strtoull(a, NULL, 10);
			faults[nfaults].err = errno_by_name(b);
			if (faults[nfaults].err)
				nfaults++;
		}
	}
}

static void fault_parse(void)
{
	fault_parse_spec(getenv("WANCTL_FAULT"));
}

void xio_fault_arm(const char *spec)
{
	pthread_once(&fault_once, fault_parse);
	fault_parse_spec(spec);
	for (int op = 0; op < OP__N; op++)
		atomic_store(&counts[op], 0);
}

/* 0: no fault; >0 errno to fail with; -1 short transfer. */
static int fault_check(int op)
{
	uint64_t n;

	pthread_once(&fault_once, fault_parse);
	if (!nfaults)
		return 0;
	n = atomic_fetch_add(&counts[op], 1) + 1;
	for (int i = 0; i < nfaults; i++) {
		if (faults[i].op != op || faults[i].when != n)
			continue;
		if (faults[i].err == -2)
			kill(getpid(), SIGKILL);
		return faults[i].err;
	}
	return 0;
}
#define FAULT(op, ret) do { \
		int f_ = fault_check(op); \
		if (f_ > 0) { errno = f_; return (ret); } \
	} while (0)
#define FAULT_SHORT(op, ret, len) do { \
		int f_ = fault_check(op); \
		if (f_ > 0) { errno = f_; return (ret); } \
		if (f_ == -1 && (len) > 1) (len) /= 2; \
	} while (0)
#else
#define FAULT(op, ret) do { } while (0)
#define FAULT_SHORT(op, ret, len) do { } while (0)
#endif

int xopen(const char *path, int flags, mode_t mode)
{
	return xopenat(AT_FDCWD, path, flags, mode);
}

int xopenat(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd;

	FAULT(OP_OPEN, -1);
	do
		fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

ssize_t xread(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t want = len - done;
		ssize_t n;

		FAULT_SHORT(OP_READ, -1, want);
		n = read(fd, (char *)buf + done, want);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t xpread(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		size_t want = len - done;
		ssize_t n;

		FAULT_SHORT(OP_READ, -1, want);
		n = pread(fd, (char *)buf + done, want, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int xwrite(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t want = len - done;
		ssize_t n;

		FAULT_SHORT(OP_WRITE, -1, want);
		n = write(fd, (const char *)buf + done, want);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int xpwrite(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		size_t want = len - done;
		ssize_t n;

		FAULT_SHORT(OP_WRITE, -1, want);
		n = pwrite(fd, (const char *)buf + done, want, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int xio_fsync_disabled(void)
{
	static int disabled = -1;
	if (disabled < 0) {
		const char *e = getenv("WANCTL_NO_FSYNC");
		disabled = e && *e && strcmp(e, "0");
	}
	return disabled;
}

int xfsync(int fd)
{
	FAULT(OP_FSYNC, -1);
	atomic_fetch_add(&fsyncs, 1);
	if (xio_fsync_disabled())
		return 0;
	/* Never retried on failure: a failed fsync is final (fsyncgate). */
	return fsync(fd);
}

void xwriteback(int fd, uint64_t off, uint64_t window)
{
	if (xio_fsync_disabled() || off < window)
		return;
	sync_file_range(fd, (off64_t)(off - window), (off64_t)window, SYNC_FILE_RANGE_WRITE);
	if (off >= 2 * window) {
		sync_file_range(fd, (off64_t)(off - 2 * window), (off64_t)window,
				SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				SYNC_FILE_RANGE_WAIT_AFTER);
		posix_fadvise(fd, (off_t)(off - 2 * window), (off_t)window, POSIX_FADV_DONTNEED);
	}
}

uint64_t xio_fsync_count(void)
{
	return atomic_load(&fsyncs);
}

int xclose(int fd)
{
	if (fd < 0)
		return 0;
	FAULT(OP_CLOSE, (close(fd), -1));
	/* Never retried: on Linux the fd is gone even on EINTR. */
	if (close(fd) < 0 && errno != EINTR)
		return -1;
	return 0;
}

int xrenameat(int olddir, const char *oldp, int newdir, const char *newp,
	      unsigned flags)
{
	FAULT(OP_RENAME, -1);
	if (!flags)
		return renameat(olddir, oldp, newdir, newp);
	return (int)syscall(SYS_renameat2, olddir, oldp, newdir, newp, flags);
}

int xrename(const char *oldp, const char *newp)
{
	return xrenameat(AT_FDCWD, oldp, AT_FDCWD, newp, 0);
}

int xlinkat(int olddir, const char *oldp, int newdir, const char *newp)
{
	FAULT(OP_LINK, -1);
	return linkat(olddir, oldp, newdir, newp, 0);
}

int xmkdirat(int dirfd, const char *path, mode_t mode)
{
	FAULT(OP_MKDIR, -1);
	return mkdirat(dirfd, path, mode);
}

int xunlinkat(int dirfd, const char *path, int flags)
{
	FAULT(OP_UNLINK, -1);
	return unlinkat(dirfd, path, flags);
}

int xsymlinkat(const char *target, int dirfd, const char *linkp)
{
	FAULT(OP_SYMLINK, -1);
	return symlinkat(target, dirfd, linkp);
}

void close_keep_errno(int fd)
{
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
}

int xfsync_dir(const char *path)
{
	int fd = xopen(path, O_RDONLY | O_DIRECTORY, 0), ret, e;

	if (fd < 0)
		return -1;
	ret = xfsync(fd);
	e = errno;
	xclose(fd);
	errno = e;
	return ret;
}

int xfsync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return xfsync_dir(".");
	n = (size_t)(slash - path);
	if (n == 0)
		return xfsync_dir("/");
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	return xfsync_dir(dir);
}
