/* History, trends and sparklines over samples in a real state database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "util/common.h"
#include "util/path.h"
#include "wanctl/monitor.h"
#include "lib/db.h"

static void test_history_trend_fit(void **st)
{
	/* y = 3 + 2x exactly, then the hand-computed case of t_health. */
	const double x[] = { 0, 1, 2, 3 }, y[] = { 3, 5, 7, 9 };
	const double y2[] = { 1000, 990, 985, 970 };
	double b, a;

	(void)st;
	assert_int_equal(wan_trend_fit(x, y, 4, &b, &a), 0);
	assert_true(fabs(b - 2) < 1e-12 && fabs(a - 3) < 1e-12);
	assert_int_equal(wan_trend_fit(x, y2, 4, &b, &a), 0);
	assert_true(fabs(b - -9.5) < 1e-12);            /* -47.5 / 5 */
	assert_true(fabs(a - (986.25 - -9.5 * 1.5)) < 1e-9);
	assert_int_equal(wan_trend_fit(x, y, 1, &b, &a), WAN_EINVAL);
	{
		const double same[] = { 5, 5, 5 };
		assert_int_equal(wan_trend_fit(same, y, 3, &b, &a), WAN_EINVAL);
	}
}

static void test_history_sparkline(void **st)
{
	const double up[] = { 0, 1, 2, 3, 4, 5, 6, 7 }, flat[] = { 4, 4, 4 };
	char *s;

	(void)st;
	s = wan_sparkline(up, 8, 32);
	assert_string_equal(s, "▁▂▃▄▅▆▇█");
	free(s);
	s = wan_sparkline(up, 8, 4);     /* pairs averaged, scaled to 0..7 */
	assert_string_equal(s, "▂▄▆█");  /* 0.5 2.5 4.5 6.5 of 0..7 */
	free(s);
	s = wan_sparkline(flat, 3, 10);
	assert_string_equal(s, "▁▁▁");
	free(s);
	s = wan_sparkline(up, 0, 10);
	assert_string_equal(s, "");
	free(s);
}

static void test_history_query(void **st)
{
	char dir[] = "/tmp/test_history.XXXXXX";
	struct wan_db *db;
	struct wan_sample_set s;
	json_t *out, *ser;

	(void)st;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(wan_db_open(&db, dir), 0);
	for (int i = 0; i < 3; i++) {
		wan_samples_init(&s);
		s.ts = 1000 + i * 10;
		assert_int_equal(wan_samples_add(&s, "wanctl_model_available", i == 1 ? 0 : 1,
						 "model", "a", NULL), 0);
		assert_int_equal(wan_samples_add(&s, "wanctl_model_available", 1,
						 "model", "b", NULL), 0);
		assert_int_equal(wan_samples_add(&s, "wanctl_memory_used_ratio", 0.1 * i, NULL), 0);
		/* Not stored: an info metric, and unknown values. */
		assert_int_equal(wan_samples_add(&s, "wanctl_model_release_info", 1,
						 "model", "a", "release", "r", NULL), 0);
		assert_int_equal(wan_samples_add(&s, "wanctl_cpu_usage_ratio", NAN, NULL), 0);
		/* Retention 1 h: nothing this young is pruned. */
		assert_int_equal(wan_samples_store(db, &s, 1), 0);
		wan_samples_release(&s);
	}
	assert_int_equal(wan_history_query(db, 0, "a", NULL, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "series")), 1);
	ser = json_array_get(json_object_get(out, "series"), 0);
	assert_string_equal(json_string_value(json_object_get(ser, "metric")), "wanctl_model_available");
	assert_int_equal(json_integer_value(json_object_get(ser, "count")), 3);
	assert_true(json_number_value(json_object_get(ser, "min")) == 0);
	assert_true(fabs(json_number_value(json_object_get(ser, "avg")) - 2.0 / 3) < 1e-12);
	assert_true(json_number_value(json_object_get(ser, "last")) == 1);
	json_decref(out);
	/* No model: the system's series only. */
	assert_int_equal(wan_history_query(db, 1005, NULL, NULL, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "series")), 1);
	ser = json_array_get(json_object_get(out, "series"), 0);
	assert_string_equal(json_string_value(json_object_get(ser, "metric")), "wanctl_memory_used_ratio");
	assert_int_equal(json_integer_value(json_object_get(ser, "count")), 2);
	json_decref(out);
	/* A metric across models. */
	assert_int_equal(wan_history_query(db, 0, NULL, "wanctl_model_available", &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "series")), 2);
	json_decref(out);
	/* Retention prunes old rows on the next store. */
	wan_samples_init(&s);
	s.ts = 1000 + 3600 + 15;
	assert_int_equal(wan_samples_add(&s, "wanctl_memory_used_ratio", 0.5, NULL), 0);
	assert_int_equal(wan_samples_store(db, &s, 1), 0);
	wan_samples_release(&s);
	assert_int_equal(wan_history_query(db, 0, NULL, "wanctl_memory_used_ratio", &out), 0);
	ser = json_array_get(json_object_get(out, "series"), 0);
	assert_int_equal(json_integer_value(json_object_get(ser, "count")), 2); /* 1020, 4615 */
	json_decref(out);
	wan_db_close(db);
	assert_int_equal(path_remove_tree(dir), 0);
}

static void test_history_prometheus_text(void **st)
{
	struct wan_sample_set s;
	char *t;

	(void)st;
	wan_samples_init(&s);
	assert_int_equal(wan_samples_add(&s, "wanctl_disk_free_bytes", 1e12,
					 "path", "/a \"b\"\\c\nd", NULL), 0);
	assert_int_equal(wan_samples_add(&s, "wanctl_cpu_usage_ratio", 0.25, NULL), 0);
	assert_int_equal(wan_samples_add(&s, "wanctl_gpu_power_watts", NAN, "gpu", "0", NULL), 0);
	t = wan_samples_prometheus(&s);
	/* Families in table order; labels escaped; unknown values left out. */
	assert_non_null(strstr(t, "# TYPE wanctl_cpu_usage_ratio gauge\nwanctl_cpu_usage_ratio 0.25\n"));
	assert_non_null(strstr(t, "wanctl_disk_free_bytes{path=\"/a \\\"b\\\"\\\\c\\nd\"} 1000000000000\n"));
	assert_true(strstr(t, "wanctl_cpu_usage_ratio") < strstr(t, "wanctl_disk_free_bytes"));
	assert_null(strstr(t, "wanctl_gpu_power_watts"));
	free(t);
	wan_samples_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_trend_fit),
		cmocka_unit_test(test_history_sparkline),
		cmocka_unit_test(test_history_query),
		cmocka_unit_test(test_history_prometheus_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
