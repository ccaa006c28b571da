/*
 * The monitor loop.
 *
 * Threads:
 *   main     samples every interval: system, GPUs, models; writes the
 *            samples table; evaluates the alert rules; queues notices;
 *            renders the snapshot the listener serves. Signal handlers
 *            only set flags, which this loop polls.
 *   scrub    re-hashes production files at most scrub_mb_per_s (a token
 *            bucket of one 1 MiB chunk), a full pass at most once per
 *            interval; results are read by the main loop.
 *   probe    runs validation.inference_command per model every
 *            probe_interval_seconds (with the inference timeout).
 *   http     libmicrohttpd's polling thread (src/daemon/http.c).
 *   handlers one worker per exec/webhook/alertmanager handler.
 * Only the main thread touches the database.
 */
#include "util/common.h"
#include "util/buf.h"
#include "util/path.h"
#include "util/xio.h"
#include "wanctl/log.h"
#include "wanctl/monitor.h"
#include "wanctl/nvml.h"
#include "wanctl/wanctl.h"
#include "lib/db.h"
#include "daemon/daemon.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCRUB_CHUNK_BYTES (1u << 20)

struct probe_result {
	char *name;
	double latency;     /* NAN until a successful run */
	bool ran, ok;
	double next;        /* monotonic time of the next run */
	double last;        /* wall time of the last run */
};

struct mon {
	const struct wan_config *cfg;
	struct wan_config *owned;       /* reloaded configuration */
	const struct wan_monitor_opts *o;
	char state[WAN_PATH_MAX];
	char listen[256];
	double interval;
	struct wan_db *db;
	struct wan_alert_engine *eng;
	struct wan_notifier *nf;
	struct wan_scrub *scrub;
	struct wan_http *http;
	struct wan_snapshot snap;
	char generator[300];

	pthread_mutex_t mu;             /* guards what the threads share */
	char target[WAN_PATH_MAX];      /* target_models_path (for the probe) */
	double scrub_rate;              /* bytes per second, 0: off */
	char *probe_cmd;
	double probe_interval, probe_timeout;
	struct probe_result *probes;
	size_t nprobes;
	volatile int quit;
	pthread_t scrub_th, probe_th;
	bool scrub_started, probe_started;

	char **names;
	size_t nnames;
	struct wan_cpu_times cpu_prev;
	bool have_cpu;
	uint64_t samples_total;
	double started_wall;
	double last_sample;
};

int wan_monitor_state_path(const struct wan_config *cfg, char *buf, size_t size)
{
	if (cfg->state_path)
		return wan_snprintf(buf, size, "%s", cfg->state_path);
	if (!cfg->target_models_path)
		return wan_err(WAN_ECONFIG, "no target_models_path configured");
	return path_join(buf, size, cfg->target_models_path, ".wanctl");
}

/* ---- pid file --------------------------------------------------------- */

static long pid_read(int fd)
{
	char b[32];
	ssize_t n = xpread(fd, b, sizeof(b) - 1, 0);

	if (n <= 0)
		return 0;
	b[n] = '\0';
	return strtol(b, NULL, 10);
}

int wan_monitor_lock(const char *state, int *fd)
{
	char path[WAN_PATH_MAX];
	int f, err;

	*fd = -1;
	if ((err = path_join(path, sizeof(path), state, "monitor.pid")) < 0)
		return err;
	f = xopen(path, O_RDWR | O_CREAT, 0644);
	if (f < 0)
		return wan_err_sys(0, "cannot open '%s'", path);
	if (flock(f, LOCK_EX | LOCK_NB) < 0) {
		long pid = errno == EWOULDBLOCK ? pid_read(f) : 0;
		int e = errno;
		xclose(f);
		if (e == EWOULDBLOCK)
			return wan_err(WAN_ELOCKED, "a monitor is already running (pid %ld, "
				       "pid file '%s')", pid, path);
		errno = e;
		return wan_err_sys(0, "cannot lock '%s'", path);
	}
	*fd = f;
	return 0;
}

int wan_monitor_write_pid(int fd)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || xpwrite(fd, b, (size_t)n, 0) < 0)
		return wan_err_sys(0, "cannot write the monitor's pid file");
	return 0;
}

