/* The alert rule engine with an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <unistd.h>

#include "util/common.h"
#include "util/path.h"
#include "wanctl/monitor.h"
#include "lib/db.h"

static struct wan_alert_rule rule(const char *name, const char *metric,
				  enum wan_cmp cmp, double thr, double for_s)
{
	struct wan_alert_rule r;

	memset(&r, 0, sizeof(r));
	r.name = (char *)name;
	r.metric = (char *)metric;
	r.cmp = cmp;
	r.threshold = thr;
	r.for_seconds = for_s;
	r.severity = WAN_SEV_CRITICAL;
	return r;
}

/* Evaluate one sample of wanctl_model_integrity_ok{model=m} = v at now;
 * count notices by kind. */
struct counts {
	int firing, resolved, refresh, transitions;
};

static void eval1(struct wan_alert_engine *e, const char *metric, const char *model,
		  double v, double now, struct counts *c)
{
	struct wan_sample_set s;
	struct wan_alert_notice *nv = NULL;
	struct wan_alert_transition *tv = NULL;
	size_t nn = 0, nt = 0;

	wan_samples_init(&s);
	s.ts = now;
	if (!isnan(v))
		assert_int_equal(wan_samples_add(&s, metric, v, "model", model, NULL), 0);
	assert_int_equal(wan_alert_eval(e, &s, now, &nv, &nn, &tv, &nt), 0);
	for (size_t i = 0; i < nn; i++) {
		if (nv[i].kind == WAN_NOTICE_FIRING)
			c->firing++;
		else if (nv[i].kind == WAN_NOTICE_RESOLVED)
			c->resolved++;
		else
			c->refresh++;
	}
	c->transitions += (int)nt;
	wan_alert_notices_free(nv, nn);
	wan_alert_transitions_free(tv, nt);
	wan_samples_release(&s);
}

static enum wan_alert_state state_of(struct wan_alert_engine *e)
{
	if (wan_alert_count(e) == 0)
		return WAN_ALERT_INACTIVE;
	return wan_alert_at(e, 0)->state;
}

static void test_alert_for_zero_fires_at_once(void **st)
{
	struct wan_alert_rule r = rule("ModelIntegrityMismatch", "wanctl_model_integrity_ok",
				       WAN_CMP_LT, 1, 0);
	struct wan_alert_opts o = { .hold_seconds = 0, .resend_seconds = 60 };
	struct wan_alert_engine *e;
	struct counts c = { 0 };

	(void)st;
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, &o), 0);
	eval1(e, "wanctl_model_integrity_ok", "m", 1, 100, &c);
	assert_int_equal(c.firing, 0);
	assert_int_equal(wan_alert_count(e), 0);
	eval1(e, "wanctl_model_integrity_ok", "m", 0, 101, &c);
	assert_int_equal(c.firing, 1);
	assert_int_equal(state_of(e), WAN_ALERT_FIRING);
	assert_true(wan_alert_at(e, 0)->fired_at == 101);
	assert_int_equal(wan_alert_firing(e), 1);
	/* Another model's series is a separate alert. */
	eval1(e, "wanctl_model_integrity_ok", "other", 0, 102, &c);
	assert_int_equal(c.firing, 2);
	wan_alert_engine_free(e);
}

static void test_alert_for_resets_on_false(void **st)
{
	struct wan_alert_rule r = rule("DiskSpaceLow", "wanctl_disk_free_ratio",
				       WAN_CMP_LT, 0.1, 10);
	struct wan_alert_opts o = { .hold_seconds = 0, .resend_seconds = 60 };
	struct wan_alert_engine *e;
	struct counts c = { 0 };

	(void)st;
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, &o), 0);
	eval1(e, "wanctl_disk_free_ratio", "m", 0.05, 0, &c);
	assert_int_equal(state_of(e), WAN_ALERT_PENDING);
	eval1(e, "wanctl_disk_free_ratio", "m", 0.05, 9, &c);
	assert_int_equal(state_of(e), WAN_ALERT_PENDING);
	/* One false evaluation resets the pending alert. */
	eval1(e, "wanctl_disk_free_ratio", "m", 0.5, 9.5, &c);
	assert_int_equal(state_of(e), WAN_ALERT_INACTIVE);
	eval1(e, "wanctl_disk_free_ratio", "m", 0.05, 10, &c);
	assert_int_equal(state_of(e), WAN_ALERT_PENDING);
	/* 10 s after t=0 but only 9 s after the restart: still pending. */
	eval1(e, "wanctl_disk_free_ratio", "m", 0.05, 19, &c);
	assert_int_equal(state_of(e), WAN_ALERT_PENDING);
	assert_int_equal(c.firing, 0);
	eval1(e, "wanctl_disk_free_ratio", "m", 0.05, 20, &c);
	assert_int_equal(state_of(e), WAN_ALERT_FIRING);
	assert_int_equal(c.firing, 1);
	assert_true(wan_alert_at(e, 0)->active_since == 10);
	assert_int_equal(c.resolved, 0);
	wan_alert_engine_free(e);
}

