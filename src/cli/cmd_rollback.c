#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

#include <getopt.h>

const char help_rollback[] =
	"usage: wanctl rollback --deployment-id ID [--verify] [--wait SECONDS]\n"
	"       wanctl rollback --model MODEL [--to RELEASE] [--verify] [--wait SECONDS]\n"
	"\n"
	"Switch production back with one rename(2), whatever the model's size.\n"
	"With --deployment-id, every model of that deployment goes back to the\n"
	"release it had before it. With --model, the model goes back to RELEASE\n"
	"(default: the release its current one replaced). The target's files are\n"
	"checked first (sizes always, SHA-256 with --verify); objects missing or\n"
	"damaged in the store are restored from the backup repository when it holds\n"
	"them, else the rollback is refused naming the files and nothing changes.\n"
	"\n"
	"Options:\n"
	"  --deployment-id ID  undo a deployment (see 'wanctl list')\n"
	"  --model MODEL       roll back one model\n"
	"  --to RELEASE        the release to go to, or an unambiguous prefix of its\n"
	"                      id (see 'wanctl releases MODEL')\n"
	"  --verify            re-hash the target release's files before switching\n"
	"  --wait SECONDS      wait for another wanctl to release the lock\n";


int cmd_rollback(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "deployment-id", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "to", required_argument, NULL, 't' },
		{ "verify", no_argument, NULL, 'V' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct wan_rollback_opts o;
	struct wan_state *st = NULL;
	json_t *res = NULL, *m;
	double wait = 0;
	size_t i;
	int c, err, ret;

	memset(&o, 0, sizeof(o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o.deployment_id = optarg; break;
		case 'm': o.model = optarg; break;
		case 't': o.to = optarg; break;
		case 'V': o.verify = true; break;
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
	if (!!o.deployment_id == !!o.model)
		return cli_usage(cli, "give either --deployment-id ID or --model MODEL");
	if (o.to && !o.model)
		return cli_usage(cli, "--to goes with --model");
	if ((err = cli_state_open(cli, WAN_STATE_LOCK, wait, &st)) < 0)
		return cli_fail(err);
	err = wan_rollback(st, &o, &res);
	if (cli->json) {
		cli_print_json(json_incref(res));
	} else if (!err && cli->verbosity >= 0) {
		json_array_foreach(json_object_get(res, "models"), i, m) {
			const char *from = json_string_value(json_object_get(m, "from_release"));
			const char *to = json_string_value(json_object_get(m, "to_release"));
			if (from && to && !strcmp(from, to))
				printf("%-14s already on %s\n",
				       json_string_value(json_object_get(m, "model")), to);
			else
				printf("%-14s %s -> %s\n", json_string_value(json_object_get(m, "model")),
				       from ? from : "(none)", to ? to : "?");
		}
		printf("rollback %s completed\n", json_string_value(json_object_get(res, "id")));
	}
	ret = err < 0 ? cli_fail(err) : EXIT_OK;
	json_decref(res);
	wan_state_close(st);
	return ret;
}
