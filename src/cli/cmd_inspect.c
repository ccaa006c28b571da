#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/formats.h"
#include <getopt.h>

const char help_inspect[] =
	"usage: wanctl inspect FILE... [--full] [--json]\n"
	"\n"
	"Validate and summarise checkpoint files without loading them. The format\n"
	"is detected from the name and the first bytes:\n"
	"  *.safetensors        header checked by every rule of the format (length,\n"
	"                       UTF-8, JSON, dtypes, shapes, offsets contiguous and\n"
	"                       covering the file exactly, duplicate keys); only the\n"
	"                       header is read\n"
	"  *.pth *.pt *.ckpt *.bin\n"
	"                       PyTorch zip archive (zip64 aware; never unpickled);\n"
	"                       legacy non-zip torch files are reported as such\n"
	"  *.safetensors.index.json\n"
	"                       shard index, checked with the shards next to it\n"
	"  *.json               well-formed JSON without duplicate keys\n"
	"  git-lfs pointers     reported with the size and oid they stand for\n"
	"For each file it prints the format, tensors, dtypes, parameters and data\n"
	"bytes.\n"
	"\n"
	"Options:\n"
	"  --full        also read the data: safetensors float tensors are scanned\n"
	"                for NaN/Inf (with per-tensor min/max/mean/std in --json),\n"
	"                .pth entries are CRC-checked\n"
	"  --json        print {\"files\": [summary, ...]}\n"
	"  -h, --help    this help\n"
	"\n"
	"exit status: 0 all files valid, 4 a file is invalid (including git-lfs\n"
	"pointers and empty files), 1 a file cannot be read, 2 usage error.\n"
	"\n"
	"Examples:\n"
	"  wanctl inspect high_noise_model/*.safetensors\n"
	"  wanctl inspect --full --json Wan2.1_VAE.pth | jq '.files[0].valid'\n";

static void print_dtypes(json_t *dtypes)
{
	const char *k;
	json_t *v;
	int first = 1;

	printf("  dtypes:");
	json_object_foreach(dtypes, k, v) {
		printf("%s %s %lld", first ? "" : ",", k, (long long)json_integer_value(v));
		first = 0;
	}
	printf("\n");
}

static void print_human(json_t *s)
{
	const char *file = json_string_value(json_object_get(s, "file"));
	const char *fmt = json_string_value(json_object_get(s, "format"));
	const char *error = json_string_value(json_object_get(s, "error"));
	json_t *lfs = json_object_get(s, "lfs");

	if (lfs) {
		uint64_t n = (uint64_t)json_integer_value(json_object_get(lfs, "size"));
		printf("%s: INVALID git-lfs pointer for %s (%llu bytes), oid sha256:%s; the content was never fetched\n",
		       file, cli_size(n), (unsigned long long)n,
		       json_string_value(json_object_get(lfs, "oid")));
		return;
	}
	if (error) {
		printf("%s: INVALID %s: %s\n", file, fmt, error);
		return;
	}
	if (!strcmp(fmt, "safetensors")) {
		json_t *meta = json_object_get(s, "metadata");
		uint64_t data = (uint64_t)json_integer_value(json_object_get(s, "data_bytes"));
		printf("%s: safetensors, %lld tensors, %lld parameters, %s data, %lld-byte header\n",
		       file, (long long)json_integer_value(json_object_get(s, "tensors")),
		       (long long)json_integer_value(json_object_get(s, "parameters")),
		       cli_size(data),
		       (long long)json_integer_value(json_object_get(s, "header_bytes")));
		print_dtypes(json_object_get(s, "dtypes"));
		if (json_is_object(meta) && json_object_size(meta)) {
			const char *k;
			json_t *v;
			printf("  metadata:");
			json_object_foreach(meta, k, v)
				printf(" %s=%s", k, json_string_value(v));
			printf("\n");
		}
		if (json_object_get(s, "finite"))
			printf("  float tensors: all finite (%zu scanned)\n",
			       json_object_size(json_object_get(s, "stats")));
	} else if (!strcmp(fmt, "pth")) {
		printf("%s: PyTorch zip archive '%s', %lld entries, %lld data records, %s tensor data\n",
		       file, json_string_value(json_object_get(s, "archive")),
		       (long long)json_integer_value(json_object_get(s, "entries")),
		       (long long)json_integer_value(json_object_get(s, "data_records")),
		       cli_size((uint64_t)json_integer_value(json_object_get(s, "bytes"))));
	} else if (!strcmp(fmt, "index")) {
		json_t *ts = json_object_get(s, "total_size");
		printf("%s: safetensors index, %lld tensors in %zu shards, total_size %s\n",
		       file, (long long)json_integer_value(json_object_get(s, "weight_map_entries")),
		       json_array_size(json_object_get(s, "shards")),
		       json_is_integer(ts) ? cli_size((uint64_t)json_integer_value(ts)) : "absent");
	} else {
		printf("%s: %s, %s\n", file, fmt,
		       cli_size((uint64_t)json_integer_value(json_object_get(s, "size"))));
	}
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "full", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *files;
	int full = 0, c, nbad = 0, nerr = 0, nok = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			full = 1;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			return cli_help(cli_find("inspect"));
		default:
			return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "no FILE given");
	files = json_array();
	if (!files) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	for (int i = optind; i < argc; i++) {
		json_t *s = NULL;
		int err = wan_inspect_file(argv[i], full, &s);

		if (err < 0 && err != WAN_ECORRUPT) {
			cli_error("%s", wan_errmsg());
			nerr++;
			if (cli->json)
				json_array_append_new(files,
						      json_pack("{s:s, s:s, s:b, s:s}", "file", argv[i],
								"format", "unreadable", "valid", 0,
								"error", wan_errmsg()));
			continue;
		}
		if (err == WAN_ECORRUPT)
			nbad++;
		else
			nok++;
		if (!cli->json)
			print_human(s);
		json_array_append_new(files, s);
	}
	if (cli->json) {
		cli_print_json(json_pack("{s:o}", "files", files));
	} else {
		json_decref(files);
		if (argc - optind > 1)
			printf("%d files: %d valid, %d invalid%s\n", argc - optind, nok, nbad,
			       nerr ? ", some unreadable" : "");
	}
	if (nerr)
		return EXIT_FAIL;
	return nbad ? EXIT_CHECK : EXIT_OK;
}
