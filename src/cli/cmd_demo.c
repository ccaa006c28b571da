#include "util/common.h"
#include "cli/cli.h"

const char help_demo[] =
	"usage: wanctl demo\n"
	"\n"
	"Not built yet.\n";

int cmd_demo(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'demo' is not built yet");
	return EXIT_USAGE;
}
