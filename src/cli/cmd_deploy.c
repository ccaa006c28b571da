#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

#include <getopt.h>

const char help_deploy[] =
	"usage: wanctl deploy [--models] MODEL... [--dry-run] [--no-backup]\n"
	"                     [--source DIR] [--transfer auto|reflink|hardlink|copy]\n"
	"                     [--wait SECONDS] [--rehash] [--output-report FILE]\n"
	"\n"
	"Validate the staging copy of each MODEL, copy every file once into the\n"
	"content-addressed store while hashing it, build an immutable release,\n"
	"switch <target>/<MODEL> to it with one rename(2), verify production and\n"
	"run the post-deployment checks. On any failure every model this deployment\n"
	"had switched goes back to its previous release (deployment.auto_rollback).\n"
	"A first deploy over an unmanaged folder adopts that folder as a release, so\n"
	"it can be rolled back to. Anything else at <target>/<MODEL> (a plain file, a\n"
	"symlink that does not point at a wanctl release) is refused and left as it is.\n"
	"\n"
	"Options:\n"
	"  --models MODEL...  the models (the word --models is optional)\n"
	"  --dry-run          print the plan (bytes to copy after deduplication,\n"
	"                     checks) and change nothing\n"
	"  --no-backup        skip the backup of the releases being replaced\n"
	"  --source DIR       staging folder of the (single) model, e.g. a Hugging\n"
	"                     Face cache snapshot or repo folder\n"
	"  --transfer MODE    auto (reflink where possible, else copy), reflink,\n"
	"                     hardlink (shares inodes with staging), copy\n"
	"  --wait SECONDS     wait for another wanctl to release the lock\n"
	"  --rehash           ignore the stat cache and re-read every staging file\n"
	"  --output-report FILE  write the JSON validation report to FILE\n"
	"\n"
	"Exit status: 0 deployed (or nothing to do), 1 failed (the message says\n"
	"whether production was untouched or rolled back), 2 usage, 3 locked,\n"
	"4 a validation check failed.\n"
	"\n"
	"Examples:\n"
	"  wanctl deploy t2v-A14B\n"
	"  wanctl deploy --dry-run t2v-A14B ti2v-5B\n"
	"  wanctl deploy ti2v-5B --source ~/.cache/huggingface/hub/models--Wan-AI--Wan2.2-TI2V-5B\n";

static int parse_transfer(const char *s)
{
	static const char *const names[] = { "auto", "reflink", "hardlink", "copy" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}


static void print_summary(struct cli *cli, json_t *res, bool dry)
{
	json_t *m;
	size_t i;

	json_array_foreach(json_object_get(res, "models"), i, m) {
		const char *model = json_string_value(json_object_get(m, "model"));
		const char *from = json_string_value(json_object_get(m, "from_release"));
		const char *to = json_string_value(json_object_get(m, "to_release"));
		uint64_t bytes = (uint64_t)json_integer_value(json_object_get(m, "bytes"));
		uint64_t dedup = (uint64_t)json_integer_value(json_object_get(m, "deduplicated"));
		uint64_t files = (uint64_t)json_integer_value(json_object_get(m, "files"));

		if (dry) {
			printf("%-14s %llu files, %s: %s to copy, %s in the store%s\n", model,
			       (unsigned long long)files, cli_size(bytes),
			       cli_size((uint64_t)json_integer_value(json_object_get(m, "to_copy"))),
			       cli_size(dedup),
			       from ? "" : " (first deploy)");
			continue;
		}
		if (json_is_true(json_object_get(m, "unchanged"))) {
			printf("%-14s unchanged: already on release %s\n", model, to ? to : "?");
			continue;
		}
		printf("%-14s %s -> %s%s\n", model, from ? from : "(none)", to ? to : "(none)",
		       json_is_true(json_object_get(m, "adopted")) ? " (adopted the old folder)" : "");
		printf("  %llu files, %s: copied %s, deduplicated %s, %.1f s\n",
		       (unsigned long long)files, cli_size(bytes),
		       cli_size((uint64_t)json_integer_value(json_object_get(m, "copied"))),
		       cli_size(dedup), json_real_value(json_object_get(m, "seconds")));
	}
}

int cmd_deploy(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "models", no_argument, NULL, 'm' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-backup", no_argument, NULL, 'B' },
		{ "source", required_argument, NULL, 's' },
		{ "transfer", required_argument, NULL, 't' },
		{ "wait", required_argument, NULL, 'w' },
		{ "rehash", no_argument, NULL, 'r' },
		{ "output-report", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct wan_deploy_opts o;
	struct wan_state *st = NULL;
	const char *report_path = NULL;
	json_t *res = NULL;
	double wait = 0;
	int c, err, ret;

	memset(&o, 0, sizeof(o));
	o.transfer = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'B':
			o.no_backup = true;
			break;
		case 's':
			o.source = optarg;
			break;
		case 't':
			if ((o.transfer = parse_transfer(optarg)) < 0)
				return cli_usage(cli, "unknown transfer mode '%s' (auto, reflink, hardlink, copy)",
						 optarg);
			break;
		case 'w':
			if (cli_parse_seconds(optarg, &wait) < 0)
				return cli_usage(cli, "--wait needs a number of seconds, got '%s'", optarg);
			break;
		case 'r':
			o.rehash = true;
			break;
		case 'o':
			report_path = optarg;
			break;
		default:
			return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
		}
	}
	/* GNU getopt permutes: the models are what is left. */
	o.models = (const char *const *)(argv + optind);
	o.nmodels = (size_t)(argc - optind);
	if (!o.nmodels)
		return cli_usage(cli, "deploy needs at least one MODEL");
	for (size_t i = 1; i < o.nmodels; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(o.models[i], o.models[j]))
				return cli_usage(cli, "model '%s' named twice", o.models[i]);
	if (o.source && o.nmodels != 1)
		return cli_usage(cli, "--source names the staging folder of one model; %zu given",
				 o.nmodels);
	err = cli_state_open(cli, o.dry_run ? 0 : WAN_STATE_LOCK, wait, &st);
	if (err < 0)
		return cli_fail(err);
	err = wan_deploy(st, &o, &res);
	if (report_path && res)
		if (cli_write_report(report_path, json_object_get(res, "report")) < 0)
			cli_warn("%s", wan_errmsg());
	if (cli->json) {
		cli_print_json(json_incref(res));
	} else if (res) {
		json_t *rep = json_object_get(res, "report");
		json_t *ch;
		size_t i;
		/* Show checks that did not pass. */
		json_array_foreach(json_object_get(rep, "checks"), i, ch) {
			const char *s = json_string_value(json_object_get(ch, "status"));
			const char *model = json_string_value(json_object_get(ch, "model"));
			if (!strcmp(s, "fail") || (!strcmp(s, "warn") && cli->verbosity >= 0))
				fprintf(stderr, "%s  %s%s%s: %s\n", s,
					json_string_value(json_object_get(ch, "id")),
					model ? " " : "", model ? model : "",
					json_string_value(json_object_get(ch, "message")));
		}
		if (err == 0 && cli->verbosity >= 0)
			print_summary(cli, res, o.dry_run);
	}
	if (err < 0) {
		ret = cli_fail(err);
	} else {
		if (!cli->json && cli->verbosity >= 0) {
			if (o.dry_run)
				printf("dry run: nothing changed\n");
			else
				printf("deployment %s %s\n",
				       json_string_value(json_object_get(res, "id")),
				       json_string_value(json_object_get(res, "status")));
		}
		ret = EXIT_OK;
	}
	json_decref(res);
	wan_state_close(st);
	return ret;
}
