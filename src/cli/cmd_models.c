#include "util/common.h"
#include "cli/cli.h"

const char help_models[] =
	"usage: wanctl models\n"
	"\n"
	"Not built yet.\n";

int cmd_models(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'models' is not built yet");
	return EXIT_USAGE;
}
