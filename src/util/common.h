#ifndef WAN_UTIL_COMMON_H
#define WAN_UTIL_COMMON_H
/* Included first by every .c file of util/ and lib/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "wanctl/error.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WAN_BUG(msg) wan_bug(__FILE__, __LINE__, (msg))
#define WAN_UNUSED __attribute__((unused))

/*
 * SQLite's ALWAYS(X) and NEVER(X) (https://sqlite.org/testing.html,
 * "ALWAYS and NEVER"): a defensive test of a condition that cannot be
 * false (ALWAYS) or true (NEVER) however the program is driven. Coverage
 * builds (WAN_COVERAGE) make them constants, so the impossible branch is
 * not counted as untested; debug builds assert that the impossible does
 * not happen; release builds keep the test. X must have no side effects
 * (it is not evaluated in coverage builds). Never use them to hide
 * reachable error handling.
 */
#if defined(WAN_COVERAGE)
#define ALWAYS(X) (1)
#define NEVER(X) (0)
#elif !defined(NDEBUG)
#include <assert.h>
#define ALWAYS(X) ((X) ? 1 : (assert(0), 0))
#define NEVER(X) ((X) ? (assert(0), 1) : 0)
#else
#define ALWAYS(X) ((X) ? 1 : 0)
#define NEVER(X) ((X) ? 1 : 0)
#endif

_Noreturn void wan_bug(const char *file, int line, const char *msg);

/*
 * snprintf that reports truncation: returns 0, or WAN_EINVAL (with a
 * message) when the output did not fit.
 */
int wan_snprintf(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* snprintf for names shown in messages only: a text longer than the
 * buffer is cut short, never an error (the operation it names is done
 * through descriptors, not this text). Returns dst. */
const char *wan_msgname(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* strdup that returns NULL on NULL input. */
char *wan_strdup(const char *s);

/* Monotonic and wall clocks. */
double wan_now_mono(void);
double wan_now_wall(void);

/*
 * Who runs this, for the audit trail: "<LOGNAME or USER> (uid N)". NSS
 * (getpwuid) is not used: glibc's asserts on allocation failure inside it
 * (found by tests/crash/t_oom.sh), and the uid is what counts.
 */
void wan_user_name(char *dst, size_t size);

/* "2026-11-29T00:16:58Z" (UTC) for a wall-clock time in seconds. */
void wan_iso_time(double t, char *dst, size_t size);

/* "12.4 GiB" style size. */
void wan_human_size(char *dst, size_t size, uint64_t bytes);

#include "util/banned.h"

#endif
