#include "util/common.h"
#include "util/path.h"
#include "cli/cli.h"
#include "wanctl/monitor.h"
#include "lib/db.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char help_monitor[] =
	"usage: wanctl monitor run [--once] [--interval SECONDS] [--listen HOST:PORT]\n"
	"                          [--models M[,M...]] [--deployment-id ID]\n"
	"       wanctl monitor start [same options as run, except --once]\n"
	"       wanctl monitor stop [--timeout SECONDS]\n"
	"       wanctl monitor status\n"
	"       wanctl monitor history [--model M] [--hours H] [--metric NAME]\n"
	"\n"
	"The monitor samples the machine and the deployed models every\n"
	"monitoring.interval_seconds: CPU, load, memory, swap, disk free and inode\n"
	"use of the model, state, staging and backup folders; every GPU through NVML\n"
	"(no GPU is reported, not an error); each model's availability (the\n"
	"production link resolves to a release whose files are present with their\n"
	"manifest sizes and store inodes); a rolling integrity scrub that re-hashes\n"
	"production at most monitoring.scrub_mb_per_s MiB/s; and the smoke probe's\n"
	"latency every monitoring.probe_interval_seconds when\n"
	"validation.inference_command is set. Samples are kept in the state database\n"
	"for monitoring.retention_hours. Alert rules (monitoring.alert_rules) move\n"
	"through pending, firing and resolved and are sent to the handlers\n"
	"(monitoring.alert_handlers: log, exec, webhook, alertmanager). A firing\n"
	"alert resolves only after its condition has been false for two intervals,\n"
	"so a flapping input is notified once, not at every flip.\n"
	"\n"
	"An HTTP listener on monitoring.listen (default 127.0.0.1:9731) serves\n"
	"/metrics (Prometheus text format), /healthz, /readyz (200 only when every\n"
	"watched model is available and intact, else 503 with the reason) and\n"
	"/api/v1/status (JSON). It is read-only.\n"
	"\n"
	"Subcommands:\n"
	"  run        run in the foreground (for systemd, see\n"
	"             contrib/wanctl-monitor.service);\n"
	"             SIGTERM or SIGINT stops it, SIGHUP reloads the configuration\n"
	"  start      run in the background: pid file <state>/monitor.pid, log\n"
	"             <state>/monitor.log; refuses (exit 3) when a monitor runs\n"
	"  stop       send SIGTERM to the running monitor and wait for it to exit\n"
	"  status     whether a monitor runs, its last sample and the firing alerts\n"
	"             (exit 0 when running, 1 when not)\n"
	"  history    recorded samples per series: count, min, avg, max, last and a\n"
	"             sparkline; --json gives every point\n"
	"\n"
	"Options:\n"
	"  --once                take one sample, evaluate the alerts, run the handlers,\n"
	"                        print the status and exit (run only)\n"
	"  --interval SECONDS    override monitoring.interval_seconds (fractions allowed)\n"
	"  --listen HOST:PORT    override monitoring.listen; \"\" turns the listener off\n"
	"  --models M[,M...]     watch only these models (repeatable)\n"
	"  --deployment-id ID    watch only the models of this deployment\n"
	"  --timeout SECONDS     stop: how long to wait for the monitor to exit (30)\n"
	"  --model M             history: series of this model (default: the system's)\n"
	"  --hours H             history: the window, in hours (default 24)\n"
	"  --metric NAME         history: only this metric (e.g. wanctl_disk_free_bytes)\n"
	"\n"
	"Examples:\n"
	"  wanctl monitor run --interval 10\n"
	"  wanctl monitor start && curl -s 127.0.0.1:9731/metrics | grep wanctl_model\n"
	"  wanctl --json monitor run --once\n"
	"  wanctl monitor history --model t2v-A14B --hours 6\n"
	"  wanctl monitor history --metric wanctl_disk_free_bytes --hours 168\n";

static volatile sig_atomic_t mon_stop, mon_reload;

