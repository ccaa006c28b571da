#include "util/common.h"
#include "cli/cli.h"

const char help_health[] =
	"usage: wanctl health\n"
	"\n"
	"Not built yet.\n";

int cmd_health(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'health' is not built yet");
	return EXIT_USAGE;
}
