#include "util/common.h"
#include "wanctl/log.h"
#include <stdarg.h>

static wan_log_fn log_sink;
static void *log_ud;
static wan_progress_fn progress_sink;
static void *progress_ud;

void wan_log_set_sink(wan_log_fn fn, void *ud)
{
	log_sink = fn;
	log_ud = ud;
}

void wan_progress_set_sink(wan_progress_fn fn, void *ud)
{
	progress_sink = fn;
	progress_ud = ud;
}

void wan_log(enum wan_log_level lvl, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!log_sink)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_sink(lvl, msg, log_ud);
}

void wan_progress(const char *what, uint64_t done, uint64_t total,
		  uint64_t files_done, uint64_t files_total)
{
	if (progress_sink)
		progress_sink(what, done, total, files_done, files_total, progress_ud);
}
