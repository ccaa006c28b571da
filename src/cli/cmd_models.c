/* wanctl models [MODEL]: the catalog of model specs and what each needs. */
#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/catalog.h"

#include <getopt.h>

const char help_models[] =
	"usage: wanctl [--json] models [MODEL]\n"
	"\n"
	"Without MODEL, a table of every known model spec: the built-in Wan specs\n"
	"(Wan2.2 t2v-A14B, i2v-A14B, ti2v-5B, s2v-14B, animate-14B; Wan2.1\n"
	"t2v-14B, t2v-1.3B, i2v-14B, flf2v-14B, vace-14B, vace-1.3B), the\n"
	"'diffusers' layout (*-Diffusers repos: recognised, not loadable by\n"
	"generate.py), the generic 'safetensors' spec (any folder of safetensors\n"
	"files; format checks only), and user specs loaded from the *.json files\n"
	"of validation.spec_paths. Columns: name, Wan version, task, approximate\n"
	"size on disk (decimal GB), single-GPU memory the README states, number\n"
	"of required files; \"user\" marks a user spec.\n"
	"\n"
	"With MODEL, that spec in detail: the Hugging Face repo, where each figure\n"
	"comes from, the generate.py --size choices, the default smoke command\n"
	"(validation.inference_command fills {ckpt_dir}, {size}, {output},\n"
	"{model}), every required file and folder (with the published size and\n"
	"sha256 where known) and each DiT folder's config.json architecture.\n"
	"\n"
	"Options:\n"
	"  --json      print JSON: {\"models\": [spec, ...]} or one spec object\n"
	"  -h, --help  this help\n"
	"\n"
	"User spec files (one JSON object each): {\"name\": \"my-t2v\", \"base\":\n"
	"\"t2v-14B\", \"files\": [\"extra.pth\", \"tokenizer/\"], \"dits\": [{\"folder\":\n"
	"\"\", \"shards\": 6}], \"approx_size_bytes\": N, \"gpu_memory_gb\": 24,\n"
	"\"sizes\": [\"832*480\"], \"smoke_command\": \"...\"}; every key but \"name\"\n"
	"is optional (see docs).\n"
	"\n"
	"Examples:\n"
	"  wanctl models\n"
	"  wanctl models t2v-A14B\n"
	"  wanctl --json models ti2v-5B | jq '.files[].path'\n"
	"\n"
	"Exit status: 0 ok, 2 unknown model, usage or configuration error.\n";

static void decimal_size(char *dst, size_t size, uint64_t bytes)
{
	if (!bytes)
		snprintf(dst, size, "-");
	else if (bytes >= 1000000000ull)
		snprintf(dst, size, "%.0f GB", (double)bytes / 1e9);
	else
		snprintf(dst, size, "%.1f MB", (double)bytes / 1e6);
}

