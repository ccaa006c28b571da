/* Shared helpers of the command-line layer. */
#include "util/common.h"
#include "cli/cli.h"
#include "util/path.h"
#include "util/xio.h"
#include "wanctl/catalog.h"

#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>

const char *wan_version(void);

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("wanctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("wanctl: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_info(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (cli->verbosity < 0)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_exit_code(int code)
{
	switch (code) {
	case 0:
		return EXIT_OK;
	case WAN_ELOCKED:
		return EXIT_LOCKED;
	case WAN_ECHECK:
		return EXIT_CHECK;
	case WAN_ECONFIG:
		return EXIT_USAGE;
	default:
		return EXIT_FAIL;
	}
}

int cli_fail(int code)
{
	cli_error("%s", wan_errmsg());
	return cli_exit_code(code);
}

void cli_print_json(json_t *doc)
{
	if (!doc) {
		cli_error("out of memory building JSON output");
		return;
	}
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(doc);
}

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fputs("wanctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "hint: run 'wanctl %s --help' for usage\n",
		cli->cmd ? cli->cmd : "");
	return EXIT_USAGE;
}

int cli_help(const struct cli_command *c)
{
	fputs(c->help, stdout);
	return 0;
}

int cli_wants_help(struct cli *cli, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			cli_help(cli_find(cli->cmd));
			return 1;
		}
	}
	return 0;
}

struct wan_config *cli_config(struct cli *cli)
{
	int err;

	if (cli->cfg)
		return cli->cfg;
	err = wan_config_load(&cli->cfg, cli->config_path);
	if (err == 0 && cli->cfg->validation.nspec_paths)
		err = wan_catalog_load_user((const char *const *)cli->cfg->validation.spec_paths,
					    cli->cfg->validation.nspec_paths);
	if (err < 0) {
		cli_error("%s", wan_errmsg());
		exit(cli_exit_code(err) == EXIT_FAIL ? EXIT_USAGE : cli_exit_code(err));
	}
	return cli->cfg;
}

static void log_sink(enum wan_log_level lvl, const char *msg, void *ud)
{
	struct cli *cli = ud;

	if (lvl == WAN_LOG_DEBUG && cli->verbosity < 1)
		return;
	if (lvl == WAN_LOG_INFO && cli->verbosity < 0)
		return;
	if (lvl == WAN_LOG_WARN && cli->verbosity < 0)
		return;
	if (cli->tty_err)
		fputs("\r\033[K", stderr);
	if (lvl == WAN_LOG_ERROR)
		fprintf(stderr, "wanctl: %s\n", msg);
	else if (lvl == WAN_LOG_WARN)
		fprintf(stderr, "wanctl: warning: %s\n", msg);
	else
		fprintf(stderr, "%s\n", msg);
}

static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;

static void progress_sink(const char *what, uint64_t done, uint64_t total,
			  uint64_t fdone, uint64_t ftotal, void *ud)
{
	static double start, last;
	static char last_what[128];
	double now = wan_now_mono();
	char a[32], b[32], r[32], eta[32] = "";
	double rate;

	(void)ud;
	pthread_mutex_lock(&progress_lock);
	if (strncmp(last_what, what, sizeof(last_what) - 1)) {
		snprintf(last_what, sizeof(last_what), "%s", what);
		start = now;
		last = 0;
	}
	if (done < total && now - last < 0.2) {
		pthread_mutex_unlock(&progress_lock);
		return;
	}
	last = now;
	rate = now > start ? (double)done / (now - start) : 0;
	wan_human_size(a, sizeof(a), done);
	wan_human_size(b, sizeof(b), total);
	wan_human_size(r, sizeof(r), (uint64_t)rate);
	if (rate > 0 && total > done)
		snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(total - done) / rate);
	fprintf(stderr, "\r\033[K%s: %llu/%llu files, %s/%s, %s/s%s", what,
		(unsigned long long)fdone, (unsigned long long)ftotal, a, b, r, eta);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&progress_lock);
}

void cli_install_sinks(struct cli *cli)
{
	wan_log_set_sink(log_sink, cli);
	if (cli->tty_err && !cli->json)
		wan_progress_set_sink(progress_sink, cli);
}

const char *cli_size(uint64_t bytes)
{
	static _Thread_local char ring[8][32];
	static _Thread_local int k;
	char *s = ring[k++ & 7];

	wan_human_size(s, 32, bytes);
	return s;
}

int cli_print_report(struct cli *cli, const struct wan_report *r)
{
	json_t *root = wan_report_json(r), *c;
	size_t i;
	int worst = wan_report_worst(r);

	if (cli->json) {
		cli_print_json(json_incref(root));
	} else {
		json_array_foreach(json_object_get(root, "checks"), i, c) {
			const char *st = json_string_value(json_object_get(c, "status"));
			const char *model = json_string_value(json_object_get(c, "model"));
			const char *col = "", *end = "";
			if (cli->color) {
				end = "\033[0m";
				col = !strcmp(st, "fail") ? "\033[31m" :
				      !strcmp(st, "warn") ? "\033[33m" :
				      !strcmp(st, "pass") ? "\033[32m" : "";
			}
			if (cli->verbosity < 0 && strcmp(st, "fail"))
				continue;
			printf("%s%-4s%s  %-22s %s%s%s\n", col, st, end,
			       json_string_value(json_object_get(c, "id")),
			       model ? model : "", model ? ": " : "",
			       json_string_value(json_object_get(c, "message")));
		}
	}
	return worst == WAN_CHECK_FAIL ? EXIT_CHECK : EXIT_OK;
}

int cli_parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || v < 0 || v > 1e9)
		return -1;
	*out = v;
	return 0;
}

int cli_write_report(const char *path, json_t *report)
{
	char tmp[WAN_PATH_MAX];
	char *text = json_dumps(report, JSON_INDENT(2));
	int fd, err = 0;

	if (!text)
		return wan_err(WAN_ENOMEM, "out of memory");
	if ((err = wan_snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid())) < 0)
		goto out;
	fd = xopen(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		err = wan_err_sys(0, "cannot create '%s'", tmp);
		goto out;
	}
	if (xwrite(fd, text, strlen(text)) < 0 || xwrite(fd, "\n", 1) < 0 || xfsync(fd) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", tmp);
		xclose(fd);
		unlink(tmp);
		goto out;
	}
	if (xclose(fd) < 0 || xrename(tmp, path) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", path);
		unlink(tmp);
		goto out;
	}
	xfsync_parent(path);
out:
	free(text);
	return err;
}
