/* Running shell commands with a timeout and captured output. */
#include "util/common.h"
#include "util/xio.h"
#include "wanctl/runcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void wan_cmd_result_release(struct wan_cmd_result *res)
{
	free(res->output);
	res->output = NULL;
}

static void keep_tail(char *buf, size_t *len, size_t cap, const char *data, size_t n)
{
	if (n >= cap) {
		memcpy(buf, data + n - cap, cap);
		*len = cap;
		return;
	}
	if (*len + n > cap) {
		size_t drop = *len + n - cap;
		memmove(buf, buf + drop, *len - drop);
		*len -= drop;
	}
	memcpy(buf + *len, data, n);
	*len += n;
}

int wan_run_command(const char *command, const char *const *env,
		    const char *input, double timeout_seconds, size_t output_cap,
		    struct wan_cmd_result *res)
{
	int outp[2] = { -1, -1 }, inp[2] = { -1, -1 };
	double start = wan_now_mono(), kill_at = 0;
	char *cap = NULL;
	size_t caplen = 0, inlen = input ? strlen(input) : 0, inoff = 0;
	struct rusage ru;
	pid_t pid;
	int status = 0, killed = 0;

	memset(res, 0, sizeof(*res));
	if (!output_cap)
		output_cap = 64 * 1024;
	cap = malloc(output_cap + 1);
	if (!cap)
		return wan_err(WAN_ENOMEM, "out of memory");
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(inp, O_CLOEXEC) < 0) {
		free(cap);
		return wan_err_sys(0, "cannot create a pipe for '%s'", command);
	}
	pid = fork();
	if (pid < 0) {
		free(cap);
		close(outp[0]); close(outp[1]); close(inp[0]); close(inp[1]);
		return wan_err_sys(0, "cannot fork to run '%s'", command);
	}
	if (pid == 0) {
		setpgid(0, 0);
		dup2(inp[0], 0);
		dup2(outp[1], 1);
		dup2(outp[1], 2);
		signal(SIGPIPE, SIG_DFL);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(outp[1]);
	close(inp[0]);
	fcntl(inp[1], F_SETFL, O_NONBLOCK);
	if (!inlen) {
		close(inp[1]);
		inp[1] = -1;
	}
	for (;;) {
		struct pollfd pf[2];
		int nf = 0, timeout_ms = 200;
		double now = wan_now_mono();

		if (timeout_seconds > 0 && !killed && now - start > timeout_seconds) {
			kill(-pid, SIGTERM);
			killed = 1;
			kill_at = now + 5;
			res->timed_out = true;
		}
		if (killed == 1 && now > kill_at) {
			kill(-pid, SIGKILL);
			killed = 2;
		}
		pf[nf].fd = outp[0];
		pf[nf++].events = POLLIN;
		if (inp[1] >= 0) {
			pf[nf].fd = inp[1];
			pf[nf++].events = POLLOUT;
		}
		if (poll(pf, (nfds_t)nf, timeout_ms) < 0 && errno != EINTR)
			break;
		if (pf[0].revents & (POLLIN | POLLHUP)) {
			char tmp[8192];
			ssize_t n = read(outp[0], tmp, sizeof(tmp));
			if (n > 0)
				keep_tail(cap, &caplen, output_cap, tmp, (size_t)n);
			else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				break;
		}
		if (nf > 1 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(inp[1], input + inoff, inlen - inoff);
			if (n > 0)
				inoff += (size_t)n;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				inoff = inlen;
			if (inoff >= inlen) {
				close(inp[1]);
				inp[1] = -1;
			}
		}
	}
	close(outp[0]);
	if (inp[1] >= 0)
		close(inp[1]);
	/* The output closed: the shell is exiting (or detached its children). */
	for (;;) {
		pid_t w = wait4(pid, &status, WNOHANG, &ru);
		double now = wan_now_mono();
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = 0;
			memset(&ru, 0, sizeof(ru));
			break;
		}
		if (timeout_seconds > 0 && !killed && now - start > timeout_seconds) {
			kill(-pid, SIGTERM);
			killed = 1;
			kill_at = now + 5;
			res->timed_out = true;
		}
		if (killed == 1 && now > kill_at) {
			kill(-pid, SIGKILL);
			killed = 2;
		}
		usleep(10000);
	}
	if (killed)
		kill(-pid, SIGKILL);
	res->seconds = wan_now_mono() - start;
	res->max_rss = (uint64_t)ru.ru_maxrss * 1024;
	res->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) :
			   WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
	cap[caplen] = '\0';
	res->output = cap;
	return 0;
}
