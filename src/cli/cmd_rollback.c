#include "util/common.h"
#include "cli/cli.h"

const char help_rollback[] =
	"usage: wanctl rollback\n"
	"\n"
	"Not built yet.\n";

int cmd_rollback(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'rollback' is not built yet");
	return EXIT_USAGE;
}
