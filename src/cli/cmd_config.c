/* wanctl config show|init: the effective configuration; a template. */
#include "util/common.h"
#include "cli/cli.h"

#include <getopt.h>

const char help_config[] =
	"usage: wanctl [--config FILE] config show [--json]\n"
	"       wanctl config init [FILE]\n"
	"\n"
	"The configuration is one JSON file, found by --config FILE, then\n"
	"$WANCTL_CONFIG, then ./wanctl.json, then /etc/wanctl/config.json; with\n"
	"none of them, the built-in defaults apply. Relative paths in a file\n"
	"resolve against the file's folder (without a file, against the current\n"
	"folder). Every key and its default: docs/CONFIGURATION.md.\n"
	"\n"
	"Subcommands:\n"
	"  show        print the effective configuration as JSON: every key, paths\n"
	"              absolute, the default alert rules and handlers written out;\n"
	"              a first line on stderr names the file it came from (or\n"
	"              \"built-in defaults\"); with --json, only the JSON\n"
	"  init [FILE] write a template with every key and its default to FILE\n"
	"              (default ./wanctl.json), mode 0644; refuses to overwrite an\n"
	"              existing file (exit 1)\n"
	"\n"
	"Options:\n"
	"  --json      (show) only the JSON document, nothing on stderr\n"
	"  -h, --help  this help\n"
	"\n"
	"An unknown key, a wrong type or an impossible value is an error naming\n"
	"the file and the key path, e.g.\n"
	"  wanctl: 'wanctl.json': deploymnet: unknown key (did you mean 'deployment'?)\n"
	"\n"
	"Examples:\n"
	"  wanctl config init                    write ./wanctl.json\n"
	"  wanctl config init /etc/wanctl/config.json\n"
	"  wanctl config show                    where the configuration comes from, and\n"
	"                                        it\n"
	"  wanctl --config site.json config show --json | jq .deployment\n"
	"  WANCTL_CONFIG=site.json wanctl config show\n"
	"\n"
	"Exit status: 0 ok, 1 the file exists or cannot be written, 2 usage or\n"
	"configuration error.\n";

static int config_show(struct cli *cli, int argc, char **argv)
{
	struct wan_config *cfg;
	json_t *doc;

	if (argc > 1)
		return cli_usage(cli, "config show: unexpected argument '%s'", argv[1]);
	cfg = cli_config(cli);
	doc = wan_config_to_json(cfg);
	if (!doc) {
		cli_error("out of memory building the configuration");
		return EXIT_FAIL;
	}
	if (!cli->json && cli->verbosity >= 0)
		fprintf(stderr, "# configuration: %s\n",
			cfg->file ? cfg->file : "built-in defaults");
	/* 15 significant digits: 0.1 prints as 0.1 and reads back the same. */
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII |
		   JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
	json_decref(doc);
	return EXIT_OK;
}

static int config_init(struct cli *cli, int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "wanctl.json";
	int err;

	if (argc > 2)
		return cli_usage(cli, "config init: unexpected argument '%s'", argv[2]);
	if (!*path)
		return cli_usage(cli, "config init: empty file name");
	if (path[0] == '-')
		return cli_usage(cli, "config init: unknown option '%s'", path);
	err = wan_config_write_template(path);
	if (err < 0)
		return cli_fail(err);
	if (cli->json) {
		json_t *o = json_pack("{s:s}", "written", path);

		cli_print_json(o);
	} else {
		cli_info(cli, "wrote the configuration template '%s'", path);
	}
	return EXIT_OK;
}

/* Hidden: `config keys [--markdown]` prints the key table (the generator of
 * docs/CONFIGURATION.md's table; tests/unit/test_config.c checks the doc). */
static int config_keys(struct cli *cli, int argc, char **argv)
{
	const struct wan_config_key *k;
	char *md;
	json_t *a;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--markdown")))
		return cli_usage(cli, "config keys: usage: config keys [--markdown]");
	if (argc == 2) {
		md = wan_config_keys_markdown();
		if (!md) {
			cli_error("out of memory rendering the key table");
			return EXIT_FAIL;
		}
		fputs(md, stdout);
		free(md);
		return EXIT_OK;
	}
	a = json_array();
	for (k = wan_config_keys(); a && k->key; k++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s?,s:s}", "key", k->key,
						   "type", k->type, "default", k->def,
						   "doc", k->doc));
	cli_print_json(a);
	return EXIT_OK;
}

int cmd_config(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub;
	int c;

	optind = 1;
	opterr = 0;
	/* Options of the subcommands are only --json (global) and --help. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(cli_find("config"));
		return cli_usage(cli, "config: unknown option '%s'", argv[optind - 1]);
	}
	if (optind >= argc)
		return cli_usage(cli, "config: missing subcommand (show or init)");
	sub = argv[optind];
	argc -= optind;
	argv += optind;
	if (!strcmp(sub, "show"))
		return config_show(cli, argc, argv);
	if (!strcmp(sub, "init"))
		return config_init(cli, argc, argv);
	if (!strcmp(sub, "keys"))
		return config_keys(cli, argc, argv);
	return cli_usage(cli, "config: unknown subcommand '%s' (show or init)", sub);
}
