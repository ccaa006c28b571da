/*
 * The recorded samples read back: `monitor history`, trends by least
 * squares, and the report of `wanctl health`.
 */
#include "util/common.h"
#include "util/buf.h"
#include "util/path.h"
#include "wanctl/monitor.h"
#include "wanctl/nvml.h"
#include "lib/db.h"

#include <math.h>
#include <time.h>

int wan_trend_fit(const double *x, const double *y, size_t n,
		  double *slope, double *intercept)
{
	double mx = 0, my = 0, sxx = 0, sxy = 0;

	if (n < 2)
		return wan_err(WAN_EINVAL, "a trend needs at least 2 samples, have %zu", n);
	for (size_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	for (size_t i = 0; i < n; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
	}
	if (!(sxx > 0))
		return wan_err(WAN_EINVAL, "a trend needs samples at different times");
	*slope = sxy / sxx;
	*intercept = my - *slope * mx;
	return 0;
}

char *wan_sparkline(const double *v, size_t n, size_t width)
{
	static const char *const bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	struct buf b = BUF_INIT;
	double lo = INFINITY, hi = -INFINITY;
	size_t cols = n < width ? n : width;

	buf_adds(&b, "");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < lo)
			lo = v[i];
		if (v[i] > hi)
			hi = v[i];
	}
	for (size_t c = 0; c < cols; c++) {
		/* Column c averages the values that fall in its share of n. */
		size_t from = c * n / cols, to = (c + 1) * n / cols;
		double sum = 0;
		int level;

		if (to <= from)
			to = from + 1;
		for (size_t i = from; i < to; i++)
			sum += v[i];
		sum /= (double)(to - from);
		level = hi > lo ? (int)floor((sum - lo) / (hi - lo) * 7.0 + 0.5) : 0;
		if (level < 0)
			level = 0;
		if (level > 7)
			level = 7;
		buf_adds(&b, bars[level]);
	}
	return buf_detach(&b);
}

static json_t *labels_json(const char *ltext)
{
	json_t *l = ltext && *ltext ? json_loads(ltext, 0, NULL) : NULL;

	return l ? l : json_object();
}

static void series_finish(json_t *s, double sum, size_t n)
{
	json_object_set_new(s, "count", json_integer((json_int_t)n));
	json_object_set_new(s, "avg", json_real(n ? sum / (double)n : 0));
}

int wan_history_query(struct wan_db *db, double since, const char *model,
		      const char *metric, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *series = json_array(), *cur = NULL, *pts = NULL;
	char *cur_metric = NULL, *cur_labels = NULL;
	double sum = 0, lo = 0, hi = 0;
	size_t n = 0;
	int err, rc;

	*out = NULL;
	if ((err = wan_db_prepare(db, &st,
		"WITH s AS (SELECT metric, labels, ts, value,"
		"  CASE WHEN labels = '' THEN NULL ELSE json_extract(labels, '$.model') END AS model"
		"  FROM samples WHERE ts >= ?1 AND (?2 IS NULL OR metric = ?2))"
		" SELECT metric, labels, ts, value FROM s"
		" WHERE (?3 IS NULL AND (?2 IS NOT NULL OR model IS NULL)) OR model = ?3"
		" ORDER BY metric, labels, ts")) < 0) {
		json_decref(series);
		return err;
	}
	sqlite3_bind_double(st, 1, since);
	if (metric)
		sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
	if (model)
		sqlite3_bind_text(st, 3, model, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);
		const char *l = (const char *)sqlite3_column_text(st, 1);
		double ts = sqlite3_column_double(st, 2), v = sqlite3_column_double(st, 3);

		if (!m)
			continue;
		if (!l)
			l = "";
		if (!cur || strcmp(cur_metric, m) || strcmp(cur_labels, l)) {
			if (cur)
				series_finish(cur, sum, n);
			free(cur_metric);
			free(cur_labels);
			cur_metric = strdup(m);
			cur_labels = strdup(l);
			pts = json_array();
			cur = json_pack("{s:s, s:o, s:f, s:f, s:o}", "metric", m,
					"labels", labels_json(l), "min", v, "max", v, "points", pts);
			if (!cur || !cur_metric || !cur_labels) {
				err = wan_err(WAN_ENOMEM, "out of memory reading samples");
				goto out;
			}
			json_object_set_new(cur, "first", json_real(ts));
			json_array_append_new(series, cur);
			sum = 0;
			n = 0;
			lo = hi = v;
		}
		json_array_append_new(pts, json_pack("[f,f]", ts, v));
		sum += v;
		n++;
		if (v < lo) {
			lo = v;
			json_object_set_new(cur, "min", json_real(v));
		}
		if (v > hi) {
			hi = v;
			json_object_set_new(cur, "max", json_real(v));
		}
		json_object_set_new(cur, "last", json_real(v));
		json_object_set_new(cur, "last_ts", json_real(ts));
	}
	if (rc != SQLITE_DONE) {
		err = wan_err(WAN_EIO, "cannot read samples: %s",
			      sqlite3_errmsg(wan_db_handle(db)));
		goto out;
	}
	if (cur)
		series_finish(cur, sum, n);
	*out = json_pack("{s:f, s:O}", "since", since, "series", series);
	err = *out ? 0 : wan_err(WAN_ENOMEM, "out of memory reading samples");
