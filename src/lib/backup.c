/* Placeholder until the backup repository lands. */
#include "util/common.h"
#include "wanctl/backup.h"

int wan_backup_before_deploy(struct wan_state *st, const char *model,
			     const char *release)
{
	(void)st;
	(void)model;
	(void)release;
	return 0;
}

int wan_backup_restore_objects(struct wan_state *st, const char *model,
			       const char *release, json_t *bad)
{
	(void)st;
	(void)bad;
	return wan_err(WAN_ENOTFOUND, "no backup of %s release %s", model, release);
}
