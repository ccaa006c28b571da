#include "util/common.h"
#include "cli/cli.h"

const char help_validate[] =
	"usage: wanctl validate\n"
	"\n"
	"Not built yet.\n";

int cmd_validate(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'validate' is not built yet");
	return EXIT_USAGE;
}
