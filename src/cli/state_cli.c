/* Opening the state folder from a command, with the usual messages. */
#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

int cli_state_open(struct cli *cli, unsigned flags, double wait, struct wan_state **st)
{
	struct wan_config *cfg = cli_config(cli);
	char cmd[256];
	json_t *rec, *r;
	size_t i;
	int err;

	snprintf(cmd, sizeof(cmd), "%s", cli->cmd);
	err = wan_state_open(st, cfg, flags, wait, cmd);
	if (err < 0)
		return err;
	rec = wan_state_recovered(*st);
	json_array_foreach(rec, i, r)
		cli_warn("%s", json_string_value(json_object_get(r, "message")));
	return 0;
}
