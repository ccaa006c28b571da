#include "util/common.h"
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

void wan_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "wanctl: BUG: %s:%d: %s\n", file, line, msg);
	abort();
}

int wan_snprintf(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return wan_err(WAN_EINVAL, "string too long (%d bytes, limit %zu)",
			       n, size ? size - 1 : 0);
	return 0;
}

const char *wan_msgname(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	return dst;
}

char *wan_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

double wan_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double wan_now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void wan_user_name(char *dst, size_t size)
{
	const char *n = getenv("LOGNAME");

	if (!n || !*n)
		n = getenv("USER");
	if (n && *n && strlen(n) < 64 && !strpbrk(n, " \t\n/"))
		snprintf(dst, size, "%s (uid %lu)", n, (unsigned long)getuid());
	else
		snprintf(dst, size, "uid %lu", (unsigned long)getuid());
}

void wan_iso_time(double t, char *dst, size_t size)
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(dst, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void wan_human_size(char *dst, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(dst, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(dst, size, "%.1f %s", v, units[u]);
}
