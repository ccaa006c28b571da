#ifndef WANCTL_LOG_H
#define WANCTL_LOG_H
/*
 * The library never prints: it hands messages and progress to sinks that
 * the CLI or the daemon registers. With no sink, messages are dropped.
 */
#include <stdint.h>

enum wan_log_level { WAN_LOG_ERROR, WAN_LOG_WARN, WAN_LOG_INFO, WAN_LOG_DEBUG };

typedef void (*wan_log_fn)(enum wan_log_level lvl, const char *msg, void *ud);
/* Progress of long work: what (e.g. "ingest t2v-A14B"), bytes done/total,
 * files done/total. Called from worker threads; the sink must be
 * thread-safe and cheap. */
typedef void (*wan_progress_fn)(const char *what, uint64_t done, uint64_t total,
				uint64_t files_done, uint64_t files_total, void *ud);

void wan_log_set_sink(wan_log_fn fn, void *ud);
void wan_progress_set_sink(wan_progress_fn fn, void *ud);
void wan_log(enum wan_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void wan_progress(const char *what, uint64_t done, uint64_t total,
		  uint64_t files_done, uint64_t files_total);

#endif
