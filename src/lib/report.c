#include "util/common.h"
#include "wanctl/report.h"
#include <stdarg.h>

struct wan_report {
	json_t *root;   /* {"checks": [...]} */
	json_t *checks; /* borrowed from root */
	enum wan_check_status worst;
};

static const char *const status_names[] = { "pass", "skip", "warn", "fail" };

const char *wan_check_status_name(enum wan_check_status st)
{
	return (unsigned)st < ARRAY_SIZE(status_names) ? status_names[st] : "?";
}

struct wan_report *wan_report_new(void)
{
	struct wan_report *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->root = json_object();
	r->checks = json_array();
	if (!r->root || !r->checks ||
	    json_object_set_new(r->root, "checks", r->checks) < 0) {
		json_decref(r->root);
		free(r);
		return NULL;
	}
	r->worst = WAN_CHECK_PASS;
	return r;
}

void wan_report_free(struct wan_report *r)
{
	if (!r)
		return;
	json_decref(r->root);
	free(r);
}

int wan_report_add(struct wan_report *r, const char *id, const char *model,
		   enum wan_check_status st, json_t *details, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	json_t *c;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c = json_pack("{s:s, s:s?, s:s, s:s, s:o}", "id", id, "model", model,
		      "status", wan_check_status_name(st), "message", msg,
		      "details", details ? details : json_object());
	if (!c || json_array_append_new(r->checks, c) < 0)
		return wan_err(WAN_ENOMEM, "out of memory adding check '%s'", id);
	if (st > r->worst)
		r->worst = st;
	return 0;
}

enum wan_check_status wan_report_worst(const struct wan_report *r)
{
	return r->worst;
}

size_t wan_report_count(const struct wan_report *r)
{
	return json_array_size(r->checks);
}

json_t *wan_report_json(const struct wan_report *r)
{
	return r->root;
}

int wan_report_merge(struct wan_report *dst, const struct wan_report *src)
{
	size_t i;
	json_t *c;

	json_array_foreach(src->checks, i, c) {
		if (json_array_append(dst->checks, c) < 0)
			return wan_err(WAN_ENOMEM, "out of memory merging reports");
	}
	if (src->worst > dst->worst)
		dst->worst = src->worst;
	return 0;
}

const char *wan_report_first_failure(const struct wan_report *r)
{
	size_t i;
	json_t *c;

	json_array_foreach(r->checks, i, c) {
		if (!strcmp(json_string_value(json_object_get(c, "status")), "fail"))
			return json_string_value(json_object_get(c, "message"));
	}
	return NULL;
}
