/*
 * LD_PRELOAD library for allocation-failure sweeps (reliability plan item
 * 10, SQLite's malloc tests): with FAILMALLOC_AT=N the Nth call of
 * malloc/calloc/realloc/posix_memalign in the process (counted from the
 * first call after start-up) returns NULL with ENOMEM; FAILMALLOC_PERSIST=1
 * makes every call after it fail too. Without FAILMALLOC_AT nothing fails.
 * FAILMALLOC_COUNT=FILE writes the number of calls seen at exit (for the
 * baseline of a sweep).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong calls;
static unsigned long fail_at;
static int persist, ready;
static char count_file[512];

static void report(void)
{
	FILE *f;
	if (!count_file[0])
		return;
	f = fopen(count_file, "w");
	if (f) {
		fprintf(f, "%lu\n", (unsigned long)atomic_load(&calls));
		fclose(f);
	}
}

/*
 * Failing stops at exit, after wanctl's own exit handlers: stop_failing is
 * registered with atexit when the first failure is injected, so it runs
 * before the handlers registered earlier, among them the dynamic linker's
 * destructors (gcov's counter dump in coverage builds crashes on a NULL
 * malloc, and its counters would be lost).
 */
static int registered;
static __thread int in_shim;

static void stop_failing(void)
{
	fail_at = 0;
}

__attribute__((constructor)) static void init(void)
{
	const char *a = getenv("FAILMALLOC_AT"), *c = getenv("FAILMALLOC_COUNT");
	fail_at = a ? strtoul(a, NULL, 10) : 0;
	persist = getenv("FAILMALLOC_PERSIST") != NULL;
	if (c && strlen(c) < sizeof(count_file)) {
		memcpy(count_file, c, strlen(c) + 1);
		atexit(report);
	}
	ready = 1;
}

static int should_fail(void)
{
	unsigned long n;
	if (!ready || in_shim)
		return 0;
	n = atomic_fetch_add(&calls, 1) + 1;
	if (!fail_at)
		return 0;
	if (n >= fail_at && !registered) {
		/* atexit may allocate: that allocation is neither counted nor failed. */
		registered = 1;
		in_shim = 1;
		atexit(stop_failing);
		in_shim = 0;
	}
	return n == fail_at || (persist && n > fail_at);
}

void *malloc(size_t n)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;
	if (should_fail())
		return ENOMEM;
	p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}
