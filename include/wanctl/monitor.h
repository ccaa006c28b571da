#ifndef WANCTL_MONITOR_H
#define WANCTL_MONITOR_H
/*
 * The monitor (SPEC.md "Monitoring"): system and model samples, the alert
 * rule engine and its handlers, history and trends, the daemon loop.
 *
 * Pieces, by file:
 *   src/lib/sysinfo.c       CPU, memory, load, disk from /proc and statvfs
 *   src/lib/nvml.c          GPUs (wanctl/nvml.h)
 *   src/lib/sample.c        a set of samples (metric, labels, value)
 *   src/lib/watch.c         which models to watch, availability, scrub
 *   src/lib/alert.c         rule engine (injected clock) and persistence
 *   src/lib/alert_notify.c  handlers: log, exec, webhook, alertmanager
 *   src/lib/history.c       `monitor history`, trends, `health`
 *   src/daemon/monitor.c    the loop; src/daemon/http.c the listener
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "wanctl/config.h"

struct wan_db;

/* ------------------------------------------------------------------ */
/* System facts (sysinfo.c).                                           */

struct wan_cpu_times {
	uint64_t busy;   /* user+nice+system+irq+softirq+steal jiffies */
	uint64_t total;  /* busy + idle + iowait */
};
struct wan_meminfo {
	uint64_t total, available, used;   /* bytes; used = total - available */
	uint64_t swap_total, swap_free;
};
struct wan_diskinfo {
	uint64_t total, free, avail;       /* bytes; avail: for unprivileged */
	double free_ratio;                 /* avail / total */
	uint64_t inodes_total, inodes_free;
	double inodes_used_ratio;          /* 0 when the fs has no inode limit */
};

/* Parse the "cpu " line of /proc/stat text. WAN_EINVAL when absent. */
int wan_sys_parse_stat(const char *text, struct wan_cpu_times *out);
int wan_sys_cpu_times(struct wan_cpu_times *out);
/* Busy fraction between two readings (0..1), NAN without a delta. */
double wan_sys_cpu_usage(const struct wan_cpu_times *prev,
			 const struct wan_cpu_times *cur);
/* Parse /proc/meminfo text (MemTotal, MemAvailable, SwapTotal, SwapFree). */
int wan_sys_parse_meminfo(const char *text, struct wan_meminfo *out);
int wan_sys_meminfo(struct wan_meminfo *out);
int wan_sys_loadavg(double load[3]);
int wan_sys_disk(const char *path, struct wan_diskinfo *out);

/* ------------------------------------------------------------------ */
/* Samples (sample.c).                                                 */

struct wan_sample {
	const char *metric;   /* static string, "wanctl_..." */
	json_t *labels;       /* owned object of string values */
	char *ltext;          /* canonical labels (sorted compact JSON), "" */
	double value;         /* NAN: unknown, not stored nor evaluated */
};
struct wan_sample_set {
	struct wan_sample *v;
	size_t n, cap;
	double ts;            /* wall clock of the sample */
};

/* One metric family: name, Prometheus type, help text. */
struct wan_metric_def {
	const char *name;
	const char *type;     /* "gauge" | "counter" */
	const char *help;
	bool store;           /* written to the samples table */
};
/* The table of every metric wanctl exports, terminated by name == NULL. */
const struct wan_metric_def *wan_metric_defs(void);
const struct wan_metric_def *wan_metric_find(const char *name);

void wan_samples_init(struct wan_sample_set *s);
void wan_samples_release(struct wan_sample_set *s);
/* Add metric (must be in wan_metric_defs) with label pairs key, value, ...
 * terminated by NULL. Returns 0 or WAN_ENOMEM. */
int wan_samples_add(struct wan_sample_set *s, const char *metric,
		    double value, ...) __attribute__((sentinel));
/* The Prometheus text exposition of s (HELP and TYPE per family,
 * families in table order). Caller frees. */
char *wan_samples_prometheus(const struct wan_sample_set *s);
/* Write the storable samples into the samples table (one transaction) and
 * drop those older than retention_hours (0: keep). */
int wan_samples_store(struct wan_db *db, const struct wan_sample_set *s,
		      int64_t retention_hours);