static void on_stop(int sig)
{
	(void)sig;
	mon_stop = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	mon_reload = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Daemon log lines: "2026-11-29T00:00:00.000Z warning: message". */
static void daemon_log(enum wan_log_level lvl, const char *msg, void *ud)
{
	struct cli *cli = ud;
	char ts[40];
	static const char *const names[] = { "error", "warning", "info", "debug" };

	if (lvl == WAN_LOG_DEBUG && cli->verbosity < 1)
		return;
	if (lvl == WAN_LOG_INFO && cli->verbosity < 0)
		return;
	wan_rfc3339(ts, sizeof(ts), wan_now_wall());
	fprintf(stderr, "%s %s: %s\n", ts, names[lvl], msg);
	fflush(stderr);
}

struct mon_args {
	struct wan_monitor_opts o;
	const char **models;
	size_t nmodels;
	double timeout;
	const char *model;
	double hours;
	const char *metric;
	char *modelbuf;
};

static int parse_args(struct cli *cli, int argc, char **argv, struct mon_args *a,
		      const char *sub)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "interval", required_argument, NULL, 'i' },
		{ "listen", required_argument, NULL, 'l' },
		{ "models", required_argument, NULL, 'm' },
		{ "deployment-id", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "model", required_argument, NULL, 'M' },
		{ "hours", required_argument, NULL, 'H' },
		{ "metric", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;

	memset(a, 0, sizeof(*a));
	a->timeout = 30;
	a->hours = 24;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			a->o.once = true;
			break;
		case 'i':
			a->o.interval = strtod(optarg, &end);
			if (*end || !(a->o.interval > 0) || a->o.interval > 86400)
				return cli_usage(cli, "--interval wants seconds in (0, 86400], not '%s'",
						 optarg);
			break;
		case 'l':
			a->o.listen = optarg;
			break;
		case 'm': {
			char *s = optarg, *tok, *save = NULL;
			for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				const char **nv;
				if (path_check_relative(tok) < 0 || strchr(tok, '/'))
					return cli_usage(cli, "bad model name '%s'", tok);
				nv = realloc(a->models, (a->nmodels + 1) * sizeof(*nv));
				if (!nv)
					return cli_fail(WAN_ENOMEM);
				a->models = nv;
				a->models[a->nmodels++] = tok;
			}
			break;
		}
		case 'd':
			a->o.deployment_id = optarg;
			break;
		case 't':
			a->timeout = strtod(optarg, &end);
			if (*end || !(a->timeout > 0))
				return cli_usage(cli, "--timeout wants seconds, not '%s'", optarg);
			break;
		case 'M':
			a->model = optarg;
			break;
		case 'H':
			a->hours = strtod(optarg, &end);
			if (*end || !(a->hours > 0) || a->hours > 24 * 3650)
				return cli_usage(cli, "--hours wants a positive number, not '%s'", optarg);
			break;
		case 'x':
			a->metric = optarg;
			break;
		default:
			return cli_usage(cli, "unknown option '%s' for 'monitor %s'",
					 argv[optind - 1], sub);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	a->o.models = a->models;
	a->o.nmodels = a->nmodels;
	return 0;
}

static void print_once(struct cli *cli, json_t *st)
{
	json_t *m, *a;
	size_t i;

	if (cli->json) {
		cli_print_json(json_incref(st));
		return;
	}
	printf("%-24s %-18s %-10s %s\n", "MODEL", "RELEASE", "AVAILABLE", "INTEGRITY");
	json_array_foreach(json_object_get(st, "models"), i, m) {
		const char *rel = json_string_value(json_object_get(m, "release"));
		bool av = json_is_true(json_object_get(m, "available"));
		printf("%-24s %-18s %-10s %s\n",
		       json_string_value(json_object_get(m, "model")), rel ? rel : "-",
		       av ? "yes" : "no",
		       json_is_true(json_object_get(m, "integrity_ok")) ? "ok" : "MISMATCH");
		if (!av)
			printf("  %s\n", json_string_value(json_object_get(m, "reason")));
	}
	if (!json_array_size(json_object_get(st, "models")))
		printf("(no models deployed or configured)\n");
	{
		json_t *g = json_object_get(st, "gpus");
		json_int_t n = json_integer_value(json_object_get(g, "count"));
		if (n)
			printf("GPUs: %lld (driver %s)\n", (long long)n,
			       json_string_value(json_object_get(g, "driver")));
		else
			printf("GPUs: %s\n", json_string_value(json_object_get(g, "reason")));
	}
	printf("ready: %s\n", json_is_true(json_object_get(st, "ready")) ? "yes" :
	       json_string_value(json_object_get(st, "reason")));
	json_array_foreach(json_object_get(st, "alerts"), i, a)
		printf("alert %s %s: %s\n", json_string_value(json_object_get(a, "state")),
		       json_string_value(json_object_get(a, "name")),
		       json_string_value(json_object_get(a, "summary")));
}

