/*
 * A set of samples and the table of every metric wanctl exports. The
 * Prometheus text exposition is rendered once per sample by the daemon,
 * so /metrics only copies a string.
 */
#include "util/common.h"
#include "util/buf.h"
#include "wanctl/monitor.h"
#include "lib/db.h"

#include <math.h>
#include <stdarg.h>

static const struct wan_metric_def metric_defs[] = {
	{ "wanctl_cpu_usage_ratio", "gauge", "Share of CPU time spent busy since the previous sample (0-1).", true },
	{ "wanctl_load1", "gauge", "One-minute load average.", true },
	{ "wanctl_memory_total_bytes", "gauge", "Physical memory.", false },
	{ "wanctl_memory_used_bytes", "gauge", "Memory in use (total minus available).", true },
	{ "wanctl_memory_available_bytes", "gauge", "Memory available for new work (MemAvailable).", true },
	{ "wanctl_memory_used_ratio", "gauge", "Memory in use as a share of the total (0-1).", true },
	{ "wanctl_swap_total_bytes", "gauge", "Swap space.", false },
	{ "wanctl_swap_used_bytes", "gauge", "Swap space in use.", true },
	{ "wanctl_disk_total_bytes", "gauge", "Size of the filesystem holding the path.", false },
	{ "wanctl_disk_free_bytes", "gauge", "Bytes available to wanctl on the filesystem holding the path.", true },
	{ "wanctl_disk_free_ratio", "gauge", "Available bytes as a share of the filesystem size (0-1).", true },
	{ "wanctl_disk_inodes_used_ratio", "gauge", "Inodes in use as a share of the filesystem's inodes (0-1).", true },
	{ "wanctl_gpus_visible", "gauge", "GPUs visible through NVML (0: none, or no NVML).", true },
	{ "wanctl_gpu_info", "gauge", "GPU name, UUID and driver version (always 1).", false },
	{ "wanctl_gpu_memory_total_bytes", "gauge", "GPU memory.", false },
	{ "wanctl_gpu_memory_used_bytes", "gauge", "GPU memory in use.", true },
	{ "wanctl_gpu_memory_used_ratio", "gauge", "GPU memory in use as a share of the total (0-1).", true },
	{ "wanctl_gpu_utilization_ratio", "gauge", "Share of time a kernel ran on the GPU over the driver's last period (0-1).", true },
	{ "wanctl_gpu_temperature_celsius", "gauge", "GPU core temperature.", true },
	{ "wanctl_gpu_power_watts", "gauge", "GPU power draw.", true },
	{ "wanctl_gpu_ecc_corrected_errors_total", "counter", "Corrected ECC errors since the driver loaded.", false },
	{ "wanctl_gpu_ecc_uncorrected_errors_total", "counter", "Uncorrected ECC errors since the driver loaded.", false },
	{ "wanctl_gpu_xid_errors_total", "counter", "XID critical errors the driver reported since the monitor started.", false },
	{ "wanctl_model_available", "gauge", "1 when the production link resolves to a release whose files are all present with their manifest sizes.", true },
	{ "wanctl_model_integrity_ok", "gauge", "0 when the integrity scrub found a production file whose SHA-256 differs from the manifest.", true },
	{ "wanctl_model_release_info", "gauge", "The release in production (always 1).", false },
	{ "wanctl_model_files", "gauge", "Files in the production release.", false },
	{ "wanctl_model_bytes", "gauge", "Bytes in the production release.", false },
	{ "wanctl_scrub_passes_total", "counter", "Complete integrity scrub passes over the model's production files.", false },
	{ "wanctl_scrub_last_pass_timestamp_seconds", "gauge", "Unix time the last complete scrub pass of the model ended.", false },
	{ "wanctl_scrub_read_bytes_total", "counter", "Bytes re-hashed by the integrity scrub.", false },
	{ "wanctl_probe_latency_seconds", "gauge", "Wall time of the last successful smoke probe.", true },
	{ "wanctl_probe_success", "gauge", "1 when the last smoke probe exited 0 within its time limit.", true },
	{ "wanctl_alerts_firing", "gauge", "Alerts currently firing.", true },
	{ "wanctl_monitor_sample_duration_seconds", "gauge", "Time the last sample took.", false },
	{ "wanctl_monitor_samples_total", "counter", "Samples taken since the monitor started.", false },
	{ "wanctl_monitor_start_time_seconds", "gauge", "Unix time the monitor started.", false },
	{ NULL, NULL, NULL, false },
};

const struct wan_metric_def *wan_metric_defs(void)
{
	return metric_defs;
}

