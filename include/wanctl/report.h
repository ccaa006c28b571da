#ifndef WANCTL_REPORT_H
#define WANCTL_REPORT_H
/*
 * A validation report: a list of checks, each with a stable id (SPEC.md
 * "Checks"), a status, a message a person can act on, and details.
 */
#include <jansson.h>

enum wan_check_status { WAN_CHECK_PASS, WAN_CHECK_SKIP, WAN_CHECK_WARN,
			WAN_CHECK_FAIL };

struct wan_report;

struct wan_report *wan_report_new(void);
void wan_report_free(struct wan_report *r);
/* Append a check. details is stolen (may be NULL). Returns 0 or WAN_ENOMEM. */
int wan_report_add(struct wan_report *r, const char *id, const char *model,
		   enum wan_check_status st, json_t *details, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Worst status of all checks (PASS if empty). */
enum wan_check_status wan_report_worst(const struct wan_report *r);
size_t wan_report_count(const struct wan_report *r);
/* Borrowed: {"checks":[{"id","model","status","message","details"}]}. */
json_t *wan_report_json(const struct wan_report *r);
/* Append all checks of src to dst. */
int wan_report_merge(struct wan_report *dst, const struct wan_report *src);
const char *wan_check_status_name(enum wan_check_status st);
/* The first failing check's message, or NULL. */
const char *wan_report_first_failure(const struct wan_report *r);

#endif
