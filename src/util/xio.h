#ifndef WAN_UTIL_XIO_H
#define WAN_UTIL_XIO_H
/*
 * Every read and write of wanctl goes through here (git wrapper.c, SQLite
 * aSyscall[]). The wrappers loop over short transfers, retry EINTR, turn a
 * 0-byte write into ENOSPC, never retry close(), and open with O_CLOEXEC.
 *
 * In builds with WAN_TEST_HOOKS the environment variable WANCTL_FAULT
 * injects faults: a comma-separated list of OP:N:WHAT, where OP is one of
 * open, read, write, fsync, rename, link, mkdir, unlink, symlink, close,
 * N is the 1-based occurrence of that operation in this process, and WHAT
 * is an errno name (EIO, ENOSPC, EDQUOT, EROFS, EINTR), "short" (the write
 * transfers half its bytes) or "kill" (SIGKILL before the call).
 * WANCTL_NO_FSYNC=1 turns fsync into a no-op for fast ordinary test runs;
 * crash tests never set it.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

int xopen(const char *path, int flags, mode_t mode);
int xopenat(int dirfd, const char *path, int flags, mode_t mode);
/* Read up to len bytes, looping; returns bytes read (short only at EOF) or -1. */
ssize_t xread(int fd, void *buf, size_t len);
ssize_t xpread(int fd, void *buf, size_t len, off_t off);
/* Write all of buf; 0 or -1 with errno (a 0-byte write gives ENOSPC). */
int xwrite(int fd, const void *buf, size_t len);
int xpwrite(int fd, const void *buf, size_t len, off_t off);
int xfsync(int fd);
/* close() once; reports a failing close (NFS reports write errors there). */
int xclose(int fd);
/* close() of a descriptor nothing was written through (a folder, an
 * O_PATH handle), keeping errno for the caller's report; -1 is ignored.
 * Not a fault point. */
void close_keep_errno(int fd);
int xrenameat(int olddir, const char *oldp, int newdir, const char *newp,
	      unsigned flags);
int xrename(const char *oldp, const char *newp);
int xlinkat(int olddir, const char *oldp, int newdir, const char *newp);
int xmkdirat(int dirfd, const char *path, mode_t mode);
int xunlinkat(int dirfd, const char *path, int flags);
int xsymlinkat(const char *target, int dirfd, const char *linkp);

/* Open dir (O_DIRECTORY), fsync it, close it. */
int xfsync_dir(const char *path);
/* fsync the directory holding path. */
int xfsync_parent(const char *path);

#ifdef WAN_TEST_HOOKS
/* Replace the faults of WANCTL_FAULT with spec (same syntax; NULL or ""
 * for none) and count the operations from zero again: a unit test arms
 * one fault around one call. Not thread-safe against running I/O. */
void xio_fault_arm(const char *spec);
#endif

/* Number of fsyncs issued by this process (for tests and the audit). */
uint64_t xio_fsync_count(void);
/* True when WANCTL_NO_FSYNC is set. */
int xio_fsync_disabled(void);
/* Writing a big file front to back: at each multiple off of window, start
 * writeback of the window before off, and wait for and drop from the page
 * cache the one before that, so dirty pages never pile up behind a final
 * fsync (redis rio.c). A no-op with WANCTL_NO_FSYNC. */
void xwriteback(int fd, uint64_t off, uint64_t window);

#endif
