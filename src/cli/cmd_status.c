#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

const char help_status[] =
	"usage: wanctl status\n"
	"\n"
	"Each model's current release, the last deployments, deployments that\n"
	"were interrupted (and what recovery did), and the alerts the monitor has\n"
	"firing.\n";

int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct wan_state *st = NULL;
	json_t *out = NULL, *e;
	size_t i;
	int err;

	if (argc > 1)
		return cli_usage(cli, "unexpected argument '%s'", argv[1]);
	if ((err = cli_state_open(cli, 0, 0, &st)) < 0 || (err = wan_status(st, &out)) < 0) {
		wan_state_close(st);
		return cli_fail(err);
	}
	if (cli->json) {
		cli_print_json(out);
		wan_state_close(st);
		return EXIT_OK;
	}
	printf("production: %s\nstate:      %s\n\n", json_string_value(json_object_get(out, "target")),
	       json_string_value(json_object_get(out, "state")));
	if (!json_array_size(json_object_get(out, "models")))
		printf("no model deployed\n");
	else
		printf("%-20s %s\n", "MODEL", "RELEASE");
	json_array_foreach(json_object_get(out, "models"), i, e)
		printf("%-20s %s\n", json_string_value(json_object_get(e, "model")),
		       json_is_true(json_object_get(e, "unmanaged")) ? "(unmanaged folder)" :
		       json_string_value(json_object_get(e, "release")));
	if (json_array_size(json_object_get(out, "deployments"))) {
		printf("\nlast deployments:\n");
		json_array_foreach(json_object_get(out, "deployments"), i, e)
			printf("  %-25s %-8s %-12s %s\n", json_string_value(json_object_get(e, "id")),
			       json_string_value(json_object_get(e, "kind")),
			       json_string_value(json_object_get(e, "status")),
			       json_string_value(json_object_get(e, "started")));
	}
	if (json_array_size(json_object_get(out, "interrupted"))) {
		printf("\ninterrupted:\n");
		json_array_foreach(json_object_get(out, "interrupted"), i, e)
			printf("  %s: %s\n", json_string_value(json_object_get(e, "id")),
			       json_string_value(json_object_get(e, "error")));
	}
	printf("\nfiring alerts: %zu\n", json_array_size(json_object_get(out, "alerts")));
	json_array_foreach(json_object_get(out, "alerts"), i, e) {
		char *labels = json_dumps(json_object_get(e, "labels"),
					  JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
		printf("  %-10s %s %s: %s\n", json_string_value(json_object_get(e, "severity")),
		       json_string_value(json_object_get(e, "name")), labels ? labels : "{}",
		       json_string_value(json_object_get(e, "summary")));
		free(labels);
	}
	json_decref(out);
	wan_state_close(st);
	return EXIT_OK;
}