/* Look a value up: NAN when absent. label_key may be NULL. */
double wan_samples_get(const struct wan_sample_set *s, const char *metric,
		       const char *label_key, const char *label_value);

/* ------------------------------------------------------------------ */
/* Alert rules (alert.c).                                              */

enum wan_alert_state { WAN_ALERT_INACTIVE, WAN_ALERT_PENDING,
		       WAN_ALERT_FIRING, WAN_ALERT_RESOLVED };
enum wan_notice_kind { WAN_NOTICE_FIRING, WAN_NOTICE_RESOLVED,
		       WAN_NOTICE_REFRESH /* still firing: Alertmanager only */ };

/*
 * Options of the engine.
 *
 * Flapping: a firing alert resolves only after its condition has been
 * false for hold_seconds (Prometheus's keep_firing_for); a true
 * evaluation inside that window keeps it firing without any
 * notification. A series is therefore notified at most once as firing
 * and once as resolved per hold_seconds, however fast its input flaps.
 * A pending alert (for > 0) returns to inactive on the first false
 * evaluation, silently. resend_seconds: how often a firing alert is
 * re-sent to Alertmanager (WAN_NOTICE_REFRESH).
 */
struct wan_alert_opts {
	double hold_seconds;
	double resend_seconds;
};

struct wan_alert {
	char *name;
	char *ltext;                  /* canonical labels of the series */
	enum wan_alert_state state;
	enum wan_severity severity;
	double value;
	char *summary;
	double active_since, fired_at, resolved_at, last_eval, last_sent;
	double false_since;           /* firing but false since; 0: not */
};

struct wan_alert_notice {
	enum wan_notice_kind kind;
	char *name;
	char *ltext;                  /* series labels (canonical JSON) */
	enum wan_severity severity;
	char *summary;
	double value;
	double starts_at;             /* fired_at */
	double ends_at;               /* resolved_at, or 0 while firing */
	double expires_at;            /* firing: endsAt for Alertmanager */
};

struct wan_alert_transition {
	char *name, *ltext;
	enum wan_alert_state from, to;
	double ts, value;
};

struct wan_alert_engine;

int wan_alert_engine_new(struct wan_alert_engine **out,
			 const struct wan_alert_rule *rules, size_t nrules,
			 const struct wan_alert_opts *opts);
void wan_alert_engine_free(struct wan_alert_engine *e);
/* Replace the rules (configuration reload); states of rules that keep
 * their name are kept, others dropped. The rules are copied. */
int wan_alert_engine_set_rules(struct wan_alert_engine *e,
			       const struct wan_alert_rule *rules, size_t n);
/*
 * Evaluate every rule against the samples at time now. Notices to send
 * (caller frees with wan_alert_notices_free) and transitions to record
 * (wan_alert_transitions_free) come back; either out pointer may be NULL.
 */
int wan_alert_eval(struct wan_alert_engine *e, const struct wan_sample_set *s,
		   double now, struct wan_alert_notice **notices, size_t *nn,
		   struct wan_alert_transition **tr, size_t *nt);
void wan_alert_notices_free(struct wan_alert_notice *v, size_t n);
void wan_alert_transitions_free(struct wan_alert_transition *v, size_t n);
/* The tracked series (borrowed, valid until the next call). */
size_t wan_alert_count(const struct wan_alert_engine *e);
const struct wan_alert *wan_alert_at(const struct wan_alert_engine *e, size_t i);
size_t wan_alert_firing(const struct wan_alert_engine *e);
/* Persist the engine's series into `alerts` and transitions into
 * `alert_events`; load them back after a restart. */
int wan_alert_save(struct wan_alert_engine *e, struct wan_db *db,
		   const struct wan_alert_transition *tr, size_t nt);
int wan_alert_load(struct wan_alert_engine *e, struct wan_db *db);
/* Render a summary template: {value} {threshold} {name} {labels.KEY}. */
char *wan_alert_render(const char *tmpl, const char *name, json_t *labels,
		       double value, double threshold);
/* The exec/webhook JSON {"name","state","severity","labels","summary",
 * "value","starts_at","ends_at"} (new reference). */
