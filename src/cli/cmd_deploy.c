#include "util/common.h"
#include "cli/cli.h"

const char help_deploy[] =
	"usage: wanctl deploy\n"
	"\n"
	"Not built yet.\n";

int cmd_deploy(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'deploy' is not built yet");
	return EXIT_USAGE;
}
