/*
 * mkfixture DIR SPEC [--variant N] [--seed S] [--shard-bytes B]
 *           [--defect NAME] [--defect-file PATH] [--defect-tensor NAME]
 * Writes a fixture model with the library's generator (tests, benchmarks).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wanctl/error.h"
#include "wanctl/fixture.h"

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "variant", required_argument, NULL, 'v' },
		{ "seed", required_argument, NULL, 's' },
		{ "shard-bytes", required_argument, NULL, 'b' },
		{ "defect", required_argument, NULL, 'd' },
		{ "defect-file", required_argument, NULL, 'f' },
		{ "defect-tensor", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct wan_fixture_opts o;
	struct wan_fixture_result r;
	int c;

	memset(&o, 0, sizeof(o));
	o.seed = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'v': o.variant = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': o.seed = strtoull(optarg, NULL, 10); break;
		case 'b': o.shard_bytes = strtoull(optarg, NULL, 10); break;
		case 'd':
			if (wan_fixture_defect_parse(optarg, &o.defect) < 0) {
				fprintf(stderr, "mkfixture: unknown defect '%s'\n", optarg);
				return 2;
			}
			break;
		case 'f': o.defect_file = optarg; break;
		case 't': o.defect_tensor = optarg; break;
		default:
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: mkfixture DIR SPEC [options]\n");
		return 2;
	}
	if (wan_fixture_write(argv[optind], argv[optind + 1], &o, &r) < 0) {
		fprintf(stderr, "mkfixture: %s\n", wan_errmsg());
		return 1;
	}
	printf("%s %llu %llu\n", r.defect_path, (unsigned long long)r.files,
	       (unsigned long long)r.bytes);
	return 0;
}