json_t *wan_alert_notice_json(const struct wan_alert_notice *n);
/* [{labels, annotations, startsAt, endsAt, generatorURL}] for
 * Alertmanager's POST /api/v2/alerts (new reference). */
json_t *wan_alert_notice_am(const struct wan_alert_notice *n,
			    const char *generator_url);
const char *wan_alert_state_name(enum wan_alert_state s);
const char *wan_severity_name(enum wan_severity s);
/* Alerts from the DB: {"alerts":[{name,labels,state,severity,value,
 * summary,active_since,fired_at,resolved_at}]}, firing first; states
 * NULL for all, else e.g. "firing". */
int wan_alert_list(struct wan_db *db, const char *state, json_t **out);
/* RFC 3339 UTC ("2026-11-29T00:00:00.000Z") of a wall-clock time. */
void wan_rfc3339(char *buf, size_t size, double t);

/* ------------------------------------------------------------------ */
/* Handlers (alert_notify.c).                                          */

struct wan_notifier;
/* Start the handlers (a worker thread per exec/webhook/alertmanager
 * handler; log is immediate). generator_url names the monitor. */
int wan_notifier_new(struct wan_notifier **out,
		     const struct wan_alert_handler *h, size_t n,
		     const char *generator_url);
/* Queue notices; never blocks on the handlers (a full queue drops the
 * oldest entry with a warning). */
void wan_notifier_send(struct wan_notifier *nf,
		       const struct wan_alert_notice *v, size_t n);
/* Wait up to drain_seconds for the queues to empty, then stop. */
void wan_notifier_free(struct wan_notifier *nf, double drain_seconds);

struct wan_shell_result {
	int exit_code;     /* -1 when killed or not started */
	int signal;        /* the signal that ended it, 0 else */
	bool timed_out;
	double wall;       /* seconds */
};
/*
 * Run cmd with /bin/sh -c in its own process group, input on stdin (may be
 * NULL), stdout and stderr to out_fd (-1: /dev/null). After timeout
 * seconds (0: none) the group gets SIGTERM, then SIGKILL a second later.
 * Returns 0 when it ran (see res), or an error when it could not start.
 */
int wan_shell_run(const char *cmd, const char *input, size_t inlen,
		  double timeout, int out_fd, struct wan_shell_result *res);

/* ------------------------------------------------------------------ */
/* Models (watch.c).                                                   */

struct wan_watch_file {
	char *path;
	uint64_t size;
	char sha256[65];
};
struct wan_watch_model {
	char *name;
	char release[128];   /* current release id, "" when none */
	bool available;
	char reason[512];    /* why not available */
	uint64_t files, bytes;
	struct wan_watch_file *fv;   /* the manifest's files */
	size_t nf;
};

/* The models to watch: names in cfg->models plus every link under
 * target_models_path into the release store. Sorted, unique. */
int wan_watch_list(const struct wan_config *cfg, char ***names, size_t *n);
void wan_watch_names_free(char **names, size_t n);
/* Availability of one model (link resolves into <state>/releases/<model>,
 * every manifest file present with its size and the store object's
 * inode). Fills m (release_free it). Returns 0 (see m->available). */
int wan_watch_check(const struct wan_config *cfg, const char *model,
		    struct wan_watch_model *m);
void wan_watch_model_release(struct wan_watch_model *m);

/* The rolling integrity scrub. */
struct wan_scrub;
struct wan_scrub_status {
	bool ok;                 /* no mismatch in the current/last pass */
	bool checked;            /* at least one full pass done */
	char release[128];
	char bad_file[512];      /* first mismatch of the current episode */
	double bad_since;        /* wall time it was found */
	uint64_t passes;
	double last_pass;        /* wall time the last full pass ended */
};
int wan_scrub_new(struct wan_scrub **out, const struct wan_config *cfg);
void wan_scrub_free(struct wan_scrub *s);
/* Set the models to scrub (copies; a changed release restarts that
 * model). min_pass_seconds: a new pass starts no sooner than this after
 * the previous one started. */
int wan_scrub_set_models(struct wan_scrub *s, const struct wan_watch_model *m,
			 size_t n, double min_pass_seconds);
