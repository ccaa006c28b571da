#include "util/common.h"
#include "cli/cli.h"

const char help_list[] =
	"usage: wanctl list\n"
	"\n"
	"Not built yet.\n";

int cmd_list(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'list' is not built yet");
	return EXIT_USAGE;
}
