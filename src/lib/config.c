#include "util/common.h"
#include "wanctl/config.h"

int wan_config_load(struct wan_config **out, const char *explicit_path)
{
	(void)explicit_path;
	*out = NULL;
	return wan_err(WAN_ECONFIG, "configuration not built yet");
}

void wan_config_free(struct wan_config *cfg)
{
	(void)cfg;
}