/* Hash up to budget bytes; returns the bytes read (0: idle or nothing to
 * do; *idle_for set to the seconds until the next pass may start). */
uint64_t wan_scrub_step(struct wan_scrub *s, uint64_t budget, double *idle_for);
int wan_scrub_status(struct wan_scrub *s, const char *model,
		     struct wan_scrub_status *st);
uint64_t wan_scrub_bytes_total(struct wan_scrub *s);

/* ------------------------------------------------------------------ */
/* History, trends, health (history.c).                                */

/* Least squares y = a + b x; returns WAN_EINVAL with fewer than 2 points
 * or no spread in x. */
int wan_trend_fit(const double *x, const double *y, size_t n,
		  double *slope, double *intercept);
/*
 * {"since","until","series":[{"metric","labels":{},"count","min","avg",
 * "max","first","last","points":[[ts,value],...]}]} of samples with
 * ts >= since. model/metric narrow (NULL: any); without model only the
 * series with no model label are included unless metric is given.
 */
int wan_history_query(struct wan_db *db, double since, const char *model,
		      const char *metric, json_t **out);
/* The sparkline of values ("▁▂▃▅▇█"), width characters at most. */
char *wan_sparkline(const double *v, size_t n, size_t width);
/*
 * Trends over [since, now]: per-hour slopes (least squares) of
 * wanctl_disk_free_bytes{path}, wanctl_memory_used_ratio and
 * wanctl_probe_latency_seconds{model}, and for a shrinking disk the hours
 * until it is full at that rate:
 * {"window_hours", "disk":[{"path","samples","slope_bytes_per_hour",
 * "free_bytes","hours_until_full"}], "memory":{...}, "probe":[...]}.
 */
int wan_trends(struct wan_db *db, double since, double now, json_t **out);
/*
 * The health report of `wanctl health`: {"generated","status",
 * "system":{...},"gpus":{...},"models":[...],"alerts":[...],
 * "trends":{...}}. models NULL: every watched model. status is "ok",
 * "degraded" (a firing alert) or "failed" (a model unavailable or not
 * intact, or a critical alert firing).
 */
int wan_health_report(const struct wan_config *cfg, struct wan_db *db,
		      const char *const *models, size_t nmodels,
		      double hours, json_t **out);

/* ------------------------------------------------------------------ */
/* The daemon (src/daemon/monitor.c).                                  */

struct wan_monitor_opts {
	const char *config_path;       /* reloaded on SIGHUP (NULL: search) */
	const char *const *models;     /* --models: watch only these */
	size_t nmodels;
	const char *deployment_id;     /* --deployment-id: its models */
	double interval;               /* > 0: overrides interval_seconds */
	const char *listen;            /* overrides monitoring.listen; "" off */
	bool once;                     /* one sample, alerts, exit */
	volatile sig_atomic_t *stop;   /* set by SIGTERM/SIGINT */
	volatile sig_atomic_t *reload; /* set by SIGHUP */
	/* Called once the listener is up (daemon readiness), may be NULL. */
	void (*ready)(void *ud, int err, const char *msg);
	void *ready_ud;
	/* once: receives the /api/v1/status document (new reference). */
	json_t **status_out;
};

/*
 * Run the monitor until *stop (or one sample with once). cfg is borrowed
 * (and replaced by a reloaded copy internally on SIGHUP). Returns 0 or an
 * error that kept it from starting (listen address in use, state DB).
 */
int wan_monitor_run(const struct wan_config *cfg,
		    const struct wan_monitor_opts *o);

/*
 * The pid file <state>/monitor.pid, locked with flock(2) for the life of
 * the monitor. wan_monitor_lock() takes it (WAN_ELOCKED with the
 * holder's pid when another monitor runs) and returns the open fd in
 * *fd; wan_monitor_write_pid() records the current pid in it.
 * wan_monitor_running() gives the pid of a running monitor, or 0.
 */
int wan_monitor_lock(const char *state, int *fd);
int wan_monitor_write_pid(int fd);
int wan_monitor_running(const char *state, long *pid);
/* <state> of cfg (state_path, else <target_models_path>/.wanctl). */
int wan_monitor_state_path(const struct wan_config *cfg, char *buf, size_t size);

#endif