out:
	sqlite3_finalize(st);
	free(cur_metric);
	free(cur_labels);
	json_decref(series);
	return err;
}

/* Fit the series of a history result: x in hours since `since`. */
static json_t *trend_of(json_t *s, double since, const char *what)
{
	json_t *pts = json_object_get(s, "points"), *p, *t;
	size_t n = json_array_size(pts), i;
	double *x = calloc(n ? n : 1, sizeof(*x)), *y = calloc(n ? n : 1, sizeof(*y));
	double slope = 0, icpt = 0;
	int ok;

	if (!x || !y) {
		free(x);
		free(y);
		return NULL;
	}
	json_array_foreach(pts, i, p) {
		x[i] = (json_number_value(json_array_get(p, 0)) - since) / 3600.0;
		y[i] = json_number_value(json_array_get(p, 1));
	}
	ok = wan_trend_fit(x, y, n, &slope, &icpt) == 0;
	t = json_pack("{s:O, s:I, s:o, s:o}", "labels", json_object_get(s, "labels"),
		      "samples", (json_int_t)n, what, ok ? json_real(slope) : json_null(),
		      "last", n ? json_real(y[n - 1]) : json_null());
	free(x);
	free(y);
	return t;
}

int wan_trends(struct wan_db *db, double since, double now, json_t **out)
{
	json_t *h = NULL, *s, *disk = json_array(), *probe = json_array(), *mem = json_null();
	size_t i;
	int err;

	*out = NULL;
	/* Disks. */
	if ((err = wan_history_query(db, since, NULL, "wanctl_disk_free_bytes", &h)) < 0)
		goto fail;
	json_array_foreach(json_object_get(h, "series"), i, s) {
		json_t *t = trend_of(s, since, "slope_bytes_per_hour");
		json_t *sl, *last;
		if (!t)
			continue;
		sl = json_object_get(t, "slope_bytes_per_hour");
		last = json_object_get(t, "last");
		json_object_set_new(t, "path", json_incref(json_object_get(json_object_get(t, "labels"), "path")));
		json_object_del(t, "labels");
		json_object_set(t, "free_bytes", last);
		json_object_del(t, "last");
		/* At the fitted rate, the last free bytes last this many hours. */
		if (json_is_real(sl) && json_real_value(sl) < 0 && json_is_number(last))
			json_object_set_new(t, "hours_until_full",
				json_real(json_number_value(last) / -json_real_value(sl)));
		else
			json_object_set_new(t, "hours_until_full", json_null());
		json_array_append_new(disk, t);
	}
	json_decref(h);
	h = NULL;
	/* Memory. */
	if ((err = wan_history_query(db, since, NULL, "wanctl_memory_used_ratio", &h)) < 0)
		goto fail;
	s = json_array_get(json_object_get(h, "series"), 0);
	if (s) {
		json_decref(mem);
		mem = trend_of(s, since, "slope_ratio_per_hour");
		if (mem) {
			json_object_del(mem, "labels");
			json_object_set(mem, "used_ratio", json_object_get(mem, "last"));
			json_object_del(mem, "last");
		} else {
			mem = json_null();
		}
	}
	json_decref(h);
	h = NULL;
	/* Probe latency, any model. */
	{
		sqlite3_stmt *st = NULL;
		if ((err = wan_db_prepare(db, &st,
			"SELECT DISTINCT json_extract(labels, '$.model') FROM samples"
			" WHERE metric = 'wanctl_probe_latency_seconds' AND ts >= ? AND labels <> ''"
			" ORDER BY 1")) < 0)
			goto fail;
		sqlite3_bind_double(st, 1, since);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *model = (const char *)sqlite3_column_text(st, 0);
			json_t *ph = NULL, *ps;
			if (!model || wan_history_query(db, since, model,
							 "wanctl_probe_latency_seconds", &ph) < 0)
				continue;
			ps = json_array_get(json_object_get(ph, "series"), 0);
			if (ps) {
				json_t *t = trend_of(ps, since, "slope_seconds_per_hour");
				if (t) {
					json_object_set_new(t, "model", json_string(model));
					json_object_del(t, "labels");
					json_object_set(t, "latency_seconds", json_object_get(t, "last"));
					json_object_del(t, "last");
					json_array_append_new(probe, t);
				}
			}
			json_decref(ph);
		}
		sqlite3_finalize(st);
	}
	*out = json_pack("{s:f, s:o, s:o, s:o}", "window_hours", (now - since) / 3600.0,
			 "disk", disk, "memory", mem, "probe", probe);
	return 0;
