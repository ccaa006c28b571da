#include "util/common.h"
#include "cli/cli.h"
#include "wanctl/store.h"

#include <getopt.h>

const char help_verify[] =
	"usage: wanctl verify [MODEL...] [--quick]\n"
	"\n"
	"Re-hash every production file of each MODEL (default: every deployed\n"
	"model) against its release manifest, in parallel, and report every file\n"
	"that differs, is missing, or is extra.\n"
	"\n"
	"Options:\n"
	"  --quick   check sizes and that each file is still the store object\n"
	"            (same inode) without reading the data\n"
	"\n"
	"Exit status: 0 everything matches, 4 a file does not match.\n";

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct wan_state *st = NULL;
	struct wan_report *rep = NULL;
	bool quick = false;
	int c, err, ret;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'q')
			quick = true;
		else
			return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
	}
	rep = wan_report_new();
	if (!rep)
		return cli_fail(wan_err(WAN_ENOMEM, "out of memory"));
	if ((err = cli_state_open(cli, 0, 0, &st)) < 0 ||
	    (err = wan_verify(st, (const char *const *)argv + optind, (size_t)(argc - optind),
			      quick, rep)) < 0) {
		wan_report_free(rep);
		wan_state_close(st);
		return cli_fail(err);
	}
	ret = cli_print_report(cli, rep);
	wan_report_free(rep);
	wan_state_close(st);
	return ret;
}
