#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/catalog.h"
#include "wanctl/store.h"
#include "wanctl/validate.h"

#include <getopt.h>
#include <unistd.h>

const char help_validate[] =
	"usage: wanctl validate pre [--models] [MODEL...] [--source DIR] [--full]\n"
	"                           [--output-report FILE]\n"
	"       wanctl validate post [--models] [MODEL...] [--full] [--scan-tensors]\n"
	"                            [--output-report FILE]\n"
	"       wanctl validate health --model MODEL [--output-report FILE]\n"
	"\n"
	"Run the checks of SPEC.md \"Checks\" alone and print a report (a table, or\n"
	"{\"checks\":[{\"id\",\"model\",\"status\",\"message\",\"details\"}]} with --json).\n"
	"\n"
	"pre     the staging copy of each MODEL (every model of the configuration\n"
	"        when none is named): staging.exists, staging.layout (required files\n"
	"        and folders of the model's spec, shard series complete),\n"
	"        staging.lfs_pointer, staging.placeholder (empty files, files whose\n"
	"        content is not the format their name says; a file much smaller than\n"
	"        the published size is a warning), staging.safetensors (every\n"
	"        header), staging.index, staging.architecture (tensor names and\n"
	"        shapes against config.json), staging.pth (zip structure); then the\n"
	"        machine: system.disk (free space for the bytes to copy plus\n"
	"        validation.disk_margin_percent), system.memory, system.gpu (NVML),\n"
	"        system.filesystem (store and production on one filesystem),\n"
	"        system.dependencies. Only headers are read unless --full.\n"
	"post    each deployed MODEL (every deployed model when none is named):\n"
	"        release.link, release.files (sizes and store objects; re-hash with\n"
	"        --full or deployment.verify \"full\"), tensors.finite (with\n"
	"        --scan-tensors or --full), inference.smoke\n"
	"        (validation.inference_command), service.ready\n"
	"        (validation.readiness_url).\n"
	"health  a quick view of one deployed model: release.link, release.files\n"
	"        (sizes), system.gpu, service.ready.\n"
	"\n"
	"The smoke command runs through /bin/sh -c in the current folder with\n"
	"{model}, {ckpt_dir} (<target>/<model>), {output} (a fresh temporary file\n"
	"it must write) and {size} (the spec's default size) filled in, shell-quoted\n"
	"where needed; WANCTL_MODEL, WANCTL_CKPT_DIR, WANCTL_OUTPUT, WANCTL_SIZE and\n"
	"WANCTL_RELEASE are in its environment. It passes when it exits 0, writes a\n"
	"non-empty output, finishes within validation.max_inference_seconds (when\n"
	"set) and is at most validation.max_regression_percent slower than the\n"
	"previous release's recorded time; its wall time, peak RSS, output tail and\n"
	"(with a GPU) peak GPU memory are in the details.\n"
	"\n"
	"Options:\n"
	"  --models MODEL...     the models (the word --models is optional)\n"
	"  --model MODEL         one model (may be repeated)\n"
	"  --source DIR          pre: staging folder of the (single) model, e.g. a\n"
	"                        Hugging Face cache snapshot or repo folder\n"
	"  --full                pre: also read the data (NaN/Inf scan of every\n"
	"                        tensor, CRC-32 of every .pth entry); post: re-hash\n"
	"                        every production file and scan the tensors\n"
	"  --scan-tensors        post: scan production tensors for NaN/Inf\n"
	"  --output-report FILE  also write the JSON report to FILE (atomically)\n"
	"\n"
	"Exit status: 0 every check passed, warned or was skipped; 4 a check failed;\n"
	"1 the checks could not run; 2 usage or configuration error.\n"
	"\n"
	"Examples:\n"
	"  wanctl validate pre t2v-A14B\n"
	"  wanctl validate pre ti2v-5B --source ~/.cache/huggingface/hub/models--Wan-AI--Wan2.2-TI2V-5B\n"
	"  wanctl --json validate pre --full t2v-1.3B | jq '.checks[] | select(.status == \"fail\")'\n"
	"  wanctl validate post --models t2v-A14B i2v-A14B --full\n"
	"  wanctl validate health --model t2v-A14B\n";

/* cmd_deploy.c */

