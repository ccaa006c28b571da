#include "util/common.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[2048];

int wan_verr(int code, const char *fmt, va_list ap)
{
	int saved = errno;
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	errno = saved;
	return code;
}

int wan_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wan_verr(code, fmt, ap);
	va_end(ap);
	return code;
}

int wan_err_from_errno(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return WAN_ENOSPC;
	case EIO:
		return WAN_EIO;
	case ENOENT:
		return WAN_ENOTFOUND;
	case EEXIST:
		return WAN_EEXISTS;
	case ENOMEM:
		return WAN_ENOMEM;
	default:
		return WAN_ERROR;
	}
}

int wan_err_sys(int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	n = strlen(errbuf);
	snprintf(errbuf + n, sizeof(errbuf) - n, ": %s",
		 e ? strerror(e) : "unknown error");
	errno = e;
	return code ? code : wan_err_from_errno(e);
}

int wan_err_prefix(int code, const char *fmt, ...)
{
	char old[sizeof(errbuf)];
	char pre[512];
	va_list ap;

	memcpy(old, errbuf, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	/* Using the result keeps -Wformat-truncation (Debug builds) quiet; a
	 * message cut at the end of the buffer is acceptable. */
	if (snprintf(errbuf, sizeof(errbuf), "%s: %s", pre, old) < 0)
		errbuf[0] = '\0';
	return code;
}

const char *wan_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

void wan_err_clear(void)
{
	errbuf[0] = '\0';
}
