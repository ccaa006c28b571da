#ifndef WANCTL_BACKUP_H
#define WANCTL_BACKUP_H
/*
 * The backup repository at backup_path (SPEC.md, issue 5).
 */
#include <jansson.h>
#include <stdbool.h>

struct wan_state;

/* Back up release `release` of `model` unless the repository already holds
 * it. Called by deploy before any switch when backup.before_deploy. */
int wan_backup_before_deploy(struct wan_state *st, const char *model,
			     const char *release);

/*
 * Restore the objects of a release that the store lacks (missing or
 * damaged: bad is the array of {"path","sha256","problem"} found by the
 * caller, may be empty to mean "the manifest itself") from the backup
 * repository, verifying each, and rebuild the release tree if needed.
 * Returns 0 when everything was restored, else an error naming what could
 * not be recovered.
 */
int wan_backup_restore_objects(struct wan_state *st, const char *model,
			       const char *release, json_t *bad);

#endif
