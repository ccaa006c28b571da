#include "util/common.h"
#include "cli/cli.h"

const char help_monitor[] =
	"usage: wanctl monitor\n"
	"\n"
	"Not built yet.\n";

int cmd_monitor(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'monitor' is not built yet");
	return EXIT_USAGE;
}