fail:
	json_decref(h);
	json_decref(disk);
	json_decref(probe);
	json_decref(mem);
	return err;
}

static json_t *jnum(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

/* The latest recorded value of metric{model=...}, NAN when none. */
static double latest(struct wan_db *db, const char *metric, const char *model,
		     double *ts)
{
	sqlite3_stmt *st = NULL;
	double v = NAN;

	if (wan_db_prepare(db, &st,
		"SELECT value, ts FROM samples WHERE metric = ? AND labels <> ''"
		" AND json_extract(labels, '$.model') = ? ORDER BY ts DESC LIMIT 1") < 0)
		return NAN;
	sqlite3_bind_text(st, 1, metric, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		v = sqlite3_column_double(st, 0);
		if (ts)
			*ts = sqlite3_column_double(st, 1);
	}
	sqlite3_finalize(st);
	return v;
}

static void health_disk(json_t *arr, const char *path)
{
	struct wan_diskinfo d;
	size_t i;
	json_t *x;

	if (!path)
		return;
	json_array_foreach(arr, i, x)
		if (!strcmp(json_string_value(json_object_get(x, "path")), path))
			return;
	if (wan_sys_disk(path, &d) < 0)
		return;
	json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:f, s:f}", "path", path,
		"total_bytes", (json_int_t)d.total, "free_bytes", (json_int_t)d.avail,
		"free_ratio", d.free_ratio, "inodes_used_ratio", d.inodes_used_ratio));
}