static int monitor_run(struct cli *cli, struct mon_args *a)
{
	struct wan_config *cfg = cli_config(cli);
	char state[WAN_PATH_MAX];
	json_t *st = NULL;
	int fd = -1, err;

	if ((err = wan_monitor_state_path(cfg, state, sizeof(state))) < 0)
		return cli_fail(err);
	mon_stop = mon_reload = 0;
	install_signals();
	if (!a->o.once) {
		wan_log_set_sink(daemon_log, cli);
		if ((err = path_mkdirs(state, 0755)) < 0 ||
		    (err = wan_monitor_lock(state, &fd)) < 0 ||
		    (err = wan_monitor_write_pid(fd)) < 0) {
			if (fd >= 0)
				close(fd);
			return cli_fail(err);
		}
	}
	a->o.config_path = cli->config_path ? cli->config_path : cfg->file;
	a->o.stop = &mon_stop;
	a->o.reload = &mon_reload;
	a->o.status_out = a->o.once ? &st : NULL;
	err = wan_monitor_run(cfg, &a->o);
	if (fd >= 0) {
		char pidf[WAN_PATH_MAX];
		if (path_join(pidf, sizeof(pidf), state, "monitor.pid") == 0)
			unlink(pidf);
		close(fd);
	}
	if (err < 0)
		return cli_fail(err);
	if (st) {
		print_once(cli, st);
		json_decref(st);
	}
	return EXIT_OK;
}

struct ready_pipe {
	int fd;
};

static void ready_cb(void *ud, int err, const char *msg)
{
	struct ready_pipe *rp = ud;
	char b[1200];
	int n;

	if (rp->fd < 0)
		return;
	n = snprintf(b, sizeof(b), "%s %ld %s\n", err < 0 ? "error" : "ok", (long)getpid(),
		     msg ? msg : "");
	if (n > (int)sizeof(b) - 1)
		n = (int)sizeof(b) - 1;
	if (write(rp->fd, b, (size_t)n) < 0) {
		/* The parent gave up waiting; nothing to do. */
	}
	close(rp->fd);
	rp->fd = -1;
}

