/*
 * LD_PRELOAD library for allocation-failure sweeps (reliability plan item
 * 10, SQLite's malloc tests): with FAILMALLOC_AT=N the Nth call of
 * malloc/calloc/realloc/posix_memalign in the process (counted from the
 * first call after start-up) returns NULL with ENOMEM; FAILMALLOC_PERSIST=1
 * makes every call after it fail too. Without FAILMALLOC_AT nothing fails.
 * FAILMALLOC_COUNT=FILE writes the number of calls seen at exit (for the
 * baseline of a sweep).
 *
 * FAILMALLOC_RANGES=FILE narrows the count to the allocations made on
 * behalf of chosen functions of the program: FILE holds "OFFSET SIZE"
 * lines (hex, offsets from the program's load address, as `nm -S` prints
 * them for a PIE), and a call counts only when one of the first two stack
 * frames in the program itself lies in a range. The second frame catches
 * wrappers (a database prepare helper called by the code under test); the
 * frames in between, in libc, jansson or SQLite, are skipped. This lets a
 * sweep fail every allocation of a few source files instead of sampling
 * the ten thousand a command makes. With it, FAILMALLOC_SITES=FILE writes
 * at exit one "N OFFSET" line per call site (the frame found in a range):
 * N is the first counted call made from it. Failing those N values, one
 * per run, fails each site once (a manifest load makes thousands of
 * allocations from one call of the JSON parser; they all end alike).
 */
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
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
static struct range { uintptr_t lo, hi; } *ranges;
static size_t nranges;
static uintptr_t exe_base, exe_lo, exe_hi;
static char sites_file[512];
static struct site { uintptr_t off; unsigned long first; } sites[8192];
static size_t nsites;

static void report(void)
{
	FILE *f;

	if (count_file[0] && (f = fopen(count_file, "w"))) {
		fprintf(f, "%lu\n", (unsigned long)atomic_load(&calls));
		fclose(f);
	}
	if (sites_file[0] && (f = fopen(sites_file, "w"))) {
		for (size_t i = 0; i < nsites; i++)
			fprintf(f, "%lu %lx\n", sites[i].first, (unsigned long)sites[i].off);
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

/* The first object dl_iterate_phdr reports is the program itself. */
static int program_extent(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	exe_base = info->dlpi_addr;
	exe_lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		if (exe_base + ph->p_vaddr < exe_lo)
			exe_lo = exe_base + ph->p_vaddr;
		if (exe_base + ph->p_vaddr + ph->p_memsz > exe_hi)
			exe_hi = exe_base + ph->p_vaddr + ph->p_memsz;
	}
	return 1;
}

static void load_ranges(const char *file)
{
	unsigned long lo, n;
	size_t cap = 0;
	FILE *f;
	void *probe[1];

	if (!file || !(f = fopen(file, "r")))
		return;
	while (fscanf(f, "%lx %lx", &lo, &n) == 2) {
		if (nranges == cap) {
			struct range *r = realloc(ranges, (cap = cap ? 2 * cap : 256) * sizeof(*r));
			if (!r)
				abort();
			ranges = r;
		}
		ranges[nranges].lo = lo;
		ranges[nranges++].hi = lo + n;
	}
	fclose(f);
	if (!nranges)
		abort();        /* an empty table would count nothing: a broken sweep */
	/* The program's load address and extent; and backtrace() loads its
	 * unwinder (which allocates) now, not inside the first counted call. */
	dl_iterate_phdr(program_extent, NULL);
	if (exe_hi <= exe_lo)
		abort();
	backtrace(probe, 1);
}

/* The site of this allocation: the offset of the frame in a range, or 0
 * when the allocation is not made on behalf of a function in a range. */
static uintptr_t in_ranges(void)
{
	void *fr[48];
	int n = backtrace(fr, 48), seen = 0;

	for (int i = 0; i < n && seen < 2; i++) {
		uintptr_t a = (uintptr_t)fr[i];
		if (a < exe_lo || a >= exe_hi)
			continue;
		seen++;
		a -= exe_base + 1;      /* a return address: the call is just before */
		for (size_t k = 0; k < nranges; k++)
			if (a >= ranges[k].lo && a < ranges[k].hi)
				return a + 1;
	}
	return 0;
}

__attribute__((constructor)) static void init(void)
{
	const char *a = getenv("FAILMALLOC_AT"), *c = getenv("FAILMALLOC_COUNT");
	fail_at = a ? strtoul(a, NULL, 10) : 0;
	persist = getenv("FAILMALLOC_PERSIST") != NULL;
	if (c && strlen(c) < sizeof(count_file))
		memcpy(count_file, c, strlen(c) + 1);
	load_ranges(getenv("FAILMALLOC_RANGES"));
	c = getenv("FAILMALLOC_SITES");
	if (c && nranges && strlen(c) < sizeof(sites_file))
		memcpy(sites_file, c, strlen(c) + 1);
	ready = 1;
}

static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_site(uintptr_t off, unsigned long n)
{
	size_t i;

	pthread_mutex_lock(&sites_lock);
	for (i = 0; i < nsites && sites[i].off != off; i++)
		;
	if (i == nsites && nsites < sizeof(sites) / sizeof(sites[0])) {
		sites[nsites].off = off;
		sites[nsites++].first = n;
	}
	pthread_mutex_unlock(&sites_lock);
}

static int should_fail(void)
{
	unsigned long n;
	if (!ready || in_shim)
		return 0;
	if (nranges) {
		uintptr_t site;
		in_shim = 1;
		site = in_ranges();
		in_shim = 0;
		if (!site)
			return 0;
		n = atomic_fetch_add(&calls, 1) + 1;
		if (sites_file[0])
			note_site(site, n);
	} else {
		n = atomic_fetch_add(&calls, 1) + 1;
	}
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