int wan_health_report(const struct wan_config *cfg, struct wan_db *db,
		      const char *const *models, size_t nmodels,
		      double hours, json_t **out)
{
	json_t *sys = json_object(), *disks = json_array(), *gpus, *jm = json_array();
	json_t *alerts = NULL, *trends = NULL, *a;
	struct wan_cpu_times c1, c2;
	struct wan_meminfo mem;
	struct wan_gpu_info *g = NULL;
	size_t ng = 0, i;
	char driver[256] = "", gen[40], state[WAN_PATH_MAX];
	char **names = NULL;
	size_t nn = 0;
	double load[3], now = wan_now_wall();
	const char *status = "ok";
	int err;

	*out = NULL;
	if (wan_sys_cpu_times(&c1) == 0) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (wan_sys_cpu_times(&c2) == 0)
			json_object_set_new(sys, "cpu_usage_ratio", jnum(wan_sys_cpu_usage(&c1, &c2)));
	}
	if (wan_sys_loadavg(load) == 0)
		json_object_set_new(sys, "load", json_pack("[f,f,f]", load[0], load[1], load[2]));
	if (wan_sys_meminfo(&mem) == 0)
		json_object_set_new(sys, "memory", json_pack("{s:I, s:I, s:I, s:f, s:I, s:I}",
			"total_bytes", (json_int_t)mem.total, "used_bytes", (json_int_t)mem.used,
			"available_bytes", (json_int_t)mem.available,
			"used_ratio", mem.total ? (double)mem.used / (double)mem.total : 0.0,
			"swap_total_bytes", (json_int_t)mem.swap_total,
			"swap_used_bytes", (json_int_t)(mem.swap_total - mem.swap_free)));
	health_disk(disks, cfg->target_models_path);
	if (wan_monitor_state_path(cfg, state, sizeof(state)) == 0)
		health_disk(disks, state);
	health_disk(disks, cfg->source_models_path);
	health_disk(disks, cfg->backup_path);
	json_object_set_new(sys, "disks", disks);

	wan_nvml_query(&g, &ng, driver, sizeof(driver));
	{
		json_t *dev = json_array();
		for (i = 0; i < ng; i++)
			json_array_append_new(dev, json_pack("{s:I, s:s, s:I, s:I, s:o, s:o, s:o}",
				"index", (json_int_t)g[i].index, "name", g[i].name,
				"memory_total_bytes", (json_int_t)g[i].mem_total,
				"memory_used_bytes", (json_int_t)g[i].mem_used,
				"utilization_ratio", jnum(g[i].util_gpu),
				"temperature_celsius", jnum(g[i].temperature_c),
				"power_watts", jnum(g[i].power_w)));
		gpus = ng ? json_pack("{s:I, s:s, s:o}", "count", (json_int_t)ng, "driver", driver,
				      "devices", dev) :
			    json_pack("{s:i, s:s, s:o}", "count", 0, "reason", driver, "devices", dev);
		free(g);
	}

	if (nmodels) {
		names = calloc(nmodels, sizeof(*names));
		for (i = 0; names && i < nmodels; i++)
			if ((names[nn] = wan_strdup(models[i])))
				nn++;
	} else if ((err = wan_watch_list(cfg, &names, &nn)) < 0) {
		goto fail;
	}
	for (i = 0; i < nn; i++) {
		struct wan_watch_model w;
		double ok_ts = 0, integ = latest(db, "wanctl_model_integrity_ok", names[i], &ok_ts);
		double lat = latest(db, "wanctl_probe_latency_seconds", names[i], NULL);
		json_t *x;

		wan_watch_check(cfg, names[i], &w);
		x = json_pack("{s:s, s:o, s:b, s:o, s:I, s:I, s:o, s:o}",
			"model", names[i],
			"release", w.release[0] ? json_string(w.release) : json_null(),
			"available", w.available,
			"reason", w.available ? json_null() : json_string(w.reason),
			"files", (json_int_t)w.files, "bytes", (json_int_t)w.bytes,
			"integrity_ok", isnan(integ) ? json_null() : json_boolean(integ >= 1),
			"probe_latency_seconds", jnum(lat));
		if (!w.available || (!isnan(integ) && integ < 1))
			status = "failed";
		json_array_append_new(jm, x);
		wan_watch_model_release(&w);
	}
	wan_watch_names_free(names, nn);
	names = NULL;

	if ((err = wan_alert_list(db, "firing", &alerts)) < 0)
		goto fail;
	json_array_foreach(json_object_get(alerts, "alerts"), i, a) {
		if (!strcmp(json_string_value(json_object_get(a, "severity")), "critical"))
			status = "failed";
		else if (!strcmp(status, "ok"))
			status = "degraded";
	}
	if ((err = wan_trends(db, now - hours * 3600.0, now, &trends)) < 0)
		goto fail;
	wan_rfc3339(gen, sizeof(gen), now);
	*out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:O, s:o}", "generated", gen,
			 "status", status, "system", sys, "gpus", gpus, "models", jm,
			 "alerts", json_object_get(alerts, "alerts"), "trends", trends);
	json_decref(alerts);
	return *out ? 0 : wan_err(WAN_ENOMEM, "out of memory for the health report");
fail:
	json_decref(sys);
	json_decref(gpus);
	json_decref(jm);
	json_decref(alerts);
	return err;
}
