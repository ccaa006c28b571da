#include "util/common.h"
#include "cli/cli.h"

const char help_verify[] =
	"usage: wanctl verify\n"
	"\n"
	"Not built yet.\n";

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'verify' is not built yet");
	return EXIT_USAGE;
}