int wan_monitor_running(const char *state, long *pid)
{
	char path[WAN_PATH_MAX];
	int f, err;

	*pid = 0;
	if ((err = path_join(path, sizeof(path), state, "monitor.pid")) < 0)
		return err;
	f = xopen(path, O_RDONLY, 0);
	if (f < 0)
		return errno == ENOENT ? 0 : wan_err_sys(0, "cannot open '%s'", path);
	if (flock(f, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		*pid = pid_read(f);
	xclose(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static void sleep_until_or_flag(struct mon *m, double until)
{
	for (;;) {
		double now = wan_now_mono(), d;
		struct timespec ts;

		if (m->quit || *m->o->stop || (m->o->reload && *m->o->reload))
			return;
		d = until - now;
		if (d <= 0)
			return;
		if (d > 0.2)
			d = 0.2;
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void thread_sleep(struct mon *m, double d)
{
	double until = wan_now_mono() + d;

	while (!m->quit) {
		double left = until - wan_now_mono();
		struct timespec ts;

		if (left <= 0)
			return;
		if (left > 0.2)
			left = 0.2;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void *scrub_main(void *arg)
{
	struct mon *m = arg;

	while (!m->quit) {
		double rate, idle = 0, t0 = wan_now_mono(), spent;
		uint64_t n;

		pthread_mutex_lock(&m->mu);
		rate = m->scrub_rate;
		pthread_mutex_unlock(&m->mu);
		if (rate <= 0) {
			thread_sleep(m, 0.5);
			continue;
		}
		n = wan_scrub_step(m->scrub, SCRUB_CHUNK_BYTES, &idle);
		if (!n) {
			thread_sleep(m, idle > 0.5 || idle <= 0 ? 0.5 : idle);
			continue;
		}
		/* Token bucket: n bytes cost n / rate seconds. */
		spent = wan_now_mono() - t0;
		if ((double)n / rate > spent)
			thread_sleep(m, (double)n / rate - spent);
	}
	return NULL;
}

/* Fill {model} {ckpt_dir} {output} {size} into the probe command. */
static char *probe_command(struct mon *m, const char *tmpl, const char *model)
{
	struct buf b = BUF_INIT;
	char ckpt[WAN_PATH_MAX], out[WAN_PATH_MAX];
	const char *size = getenv("WANCTL_PROBE_SIZE");

	if (path_join(ckpt, sizeof(ckpt), m->target, model) < 0)
		ckpt[0] = '\0';
	if (wan_snprintf(out, sizeof(out), "%s/tmp/probe-%s-%ld.out", m->state, model,
			 (long)getpid()) < 0)
		out[0] = '\0';
	buf_adds(&b, "");
	for (const char *p = tmpl; *p; p++) {
		if (!strncmp(p, "{model}", 7)) {
			buf_adds(&b, model);
			p += 6;
		} else if (!strncmp(p, "{ckpt_dir}", 10)) {
			buf_adds(&b, ckpt);
			p += 9;
		} else if (!strncmp(p, "{output}", 8)) {
			buf_adds(&b, out);
			p += 7;
		} else if (!strncmp(p, "{size}", 6)) {
			buf_adds(&b, size ? size : "1280*720");
			p += 5;
		} else {
			buf_addch(&b, *p);
		}
	}
	return buf_detach(&b);
}

/* Run the probes that are due; with force, all of them. */
static void probe_due(struct mon *m, bool force)
{
	for (;;) {
		char *cmd = NULL, *name = NULL;
		double timeout = 0;
		size_t idx = 0;
		bool found = false;
		struct wan_shell_result r;
		double now = wan_now_mono();

		pthread_mutex_lock(&m->mu);
		if (m->probe_cmd && m->probe_interval > 0)
			for (size_t i = 0; i < m->nprobes; i++)
				if (force ? !m->probes[i].ran : now >= m->probes[i].next) {
					idx = i;
					found = true;
					name = wan_strdup(m->probes[i].name);
					cmd = probe_command(m, m->probe_cmd, name);
					timeout = m->probe_timeout;
					m->probes[i].next = now + m->probe_interval;
					m->probes[i].ran = true;
					break;
				}
		pthread_mutex_unlock(&m->mu);
		if (!found || !cmd || !name) {
			free(cmd);
			free(name);
			return;
		}
		if (wan_shell_run(cmd, NULL, 0, timeout, -1, &r) < 0) {
			wan_log(WAN_LOG_WARN, "probe of '%s': %s", name, wan_errmsg());
			r.exit_code = -1;
			r.timed_out = false;
		}
		pthread_mutex_lock(&m->mu);
		if (idx < m->nprobes && !strcmp(m->probes[idx].name, name)) {
			struct probe_result *p = &m->probes[idx];
			p->ok = r.exit_code == 0 && !r.timed_out;
			p->last = wan_now_wall();
			if (p->ok)
				p->latency = r.wall;
		}
		pthread_mutex_unlock(&m->mu);
		if (r.exit_code != 0 || r.timed_out)
			wan_log(WAN_LOG_WARN, "probe of '%s' %s", name,
				r.timed_out ? "timed out" : "failed");
		free(cmd);
		free(name);
		if (m->quit)
			return;
	}
}

static void *probe_main(void *arg)
{
	struct mon *m = arg;

	while (!m->quit) {
		probe_due(m, false);
		thread_sleep(m, 0.5);
	}
	return NULL;
}

/* Keep one probe_result per watched model (locked by the caller). */
static void probes_sync(struct mon *m)
{
	struct probe_result *nv = calloc(m->nnames ? m->nnames : 1, sizeof(*nv));

	if (!nv)
		return;
	for (size_t i = 0; i < m->nnames; i++) {
		nv[i].name = wan_strdup(m->names[i]);
		nv[i].latency = NAN;
		for (size_t j = 0; j < m->nprobes; j++)
			if (m->probes[j].name && !strcmp(m->probes[j].name, m->names[i])) {
				free(nv[i].name);
				nv[i] = m->probes[j];
				m->probes[j].name = NULL;
			}
	}
	for (size_t j = 0; j < m->nprobes; j++)
		free(m->probes[j].name);
	free(m->probes);
	m->probes = nv;
	m->nprobes = m->nnames;
}

static int deployment_models(struct mon *m, char ***names, size_t *n)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t cnt = 0;
	int err, rc;

	*names = NULL;
	*n = 0;
	if ((err = wan_db_prepare(m->db, &st,
		"SELECT model FROM deployment_models WHERE deployment_id = ? ORDER BY model")) < 0)
		return err;
	sqlite3_bind_text(st, 1, m->o->deployment_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[cnt] = wan_strdup((const char *)sqlite3_column_text(st, 0));
		if (v[cnt])
			cnt++;
	}
	sqlite3_finalize(st);
	if (!cnt) {
		free(v);
		return wan_err(WAN_ENOTFOUND, "deployment '%s' not found (or it has no models)",
			       m->o->deployment_id);
	}
	*names = v;
	*n = cnt;
	return 0;
}

static int watch_names(struct mon *m)
{
	char **v = NULL;
	size_t n = 0;
	int err = 0;

	if (m->o->nmodels) {
		v = calloc(m->o->nmodels, sizeof(*v));
		if (!v)
			return wan_err(WAN_ENOMEM, "out of memory");
		for (size_t i = 0; i < m->o->nmodels; i++)
			if ((v[n] = wan_strdup(m->o->models[i])))
				n++;
	} else if (m->o->deployment_id) {
		err = deployment_models(m, &v, &n);
	} else {
		err = wan_watch_list(m->cfg, &v, &n);
	}
	if (err < 0)
		return err;
	pthread_mutex_lock(&m->mu);
	wan_watch_names_free(m->names, m->nnames);
	m->names = v;
	m->nnames = n;
	probes_sync(m);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static void apply_config(struct mon *m)
{
	const struct wan_config *c = m->cfg;

	m->interval = m->o->interval > 0 ? m->o->interval :
		      (c->monitoring.interval_seconds > 0 ? (double)c->monitoring.interval_seconds : 30);
	pthread_mutex_lock(&m->mu);
	snprintf(m->target, sizeof(m->target), "%s",
		 c->target_models_path ? c->target_models_path : "");
	m->scrub_rate = c->monitoring.scrub_mb_per_s > 0 ?
			c->monitoring.scrub_mb_per_s * 1048576.0 : 0;
	free(m->probe_cmd);
	m->probe_cmd = wan_strdup(c->validation.inference_command);
	m->probe_interval = (double)c->monitoring.probe_interval_seconds;
	m->probe_timeout = c->validation.inference_timeout_seconds > 0 ?
			   (double)c->validation.inference_timeout_seconds : 1800;
	pthread_mutex_unlock(&m->mu);
}

static struct wan_alert_opts alert_opts(const struct mon *m)
{
	struct wan_alert_opts ao;

	/* Hold two intervals before resolving (absorbs one flapping sample;
	 * a single --once evaluation has nothing to absorb); re-send firing alerts to Alertmanager every minute at least. */
	ao.hold_seconds = m->o->once ? 0 : 2 * m->interval;
	ao.resend_seconds = m->interval > 60 ? m->interval : 60;
	return ao;
}

/* ---- one sample -------------------------------------------------------- */

static void add_disk(struct wan_sample_set *s, const char *path, json_t *disks)
{
	struct wan_diskinfo d;

	if (!path)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].metric, "wanctl_disk_free_bytes") &&
		    !strcmp(json_string_value(json_object_get(s->v[i].labels, "path")), path))
			return;
	if (wan_sys_disk(path, &d) < 0)
		return;
	wan_samples_add(s, "wanctl_disk_total_bytes", (double)d.total, "path", path, NULL);
	wan_samples_add(s, "wanctl_disk_free_bytes", (double)d.avail, "path", path, NULL);
	wan_samples_add(s, "wanctl_disk_free_ratio", d.free_ratio, "path", path, NULL);
	wan_samples_add(s, "wanctl_disk_inodes_used_ratio", d.inodes_used_ratio, "path", path, NULL);
	json_array_append_new(disks, json_pack("{s:s, s:I, s:I, s:f, s:f}", "path", path,
		"total_bytes", (json_int_t)d.total, "free_bytes", (json_int_t)d.avail,
		"free_ratio", d.free_ratio, "inodes_used_ratio", d.inodes_used_ratio));
}

static json_t *jnum(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static void take_sample(struct mon *m, struct wan_sample_set *s, json_t *status)
{
	const struct wan_config *c = m->cfg;
	struct wan_cpu_times cpu;
	struct wan_meminfo mem;
	double load[3];
	struct wan_gpu_info *g = NULL;
	size_t ng = 0;
	char driver[256] = "";
	json_t *sys = json_object(), *disks = json_array(), *gpus = json_array();
	json_t *models = json_array();
	struct wan_watch_model *wm;
	bool ready = true;
	struct buf reason = BUF_INIT;

	s->ts = wan_now_wall();
	if (wan_sys_cpu_times(&cpu) == 0) {
		if (m->have_cpu) {
			double u = wan_sys_cpu_usage(&m->cpu_prev, &cpu);
			wan_samples_add(s, "wanctl_cpu_usage_ratio", u, NULL);
			json_object_set_new(sys, "cpu_usage_ratio", jnum(u));
		}
		m->cpu_prev = cpu;
		m->have_cpu = true;
	}
	if (wan_sys_loadavg(load) == 0) {
		wan_samples_add(s, "wanctl_load1", load[0], NULL);
		json_object_set_new(sys, "load", json_pack("[f,f,f]", load[0], load[1], load[2]));
	}
	if (wan_sys_meminfo(&mem) == 0) {
		double r = mem.total ? (double)mem.used / (double)mem.total : 0;
		wan_samples_add(s, "wanctl_memory_total_bytes", (double)mem.total, NULL);
		wan_samples_add(s, "wanctl_memory_used_bytes", (double)mem.used, NULL);
		wan_samples_add(s, "wanctl_memory_available_bytes", (double)mem.available, NULL);
		wan_samples_add(s, "wanctl_memory_used_ratio", r, NULL);
		wan_samples_add(s, "wanctl_swap_total_bytes", (double)mem.swap_total, NULL);
		wan_samples_add(s, "wanctl_swap_used_bytes",
				(double)(mem.swap_total - mem.swap_free), NULL);
		json_object_set_new(sys, "memory", json_pack("{s:I, s:I, s:f, s:I, s:I}",
			"total_bytes", (json_int_t)mem.total, "available_bytes",
			(json_int_t)mem.available, "used_ratio", r,
			"swap_total_bytes", (json_int_t)mem.swap_total,
			"swap_used_bytes", (json_int_t)(mem.swap_total - mem.swap_free)));
	}
	add_disk(s, c->target_models_path, disks);
	add_disk(s, m->state, disks);
	add_disk(s, c->source_models_path, disks);
	add_disk(s, c->backup_path, disks);
	json_object_set_new(sys, "disks", disks);

	wan_nvml_query(&g, &ng, driver, sizeof(driver));
	wan_samples_add(s, "wanctl_gpus_visible", (double)ng, NULL);
	for (size_t i = 0; i < ng; i++) {
		char idx[16];
		double ratio = g[i].mem_total ? (double)g[i].mem_used / (double)g[i].mem_total : NAN;
		snprintf(idx, sizeof(idx), "%u", g[i].index);
		wan_samples_add(s, "wanctl_gpu_info", 1, "driver", driver, "gpu", idx,
				"name", g[i].name, "uuid", g[i].uuid, NULL);
		wan_samples_add(s, "wanctl_gpu_memory_total_bytes", (double)g[i].mem_total, "gpu", idx, NULL);
		wan_samples_add(s, "wanctl_gpu_memory_used_bytes", (double)g[i].mem_used, "gpu", idx, NULL);
		wan_samples_add(s, "wanctl_gpu_memory_used_ratio", ratio, "gpu", idx, NULL);
		wan_samples_add(s, "wanctl_gpu_utilization_ratio", g[i].util_gpu, "gpu", idx, NULL);
		wan_samples_add(s, "wanctl_gpu_temperature_celsius", g[i].temperature_c, "gpu", idx, NULL);
		wan_samples_add(s, "wanctl_gpu_power_watts", g[i].power_w, "gpu", idx, NULL);
		if (g[i].ecc_corrected >= 0)
			wan_samples_add(s, "wanctl_gpu_ecc_corrected_errors_total",
					(double)g[i].ecc_corrected, "gpu", idx, NULL);
		if (g[i].ecc_uncorrected >= 0)
			wan_samples_add(s, "wanctl_gpu_ecc_uncorrected_errors_total",
					(double)g[i].ecc_uncorrected, "gpu", idx, NULL);
		if (g[i].xid_errors >= 0)
			wan_samples_add(s, "wanctl_gpu_xid_errors_total",
					(double)g[i].xid_errors, "gpu", idx, NULL);
		json_array_append_new(gpus, json_pack("{s:I, s:s, s:s, s:I, s:I, s:o, s:o, s:o}",
			"index", (json_int_t)g[i].index, "name", g[i].name, "uuid", g[i].uuid,
			"memory_total_bytes", (json_int_t)g[i].mem_total,
			"memory_used_bytes", (json_int_t)g[i].mem_used,
			"utilization_ratio", jnum(g[i].util_gpu),
			"temperature_celsius", jnum(g[i].temperature_c),
			"power_watts", jnum(g[i].power_w)));
		if (g[i].xid_errors > 0)
			wan_log(WAN_LOG_DEBUG, "GPU %u: %lld XID errors, last XID %llu", g[i].index,
				(long long)g[i].xid_errors, g[i].last_xid);
	}
	free(g);
	json_object_set_new(status, "gpus", ng ?
		json_pack("{s:I, s:s, s:o}", "count", (json_int_t)ng, "driver", driver, "devices", gpus) :
		json_pack("{s:i, s:s, s:o}", "count", 0, "reason", driver, "devices", gpus));

	/* Models. */
	wm = calloc(m->nnames ? m->nnames : 1, sizeof(*wm));
	for (size_t i = 0; wm && i < m->nnames; i++) {
		struct wan_watch_model *w = &wm[i];
		struct wan_scrub_status ss;
		const char *name = m->names[i];
		bool have_scrub;
		json_t *jm;
		char path[WAN_PATH_MAX];

		wan_watch_check(c, name, w);
		if (path_join(path, sizeof(path), c->target_models_path, name) == 0 && w->available)
			add_disk(s, path, disks);
		wan_samples_add(s, "wanctl_model_available", w->available ? 1 : 0, "model", name, NULL);
		if (w->release[0])
			wan_samples_add(s, "wanctl_model_release_info", 1, "model", name,
					"release", w->release, NULL);
		if (w->available) {
			wan_samples_add(s, "wanctl_model_files", (double)w->files, "model", name, NULL);
			wan_samples_add(s, "wanctl_model_bytes", (double)w->bytes, "model", name, NULL);
		}
		have_scrub = m->scrub && wan_scrub_status(m->scrub, name, &ss) == 0 &&
			     !strcmp(ss.release, w->release);
		if (!have_scrub) {
			memset(&ss, 0, sizeof(ss));
			ss.ok = true;
		}
		if (w->available || have_scrub) {
			wan_samples_add(s, "wanctl_model_integrity_ok", ss.ok ? 1 : 0, "model", name, NULL);
			wan_samples_add(s, "wanctl_scrub_passes_total", (double)ss.passes, "model", name, NULL);
			if (ss.last_pass > 0)
				wan_samples_add(s, "wanctl_scrub_last_pass_timestamp_seconds",
						ss.last_pass, "model", name, NULL);
		}
		jm = json_pack("{s:s, s:o, s:b, s:o, s:b, s:{s:b, s:I, s:o, s:o, s:o}}",
			"model", name,
			"release", w->release[0] ? json_string(w->release) : json_null(),
			"available", w->available,
			"reason", w->available ? json_null() : json_string(w->reason),
			"integrity_ok", ss.ok,
			"scrub", "checked", ss.checked, "passes", (json_int_t)ss.passes,
			"last_pass", ss.last_pass > 0 ? json_real(ss.last_pass) : json_null(),
			"bad_file", ss.bad_file[0] ? json_string(ss.bad_file) : json_null(),
			"bad_since", ss.bad_since > 0 ? json_real(ss.bad_since) : json_null());
		pthread_mutex_lock(&m->mu);
		for (size_t j = 0; j < m->nprobes; j++) {
			struct probe_result *p = &m->probes[j];
			if (strcmp(p->name, name) || !p->ran || p->last <= 0)
				continue;
			wan_samples_add(s, "wanctl_probe_success", p->ok ? 1 : 0, "model", name, NULL);
			wan_samples_add(s, "wanctl_probe_latency_seconds", p->latency, "model", name, NULL);
			json_object_set_new(jm, "probe", json_pack("{s:b, s:o, s:f}", "ok", p->ok,
				"latency_seconds", jnum(p->latency), "last", p->last));
		}
		pthread_mutex_unlock(&m->mu);
		json_array_append_new(models, jm);
		if (!w->available || !ss.ok) {
			if (ready)
				buf_adds(&reason, "");
			else
				buf_adds(&reason, "; ");
			ready = false;
			if (!w->available)
				buf_printf(&reason, "model '%s' unavailable: %s", name, w->reason);
			else
				buf_printf(&reason, "model '%s' failed the integrity scrub: '%s' does "
					   "not match its manifest", name, ss.bad_file);
		}
	}
	if (m->scrub && wm)
		wan_scrub_set_models(m->scrub, wm, m->nnames, m->interval);
	for (size_t i = 0; wm && i < m->nnames; i++)
		wan_watch_model_release(&wm[i]);
	free(wm);
	if (m->scrub)
		wan_samples_add(s, "wanctl_scrub_read_bytes_total",
				(double)wan_scrub_bytes_total(m->scrub), NULL);
	json_object_set_new(status, "system", sys);
	json_object_set_new(status, "models", models);
	json_object_set_new(status, "ready", json_boolean(ready));
	json_object_set_new(status, "reason", ready ? json_null() : json_string(buf_str(&reason)));
	pthread_mutex_lock(&m->snap.mu);
	m->snap.ready = ready;
	snprintf(m->snap.reason, sizeof(m->snap.reason), "%s", buf_str(&reason));
	pthread_mutex_unlock(&m->snap.mu);
	buf_release(&reason);
}

static void sample_once(struct mon *m)
{
	struct wan_sample_set s;
	struct wan_alert_notice *nv = NULL;
	struct wan_alert_transition *tv = NULL;
	size_t nn = 0, nt = 0;
	json_t *status = json_object(), *alerts = json_array();
	double t0 = wan_now_mono();
	char *text;
	char started[40], last[40];

	wan_samples_init(&s);
	/* Models deployed since the last sample are watched from now on. */
	if (!m->o->nmodels && !m->o->deployment_id && watch_names(m) < 0)
		wan_log(WAN_LOG_WARN, "cannot list the models to watch: %s", wan_errmsg());
	take_sample(m, &s, status);
	if (wan_alert_eval(m->eng, &s, s.ts, &nv, &nn, &tv, &nt) < 0)
		wan_log(WAN_LOG_ERROR, "alert evaluation: %s", wan_errmsg());
	if (nn)
		wan_notifier_send(m->nf, nv, nn);
	if (wan_alert_save(m->eng, m->db, tv, nt) < 0)
		wan_log(WAN_LOG_WARN, "cannot record alerts: %s", wan_errmsg());
	for (size_t i = 0; i < nt; i++)
		wan_log(tv[i].to == WAN_ALERT_FIRING ? WAN_LOG_WARN : WAN_LOG_INFO,
			"alert %s%s%s: %s -> %s", tv[i].name, *tv[i].ltext ? " " : "",
			tv[i].ltext, wan_alert_state_name(tv[i].from),
			wan_alert_state_name(tv[i].to));
	wan_alert_notices_free(nv, nn);
	wan_alert_transitions_free(tv, nt);

	for (size_t i = 0; i < wan_alert_count(m->eng); i++) {
		const struct wan_alert *a = wan_alert_at(m->eng, i);
		char f[40] = "";
		if (a->state != WAN_ALERT_FIRING && a->state != WAN_ALERT_PENDING)
			continue;
		if (a->fired_at > 0)
			wan_rfc3339(f, sizeof(f), a->fired_at);
		json_array_append_new(alerts, json_pack("{s:s, s:o, s:s, s:s, s:o, s:s, s:o}",
			"name", a->name,
			"labels", *a->ltext ? json_loads(a->ltext, 0, NULL) : json_object(),
			"state", wan_alert_state_name(a->state),
			"severity", wan_severity_name(a->severity),
			"value", jnum(a->value), "summary", a->summary ? a->summary : "",
			"fired_at", *f ? json_string(f) : json_null()));
	}
	m->samples_total++;
	wan_samples_add(&s, "wanctl_alerts_firing", (double)wan_alert_firing(m->eng), NULL);
	wan_samples_add(&s, "wanctl_monitor_samples_total", (double)m->samples_total, NULL);
	wan_samples_add(&s, "wanctl_monitor_start_time_seconds", m->started_wall, NULL);
	wan_samples_add(&s, "wanctl_monitor_sample_duration_seconds", wan_now_mono() - t0, NULL);
	if (wan_samples_store(m->db, &s, m->cfg->monitoring.retention_hours) < 0)
		wan_log(WAN_LOG_WARN, "cannot record samples: %s", wan_errmsg());
	m->last_sample = s.ts;

	wan_rfc3339(started, sizeof(started), m->started_wall);
	wan_rfc3339(last, sizeof(last), s.ts);
	json_object_set_new(status, "version", json_string(wan_version()));
	json_object_set_new(status, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(status, "started", json_string(started));
	json_object_set_new(status, "last_sample", json_string(last));
	json_object_set_new(status, "interval_seconds", json_real(m->interval));
	json_object_set_new(status, "listen", m->http ? json_string(m->listen) : json_null());
	json_object_set_new(status, "samples", json_integer((json_int_t)m->samples_total));
	json_object_set_new(status, "alerts", alerts);
	text = wan_samples_prometheus(&s);
	pthread_mutex_lock(&m->snap.mu);
	free(m->snap.metrics);
	m->snap.metrics = text;
	free(m->snap.status);
	m->snap.status = json_dumps(status, JSON_COMPACT);
	pthread_mutex_unlock(&m->snap.mu);
	if (m->o->status_out) {
		json_decref(*m->o->status_out);
		*m->o->status_out = json_incref(status);
	}
	json_decref(status);
	wan_samples_release(&s);
}

static void reload_config(struct mon *m)
{
	struct wan_config *nc = NULL;
	struct wan_notifier *nf = NULL;

	if (wan_config_load(&nc, m->o->config_path) < 0) {
		wan_log(WAN_LOG_ERROR, "reload: %s; keeping the running configuration",
			wan_errmsg());
		return;
	}
	if (wan_alert_engine_set_rules(m->eng, nc->monitoring.rules, nc->monitoring.nrules) < 0 ||
	    wan_notifier_new(&nf, nc->monitoring.handlers, nc->monitoring.nhandlers,
			     m->generator) < 0) {
		wan_log(WAN_LOG_ERROR, "reload: %s; keeping the running configuration",
			wan_errmsg());
		wan_config_free(nc);
		return;
	}
	wan_notifier_free(m->nf, 5);
	m->nf = nf;
	if (!m->o->listen && nc->monitoring.listen && strcmp(nc->monitoring.listen, m->listen))
		wan_log(WAN_LOG_WARN, "reload: monitoring.listen changed to '%s'; restart the "
			"monitor to listen there", nc->monitoring.listen);
	m->cfg = nc;
	wan_config_free(m->owned);
	m->owned = nc;
	apply_config(m);
	if (watch_names(m) < 0)
		wan_log(WAN_LOG_WARN, "reload: %s", wan_errmsg());
	wan_log(WAN_LOG_INFO, "configuration reloaded: %zu models, %zu rules, %zu handlers",
		m->nnames, nc->monitoring.nrules, nc->monitoring.nhandlers);
}

static void mon_cleanup(struct mon *m)
{
	m->quit = 1;
	if (m->scrub_started)
		pthread_join(m->scrub_th, NULL);
	if (m->probe_started)
		pthread_join(m->probe_th, NULL);
	wan_http_stop(m->http);
	wan_notifier_free(m->nf, 10);
	wan_scrub_free(m->scrub);
	wan_alert_engine_free(m->eng);
	if (m->db)
		wan_db_close(m->db);
	wan_watch_names_free(m->names, m->nnames);
	for (size_t i = 0; i < m->nprobes; i++)
		free(m->probes[i].name);
	free(m->probes);
	free(m->probe_cmd);
	free(m->snap.metrics);
	free(m->snap.status);
	pthread_mutex_destroy(&m->snap.mu);
	pthread_mutex_destroy(&m->mu);
	wan_config_free(m->owned);
	wan_nvml_shutdown();
}

int wan_monitor_run(const struct wan_config *cfg, const struct wan_monitor_opts *o)
{
	struct mon m;
	struct wan_alert_opts ao;
	struct stat st;
	int err;
	double next;

	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.o = o;
	pthread_mutex_init(&m.mu, NULL);
	pthread_mutex_init(&m.snap.mu, NULL);
	m.started_wall = wan_now_wall();
	snprintf(m.snap.reason, sizeof(m.snap.reason), "no sample taken yet");
	if ((err = wan_monitor_state_path(cfg, m.state, sizeof(m.state))) < 0)
		goto out;
	if (stat(m.state, &st) < 0 && (err = path_mkdirs(m.state, 0755)) < 0)
		goto out;
	snprintf(m.listen, sizeof(m.listen), "%s",
		 o->listen ? o->listen : cfg->monitoring.listen ? cfg->monitoring.listen :
		 "127.0.0.1:9731");
	snprintf(m.generator, sizeof(m.generator), "http://%s/api/v1/status",
		 m.listen[0] ? m.listen : cfg->monitoring.listen ? cfg->monitoring.listen :
		 "127.0.0.1:9731");
	apply_config(&m);
	ao = alert_opts(&m);
	if ((err = wan_db_open(&m.db, m.state)) < 0 ||
	    (err = wan_alert_engine_new(&m.eng, cfg->monitoring.rules, cfg->monitoring.nrules,
					&ao)) < 0 ||
	    (err = wan_alert_load(m.eng, m.db)) < 0 ||
	    (err = wan_scrub_new(&m.scrub, cfg)) < 0 ||
	    (err = watch_names(&m)) < 0)
		goto out;

	if (o->once) {
		if ((err = wan_notifier_new(&m.nf, cfg->monitoring.handlers,
					    cfg->monitoring.nhandlers, m.generator)) < 0)
			goto out;
		/* One sample: learn the models, scrub what one interval's budget
		 * allows, run the probes, then sample and evaluate. */
		double idle, rate = m.scrub_rate;
		uint64_t budget = (uint64_t)(rate * m.interval);
		{
			struct wan_sample_set s;
			json_t *tmp = json_object();
			wan_samples_init(&s);
			take_sample(&m, &s, tmp);
			wan_samples_release(&s);
			json_decref(tmp);
		}
		while (rate > 0 && budget > 0) {
			uint64_t n = wan_scrub_step(m.scrub, budget, &idle);
			if (!n)
				break;
			budget -= n < budget ? n : budget;
		}
		probe_due(&m, true);
		sample_once(&m);
		goto out;
	}

	if (m.listen[0]) {
		if ((err = wan_http_start(&m.http, m.listen, &m.snap)) < 0)
			goto out;
		/* Port 0: the kernel chose one; name it everywhere. */
		if (strlen(m.listen) >= 2 && !strcmp(m.listen + strlen(m.listen) - 2, ":0") &&
		    wan_http_port(m.http)) {
			char *colon = strrchr(m.listen, ':');
			snprintf(colon + 1, sizeof(m.listen) - (size_t)(colon + 1 - m.listen),
				 "%u", wan_http_port(m.http));
			snprintf(m.generator, sizeof(m.generator), "http://%s/api/v1/status",
				 m.listen);
		}
	}
	/* The handlers start once the generator URL is final. */
	if ((err = wan_notifier_new(&m.nf, cfg->monitoring.handlers,
				    cfg->monitoring.nhandlers, m.generator)) < 0)
		goto out;
	if (pthread_create(&m.scrub_th, NULL, scrub_main, &m) == 0)
		m.scrub_started = true;
	if (pthread_create(&m.probe_th, NULL, probe_main, &m) == 0)
		m.probe_started = true;
	wan_log(WAN_LOG_INFO, "monitor started (pid %ld): watching %zu model%s, every %.3g s%s%s",
		(long)getpid(), m.nnames, m.nnames == 1 ? "" : "s", m.interval,
		m.http ? ", listening on http://" : "", m.http ? m.listen : "");
	if (o->ready)
		o->ready(o->ready_ud, 0, m.listen);
	next = wan_now_mono();
	while (!*o->stop) {
		if (o->reload && *o->reload) {
			*o->reload = 0;
			reload_config(&m);
		}
		sample_once(&m);
		next += m.interval;
		if (next < wan_now_mono())
			next = wan_now_mono() + m.interval;   /* fell behind: skip */
		sleep_until_or_flag(&m, next);
	}
	wan_log(WAN_LOG_INFO, "monitor stopping after %llu samples",
		(unsigned long long)m.samples_total);
	err = 0;
out:
	if (err < 0 && o->ready)
		o->ready(o->ready_ud, err, wan_errmsg());
	{
		/* Keep the message across the cleanup. */
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", err < 0 ? wan_errmsg() : "");
		mon_cleanup(&m);
		if (err < 0)
			wan_err(err, "%s", msg);
	}
	return err;
}
