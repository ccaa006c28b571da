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
 * Counting and failing stop when main() returns or exit() is called, after
 * wanctl's own exit handlers and before the dynamic linker's destructors
 * (gcov's counter dump in coverage builds crashes on a NULL malloc, and its
 * allocations must not count as wanctl's). An atexit() handler registered
 * by this library's constructor would run after those destructors, since
 * __libc_start_main registers the linker's later; so main itself is
 * wrapped, and the handler is registered first thing inside it: it runs
 * last of the handlers registered in main, first of the rest.
 */
static __thread int in_shim;
typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

static void at_main_exit(void)
{
	ready = 0;
	report();
}

static int wrapped_main(int argc, char **argv, char **envp)
{
	in_shim = 1;
	atexit(at_main_exit);
	in_shim = 0;
	return real_main(argc, argv, envp);
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(main_fn, int, char **, void (*)(void), void (*)(void),
		    void (*)(void), void *);

	*(void **)&real = dlsym(RTLD_NEXT, "__libc_start_main");
	real_main = main;
	return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}

__attribute__((constructor)) static void init(void)
{
	const char *a = getenv("FAILMALLOC_AT"), *c = getenv("FAILMALLOC_COUNT");
	fail_at = a ? strtoul(a, NULL, 10) : 0;
	persist = getenv("FAILMALLOC_PERSIST") != NULL;
	if (c && strlen(c) < sizeof(count_file))
		memcpy(count_file, c, strlen(c) + 1);
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
