#include "util/common.h"
#include "cli/cli.h"

const char help_status[] =
	"usage: wanctl status\n"
	"\n"
	"Not built yet.\n";

int cmd_status(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'status' is not built yet");
	return EXIT_USAGE;
}