static void test_alert_flapping_no_storm(void **st)
{
	struct wan_alert_rule r = rule("ModelUnavailable", "wanctl_model_available",
				       WAN_CMP_LT, 1, 0);
	struct wan_alert_opts o = { .hold_seconds = 3, .resend_seconds = 1000 };
	struct wan_alert_engine *e;
	struct counts c = { 0 };
	double t;

	(void)st;
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, &o), 0);
	/* Input flips every second for a minute. */
	for (t = 0; t < 60; t += 1)
		eval1(e, "wanctl_model_available", "m", ((int)t % 2) ? 1 : 0, t, &c);
	assert_int_equal(c.firing, 1);
	assert_int_equal(c.resolved, 0);
	assert_int_equal(state_of(e), WAN_ALERT_FIRING);
	/* Stable false: resolves exactly once after the hold. */
	for (; t < 80; t += 1)
		eval1(e, "wanctl_model_available", "m", 1, t, &c);
	assert_int_equal(c.firing, 1);
	assert_int_equal(c.resolved, 1);
	assert_int_equal(state_of(e), WAN_ALERT_RESOLVED);
	wan_alert_engine_free(e);
}

static void test_alert_resolve_once(void **st)
{
	struct wan_alert_rule r = rule("ModelIntegrityMismatch", "wanctl_model_integrity_ok",
				       WAN_CMP_LT, 1, 0);
	struct wan_alert_opts o = { .hold_seconds = 0, .resend_seconds = 60 };
	struct wan_alert_engine *e;
	struct counts c = { 0 };

	(void)st;
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, &o), 0);
	eval1(e, "wanctl_model_integrity_ok", "m", 0, 1, &c);
	eval1(e, "wanctl_model_integrity_ok", "m", 1, 2, &c);
	assert_int_equal(c.resolved, 1);
	assert_true(wan_alert_at(e, 0)->resolved_at == 2);
	for (double t = 3; t < 10; t++)
		eval1(e, "wanctl_model_integrity_ok", "m", 1, t, &c);
	assert_int_equal(c.resolved, 1);
	assert_int_equal(c.firing, 1);
	/* A series that vanishes counts as false too. */
	eval1(e, "wanctl_model_integrity_ok", "m", 0, 20, &c);
	assert_int_equal(c.firing, 2);
	eval1(e, "wanctl_model_integrity_ok", "m", NAN, 21, &c);
	assert_int_equal(c.resolved, 2);
	wan_alert_engine_free(e);
}

static void test_alert_refresh_while_firing(void **st)
{
	struct wan_alert_rule r = rule("GpuTemperatureHigh", "wanctl_gpu_temperature_celsius",
				       WAN_CMP_GT, 85, 0);
	struct wan_alert_opts o = { .hold_seconds = 0, .resend_seconds = 10 };
	struct wan_alert_engine *e;
	struct counts c = { 0 };

	(void)st;
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, &o), 0);
	for (double t = 0; t <= 30; t += 1)
		eval1(e, "wanctl_gpu_temperature_celsius", "0", 90, t, &c);
	assert_int_equal(c.firing, 1);
	assert_int_equal(c.refresh, 3);   /* at 10, 20, 30 */
	wan_alert_engine_free(e);
}

static void test_alert_label_matchers(void **st)
{
	struct wan_alert_rule r = rule("ModelUnavailable", "wanctl_model_available",
				       WAN_CMP_LT, 1, 0);
	struct wan_alert_opts o = { 0 };
	struct wan_alert_engine *e;
	struct counts c = { 0 };

	(void)st;
	r.labels = json_pack("{s:s}", "model", "a");
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, &o), 0);
	eval1(e, "wanctl_model_available", "b", 0, 1, &c);
	assert_int_equal(c.firing, 0);
	eval1(e, "wanctl_model_available", "a", 0, 2, &c);
	assert_int_equal(c.firing, 1);
	json_decref(r.labels);
	wan_alert_engine_free(e);
}