enum { OPT_PRE = 1, OPT_POST = 2, OPT_HEALTH = 4 };

struct vopts {
	const char **models;
	size_t nmodels;
	const char *source;
	const char *report_path;
	unsigned flags;
};

static int validate_parse(struct cli *cli, int mode, int argc, char **argv, struct vopts *o)
{
	static const struct option opts[] = {
		{ "models", no_argument, NULL, 'm' },
		{ "model", required_argument, NULL, 'M' },
		{ "source", required_argument, NULL, 's' },
		{ "full", no_argument, NULL, 'f' },
		{ "scan-tensors", no_argument, NULL, 'S' },
		{ "output-report", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->models = calloc((size_t)argc + 1, sizeof(*o->models));
	if (!o->models)
		return cli_fail(wan_err(WAN_ENOMEM, "out of memory"));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (mode == OPT_HEALTH)
				return cli_usage(cli, "validate health takes one --model MODEL");
			break;
		case 'M':
			o->models[o->nmodels++] = optarg;
			break;
		case 's':
			if (mode != OPT_PRE)
				return cli_usage(cli, "--source is an option of 'validate pre'");
			o->source = optarg;
			break;
		case 'f':
			if (mode == OPT_HEALTH)
				return cli_usage(cli, "--full is an option of 'validate pre' and 'validate post'");
			o->flags |= WAN_VALIDATE_FULL;
			break;
		case 'S':
			if (mode != OPT_POST)
				return cli_usage(cli, "--scan-tensors is an option of 'validate post'");
			o->flags |= WAN_VALIDATE_SCAN;
			break;
		case 'o':
			o->report_path = optarg;
			break;
		default:
			if (optopt && optopt != '?' && argv[optind - 1][0] == '-' &&
			    argv[optind - 1][1] == '-')
				return cli_usage(cli, "option '%s' needs a value", argv[optind - 1]);
			return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
		}
	}
	for (int i = optind; i < argc; i++)
		o->models[o->nmodels++] = argv[i];
	/* Each model once, in the order given. */
	for (size_t i = 0, k = 0, n = o->nmodels; i < n; i++) {
		bool dup = false;

		for (size_t j = 0; j < k && !dup; j++)
			dup = !strcmp(o->models[j], o->models[i]);
		if (!dup)
			o->models[k++] = o->models[i];
		if (i + 1 == n)
			o->nmodels = k;
	}
	for (size_t i = 0; i < o->nmodels; i++)
		if (wan_config_model_name_check(o->models[i]) < 0)
			return cli_usage(cli, "%s", wan_errmsg());
	if (o->source && o->nmodels != 1)
		return cli_usage(cli, "--source needs exactly one MODEL");
	if (mode == OPT_HEALTH && o->nmodels != 1)
		return cli_usage(cli, "validate health needs exactly one --model MODEL");
	return 0;
}

/* Print (or --json) the report, write --output-report; the exit status. */
static int validate_finish(struct cli *cli, const struct vopts *o, struct wan_report *rep)
{
	int ret;

	if (o->report_path && cli_write_report(o->report_path, wan_report_json(rep)) < 0) {
		ret = cli_fail(WAN_EIO);
		return ret;
	}
	return cli_print_report(cli, rep);
}

static int validate_pre(struct cli *cli, const struct vopts *o)
{
	struct wan_config *cfg = cli_config(cli);
	const char **models = o->models;
	size_t n = o->nmodels;
	struct wan_report *rep;
	int err, ret;

	if (!n) {
		models = calloc(cfg->nmodels + 1, sizeof(*models));
		if (!models)
			return cli_fail(wan_err(WAN_ENOMEM, "out of memory"));
		for (size_t i = 0; i < cfg->nmodels; i++)
			models[i] = cfg->models[i].name;
		n = cfg->nmodels;
		if (!n) {
			free(models);
			return cli_usage(cli, "no model named and none in the configuration ('models')");
		}
	}
	rep = wan_report_new();
	if (!rep) {
		ret = cli_fail(wan_err(WAN_ENOMEM, "out of memory"));
		goto out;
	}
	err = wan_validate_pre(cfg, models, n, o->source, o->flags, rep);
	if (err == WAN_EINVAL) {
		ret = cli_usage(cli, "%s", wan_errmsg());
		goto out;
	}
	if (err < 0) {
		ret = cli_fail(err);
		goto out;
	}
	ret = validate_finish(cli, o, rep);
out:
	wan_report_free(rep);
	if (models != o->models)
		free(models);
	return ret;
}

