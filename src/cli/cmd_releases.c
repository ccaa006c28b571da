#include "util/common.h"
#include "cli/cli.h"

const char help_releases[] =
	"usage: wanctl releases\n"
	"\n"
	"Not built yet.\n";

int cmd_releases(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'releases' is not built yet");
	return EXIT_USAGE;
}