static void test_alert_render(void **st)
{
	json_t *l = json_pack("{s:s}", "model", "t2v-A14B");
	char *s;

	(void)st;
	s = wan_alert_render("{labels.model}: {value} < {threshold} ({name}) {x}",
			     "ModelUnavailable", l, 0, 1);
	assert_string_equal(s, "t2v-A14B: 0 < 1 (ModelUnavailable) {x}");
	free(s);
	s = wan_alert_render(NULL, "ModelUnavailable", l, 0.5, 1);
	assert_string_equal(s, "ModelUnavailable (model=t2v-A14B): value 0.5, threshold 1");
	free(s);
	json_decref(l);
}

static void test_alert_notice_json(void **st)
{
	struct wan_alert_rule r = rule("ModelIntegrityMismatch", "wanctl_model_integrity_ok",
				       WAN_CMP_LT, 1, 0);
	struct wan_alert_engine *e;
	struct wan_sample_set s;
	struct wan_alert_notice *nv;
	size_t nn;
	json_t *j, *am;

	(void)st;
	r.summary = (char *)"model {labels.model} changed";
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, NULL), 0);
	wan_samples_init(&s);
	assert_int_equal(wan_samples_add(&s, "wanctl_model_integrity_ok", 0, "model", "m", NULL), 0);
	assert_int_equal(wan_alert_eval(e, &s, 1764374400.0, &nv, &nn, NULL, NULL), 0);
	assert_int_equal(nn, 1);
	j = wan_alert_notice_json(&nv[0]);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "ModelIntegrityMismatch");
	assert_string_equal(json_string_value(json_object_get(j, "state")), "firing");
	assert_string_equal(json_string_value(json_object_get(j, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(j, "summary")), "model m changed");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "labels"), "model")), "m");
	assert_string_equal(json_string_value(json_object_get(j, "starts_at")), "2025-11-29T00:00:00.000Z");
	assert_true(json_is_null(json_object_get(j, "ends_at")));
	assert_true(json_real_value(json_object_get(j, "value")) == 0);
	am = wan_alert_notice_am(&nv[0], "http://127.0.0.1:9731/");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_array_get(am, 0), "labels"), "alertname")), "ModelIntegrityMismatch");
	assert_non_null(json_object_get(json_array_get(am, 0), "endsAt"));
	json_decref(am);
	json_decref(j);
	wan_alert_notices_free(nv, nn);
	wan_samples_release(&s);
	wan_alert_engine_free(e);
}

static void test_alert_persist_across_restart(void **st)
{
	struct wan_alert_rule r = rule("ModelIntegrityMismatch", "wanctl_model_integrity_ok",
				       WAN_CMP_LT, 1, 0);
	char dir[] = "/tmp/test_alert.XXXXXX";
	struct wan_alert_engine *e;
	struct wan_db *db;
	struct wan_sample_set s;
	struct wan_alert_transition *tv;
	struct wan_alert_notice *nv;
	size_t nt, nn;
	json_t *list;

	(void)st;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(wan_db_open(&db, dir), 0);
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, NULL), 0);
	wan_samples_init(&s);
	assert_int_equal(wan_samples_add(&s, "wanctl_model_integrity_ok", 0, "model", "m", NULL), 0);
	assert_int_equal(wan_alert_eval(e, &s, 1000, NULL, NULL, &tv, &nt), 0);
	assert_int_equal(nt, 1);
	assert_int_equal(wan_alert_save(e, db, tv, nt), 0);
	wan_alert_transitions_free(tv, nt);
	wan_alert_engine_free(e);

	/* A new engine (restart) knows the alert is firing and does not
	 * notify it again. */
	assert_int_equal(wan_alert_engine_new(&e, &r, 1, NULL), 0);
	assert_int_equal(wan_alert_load(e, db), 0);
	assert_int_equal(wan_alert_firing(e), 1);
	assert_int_equal(wan_alert_eval(e, &s, 1001, &nv, &nn, NULL, NULL), 0);
	assert_int_equal(nn, 0);
	wan_alert_notices_free(nv, nn);
	assert_int_equal(wan_alert_list(db, "firing", &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "alerts")), 1);
	json_decref(list);
	wan_samples_release(&s);
	wan_alert_engine_free(e);
	wan_db_close(db);
	assert_int_equal(path_remove_tree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alert_for_zero_fires_at_once),
		cmocka_unit_test(test_alert_for_resets_on_false),
		cmocka_unit_test(test_alert_flapping_no_storm),
		cmocka_unit_test(test_alert_resolve_once),
		cmocka_unit_test(test_alert_refresh_while_firing),
		cmocka_unit_test(test_alert_label_matchers),
		cmocka_unit_test(test_alert_render),
		cmocka_unit_test(test_alert_notice_json),
		cmocka_unit_test(test_alert_persist_across_restart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
