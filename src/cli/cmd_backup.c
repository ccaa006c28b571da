#include "util/common.h"
#include "cli/cli.h"

const char help_backup[] =
	"usage: wanctl backup\n"
	"\n"
	"Not built yet.\n";

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'backup' is not built yet");
	return EXIT_USAGE;
}
