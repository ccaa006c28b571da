/*
 * System facts for the monitor and the health report, from /proc and
 * statvfs(3). Parsers take the text so that tests can feed them.
 */
#include "util/common.h"
#include "util/xio.h"
#include "wanctl/monitor.h"

#include <errno.h>
#include <math.h>
#include <sys/statvfs.h>

/* Read a small /proc file into buf (NUL-terminated). */
static int sys_read(const char *path, char *buf, size_t size)
{
	int fd = xopen(path, O_RDONLY, 0);
	ssize_t n;

	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s'", path);
	n = xread(fd, buf, size - 1);
	xclose(fd);
	if (n < 0)
		return wan_err_sys(0, "cannot read '%s'", path);
	buf[n] = '\0';
	return 0;
}

int wan_sys_parse_stat(const char *text, struct wan_cpu_times *out)
{
	const char *p = text;
	uint64_t v[10] = { 0 };
	int i;

	while (p && strncmp(p, "cpu ", 4)) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return wan_err(WAN_EINVAL, "no 'cpu' line in /proc/stat");
	p += 4;
	for (i = 0; i < 10; i++) {
		char *end;
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno)
			return wan_err(WAN_EINVAL, "bad number in /proc/stat 'cpu' line");
		p = end;
	}
	if (i < 4)
		return wan_err(WAN_EINVAL, "short 'cpu' line in /proc/stat (%d fields)", i);
	/* user nice system idle iowait irq softirq steal guest guest_nice;
	 * guest time is already counted in user. */
	out->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	out->total = out->busy + v[3] + v[4];
	return 0;
}

int wan_sys_cpu_times(struct wan_cpu_times *out)
{
	char buf[16384];
	int err = sys_read("/proc/stat", buf, sizeof(buf));

	return err < 0 ? err : wan_sys_parse_stat(buf, out);
}

double wan_sys_cpu_usage(const struct wan_cpu_times *prev,
			 const struct wan_cpu_times *cur)
{
	double busy, total;

	if (cur->total <= prev->total || cur->busy < prev->busy)
		return NAN;
	busy = (double)(cur->busy - prev->busy);
	total = (double)(cur->total - prev->total);
	return busy > total ? 1.0 : busy / total;
}

static int meminfo_field(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			unsigned long long kb;
			char *end;
			errno = 0;
			kb = strtoull(p + klen + 1, &end, 10);
			if (errno || end == p + klen + 1)
				return wan_err(WAN_EINVAL, "bad '%s' in /proc/meminfo", key);
			if (kb > UINT64_MAX / 1024)
				return wan_err(WAN_EINVAL, "'%s' overflows in /proc/meminfo", key);
			*out = (uint64_t)kb * 1024;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return WAN_ENOTFOUND;
}

int wan_sys_parse_meminfo(const char *text, struct wan_meminfo *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = meminfo_field(text, "MemTotal", &out->total)) < 0)
		return err == WAN_ENOTFOUND ?
			wan_err(WAN_EINVAL, "no MemTotal in /proc/meminfo") : err;
	err = meminfo_field(text, "MemAvailable", &out->available);
	if (err == WAN_ENOTFOUND) {
		/* Kernels before 3.14: free + buffers + cached. */
		uint64_t f = 0, b = 0, c = 0;
		meminfo_field(text, "MemFree", &f);
		meminfo_field(text, "Buffers", &b);
		meminfo_field(text, "Cached", &c);
		out->available = f + b + c;
	} else if (err < 0) {
		return err;
	}
	if (out->available > out->total)
		out->available = out->total;
	out->used = out->total - out->available;
	if ((err = meminfo_field(text, "SwapTotal", &out->swap_total)) < 0 &&
	    err != WAN_ENOTFOUND)
		return err;
	if ((err = meminfo_field(text, "SwapFree", &out->swap_free)) < 0 &&
	    err != WAN_ENOTFOUND)
		return err;
	if (out->swap_free > out->swap_total)
		out->swap_free = out->swap_total;
	return 0;
}

int wan_sys_meminfo(struct wan_meminfo *out)
{
	char buf[16384];
	int err = sys_read("/proc/meminfo", buf, sizeof(buf));

	return err < 0 ? err : wan_sys_parse_meminfo(buf, out);
}

int wan_sys_loadavg(double load[3])
{
	char buf[256];
	int err = sys_read("/proc/loadavg", buf, sizeof(buf));
	char *p = buf, *end;

	if (err < 0)
		return err;
	for (int i = 0; i < 3; i++) {
		load[i] = strtod(p, &end);
		if (end == p)
			return wan_err(WAN_EINVAL, "cannot parse /proc/loadavg");
		p = end;
	}
	return 0;
}

int wan_sys_disk(const char *path, struct wan_diskinfo *out)
{
	struct statvfs sv;
	uint64_t frsize;

	memset(out, 0, sizeof(*out));
	if (statvfs(path, &sv) < 0)
		return wan_err_sys(0, "cannot statvfs '%s'", path);
	frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	if (__builtin_mul_overflow((uint64_t)sv.f_blocks, frsize, &out->total) ||
	    __builtin_mul_overflow((uint64_t)sv.f_bfree, frsize, &out->free) ||
	    __builtin_mul_overflow((uint64_t)sv.f_bavail, frsize, &out->avail))
		return wan_err(WAN_EINVAL, "statvfs of '%s' overflows", path);
	out->free_ratio = out->total ? (double)out->avail / (double)out->total : 0;
	out->inodes_total = sv.f_files;
	out->inodes_free = sv.f_ffree;
	out->inodes_used_ratio = sv.f_files ?
		(double)(sv.f_files - (sv.f_ffree > sv.f_files ? sv.f_files : sv.f_ffree)) /
		(double)sv.f_files : 0;
	return 0;
}