static int monitor_start(struct cli *cli, struct mon_args *a)
{
	struct wan_config *cfg = cli_config(cli);
	char state[WAN_PATH_MAX], logp[WAN_PATH_MAX], cfgabs[WAN_PATH_MAX];
	int fd = -1, p[2], err, status;
	pid_t pid;
	char buf[1200];
	size_t got = 0;
	double deadline;

	if (a->o.once)
		return cli_usage(cli, "--once is for 'monitor run'");
	if ((err = wan_monitor_state_path(cfg, state, sizeof(state))) < 0 ||
	    (err = path_mkdirs(state, 0755)) < 0 ||
	    (err = path_join(logp, sizeof(logp), state, "monitor.log")) < 0)
		return cli_fail(err);
	if ((err = wan_monitor_lock(state, &fd)) < 0)
		return cli_fail(err);
	/* The daemon reloads from an absolute path: it runs in /. */
	a->o.config_path = NULL;
	if (cli->config_path || cfg->file) {
		if ((err = path_absolute(cfgabs, sizeof(cfgabs), NULL,
					 cli->config_path ? cli->config_path : cfg->file)) < 0) {
			close(fd);
			return cli_fail(err);
		}
		a->o.config_path = cfgabs;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(fd);
		return cli_fail(wan_err_sys(0, "cannot create a pipe"));
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return cli_fail(wan_err_sys(0, "cannot fork"));
	}
	if (pid == 0) {
		/* First child: new session, then fork again so the daemon is
		 * not a session leader and can never get a terminal. */
		int logfd, nul;
		struct ready_pipe rp;

		close(p[0]);
		setsid();
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 1 : 0);
		umask(022);
		if (chdir("/") < 0)
			_exit(1);
		nul = open("/dev/null", O_RDWR);
		logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (nul < 0 || logfd < 0)
			_exit(1);
		dup2(nul, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close(nul);
		close(logfd);
		mon_stop = mon_reload = 0;
		install_signals();
		wan_log_set_sink(daemon_log, cli);
		if (wan_monitor_write_pid(fd) < 0)
			_exit(1);
		rp.fd = p[1];
		a->o.stop = &mon_stop;
		a->o.reload = &mon_reload;
		a->o.ready = ready_cb;
		a->o.ready_ud = &rp;
		err = wan_monitor_run(cfg, &a->o);
		if (err < 0)
			wan_log(WAN_LOG_ERROR, "%s", wan_errmsg());
		{
			char pidf[WAN_PATH_MAX];
			if (path_join(pidf, sizeof(pidf), state, "monitor.pid") == 0)
				unlink(pidf);
		}
		_exit(err < 0 ? 1 : 0);
	}
	close(p[1]);
	close(fd);   /* the daemon holds the lock through its own copy */
	waitpid(pid, &status, 0);
	deadline = wan_now_mono() + 60;
	while (got < sizeof(buf) - 1 && wan_now_mono() < deadline) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		ssize_t n;
		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = read(p[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	close(p[0]);
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strncmp(buf, "ok ", 3)) {
		char *sp = strchr(buf + 3, ' ');
		long dpid = strtol(buf + 3, NULL, 10);
		if (cli->json) {
			cli_print_json(json_pack("{s:b, s:I, s:s, s:s}", "running", 1,
						 "pid", (json_int_t)dpid,
						 "listen", sp ? sp + 1 : "", "log", logp));
		} else {
			cli_info(cli, "monitor started (pid %ld)%s%s; log: %s", dpid,
				 sp && sp[1] ? ", listening on http://" : "", sp ? sp + 1 : "", logp);
		}
		return EXIT_OK;
	}
	if (!strncmp(buf, "error ", 6)) {
		char *sp = strchr(buf + 6, ' ');
		cli_error("monitor did not start: %s", sp ? sp + 1 : buf);
	} else {
		cli_error("monitor did not report readiness within 60 s; see '%s'", logp);
	}
	return EXIT_FAIL;
}

static int monitor_stop(struct cli *cli, struct mon_args *a)
{
	struct wan_config *cfg = cli_config(cli);
	char state[WAN_PATH_MAX];
	long pid;
	int err;
	double deadline;

	if ((err = wan_monitor_state_path(cfg, state, sizeof(state))) < 0 ||
	    (err = wan_monitor_running(state, &pid)) < 0)
		return cli_fail(err);
	if (!pid) {
		cli_info(cli, "no monitor is running");
		if (cli->json)
			cli_print_json(json_pack("{s:b}", "stopped", 0));
		return EXIT_OK;
	}
	if (kill((pid_t)pid, SIGTERM) < 0)
		return cli_fail(wan_err_sys(0, "cannot signal the monitor (pid %ld)", pid));
	deadline = wan_now_mono() + a->timeout;
	for (;;) {
		long now_pid;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		if ((err = wan_monitor_running(state, &now_pid)) < 0)
			return cli_fail(err);
		if (!now_pid)
			break;
		if (wan_now_mono() > deadline) {
			cli_error("the monitor (pid %ld) did not stop within %.0f s", pid, a->timeout);
			return EXIT_FAIL;
		}
		nanosleep(&ts, NULL);
	}
	if (cli->json)
		cli_print_json(json_pack("{s:b, s:I}", "stopped", 1, "pid", (json_int_t)pid));
	else
		cli_info(cli, "monitor stopped (pid %ld)", pid);
	return EXIT_OK;
}

static int monitor_status(struct cli *cli, struct mon_args *a)
{
	struct wan_config *cfg = cli_config(cli);
	char state[WAN_PATH_MAX], db_path[WAN_PATH_MAX];
	struct wan_db *db = NULL;
	json_t *alerts = NULL, *out;
	double last = 0;
	long pid;
	int err;
	struct stat st;

	(void)a;
	if ((err = wan_monitor_state_path(cfg, state, sizeof(state))) < 0 ||
	    (err = wan_monitor_running(state, &pid)) < 0)
		return cli_fail(err);
	if (path_join(db_path, sizeof(db_path), state, "state.db") == 0 &&
	    stat(db_path, &st) == 0 && wan_db_open(&db, state) == 0) {
		sqlite3_stmt *q = NULL;
		if (wan_db_prepare(db, &q, "SELECT max(ts) FROM samples") == 0 &&
		    sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
			last = sqlite3_column_double(q, 0);
		sqlite3_finalize(q);
		wan_alert_list(db, "firing", &alerts);
		wan_db_close(db);
	}
	if (!alerts)
		alerts = json_pack("{s:[]}", "alerts");
	{
		char ts[40] = "";
		if (last > 0)
			wan_rfc3339(ts, sizeof(ts), last);
		out = json_pack("{s:b, s:o, s:o, s:O}", "running", pid != 0,
				"pid", pid ? json_integer(pid) : json_null(),
				"last_sample", last > 0 ? json_string(ts) : json_null(),
				"alerts", json_object_get(alerts, "alerts"));
	}
	json_decref(alerts);
	if (cli->json) {
		cli_print_json(json_incref(out));
	} else {
		json_t *x;
		size_t i;
		if (pid)
			printf("monitor: running (pid %ld)\n", pid);
		else
			printf("monitor: not running\n");
		printf("last sample: %s\n", json_is_string(json_object_get(out, "last_sample")) ?
		       json_string_value(json_object_get(out, "last_sample")) : "none");
		printf("firing alerts: %zu\n", json_array_size(json_object_get(out, "alerts")));
		json_array_foreach(json_object_get(out, "alerts"), i, x)
			printf("  %-24s %-9s %s\n", json_string_value(json_object_get(x, "name")),
			       json_string_value(json_object_get(x, "severity")),
			       json_string_value(json_object_get(x, "summary")));
	}
	json_decref(out);
	return pid ? EXIT_OK : EXIT_FAIL;
}

static void series_name(char *buf, size_t size, json_t *s)
{
	json_t *labels = json_object_get(s, "labels"), *v;
	const char *k;
	size_t off;
	bool first = true;

	snprintf(buf, size, "%s", json_string_value(json_object_get(s, "metric")));
	off = strlen(buf);
	json_object_foreach(labels, k, v) {
		if (off < size)
			off += (size_t)snprintf(buf + off, size - off, "%s%s=\"%s\"",
						first ? "{" : ",", k, json_string_value(v));
		first = false;
	}
	if (!first && off < size)
		snprintf(buf + off, size - off, "}");
}

static int monitor_history(struct cli *cli, struct mon_args *a)
{
	struct wan_config *cfg = cli_config(cli);
	char state[WAN_PATH_MAX];
	struct wan_db *db = NULL;
	json_t *out = NULL, *s;
	size_t i;
	int err;
	double now = wan_now_wall();

	if ((err = wan_monitor_state_path(cfg, state, sizeof(state))) < 0 ||
	    (err = path_mkdirs(state, 0755)) < 0 ||
	    (err = wan_db_open(&db, state)) < 0)
		return cli_fail(err);
	err = wan_history_query(db, now - a->hours * 3600.0, a->model, a->metric, &out);
	wan_db_close(db);
	if (err < 0)
		return cli_fail(err);
	if (cli->json) {
		cli_print_json(out);
		return EXIT_OK;
	}
	if (!json_array_size(json_object_get(out, "series"))) {
		printf("no samples in the last %g hours%s%s%s\n", a->hours,
		       a->model ? " for model '" : "", a->model ? a->model : "",
		       a->model ? "'" : "");
		json_decref(out);
		return EXIT_OK;
	}
	printf("%-56s %6s %12s %12s %12s %12s  %s\n", "SERIES", "N", "MIN", "AVG", "MAX",
	       "LAST", "TREND");
	json_array_foreach(json_object_get(out, "series"), i, s) {
		char name[512];
		json_t *pts = json_object_get(s, "points"), *p;
		size_t n = json_array_size(pts), j;
		double *v = calloc(n ? n : 1, sizeof(*v));
		char *spark;

		series_name(name, sizeof(name), s);
		json_array_foreach(pts, j, p)
			if (v)
				v[j] = json_number_value(json_array_get(p, 1));
		spark = v ? wan_sparkline(v, n, 32) : NULL;
		printf("%-56s %6lld %12.6g %12.6g %12.6g %12.6g  %s\n", name,
		       (long long)json_integer_value(json_object_get(s, "count")),
		       json_number_value(json_object_get(s, "min")),
		       json_number_value(json_object_get(s, "avg")),
		       json_number_value(json_object_get(s, "max")),
		       json_number_value(json_object_get(s, "last")), spark ? spark : "");
		free(spark);
		free(v);
	}
	json_decref(out);
	return EXIT_OK;
}

int cmd_monitor(struct cli *cli, int argc, char **argv)
{
	struct mon_args a;
	const char *sub;
	int rc;

	if (argc < 2)
		return cli_usage(cli, "monitor wants a subcommand: run, start, stop, status, history");
	sub = argv[1];
	if (!strcmp(sub, "run") || !strcmp(sub, "start") || !strcmp(sub, "stop") ||
	    !strcmp(sub, "status") || !strcmp(sub, "history")) {
		if ((rc = parse_args(cli, argc - 1, argv + 1, &a, sub)) != 0)
			return rc;
	} else {
		return cli_usage(cli, "unknown monitor subcommand '%s' (run, start, stop, status, "
				 "history)", sub);
	}
	if (strcmp(sub, "run") && a.o.once) {
		free(a.models);
		return cli_usage(cli, "--once is for 'monitor run'");
	}
	if (!strcmp(sub, "run")) {
		rc = monitor_run(cli, &a);
	} else if (!strcmp(sub, "start")) {
		rc = monitor_start(cli, &a);
	} else if (!strcmp(sub, "stop")) {
		rc = monitor_stop(cli, &a);
	} else if (!strcmp(sub, "status")) {
		rc = monitor_status(cli, &a);
	} else {
		rc = monitor_history(cli, &a);
	}
	free(a.models);
	return rc;
}
