#include "util/common.h"
#include "cli/cli.h"

const char help_inspect[] =
	"usage: wanctl inspect\n"
	"\n"
	"Not built yet.\n";

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'inspect' is not built yet");
	return EXIT_USAGE;
}
