#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

const char help_releases[] =
	"usage: wanctl releases MODEL\n"
	"\n"
	"The releases of MODEL kept in the store, newest first, with their size,\n"
	"the bytes only they hold (freed if the release is dropped) and the bytes\n"
	"shared with other releases. '*' marks the current release, '-' the\n"
	"previous one (both are never dropped by gc).\n";

int cmd_releases(struct cli *cli, int argc, char **argv)
{
	struct wan_state *st = NULL;
	json_t *out = NULL, *r;
	size_t i;
	int err;

	if (argc != 2)
		return cli_usage(cli, "releases needs exactly one MODEL");
	if ((err = cli_state_open(cli, 0, 0, &st)) < 0 ||
	    (err = wan_releases(st, argv[1], &out)) < 0) {
		wan_state_close(st);
		return cli_fail(err);
	}
	if (cli->json) {
		cli_print_json(out);
	} else {
		printf("  %-16s %-20s %6s %10s %10s %10s\n", "RELEASE", "CREATED", "FILES", "SIZE",
		       "UNIQUE", "SHARED");
		json_array_foreach(json_object_get(out, "releases"), i, r)
			printf("%c %-16s %-20s %6lld %10s %10s %10s\n",
			       json_is_true(json_object_get(r, "current")) ? '*' :
			       json_is_true(json_object_get(r, "previous")) ? '-' : ' ',
			       json_string_value(json_object_get(r, "id")),
			       json_string_value(json_object_get(r, "created")),
			       (long long)json_integer_value(json_object_get(r, "files")),
			       cli_size((uint64_t)json_integer_value(json_object_get(r, "bytes"))),
			       cli_size((uint64_t)json_integer_value(json_object_get(r, "unique_bytes"))),
			       cli_size((uint64_t)json_integer_value(json_object_get(r, "shared_bytes"))));
		json_decref(out);
	}
	wan_state_close(st);
	return EXIT_OK;
}
