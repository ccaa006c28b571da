/*
 * swapper PATH LINK [--max-us N] [--swapped-us M]
 *
 * The racer of tests/crash/t_swap.sh (reliability plan item 18): swaps
 * PATH (usually a folder) with LINK (a symlink on the same filesystem,
 * usually to a sentinel tree outside the roots) with
 * renameat2(RENAME_EXCHANGE) in a loop: the original entry stays a random 0..N microseconds (default 200),
 * the symlink 0..M (default N). Both names always exist: there is no moment
 * without PATH. When wanctl removes the entry at PATH (ENOENT), the swapper
 * waits and tries again.
 *
 * Runs until SIGTERM or SIGINT, then puts the original entry back at PATH
 * (and the link back at LINK) and prints "SWAPS MISSES" on stdout. Exit
 * status 0, or 1 when a swap failed (the message names it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int exchange(const char *a, const char *b)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

static void pause_us(unsigned max_us, unsigned *seed)
{
	struct timespec ts;
	unsigned us;

	if (!max_us)
		return;
	us = (unsigned)rand_r(seed) % (max_us + 1);
	if (!us) {
		sched_yield();
		return;
	}
	ts.tv_sec = 0;
	ts.tv_nsec = (long)us * 1000;
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct stat sb;
	unsigned max_us = 200, swapped_us = 0, seed;
	unsigned long swaps = 0, misses = 0;
	int swapped = 0, i;
	bool have_swapped_us = false;

	if (argc < 3 || argc % 2 == 0) {
		fprintf(stderr, "usage: swapper PATH LINK [--max-us N] [--swapped-us M]\n");
		return 2;
	}
	for (i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--max-us")) {
			max_us = (unsigned)strtoul(argv[i + 1], NULL, 10);
		} else if (!strcmp(argv[i], "--swapped-us")) {
			swapped_us = (unsigned)strtoul(argv[i + 1], NULL, 10);
			have_swapped_us = true;
		} else {
			fprintf(stderr, "swapper: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!have_swapped_us)
		swapped_us = max_us;
	if (lstat(argv[1], &sb) < 0) {
		fprintf(stderr, "swapper: cannot stat '%s': %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (lstat(argv[2], &sb) < 0 || !S_ISLNK(sb.st_mode)) {
		fprintf(stderr, "swapper: '%s' is not a symlink\n", argv[2]);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	seed = (unsigned)getpid() ^ (unsigned)time(NULL);

	while (!stop || swapped) {
		if (exchange(argv[1], argv[2]) < 0) {
			/* PATH removed for a moment (a folder being swept and made
			 * again): try again, for at most ~10 s once stopping. */
			if (errno == ENOENT && misses++ < 100000) {
				pause_us(100, &seed);
				continue;
			}
			fprintf(stderr, "swapper: cannot exchange '%s' and '%s': %s\n", argv[1],
				argv[2], strerror(errno));
			return 1;
		}
		swapped = !swapped;
		swaps++;
		if (!stop)
			pause_us(swapped ? swapped_us : max_us, &seed);
	}
	printf("%lu %lu\n", swaps, misses);
	return 0;
}
