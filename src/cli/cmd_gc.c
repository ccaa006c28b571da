#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

#include <getopt.h>

const char help_gc[] =
	"usage: wanctl gc [--dry-run] [--wait SECONDS]\n"
	"\n"
	"Drop releases past deployment.keep_releases per model (never the current\n"
	"or the previous release), then the store objects no remaining release\n"
	"references.\n"
	"\n"
	"Options:\n"
	"  --dry-run        list what would be removed, remove nothing\n"
	"  --wait SECONDS   wait for another wanctl to release the lock\n";


int cmd_gc(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct wan_state *st = NULL;
	json_t *out = NULL, *r;
	bool dry = false;
	double wait = 0;
	size_t i;
	int c, err;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': dry = true; break;
		case 'w':
			if (cli_parse_seconds(optarg, &wait) < 0)
				return cli_usage(cli, "--wait needs a number of seconds, got '%s'", optarg);
			break;
		default:
			return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((err = cli_state_open(cli, WAN_STATE_LOCK, wait, &st)) < 0 ||
	    (err = wan_gc(st, dry, &out)) < 0) {
		wan_state_close(st);
		return cli_fail(err);
	}
	if (cli->json) {
		cli_print_json(out);
	} else if (cli->verbosity < 0) {
		json_decref(out);
	} else {
		json_array_foreach(json_object_get(out, "releases_removed"), i, r)
			printf("%s release %s of %s\n", dry ? "would remove" : "removed",
			       json_string_value(json_object_get(r, "release")),
			       json_string_value(json_object_get(r, "model")));
		printf("%s %lld objects, %s\n", dry ? "would free" : "freed",
		       (long long)json_integer_value(json_object_get(out, "objects_removed")),
		       cli_size((uint64_t)json_integer_value(json_object_get(out, "bytes_freed"))));
		json_decref(out);
	}
	wan_state_close(st);
	return EXIT_OK;
}
