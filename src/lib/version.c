#include "util/common.h"
#include "wanctl/wanctl.h"

const char *wan_version(void)
{
	return WANCTL_VERSION;
}
