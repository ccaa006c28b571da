#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

#include <getopt.h>

const char help_list[] =
	"usage: wanctl list [--status STATUS] [--model MODEL] [--limit N]\n"
	"\n"
	"Deployment history, newest first: id, kind (deploy or rollback), status,\n"
	"start time, and each model's release before and after.\n"
	"\n"
	"Options:\n"
	"  --status STATUS  only pending, ingesting, switching, verifying, completed,\n"
	"                   failed, rolled_back or interrupted deployments\n"
	"  --model MODEL    only deployments that touched MODEL\n"
	"  --limit N        at most N deployments (default 20; 0: all)\n";

static const char *const statuses[] = { "pending", "ingesting", "switching", "verifying",
					"completed", "failed", "rolled_back", "interrupted" };

int cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "model", required_argument, NULL, 'm' },
		{ "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *status = NULL, *model = NULL;
	struct wan_state *st = NULL;
	json_t *out = NULL, *d, *m;
	long limit = 20;
	size_t i, k;
	int c, err;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 's':
			status = optarg;
			for (k = 0; k < ARRAY_SIZE(statuses); k++)
				if (!strcmp(statuses[k], status))
					break;
			if (k == ARRAY_SIZE(statuses))
				return cli_usage(cli, "unknown status '%s'", status);
			break;
		case 'm': model = optarg; break;
		case 'l':
			limit = strtol(optarg, &end, 10);
			if (*end || end == optarg || limit < 0)
				return cli_usage(cli, "--limit needs a number >= 0, got '%s'", optarg);
			break;
		default:
			return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((err = cli_state_open(cli, 0, 0, &st)) < 0 ||
	    (err = wan_deploy_list(st, status, model, (int)limit, &out)) < 0) {
		wan_state_close(st);
		return cli_fail(err);
	}
	if (cli->json) {
		cli_print_json(out);
		out = NULL;
	} else {
		if (!json_array_size(json_object_get(out, "deployments")))
			printf("no deployments yet\n");
		else
			printf("%-24s %-8s %-11s %-20s\n", "ID", "KIND", "STATUS", "STARTED");
		json_array_foreach(json_object_get(out, "deployments"), i, d) {
			printf("%-24s %-8s %-11s %-20s\n", json_string_value(json_object_get(d, "id")),
			       json_string_value(json_object_get(d, "kind")),
			       json_string_value(json_object_get(d, "status")),
			       json_string_value(json_object_get(d, "started")));
			/* One line per model, so that the table fits 80 columns. */
			json_array_foreach(json_object_get(d, "models"), k, m) {
				const char *f = json_string_value(json_object_get(m, "from_release"));
				const char *t = json_string_value(json_object_get(m, "to_release"));
				printf("  %-20.40s %-16s -> %s\n",
				       json_string_value(json_object_get(m, "model")),
				       f ? f : "(none)", t ? t : "(none)");
			}
		}
	}
	json_decref(out);
	wan_state_close(st);
	return EXIT_OK;
}
