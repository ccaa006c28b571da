#ifndef WANCTL_RUNCMD_H
#define WANCTL_RUNCMD_H
/*
 * Run a command through /bin/sh -c with a timeout (hooks, smoke tests,
 * alert handlers). The child gets its own process group, which is killed
 * (SIGTERM, then SIGKILL after 5 s) when the timeout expires.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wan_cmd_result {
	int exit_status;      /* exit code, or 128+signal */
	bool timed_out;
	double seconds;       /* wall time */
	uint64_t max_rss;     /* peak RSS of the child in bytes (wait4) */
	char *output;         /* last bytes of stdout+stderr (malloc'd, may be NULL) */
};

/*
 * env: NULL-terminated "NAME=value" strings added to the environment (may
 * be NULL). input: written to the child's stdin (may be NULL). Output is
 * captured (at most output_cap bytes are kept: the tail). timeout 0: none.
 * Returns 0 when the command ran (whatever its status), or an error when
 * it could not be started.
 */
int wan_run_command(const char *command, const char *const *env,
		    const char *input, double timeout_seconds, size_t output_cap,
		    struct wan_cmd_result *res);
void wan_cmd_result_release(struct wan_cmd_result *res);

#endif
