#include "util/common.h"
#include "cli/cli.h"

const char help_config[] =
	"usage: wanctl config\n"
	"\n"
	"Not built yet.\n";

int cmd_config(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'config' is not built yet");
	return EXIT_USAGE;
}