static int validate_post(struct cli *cli, const struct vopts *o, bool health)
{
	struct wan_config *cfg = cli_config(cli);
	struct wan_state *st = NULL;
	struct wan_report *rep = NULL;
	char **names = NULL;
	size_t nnames = 0;
	int err = 0, ret;

	rep = wan_report_new();
	if (!rep)
		return cli_fail(wan_err(WAN_ENOMEM, "out of memory"));
	err = cli_state_open(cli, WAN_STATE_READONLY | WAN_STATE_NO_RECOVER, 0, &st);
	if (err == WAN_ENOTFOUND && access(cfg->state_path, F_OK) < 0) {
		/* Nothing was ever deployed here: a failed check, not an error. */
		for (size_t i = 0; i < o->nmodels && err != WAN_ENOMEM; i++)
			err = wan_report_add(rep, "release.link", o->models[i], WAN_CHECK_FAIL,
					     json_pack("{s:s}", "state_path", cfg->state_path),
					     "model '%s' is not deployed: no state folder '%s'",
					     o->models[i], cfg->state_path);
		if (!o->nmodels)
			err = wan_report_add(rep, "release.link", NULL, WAN_CHECK_SKIP, NULL,
					     "no model is deployed: no state folder '%s'",
					     cfg->state_path);
		ret = err == WAN_ENOMEM ? cli_fail(err) : validate_finish(cli, o, rep);
		goto out;
	}
	if (err < 0) {
		ret = cli_fail(err);
		goto out;
	}
	if (health) {
		err = wan_validate_health(st, o->models[0], rep);
	} else if (o->nmodels) {
		for (size_t i = 0; i < o->nmodels && !err; i++)
			err = wan_validate_deployed(st, o->models[i], o->flags, rep);
	} else {
		err = wan_validate_deployed_models(cfg, &names, &nnames);
		for (size_t i = 0; i < nnames && !err; i++)
			err = wan_validate_deployed(st, names[i], o->flags, rep);
		if (!err && !nnames)
			err = wan_report_add(rep, "release.link", NULL, WAN_CHECK_SKIP, NULL,
					     "no model is deployed under '%s'",
					     cfg->target_models_path);
	}
	if (err < 0) {
		ret = err == WAN_EINVAL ? cli_usage(cli, "%s", wan_errmsg()) : cli_fail(err);
		goto out;
	}
	ret = validate_finish(cli, o, rep);
out:
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	wan_report_free(rep);
	wan_state_close(st);
	return ret;
}

/* User specs of validation.spec_paths, so that models may name them. */
static int validate_load_specs(struct cli *cli)
{
	struct wan_config *cfg = cli_config(cli);

	if (!cfg->validation.nspec_paths)
		return 0;
	if (wan_catalog_load_user((const char *const *)cfg->validation.spec_paths,
				  cfg->validation.nspec_paths) < 0) {
		cli_error("%s", wan_errmsg());
		return EXIT_USAGE;
	}
	return 0;
}

int cmd_validate(struct cli *cli, int argc, char **argv)
{
	struct vopts o;
	int mode, ret;

	if (argc < 2)
		return cli_usage(cli, "validate needs 'pre', 'post' or 'health'");
	if (!strcmp(argv[1], "pre"))
		mode = OPT_PRE;
	else if (!strcmp(argv[1], "post"))
		mode = OPT_POST;
	else if (!strcmp(argv[1], "health"))
		mode = OPT_HEALTH;
	else
		return cli_usage(cli, "unknown validate command '%s' (pre, post, health)", argv[1]);
	ret = validate_parse(cli, mode, argc - 1, argv + 1, &o);
	if (ret == 0)
		ret = validate_load_specs(cli);
	if (ret == 0)
		ret = mode == OPT_PRE ? validate_pre(cli, &o) :
		      validate_post(cli, &o, mode == OPT_HEALTH);
	free(o.models);
	wan_catalog_unload_user();
	return ret;
}
