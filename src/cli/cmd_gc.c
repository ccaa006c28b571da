#include "util/common.h"
#include "cli/cli.h"

const char help_gc[] =
	"usage: wanctl gc\n"
	"\n"
	"Not built yet.\n";

int cmd_gc(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'gc' is not built yet");
	return EXIT_USAGE;
}