const struct wan_metric_def *wan_metric_find(const char *name)
{
	for (const struct wan_metric_def *d = metric_defs; d->name; d++)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

void wan_samples_init(struct wan_sample_set *s)
{
	memset(s, 0, sizeof(*s));
}

void wan_samples_release(struct wan_sample_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		json_decref(s->v[i].labels);
		free(s->v[i].ltext);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int wan_samples_add(struct wan_sample_set *s, const char *metric,
		    double value, ...)
{
	const struct wan_metric_def *d = wan_metric_find(metric);
	struct wan_sample *x;
	const char *k;
	va_list ap;

	if (!d)
		WAN_BUG("unknown metric");
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct wan_sample *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return wan_err(WAN_ENOMEM, "out of memory for samples");
		s->v = v;
		s->cap = cap;
	}
	x = &s->v[s->n];
	x->metric = d->name;
	x->value = value;
	x->labels = json_object();
	if (!x->labels)
		return wan_err(WAN_ENOMEM, "out of memory for samples");
	va_start(ap, value);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		json_object_set_new(x->labels, k, json_string(v ? v : ""));
	}
	va_end(ap);
	if (json_object_size(x->labels)) {
		x->ltext = json_dumps(x->labels, JSON_COMPACT | JSON_SORT_KEYS);
	} else {
		x->ltext = strdup("");
	}
	if (!x->ltext) {
		json_decref(x->labels);
		return wan_err(WAN_ENOMEM, "out of memory for samples");
	}
	s->n++;
	return 0;
}

static void prom_escape(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			buf_adds(b, "\\\\");
		else if (*v == '"')
			buf_adds(b, "\\\"");
		else if (*v == '\n')
			buf_adds(b, "\\n");
		else
			buf_addch(b, *v);
	}
}

static void prom_value(struct buf *b, double v)
{
	if (isnan(v))
		buf_adds(b, "NaN");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(b, "%.0f", v);
	else
		buf_printf(b, "%.9g", v);
}

char *wan_samples_prometheus(const struct wan_sample_set *s)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "");
	for (const struct wan_metric_def *d = metric_defs; d->name; d++) {
		bool head = false;
		for (size_t i = 0; i < s->n; i++) {
			const struct wan_sample *x = &s->v[i];
			const char *k;
			json_t *v;
			bool first = true;

			if (x->metric != d->name || isnan(x->value))
				continue;
			if (!head) {
				buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n",
					   d->name, d->help, d->name, d->type);
				head = true;
			}
			buf_adds(&b, d->name);
			json_object_foreach(x->labels, k, v) {
				buf_adds(&b, first ? "{" : ",");
				first = false;
				buf_printf(&b, "%s=\"", k);
				prom_escape(&b, json_string_value(v));
				buf_addch(&b, '"');
			}
			if (!first)
				buf_addch(&b, '}');
			buf_addch(&b, ' ');
			prom_value(&b, x->value);
			buf_addch(&b, '\n');
		}
	}
	return buf_detach(&b);
}

int wan_samples_store(struct wan_db *db, const struct wan_sample_set *s,
		      int64_t retention_hours)
{
	sqlite3_stmt *st = NULL;
	int err;

	if ((err = wan_db_begin(db)) < 0)
		return err;
	if ((err = wan_db_prepare(db, &st,
		"INSERT INTO samples(ts, metric, labels, value) VALUES(?,?,?,?)")) < 0)
		goto fail;
	for (size_t i = 0; i < s->n; i++) {
		const struct wan_sample *x = &s->v[i];
		const struct wan_metric_def *d = wan_metric_find(x->metric);

		if (!d || !d->store || isnan(x->value) || isinf(x->value))
			continue;
		sqlite3_bind_double(st, 1, s->ts);
		sqlite3_bind_text(st, 2, x->metric, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, x->ltext, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 4, x->value);
		if (sqlite3_step(st) != SQLITE_DONE) {
			err = wan_err(WAN_EIO, "cannot record sample '%s': %s", x->metric,
				      sqlite3_errmsg(wan_db_handle(db)));
			goto fail;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (retention_hours > 0) {
		if ((err = wan_db_prepare(db, &st, "DELETE FROM samples WHERE ts < ?")) < 0)
			goto fail;
		sqlite3_bind_double(st, 1, s->ts - (double)retention_hours * 3600.0);
		if (sqlite3_step(st) != SQLITE_DONE) {
			err = wan_err(WAN_EIO, "cannot prune samples: %s",
				      sqlite3_errmsg(wan_db_handle(db)));
			goto fail;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	return wan_db_commit(db);
fail:
	sqlite3_finalize(st);
	wan_db_rollback(db);
	return err;
}

double wan_samples_get(const struct wan_sample_set *s, const char *metric,
		       const char *label_key, const char *label_value)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct wan_sample *x = &s->v[i];
		const char *v;

		if (strcmp(x->metric, metric))
			continue;
		if (!label_key)
			return x->value;
		v = json_string_value(json_object_get(x->labels, label_key));
		if (v && label_value && !strcmp(v, label_value))
			return x->value;
	}
	return NAN;
}
