/*
 * wanctl [--config FILE] [--json] [-q|-v] COMMAND ...
 *
 * A sorted dispatch table (git's builtins); global options may also appear
 * after the command. stdout is checked at exit: a write error is exit 1.
 */
#include "util/common.h"
#include "cli/cli.h"
#include "util/sha256.h"

#include <errno.h>
#include <unistd.h>

const struct cli_command cli_commands[] = {
	{ "backup", cmd_backup, "the backup repository: create, list, verify, restore, prune", help_backup },
	{ "config", cmd_config, "show the effective configuration; write a template", help_config },
	{ "demo", cmd_demo, "build miniature Wan models and walk the whole life cycle", help_demo },
	{ "deploy", cmd_deploy, "validate, migrate, switch atomically; roll back on failure", help_deploy },
	{ "gc", cmd_gc, "drop releases past keep_releases and unreferenced objects", help_gc },
	{ "health", cmd_health, "one health report: system, models, alerts, trends", help_health },
	{ "inspect", cmd_inspect, "validate and summarise checkpoint files", help_inspect },
	{ "list", cmd_list, "deployment history", help_list },
	{ "models", cmd_models, "the catalog of known model specs", help_models },
	{ "monitor", cmd_monitor, "the monitor daemon: run, start, stop, status, history", help_monitor },
	{ "releases", cmd_releases, "releases kept for a model", help_releases },
	{ "rollback", cmd_rollback, "switch back to an earlier release", help_rollback },
	{ "status", cmd_status, "current releases, last deployments, interrupted work, alerts", help_status },
	{ "validate", cmd_validate, "run the pre- or post-deployment checks alone", help_validate },
	{ "verify", cmd_verify, "re-hash production against the manifests", help_verify },
};
const size_t cli_ncommands = ARRAY_SIZE(cli_commands);

static const char main_usage[] =
	"usage: wanctl [--config FILE] [--json] [-q|-v] COMMAND [ARGS...]\n";

static void print_main_help(void)
{
	printf("%s\n", main_usage);
	printf("Deploy Wan video-generation checkpoints: validate staging, migrate into a\n"
	       "content-addressed store, switch production atomically, verify, back up,\n"
	       "roll back, and monitor.\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < cli_ncommands; i++)
		printf("  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
	printf("\nGlobal options:\n"
	       "  --config FILE  configuration file (else $WANCTL_CONFIG, ./wanctl.json,\n"
	       "                 /etc/wanctl/config.json, built-in defaults)\n"
	       "  --json         one JSON document on stdout, for scripts\n"
	       "  -q, --quiet    print only errors\n"
	       "  -v, --verbose  more detail\n"
	       "  --version      print the version\n"
	       "  -h, --help     this help; 'wanctl COMMAND --help' for a command\n"
	       "\nExit status: 0 success, 1 operation failed, 2 usage or configuration\n"
	       "error, 3 another wanctl holds the lock, 4 a validation check failed.\n");
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(size_t) * (lb + 1));
	}
	return prev[lb];
}

static const char *suggest(const char *name)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; i < cli_ncommands; i++) {
		size_t d = edit_distance(name, cli_commands[i].name);
		if (d < bestd || (!strncmp(name, cli_commands[i].name, strlen(name)) &&
				  strlen(name) >= 2 && d < 99 && !best)) {
			bestd = d;
			best = cli_commands[i].name;
		}
	}
	return best;
}

const struct cli_command *cli_find(const char *name)
{
	size_t lo = 0, hi = cli_ncommands;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, cli_commands[mid].name);
		if (!c)
			return &cli_commands[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Take global options out of argv[from..], wherever they are (before "--"). */
static int take_globals(struct cli *cli, int *argc, char **argv, int from)
{
	int out = from;
	int i;

	for (i = from; i < *argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--json")) {
			cli->json = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			cli->verbosity = -1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			cli->verbosity++;
		} else if (!strcmp(a, "--config")) {
			if (i + 1 >= *argc) {
				cli_error("option '--config' needs a FILE");
				return -1;
			}
			cli->config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			cli->config_path = a + 9;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

/*
 * jansson's parser does not survive an allocation failure (Debian's 2.14
 * corrupts its heap or hits assert(0) in lex_scan_string: found by
 * tests/crash/t_oom.sh). So the command line gives it an allocator that
 * never returns NULL: out of memory there ends the process with a message,
 * like a kill -9 would, and the next command recovers any interrupted work.
 * libwanctl itself still returns WAN_ENOMEM everywhere else.
 */
static void *json_alloc(size_t n)
{
	static const char msg[] = "wanctl: out of memory (in the JSON library); stopped, "
		"outcome unknown: run 'wanctl status' (the next command recovers any "
		"interrupted work)\n";
	void *p = malloc(n);

	if (!p) {
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			_exit(EXIT_FAIL);
		_exit(EXIT_FAIL);
	}
	return p;
}

int main(int argc, char **argv)
{
	struct cli cli;
	const struct cli_command *cmd;
	int i = 1, ret;

	memset(&cli, 0, sizeof(cli));
	json_set_alloc_funcs(json_alloc, free);
	if (wan_sha256_global_init() < 0) {
		cli_error("%s", wan_errmsg());
		return EXIT_FAIL;
	}
	/* Global options before the command. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			print_main_help();
			goto out;
		} else if (!strcmp(a, "--version")) {
			printf("wanctl %s\n", wan_version());
			goto out;
		} else if (!strcmp(a, "--json")) {
			cli.json = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			cli.verbosity = -1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			cli.verbosity++;
		} else if (!strcmp(a, "--config")) {
			if (++i >= argc) {
				cli_error("option '--config' needs a FILE");
				return EXIT_USAGE;
			}
			cli.config_path = argv[i];
		} else if (!strncmp(a, "--config=", 9)) {
			cli.config_path = a + 9;
		} else {
			cli_error("unknown option '%s'", a);
			fprintf(stderr, "%s", main_usage);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "%s", main_usage);
		fprintf(stderr, "Run 'wanctl --help' for the list of commands.\n");
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 < argc && (cmd = cli_find(argv[i + 1])))
			ret = cli_help(cmd);
		else
			print_main_help();
		goto out;
	}
	cmd = cli_find(argv[i]);
	if (!cmd) {
		const char *s = suggest(argv[i]);
		cli_error("'%s' is not a wanctl command", argv[i]);
		if (s)
			fprintf(stderr, "hint: did you mean '%s'?\n", s);
		else
			fprintf(stderr, "hint: run 'wanctl --help' for the list of commands\n");
		return EXIT_USAGE;
	}
	argv += i;
	argc -= i;
	if (take_globals(&cli, &argc, argv, 1) < 0)
		return EXIT_USAGE;
	cli.cmd = cmd->name;
	cli.tty_err = isatty(STDERR_FILENO) && cli.verbosity >= 0;
	cli.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	cli_install_sinks(&cli);
	if (cli_wants_help(&cli, argc, argv)) {
		ret = 0;
		goto out;
	}
	ret = cmd->fn(&cli, argc, argv);
	wan_config_free(cli.cfg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "wanctl: write error on standard output: %s\n",
			strerror(errno));
		return EXIT_FAIL;
	}
	return ret;
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "wanctl: write error on standard output: %s\n",
			strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}
