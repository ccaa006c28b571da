#ifndef WANCTL_ERROR_H
#define WANCTL_ERROR_H
/*
 * Error model (libgit2 style): functions return 0 on success or a negative
 * WAN_E* code; the message of the last error is kept per thread and read
 * with wan_errmsg().
 */
#include <stdarg.h>

enum wan_error {
	WAN_OK = 0,
	WAN_ERROR = -1,     /* generic failure */
	WAN_ENOTFOUND = -2,
	WAN_EEXISTS = -3,
	WAN_ELOCKED = -4,   /* another wanctl holds the lock */
	WAN_ECORRUPT = -5,  /* data does not match what it claims to be */
	WAN_ENOSPC = -6,
	WAN_EINVAL = -7,    /* bad input (file, manifest, argument) */
	WAN_ENOMEM = -8,
	WAN_EIO = -9,
	WAN_ECHECK = -10,   /* a validation check failed */
	WAN_ECONFIG = -11,  /* configuration error */
	WAN_ETIMEOUT = -12,
};

/* Record a message for the current thread and return code. */
int wan_err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int wan_verr(int code, const char *fmt, va_list ap);
/*
 * Like wan_err() with ": strerror(errno)" appended; code 0 derives the code
 * from errno (ENOSPC/EDQUOT -> WAN_ENOSPC, EIO -> WAN_EIO, ENOENT ->
 * WAN_ENOTFOUND, EEXIST -> WAN_EEXISTS, ENOMEM -> WAN_ENOMEM).
 */
int wan_err_sys(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefix the current message: "<prefix>: <old message>". Returns code. */
int wan_err_prefix(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *wan_errmsg(void);
void wan_err_clear(void);
/* Map an errno value to a WAN_E* code. */
int wan_err_from_errno(int e);

#endif