static size_t required_files(const struct wan_spec *s)
{
	struct wan_spec_path *v = NULL;
	size_t n = 0, req = 0;

	if (wan_spec_files(s, &v, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(v[i].flags & (WAN_SF_OPTIONAL | WAN_SF_DIR)))
			req++;
	wan_spec_files_free(v, n);
	return req;
}

static void models_table(void)
{
	printf("%-12s %-4s %-26s %8s %8s %5s\n", "MODEL", "VER", "TASK", "SIZE",
	       "GPU MEM", "FILES");
	for (size_t i = 0; i < wan_catalog_count(); i++) {
		const struct wan_spec *s = wan_catalog_at(i);
		char sz[32], gpu[32];

		decimal_size(sz, sizeof(sz), s->approx_bytes);
		if (s->gpu_memory_gb > 0)
			snprintf(gpu, sizeof(gpu), "%g GB", s->gpu_memory_gb);
		else
			snprintf(gpu, sizeof(gpu), "-");
		printf("%-12s %-4s %-26s %8s %8s %5zu%s\n", s->name,
		       s->version ? s->version : "-", s->task ? s->task : "-",
		       sz, gpu, required_files(s),
		       s->source ? "  user" : "");
	}
}

static void print_wrapped(const char *label, const char *text)
{
	printf("%-14s%s\n", label, text ? text : "-");
}

static void models_detail(const struct wan_spec *s)
{
	struct wan_spec_path *v = NULL;
	char sz[32], line[256];
	size_t n = 0;

	printf("%s (%s)\n", s->name, wan_spec_kind_name(s->kind));
	print_wrapped("description", s->description);
	print_wrapped("version", s->version);
	print_wrapped("task", s->task);
	print_wrapped("repo", s->repo);
	decimal_size(sz, sizeof(sz), s->approx_bytes);
	snprintf(line, sizeof(line), "%s (%s)", sz, s->size_source ? s->size_source : "-");
	print_wrapped("size", s->approx_bytes ? line : "-");
	if (s->gpu_memory_gb > 0) {
		snprintf(line, sizeof(line), "%g GB", s->gpu_memory_gb);
		print_wrapped("gpu memory", line);
		print_wrapped("  source", s->gpu_memory_source);
	} else {
		print_wrapped("gpu memory", "-");
	}
	print_wrapped("sizes", s->sizes);
	print_wrapped("default size", s->default_size);
	print_wrapped("smoke command", s->smoke_template);
	if (s->source)
		print_wrapped("spec file", s->source);
	if (s->kind == WAN_SPEC_GENERIC && !s->nfiles)
		printf("files         any *.safetensors (+ *.safetensors.index.json); no required names\n");
	if (wan_spec_files(s, &v, &n) == 0 && n) {
		printf("files:\n");
		for (size_t i = 0; i < n; i++) {
			char extra[160] = "";

			if (v[i].size)
				snprintf(extra, sizeof(extra), "  %llu B",
					 (unsigned long long)v[i].size);
			printf("  %s%s%s%s\n", v[i].path,
			       (v[i].flags & WAN_SF_DIR) ? "/" : "",
			       (v[i].flags & WAN_SF_OPTIONAL) ? "  (optional)" : "", extra);
			if (v[i].sha256)
				printf("      sha256 %s\n", v[i].sha256);
		}
	}
	wan_spec_files_free(v, n);
	for (size_t d = 0; d < s->ndits; d++) {
		const struct wan_arch *a = &s->arch;
		const char *f = *s->dits[d].folder ? s->dits[d].folder : ".";

		if (s->dits[d].shards == WAN_SHARDS_SINGLE)
			snprintf(line, sizeof(line), "single file");
		else if (s->dits[d].shards == WAN_SHARDS_ANY)
			snprintf(line, sizeof(line), "any number of shards");
		else
			snprintf(line, sizeof(line), "%u shards", s->dits[d].shards);
		printf("dit %s: %s\n", f, line);
		if (a->model_type)
			printf("  %s model_type=%s dim=%u ffn_dim=%u num_heads=%u num_layers=%u in_dim=%u out_dim=%u%s\n",
			       a->class_name ? a->class_name : "WanModel", a->model_type,
			       a->dim, a->ffn_dim, a->num_heads, a->num_layers,
			       a->in_dim, a->out_dim,
			       a->nvace_layers ? " (+vace_layers)" : "");
		else
			printf("  architecture from its config.json\n");
	}
}

/* cli_config() loads the user specs of validation.spec_paths (exit 2 on
 * a bad spec). */
static int load_user_specs(struct cli *cli)
{
	cli_config(cli);
	return 0;
}

int cmd_models(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct wan_spec *s;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cli->json = true;
			break;
		default:
			return cli_usage(cli, "models: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage(cli, "models: unexpected argument '%s'", argv[optind + 1]);
	if ((rc = load_user_specs(cli)) != 0)
		return rc;
	if (optind == argc) {
		if (cli->json) {
			json_t *arr = json_array();

			for (size_t i = 0; arr && i < wan_catalog_count(); i++)
				json_array_append_new(arr, wan_spec_json(wan_catalog_at(i)));
			cli_print_json(arr ? json_pack("{s:o}", "models", arr) : NULL);
		} else {
			models_table();
		}
		wan_catalog_unload_user();
		return EXIT_OK;
	}
	s = wan_catalog_find(argv[optind]);
	if (!s) {
		const char *hint = wan_catalog_suggest(argv[optind]);

		cli_error("unknown model '%s'", argv[optind]);
		if (hint)
			fprintf(stderr, "hint: did you mean '%s'?\n", hint);
		else
			fprintf(stderr, "hint: run 'wanctl models' for the list\n");
		wan_catalog_unload_user();
		return EXIT_USAGE;
	}
	if (cli->json)
		cli_print_json(wan_spec_json(s));
	else
		models_detail(s);
	wan_catalog_unload_user();
	return EXIT_OK;
}
