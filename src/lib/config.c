/*
 * The configuration (SPEC.md "Configuration").
 *
 * keys[] below is the single source of truth: the parser walks a JSON
 * document and looks every member up in it (unknown key: error with a
 * did-you-mean hint), the defaults are its `def` texts parsed by the same
 * code, `config show` and the `config init` template walk it to emit JSON,
 * and docs/CONFIGURATION.md is rendered from it (wan_config_keys_markdown(),
 * checked by tests/unit/test_config.c).
 *
 * A key path names its place: "deployment.hooks.timeout_seconds". Entries of
 * arrays of objects use "[]" ("monitoring.alert_rules[].threshold"), members
 * of the models map use "*" ("models.*.spec"). Offsets are relative to the
 * struct of the key's scope: struct wan_config for plain keys and sections,
 * struct wan_alert_rule / wan_alert_handler / wan_model_cfg for elements.
 */
#include "util/common.h"
#include "wanctl/config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/path.h"
#include "util/xio.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_ENTRIES 1024     /* per array or map */

enum ktype {
	K_SECTION,   /* object of further keys */
	K_PATH,      /* string, resolved to an absolute path */
	K_NPATH,     /* path or null */
	K_STR,       /* string */
	K_NSTR,      /* non-empty string or null */
	K_BOOL,
	K_INT,       /* integral number, int64_t */
	K_NUM,       /* number, double */
	K_NNUM,      /* number or null (null: 0), double */
	K_ENUM,      /* string among names[], stored as int */
	K_STRLIST,   /* array of strings: char ** at off, size_t at off2 */
	K_PATHLIST,  /* array of paths, resolved */
	K_LISTEN,    /* "host:port" or "[v6]:port" */
	K_DURATION,  /* seconds, or "30s" / "5m" / "1h" / "1d" */
	K_LABELS,    /* object of strings, json_t * */
	K_METRIC,    /* Prometheus metric name */
	K_URL,       /* http(s) URL or null */
	K_RULES,     /* array of alert rules */
	K_HANDLERS,  /* array of alert handlers */
	K_MODELS,    /* object: model name -> model */
};

enum kflags {
	F_MIN = 1 << 0,       /* lo applies */
	F_MAX = 1 << 1,       /* hi applies */
	F_REQUIRED = 1 << 2,  /* element key without a default */
};

struct key {
	const char *key;
	enum ktype type;
	const char *def;      /* JSON text; NULL: required or see defdoc */
	const char *doc;
	size_t off, off2;
	unsigned flags;
	double lo, hi;
	const char *const *names;  /* K_ENUM, indexed by the C enum value */
	const char *defdoc;   /* the Default column when def is NULL or long */
};

static const char *const transfer_names[] = { "auto", "reflink", "hardlink", "copy", NULL };
static const char *const verify_names[] = { "quick", "full", NULL };
static const char *const cmp_names[] = { ">", ">=", "<", "<=", "==", "!=", NULL };
static const char *const severity_names[] = { "INFO", "WARNING", "CRITICAL", NULL };
static const char *const handler_names[] = { "log", "exec", "webhook", "alertmanager", NULL };

_Static_assert(sizeof(enum wan_transfer) == sizeof(int), "enum size");
_Static_assert(sizeof(enum wan_verify_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum wan_cmp) == sizeof(int), "enum size");
_Static_assert(sizeof(enum wan_severity) == sizeof(int), "enum size");
_Static_assert(sizeof(enum wan_handler_type) == sizeof(int), "enum size");

/* The fixed threshold of InferenceSlow when validation.max_inference_seconds
 * is 0 (no limit). */
#define INFERENCE_SLOW_DEFAULT 600

static const char default_rules[] =
	"["
	"{\"name\":\"ModelUnavailable\",\"metric\":\"wanctl_model_available\","
	"\"comparison\":\"==\",\"threshold\":0,\"for\":0,\"severity\":\"CRITICAL\","
	"\"summary\":\"model {labels.model} is not available in production\"},"
	"{\"name\":\"ModelIntegrityMismatch\",\"metric\":\"wanctl_model_integrity_ok\","
	"\"comparison\":\"==\",\"threshold\":0,\"for\":0,\"severity\":\"CRITICAL\","
	"\"summary\":\"model {labels.model}: a production file does not match its manifest\"},"
	"{\"name\":\"DiskSpaceLow\",\"metric\":\"wanctl_disk_free_ratio\","
	"\"comparison\":\"<\",\"threshold\":0.1,\"for\":300,\"severity\":\"WARNING\","
	"\"summary\":\"disk of {labels.path} is {value} free (threshold {threshold})\"},"
	"{\"name\":\"MemoryHigh\",\"metric\":\"wanctl_memory_used_ratio\","
	"\"comparison\":\">\",\"threshold\":0.95,\"for\":300,\"severity\":\"WARNING\","
	"\"summary\":\"memory use is {value} (threshold {threshold})\"},"
	"{\"name\":\"CpuHigh\",\"metric\":\"wanctl_cpu_usage_ratio\","
	"\"comparison\":\">\",\"threshold\":0.95,\"for\":600,\"severity\":\"WARNING\","
	"\"summary\":\"CPU use is {value} (threshold {threshold})\"},"
	"{\"name\":\"GpuMemoryHigh\",\"metric\":\"wanctl_gpu_memory_used_ratio\","
	"\"comparison\":\">\",\"threshold\":0.95,\"for\":300,\"severity\":\"WARNING\","
	"\"summary\":\"GPU {labels.gpu} memory use is {value} (threshold {threshold})\"},"
	"{\"name\":\"GpuTemperatureHigh\",\"metric\":\"wanctl_gpu_temperature_celsius\","
	"\"comparison\":\">\",\"threshold\":85,\"for\":120,\"severity\":\"CRITICAL\","
	"\"summary\":\"GPU {labels.gpu} temperature is {value} C (threshold {threshold} C)\"},"
	"{\"name\":\"InferenceSlow\",\"metric\":\"wanctl_probe_latency_seconds\","
	"\"comparison\":\">\",\"threshold\":600,\"for\":0,\"severity\":\"WARNING\","
	"\"summary\":\"model {labels.model}: smoke probe took {value} s (threshold {threshold} s)\"}"
	"]";

#define OFF(f) .off = offsetof(struct wan_config, f)
#define OFF2(f) .off2 = offsetof(struct wan_config, f)
#define ROFF(f) .off = offsetof(struct wan_alert_rule, f)
#define HOFF(f) .off = offsetof(struct wan_alert_handler, f)
#define MOFF(f) .off = offsetof(struct wan_model_cfg, f)
#define GE(x) .flags = F_MIN, .lo = (x)
#define IN(a, b) .flags = F_MIN | F_MAX, .lo = (a), .hi = (b)

static const struct key keys[] = {
	{ "source_models_path", K_PATH, "\"models/staging\"",
	  "staging root: a model's files are read from <source_models_path>/<source>; only ever read",
	  OFF(source_models_path) },
	{ "target_models_path", K_PATH, "\"models/production\"",
	  "production root: <target_models_path>/<model> is the symbolic link to the current release",
	  OFF(target_models_path) },
	{ "backup_path", K_PATH, "\"backups/models\"",
	  "the backup repository (zstd-compressed, deduplicated)",
	  OFF(backup_path) },
	{ "state_path", K_NPATH, "null",
	  "store, state database and lock; null: <target_models_path>/.wanctl (must be on the production filesystem)",
	  OFF(state_path) },

	{ "deployment", K_SECTION, NULL, "how `deploy` migrates and switches", .off = 0 },
	{ "deployment.transfer", K_ENUM, "\"auto\"",
	  "how files reach the store: auto tries reflink, then hardlink (same filesystem), then copy",
	  OFF(deployment.transfer), .names = transfer_names },
	{ "deployment.keep_releases", K_INT, "3",
	  "releases kept per model, the current one included; `gc` drops older ones; 0: keep all",
	  OFF(deployment.keep_releases), GE(0) },
	{ "deployment.auto_rollback", K_BOOL, "true",
	  "roll back by itself when a check after the switch fails",
	  OFF(deployment.auto_rollback) },
	{ "deployment.verify", K_ENUM, "\"quick\"",
	  "check after the switch: quick compares sizes and store inodes, full re-reads and re-hashes every file",
	  OFF(deployment.verify), .names = verify_names },
	{ "deployment.workers", K_INT, "0",
	  "parallel hashing/copying workers; 0: one per CPU core",
	  OFF(deployment.workers), IN(0, 1024) },
	{ "deployment.max_deployment_time", K_INT, "3600",
	  "seconds a deployment may take before it is abandoned (production left as it was); 0: no limit",
	  OFF(deployment.max_deployment_time), GE(0) },
	{ "deployment.hooks", K_SECTION, NULL,
	  "shell commands run through /bin/sh -c around the switch", .off = 0 },
	{ "deployment.hooks.pre_switch", K_NSTR, "null",
	  "command run before the switch; a non-zero exit aborts the deployment; null: none",
	  OFF(deployment.hooks.pre_switch) },
	{ "deployment.hooks.post_switch", K_NSTR, "null",
	  "command run after the switch (e.g. reload the inference server); null: none",
	  OFF(deployment.hooks.post_switch) },
	{ "deployment.hooks.post_rollback", K_NSTR, "null",
	  "command run after a rollback; null: none",
	  OFF(deployment.hooks.post_rollback) },
	{ "deployment.hooks.timeout_seconds", K_INT, "300",
	  "seconds a hook may run before it is killed and counted as failed",
	  OFF(deployment.hooks.timeout_seconds), GE(1) },

	{ "validation", K_SECTION, NULL, "checks before and after the switch", .off = 0 },
	{ "validation.enabled", K_BOOL, "true",
	  "run the checks before and after a deployment",
	  OFF(validation.enabled) },
	{ "validation.disk_margin_percent", K_NUM, "5",
	  "free disk that must remain after the copy, in percent of the filesystem",
	  OFF(validation.disk_margin_percent), IN(0, 100) },
	{ "validation.min_ram_gb", K_NUM, "8",
	  "minimum RAM in GB (system.memory); 0: no limit",
	  OFF(validation.min_ram_gb), GE(0) },
	{ "validation.min_vram_gb", K_NNUM, "null",
	  "minimum GPU memory in GB (system.gpu); null or 0: the model spec's figure",
	  OFF(validation.min_vram_gb), GE(0) },
	{ "validation.require_gpu", K_BOOL, "false",
	  "fail system.gpu when no GPU is found (else it is a skip)",
	  OFF(validation.require_gpu) },
	{ "validation.scan_tensors", K_BOOL, "true",
	  "read every tensor and check it is finite (tensors.finite); false: headers only",
	  OFF(validation.scan_tensors) },
	{ "validation.inference_command", K_NSTR, "null",
	  "smoke inference command with {model}, {ckpt_dir}, {output} filled in; must exit 0; null: no smoke test",
	  OFF(validation.inference_command) },
	{ "validation.inference_timeout_seconds", K_INT, "1800",
	  "seconds the smoke command may run before it is killed",
	  OFF(validation.inference_timeout_seconds), GE(1) },
	{ "validation.max_inference_seconds", K_NUM, "0",
	  "the smoke command fails when it takes longer; 0: no limit",
	  OFF(validation.max_inference_seconds), GE(0) },
	{ "validation.max_regression_percent", K_NUM, "20",
	  "the smoke command fails when slower than the previous release by more than this; 0: no limit",
	  OFF(validation.max_regression_percent), IN(0, 100) },
	{ "validation.readiness_url", K_URL, "null",
	  "URL that must answer 2xx after the switch (service.ready); null: not checked",
	  OFF(validation.readiness_url) },
	{ "validation.readiness_timeout_seconds", K_INT, "60",
	  "seconds to wait for the readiness URL",
	  OFF(validation.readiness_timeout_seconds), GE(1) },
	{ "validation.dependencies", K_STRLIST, "[]",
	  "commands that must be found on PATH (system.dependencies)",
	  OFF(validation.dependencies), OFF2(validation.ndependencies) },
	{ "validation.spec_paths", K_PATHLIST, "[]",
	  "folders of user model specs (*.json) added to the built-in catalog",
	  OFF(validation.spec_paths), OFF2(validation.nspec_paths) },

	{ "monitoring", K_SECTION, NULL, "the monitor daemon (`monitor run`)", .off = 0 },
	{ "monitoring.interval_seconds", K_INT, "30",
	  "seconds between samples",
	  OFF(monitoring.interval_seconds), IN(1, 86400) },
	{ "monitoring.listen", K_LISTEN, "\"127.0.0.1:9731\"",
	  "HTTP listener for /metrics, /healthz, /readyz, /api/v1/status: host:port or [v6]:port",
	  OFF(monitoring.listen) },
	{ "monitoring.retention_hours", K_INT, "168",
	  "hours samples are kept in the state database",
	  OFF(monitoring.retention_hours), IN(1, 87600) },
	{ "monitoring.scrub_mb_per_s", K_NUM, "50",
	  "bandwidth cap of the rolling integrity scrub in MB/s; 0: scrub off",
	  OFF(monitoring.scrub_mb_per_s), GE(0) },
	{ "monitoring.probe_interval_seconds", K_INT, "0",
	  "seconds between smoke probes (validation.inference_command); 0: no probe",
	  OFF(monitoring.probe_interval_seconds), GE(0) },
	{ "monitoring.alert_rules", K_RULES, default_rules,
	  "alert rules; when absent, the default rules below (InferenceSlow's threshold is validation.max_inference_seconds when that is > 0, else 600)",
	  .defdoc = "the default rules below", .off = 0 },
	{ "monitoring.alert_rules[].name", K_STR, NULL,
	  "the alert's name, unique among the rules",
	  ROFF(name), .flags = F_REQUIRED },
	{ "monitoring.alert_rules[].metric", K_METRIC, NULL,
	  "metric the rule watches, e.g. wanctl_disk_free_ratio",
	  ROFF(metric), .flags = F_REQUIRED },
	{ "monitoring.alert_rules[].labels", K_LABELS, "{}",
	  "label matchers: only series whose labels have these values, e.g. {\"model\": \"t2v-A14B\"}",
	  ROFF(labels) },
	{ "monitoring.alert_rules[].comparison", K_ENUM, NULL,
	  "how the sample compares with the threshold to be true",
	  ROFF(cmp), .flags = F_REQUIRED, .names = cmp_names },
	{ "monitoring.alert_rules[].threshold", K_NUM, NULL,
	  "the threshold",
	  ROFF(threshold), .flags = F_REQUIRED },
	{ "monitoring.alert_rules[].for", K_DURATION, "0",
	  "how long the condition must hold before the alert fires (pending until then); 0: at once",
	  ROFF(for_seconds), GE(0) },
	{ "monitoring.alert_rules[].severity", K_ENUM, "\"WARNING\"",
	  "the alert's severity",
	  ROFF(severity), .names = severity_names },
	{ "monitoring.alert_rules[].summary", K_STR, "\"\"",
	  "message template: {value}, {threshold} and {labels.NAME} are filled in",
	  ROFF(summary) },
	{ "monitoring.alert_handlers", K_HANDLERS, "[{\"type\":\"log\"}]",
	  "where alerts go when they fire and resolve", .off = 0 },
	{ "monitoring.alert_handlers[].type", K_ENUM, NULL,
	  "log: the monitor's log; exec: run command with the alert as JSON on stdin; webhook: POST the alert as JSON to url; alertmanager: POST to url/api/v2/alerts",
	  HOFF(type), .flags = F_REQUIRED, .names = handler_names },
	{ "monitoring.alert_handlers[].command", K_NSTR, "null",
	  "exec: the command, run through /bin/sh -c (required for exec)",
	  HOFF(command) },
	{ "monitoring.alert_handlers[].url", K_URL, "null",
	  "webhook and alertmanager: the http(s) URL (required for them)",
	  HOFF(url) },
	{ "monitoring.alert_handlers[].timeout_seconds", K_INT, "10",
	  "seconds a handler may take per alert",
	  HOFF(timeout_seconds), IN(1, 3600) },

	{ "backup", K_SECTION, NULL, "the backup repository", .off = 0 },
	{ "backup.enabled", K_BOOL, "true",
	  "keep a backup repository at backup_path",
	  OFF(backup.enabled) },
	{ "backup.before_deploy", K_BOOL, "true",
	  "back up the release being replaced before each deployment (`deploy --no-backup` skips it)",
	  OFF(backup.before_deploy) },
	{ "backup.compression_level", K_INT, "3",
	  "zstd compression level",
	  OFF(backup.compression_level), IN(1, 19) },
	{ "backup.keep", K_INT, "5",
	  "backups kept per model by `backup prune`; 0: no limit",
	  OFF(backup.keep), GE(0) },
	{ "backup.max_age_days", K_INT, "30",
	  "`backup prune` drops backups older than this (the newest of each model stays); 0: no limit",
	  OFF(backup.max_age_days), GE(0) },

	{ "models", K_MODELS, "{}",
	  "models by name; a model absent here uses the catalog spec and staging folder of its own name", .off = 0 },
	{ "models.*.spec", K_STR, NULL,
	  "catalog spec the model is checked against (`wanctl models` lists them)",
	  MOFF(spec), .defdoc = "the model's name" },
	{ "models.*.source", K_STR, NULL,
	  "staging folder: relative to source_models_path, or absolute",
	  MOFF(source), .defdoc = "the model's name" },
};

/* ------------------------------------------------------------------ */
/* The table: lookup and the public view                              */

static const struct key *key_find(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].key, path))
			return &keys[i];
	return NULL;
}

/* Is `k` a direct child of scope ("" is the top)? */
static bool key_is_child(const struct key *k, const char *scope)
{
	size_t n = strlen(scope);
	const char *rest;

	if (!n)
		rest = k->key;
	else if (!strncmp(k->key, scope, n) && k->key[n] == '.')
		rest = k->key + n + 1;
	else
		return false;
	return !strchr(rest, '.');
}

static const char *key_leaf(const struct key *k)
{
	const char *dot = strrchr(k->key, '.');
	return dot ? dot + 1 : k->key;
}

static void *field(void *base, size_t off)
{
	return (char *)base + off;
}

static const void *cfield(const void *base, size_t off)
{
	return (const char *)base + off;
}

static void fmt_num(char *dst, size_t n, double v)
{
	snprintf(dst, n, "%.15g", v);
}

static void type_name(const struct key *k, struct buf *b)
{
	char lo[32], hi[32];

	switch (k->type) {
	case K_SECTION: buf_adds(b, "object"); break;
	case K_PATH: buf_adds(b, "path"); break;
	case K_NPATH: buf_adds(b, "path or null"); break;
	case K_STR: buf_adds(b, "string"); break;
	case K_NSTR: buf_adds(b, "string or null"); break;
	case K_BOOL: buf_adds(b, "boolean"); break;
	case K_INT: buf_adds(b, "integer"); break;
	case K_NUM: buf_adds(b, "number"); break;
	case K_NNUM: buf_adds(b, "number or null"); break;
	case K_ENUM:
		buf_adds(b, "one of");
		for (size_t i = 0; k->names[i]; i++)
			buf_printf(b, "%s \"%s\"", i ? "," : "", k->names[i]);
		break;
	case K_STRLIST: buf_adds(b, "array of strings"); break;
	case K_PATHLIST: buf_adds(b, "array of paths"); break;
	case K_LISTEN: buf_adds(b, "\"host:port\""); break;
	case K_DURATION: buf_adds(b, "seconds, or \"30s\", \"5m\", \"1h\", \"1d\""); break;
	case K_LABELS: buf_adds(b, "object of strings"); break;
	case K_METRIC: buf_adds(b, "metric name"); break;
	case K_URL: buf_adds(b, "URL or null"); break;
	case K_RULES: buf_adds(b, "array of alert rules"); break;
	case K_HANDLERS: buf_adds(b, "array of alert handlers"); break;
	case K_MODELS: buf_adds(b, "object: model name -> model"); break;
	}
	fmt_num(lo, sizeof(lo), k->lo);
	fmt_num(hi, sizeof(hi), k->hi);
	if ((k->flags & F_MIN) && (k->flags & F_MAX))
		buf_printf(b, ", %s..%s", lo, hi);
	else if (k->flags & F_MIN)
		buf_printf(b, ", >= %s", lo);
}

static struct wan_config_key pub_keys[ARRAY_SIZE(keys) + 1];
static char *pub_types[ARRAY_SIZE(keys)];
static pthread_once_t pub_once = PTHREAD_ONCE_INIT;

static void pub_init(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		struct buf b = BUF_INIT;

		type_name(&keys[i], &b);
		pub_types[i] = buf_detach(&b);
		pub_keys[i].key = keys[i].key;
		pub_keys[i].type = pub_types[i] ? pub_types[i] : "?";
		pub_keys[i].def = keys[i].def;
		pub_keys[i].doc = keys[i].doc;
	}
}

const struct wan_config_key *wan_config_keys(void)
{
	pthread_once(&pub_once, pub_init);
	return pub_keys;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                            */

struct pctx {
	const char *file;     /* for messages */
	const char *dir;      /* relative paths resolve against it */
	bool rules_seen;      /* monitoring.alert_rules given explicitly */
};

static int perr(const struct pctx *p, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(const struct pctx *p, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wan_err(WAN_ECONFIG, "'%s': %s: %s", p->file, path, msg);
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* Optimal string alignment distance, for did-you-mean hints. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[64][64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

static int err_unknown(const struct pctx *p, const char *scope,
		       const char *name, const char *dpath)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX, limit = strlen(name) / 3 + 1;

	if (limit > 3)
		limit = 3;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		size_t dist;

		if (!key_is_child(&keys[i], scope))
			continue;
		dist = edit_distance(name, key_leaf(&keys[i]));
		if (dist < bestd) {
			bestd = dist;
			best = key_leaf(&keys[i]);
		}
	}
	if (best && bestd <= limit)
		return perr(p, dpath, "unknown key (did you mean '%s'?)", best);
	return perr(p, dpath, "unknown key");
}

static int get_int(const struct pctx *p, const struct key *k, const char *dp,
		   const json_t *v, int64_t *out)
{
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (json_is_real(v)) {
		d = json_real_value(v);
		if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return perr(p, dp, "must be an integer, got %.15g", d);
		*out = (int64_t)d;
	} else {
		return perr(p, dp, "must be an integer, got %s", json_kind(v));
	}
	if ((k->flags & F_MIN) && (double)*out < k->lo)
		return perr(p, dp, "must be >= %.15g, got %lld", k->lo, (long long)*out);
	if ((k->flags & F_MAX) && (double)*out > k->hi)
		return perr(p, dp, "must be <= %.15g, got %lld", k->hi, (long long)*out);
	return 0;
}

static int check_range(const struct pctx *p, const struct key *k, const char *dp,
		       double d)
{
	if (!isfinite(d))
		return perr(p, dp, "must be a finite number");
	if ((k->flags & F_MIN) && d < k->lo)
		return perr(p, dp, "must be >= %.15g, got %.15g", k->lo, d);
	if ((k->flags & F_MAX) && d > k->hi)
		return perr(p, dp, "must be <= %.15g, got %.15g", k->hi, d);
	return 0;
}

static int get_num(const struct pctx *p, const struct key *k, const char *dp,
		   const json_t *v, double *out)
{
	if (!json_is_number(v))
		return perr(p, dp, "must be a number, got %s", json_kind(v));
	*out = json_number_value(v);
	return check_range(p, k, dp, *out);
}

/* "90", "30s", "5m", "1h30m", "1.5h", "1d" -> seconds. */
static int parse_duration(const char *s, double *out)
{
	double total = 0;
	bool any = false;

	while (*s) {
		char *end;
		double v;

		if (!(*s >= '0' && *s <= '9') && *s != '.')
			return -1;
		errno = 0;
		v = strtod(s, &end);
		if (end == s || errno || !isfinite(v) || v < 0)
			return -1;
		s = end;
		switch (*s) {
		case 's': s++; break;
		case 'm':
			if (s[1] == 's') {
				v /= 1000;
				s += 2;
			} else {
				v *= 60;
				s++;
			}
			break;
		case 'h': v *= 3600; s++; break;
		case 'd': v *= 86400; s++; break;
		case '\0':
			if (any)
				return -1;  /* "1h30": the unit of 30 is unclear */
			break;
		default:
			return -1;
		}
		total += v;
		any = true;
	}
	if (!any)
		return -1;
	*out = total;
	return 0;
}

static int check_listen(const char *s, char *why, size_t n)
{
	const char *colon, *port;
	char *end;
	long v;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb == s + 1) {
			snprintf(why, n, "'%s' is not [address]:port", s);
			return -1;
		}
		if (rb[1] != ':') {
			snprintf(why, n, "'%s' has no port (write [address]:port)", s);
			return -1;
		}
		port = rb + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			snprintf(why, n, "'%s' has no port (write host:port)", s);
			return -1;
		}
		if (colon == s) {
			snprintf(why, n, "'%s' has no host (write host:port, e.g. 127.0.0.1:9731)", s);
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(why, n, "'%s': write IPv6 addresses in brackets, e.g. [::1]:9731", s);
			return -1;
		}
		port = colon + 1;
	}
	if (!(*port >= '0' && *port <= '9')) {
		snprintf(why, n, "port of '%s' must be a number 1..65535", s);
		return -1;
	}
	errno = 0;
	v = strtol(port, &end, 10);
	if (*end || errno || v < 1 || v > 65535) {
		snprintf(why, n, "port of '%s' must be 1..65535", s);
		return -1;
	}
	for (const char *c = s; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == '/') {
			snprintf(why, n, "'%s' is not host:port", s);
			return -1;
		}
	}
	return 0;
}

static bool valid_metric(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == ':'))
			return false;
	}
	return true;
}

static bool valid_label_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static bool valid_url(const char *s)
{
	if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static void strlist_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void rule_release(struct wan_alert_rule *r)
{
	free(r->name);
	free(r->metric);
	json_decref(r->labels);
	free(r->summary);
	memset(r, 0, sizeof(*r));
}

static void handler_release(struct wan_alert_handler *h)
{
	free(h->command);
	free(h->url);
	memset(h, 0, sizeof(*h));
}

static void model_release(struct wan_model_cfg *m)
{
	free(m->name);
	free(m->spec);
	free(m->source);
	memset(m, 0, sizeof(*m));
}

static void rules_free(struct wan_alert_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_release(&r[i]);
	free(r);
}

static void handlers_free(struct wan_alert_handler *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		handler_release(&h[i]);
	free(h);
}

static void models_free(struct wan_model_cfg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		model_release(&m[i]);
	free(m);
}

static int nomem(void)
{
	return wan_err(WAN_ENOMEM, "out of memory reading the configuration");
}

static int set_string(char **dst, const char *s)
{
	char *c = wan_strdup(s);

	if (s && !c)
		return nomem();
	free(*dst);
	*dst = c;
	return 0;
}

static int parse_object(struct pctx *p, const json_t *obj, const char *scope,
			const char *disp, void *base, bool *seen);

static int dpath_join(char *dst, size_t n, const char *disp, const char *name)
{
	int r;

	if (*disp)
		r = snprintf(dst, n, "%s.%s", disp, name);
	else
		r = snprintf(dst, n, "%s", name);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* Defaults of an element scope's keys, then the entry's own members, then
 * required keys. */
static int parse_element(struct pctx *p, const json_t *v, const char *scope,
			 const char *dp, void *base);

static int set_value(struct pctx *p, const struct key *k, const char *dp,
		     const json_t *v, void *base);

static int parse_rules(struct pctx *p, const char *dp, const json_t *v,
		       struct wan_config *cfg)
{
	struct wan_alert_rule *rules = NULL;
	size_t n, i;
	int err = 0;

	if (!json_is_array(v))
		return perr(p, dp, "must be an array of rules, got %s", json_kind(v));
	n = json_array_size(v);
	if (n > CONFIG_MAX_ENTRIES)
		return perr(p, dp, "too many rules (%zu, limit %d)", n, CONFIG_MAX_ENTRIES);
	if (n) {
		rules = calloc(n, sizeof(*rules));
		if (!rules)
			return nomem();
	}
	for (i = 0; i < n; i++) {
		char ep[512];

		snprintf(ep, sizeof(ep), "%s[%zu]", dp, i);
		err = parse_element(p, json_array_get(v, i),
				    "monitoring.alert_rules[]", ep, &rules[i]);
		if (err)
			goto out;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(rules[j].name, rules[i].name)) {
				err = perr(p, ep, "name: duplicate rule name '%s' (also %s[%zu])",
					   rules[i].name, dp, j);
				goto out;
			}
		}
	}
	rules_free(cfg->monitoring.rules, cfg->monitoring.nrules);
	cfg->monitoring.rules = rules;
	cfg->monitoring.nrules = n;
	return 0;
out:
	rules_free(rules, n);
	return err;
}

static int parse_handlers(struct pctx *p, const char *dp, const json_t *v,
			  struct wan_config *cfg)
{
	struct wan_alert_handler *hs = NULL;
	size_t n, i;
	int err = 0;

	if (!json_is_array(v))
		return perr(p, dp, "must be an array of handlers, got %s", json_kind(v));
	n = json_array_size(v);
	if (n > CONFIG_MAX_ENTRIES)
		return perr(p, dp, "too many handlers (%zu, limit %d)", n, CONFIG_MAX_ENTRIES);
	if (n) {
		hs = calloc(n, sizeof(*hs));
		if (!hs)
			return nomem();
	}
	for (i = 0; i < n; i++) {
		char ep[512];
		struct wan_alert_handler *h = &hs[i];

		snprintf(ep, sizeof(ep), "%s[%zu]", dp, i);
		err = parse_element(p, json_array_get(v, i),
				    "monitoring.alert_handlers[]", ep, h);
		if (err)
			goto out;
		if (h->type == WAN_HANDLER_EXEC && !h->command) {
			err = perr(p, ep, "an exec handler needs a \"command\"");
			goto out;
		}
		if ((h->type == WAN_HANDLER_WEBHOOK ||
		     h->type == WAN_HANDLER_ALERTMANAGER) && !h->url) {
			err = perr(p, ep, "a %s handler needs a \"url\"",
				   handler_names[h->type]);
			goto out;
		}
	}
	handlers_free(cfg->monitoring.handlers, cfg->monitoring.nhandlers);
	cfg->monitoring.handlers = hs;
	cfg->monitoring.nhandlers = n;
	return 0;
out:
	handlers_free(hs, n);
	return err;
}

/* A model name is one safe path component. */
static const char *model_name_problem(const char *name)
{
	if (!*name)
		return "is empty";
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return "is not a folder name";
	if (strlen(name) > 255)
		return "is longer than 255 bytes";
	for (const char *c = name; *c; c++) {
		if (*c == '/' || *c == '\\')
			return "contains a slash";
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "contains a control character";
	}
	return NULL;
}

static int parse_models(struct pctx *p, const char *dp, const json_t *v,
			struct wan_config *cfg)
{
	struct wan_model_cfg *ms = NULL;
	const char *name;
	json_t *mv;
	size_t n, i = 0;
	int err = 0;

	if (!json_is_object(v))
		return perr(p, dp, "must be an object of models by name, got %s", json_kind(v));
	n = json_object_size(v);
	if (n > CONFIG_MAX_ENTRIES)
		return perr(p, dp, "too many models (%zu, limit %d)", n, CONFIG_MAX_ENTRIES);
	if (n) {
		ms = calloc(n, sizeof(*ms));
		if (!ms)
			return nomem();
	}
	json_object_foreach((json_t *)v, name, mv) {
		char ep[512];
		const char *why = model_name_problem(name);
		struct wan_model_cfg *m = &ms[i++];

		if (dpath_join(ep, sizeof(ep), dp, name)) {
			err = perr(p, dp, "model name too long");
			goto out;
		}
		if (why) {
			err = perr(p, ep, "model name '%s' %s", name, why);
			goto out;
		}
		err = parse_element(p, mv, "models.*", ep, m);
		if (err)
			goto out;
		if ((err = set_string(&m->name, name)))
			goto out;
		if ((m->spec && !*m->spec) || (m->source && !*m->source)) {
			err = perr(p, ep, "%s: must not be empty",
				   m->spec && !*m->spec ? "spec" : "source");
			goto out;
		}
		if (!m->spec && (err = set_string(&m->spec, name)))
			goto out;
		if (!m->source && (err = set_string(&m->source, name)))
			goto out;
		if (m->source[0] != '/' && path_check_relative(m->source) < 0) {
			err = perr(p, ep, "source: '%s' must be a folder under source_models_path or an absolute path",
				   m->source);
			goto out;
		}
	}
	models_free(cfg->models, cfg->nmodels);
	cfg->models = ms;
	cfg->nmodels = n;
	return 0;
out:
	models_free(ms, n);
	return err;
}

static int set_value(struct pctx *p, const struct key *k, const char *dp,
		     const json_t *v, void *base)
{
	char why[256];
	int err;

	switch (k->type) {
	case K_SECTION:
		if (!json_is_object(v))
			return perr(p, dp, "must be an object, got %s", json_kind(v));
		return parse_object(p, v, k->key, dp, base, NULL);
	case K_PATH:
	case K_NPATH:
	case K_STR:
	case K_NSTR:
	case K_METRIC:
	case K_URL:
	case K_LISTEN: {
		bool nullable = k->type == K_NPATH || k->type == K_NSTR || k->type == K_URL;
		const char *s;

		if (json_is_null(v) && nullable)
			return set_string(field(base, k->off), NULL);
		if (!json_is_string(v))
			return perr(p, dp, "must be a string%s, got %s",
				    nullable ? " or null" : "", json_kind(v));
		s = json_string_value(v);
		if (!*s && k->type != K_STR)
			return perr(p, dp, "must not be empty%s",
				    nullable ? " (use null for none)" : "");
		if (k->type == K_LISTEN && check_listen(s, why, sizeof(why)))
			return perr(p, dp, "%s", why);
		if (k->type == K_METRIC && !valid_metric(s))
			return perr(p, dp, "'%s' is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", s);
		if (k->type == K_URL && !valid_url(s))
			return perr(p, dp, "'%s' is not an http:// or https:// URL", s);
		return set_string(field(base, k->off), s);
	}
	case K_BOOL:
		if (!json_is_boolean(v))
			return perr(p, dp, "must be true or false, got %s", json_kind(v));
		*(bool *)field(base, k->off) = json_is_true(v);
		return 0;
	case K_INT:
		return get_int(p, k, dp, v, field(base, k->off));
	case K_NUM:
		return get_num(p, k, dp, v, field(base, k->off));
	case K_NNUM:
		if (json_is_null(v)) {
			*(double *)field(base, k->off) = 0;
			return 0;
		}
		if (!json_is_number(v))
			return perr(p, dp, "must be a number or null, got %s", json_kind(v));
		return get_num(p, k, dp, v, field(base, k->off));
	case K_DURATION: {
		double d;

		if (json_is_string(v)) {
			if (parse_duration(json_string_value(v), &d))
				return perr(p, dp, "'%s' is not a duration (seconds, or e.g. \"30s\", \"5m\", \"1h\")",
					    json_string_value(v));
		} else if (json_is_number(v)) {
			d = json_number_value(v);
		} else {
			return perr(p, dp, "must be seconds or a duration string, got %s",
				    json_kind(v));
		}
		if ((err = check_range(p, k, dp, d)))
			return err;
		*(double *)field(base, k->off) = d;
		return 0;
	}
	case K_ENUM: {
		const char *s;
		struct buf b = BUF_INIT;

		if (!json_is_string(v))
			return perr(p, dp, "must be a string, got %s", json_kind(v));
		s = json_string_value(v);
		for (int i = 0; k->names[i]; i++) {
			if (!strcmp(s, k->names[i])) {
				*(int *)field(base, k->off) = i;
				return 0;
			}
		}
		type_name(k, &b);
		err = perr(p, dp, "unknown value '%s' (%s)", s, buf_str(&b));
		buf_release(&b);
		return err;
	}
	case K_STRLIST:
	case K_PATHLIST: {
		char **list = NULL, ***dst = field(base, k->off);
		size_t n, *ndst = field(base, k->off2);

		if (!json_is_array(v))
			return perr(p, dp, "must be an array of strings, got %s", json_kind(v));
		n = json_array_size(v);
		if (n > CONFIG_MAX_ENTRIES)
			return perr(p, dp, "too many entries (%zu, limit %d)", n, CONFIG_MAX_ENTRIES);
		if (n && !(list = calloc(n, sizeof(*list))))
			return nomem();
		for (size_t i = 0; i < n; i++) {
			const json_t *e = json_array_get(v, i);
			char ep[512];

			snprintf(ep, sizeof(ep), "%s[%zu]", dp, i);
			if (!json_is_string(e) || !*json_string_value(e)) {
				err = json_is_string(e)
					? perr(p, ep, "must not be empty")
					: perr(p, ep, "must be a string, got %s", json_kind(e));
				strlist_free(list, n);
				return err;
			}
			list[i] = strdup(json_string_value(e));
			if (!list[i]) {
				strlist_free(list, n);
				return nomem();
			}
		}
		strlist_free(*dst, *ndst);
		*dst = list;
		*ndst = n;
		return 0;
	}
	case K_LABELS: {
		json_t **dst = field(base, k->off), *copy;
		const char *lk;
		json_t *lv;

		if (!json_is_object(v))
			return perr(p, dp, "must be an object of label values, got %s",
				    json_kind(v));
		json_object_foreach((json_t *)v, lk, lv) {
			if (!valid_label_name(lk))
				return perr(p, dp, "'%s' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
					    lk);
			if (!json_is_string(lv))
				return perr(p, dp, "%s: label values must be strings, got %s",
					    lk, json_kind(lv));
		}
		copy = json_deep_copy(v);
		if (!copy)
			return nomem();
		json_decref(*dst);
		*dst = copy;
		return 0;
	}
	case K_RULES:
		p->rules_seen = true;
		return parse_rules(p, dp, v, base);
	case K_HANDLERS:
		return parse_handlers(p, dp, v, base);
	case K_MODELS:
		return parse_models(p, dp, v, base);
	}
	WAN_BUG("unknown key type");
}

static int parse_object(struct pctx *p, const json_t *obj, const char *scope,
			const char *disp, void *base, bool *seen)
{
	const char *name;
	json_t *v;
	int err;

	json_object_foreach((json_t *)obj, name, v) {
		char lookup[256], dp[512];
		const struct key *k = NULL;

		if (dpath_join(dp, sizeof(dp), disp, name))
			return perr(p, disp, "key too long");
		if (!strpbrk(name, ".[]*") &&
		    !dpath_join(lookup, sizeof(lookup), scope, name))
			k = key_find(lookup);
		if (!k)
			return err_unknown(p, scope, name, dp);
		if ((err = set_value(p, k, dp, v, base)))
			return err;
		if (seen)
			seen[k - keys] = true;
	}
	return 0;
}

static int parse_element(struct pctx *p, const json_t *v, const char *scope,
			 const char *dp, void *base)
{
	bool seen[ARRAY_SIZE(keys)] = { false };
	int err;

	if (!json_is_object(v))
		return perr(p, dp, "must be an object, got %s", json_kind(v));
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *d;

		if (!key_is_child(&keys[i], scope) || !keys[i].def)
			continue;
		d = json_loads(keys[i].def, JSON_DECODE_ANY, NULL);
		if (!d) /* the table's defaults are checked by test_config: */
			return wan_err(WAN_ENOMEM, "out of memory loading the default of '%s'",
				       keys[i].key);
		err = set_value(p, &keys[i], keys[i].key, d, base);
		json_decref(d);
		if (err)
			return err;
	}
	if ((err = parse_object(p, v, scope, dp, base, seen)))
		return err;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (key_is_child(&keys[i], scope) && (keys[i].flags & F_REQUIRED) &&
		    !seen[i])
			return perr(p, dp, "\"%s\" is required", key_leaf(&keys[i]));
	}
	return 0;
}

/* Apply the defaults of every key outside element scopes. */
static int apply_defaults(struct wan_config *cfg)
{
	struct pctx p = { .file = "<defaults>", .dir = NULL };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		json_t *d;
		int err;

		if (k->type == K_SECTION || !k->def ||
		    strchr(k->key, '[') || strchr(k->key, '*'))
			continue;
		d = json_loads(k->def, JSON_DECODE_ANY, NULL);
		if (!d) /* the table's defaults are checked by test_config: */
			return wan_err(WAN_ENOMEM, "out of memory loading the default of '%s'",
				       k->key);
		err = set_value(&p, k, k->key, d, cfg);
		json_decref(d);
		if (err)
			return err;
	}
	return 0;
}

static int resolve_path(const struct pctx *p, const char *key, char **s)
{
	char abs[WAN_PATH_MAX];

	if (!*s)
		return 0;
	if (path_absolute(abs, sizeof(abs), p->dir, *s) < 0)
		return perr(p, key, "cannot resolve '%s': %s", *s, wan_errmsg());
	return set_string(s, abs);
}

static int finish(struct pctx *p, struct wan_config *cfg)
{
	char buf[WAN_PATH_MAX];
	int err;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];

		if (k->type == K_PATH || k->type == K_NPATH) {
			if ((err = resolve_path(p, k->key, field(cfg, k->off))))
				return err;
		} else if (k->type == K_PATHLIST) {
			char **list = *(char ***)field(cfg, k->off);
			size_t n = *(size_t *)field(cfg, k->off2);

			for (size_t j = 0; j < n; j++) {
				char ep[256];

				snprintf(ep, sizeof(ep), "%s[%zu]", k->key, j);
				if ((err = resolve_path(p, ep, &list[j])))
					return err;
			}
		}
	}
	/* Staging is only ever read: production and backups live elsewhere. */
	if (!strcmp(cfg->target_models_path, cfg->source_models_path))
		return perr(p, "target_models_path", "must differ from source_models_path ('%s')",
			    cfg->source_models_path);
	if (!strcmp(cfg->backup_path, cfg->source_models_path) ||
	    !strcmp(cfg->backup_path, cfg->target_models_path))
		return perr(p, "backup_path", "must differ from source_models_path and target_models_path ('%s')",
			    cfg->backup_path);
	cfg->state_path_default = !cfg->state_path;
	if (!cfg->state_path) {
		if (path_join(buf, sizeof(buf), cfg->target_models_path, ".wanctl") < 0)
			return perr(p, "state_path", "%s", wan_errmsg());
		if ((err = set_string(&cfg->state_path, buf)))
			return err;
	}
	/* InferenceSlow follows validation.max_inference_seconds unless the
	 * rules were written out. */
	if (!p->rules_seen && cfg->validation.max_inference_seconds > 0) {
		for (size_t i = 0; i < cfg->monitoring.nrules; i++)
			if (!strcmp(cfg->monitoring.rules[i].name, "InferenceSlow"))
				cfg->monitoring.rules[i].threshold =
					cfg->validation.max_inference_seconds;
	}
	return 0;
}

static int config_new(struct wan_config **out, const char *file, const char *dir)
{
	struct wan_config *cfg = calloc(1, sizeof(*cfg));
	char cwd[WAN_PATH_MAX];
	int err;

	*out = NULL;
	if (!cfg)
		return nomem();
	if (!dir) {
		if (!getcwd(cwd, sizeof(cwd))) {
			free(cfg);
			return wan_err_sys(WAN_ECONFIG, "cannot get the current directory");
		}
		dir = cwd;
	}
	if ((err = set_string(&cfg->dir, dir)) ||
	    (err = set_string(&cfg->file, file)) ||
	    (err = apply_defaults(cfg))) {
		wan_config_free(cfg);
		return err;
	}
	*out = cfg;
	return 0;
}

int wan_config_defaults(struct wan_config **out)
{
	struct pctx p = { .file = "<defaults>" };
	int err;

	if ((err = config_new(out, NULL, NULL)))
		return err;
	p.dir = (*out)->dir;
	if ((err = finish(&p, *out))) {
		wan_config_free(*out);
		*out = NULL;
	}
	return err;
}

static int load_json(struct wan_config **out, const json_t *doc,
		     const char *label, const char *file, const char *dir)
{
	struct wan_config *cfg = NULL;
	struct pctx p = { .file = label };
	int err;

	*out = NULL;
	if (!json_is_object(doc))
		return wan_err(WAN_ECONFIG, "'%s': the configuration must be a JSON object, got %s",
			       label, json_kind(doc));
	if ((err = config_new(&cfg, file, dir)))
		return err;
	p.dir = cfg->dir;
	if ((err = parse_object(&p, doc, "", "", cfg, NULL)) ||
	    (err = finish(&p, cfg))) {
		wan_config_free(cfg);
		return err;
	}
	*out = cfg;
	return 0;
}

static int parse_text(json_t **doc, const char *text, size_t len, const char *label)
{
	json_error_t je;

	*doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!*doc)
		return wan_err(WAN_ECONFIG, "'%s': line %d, column %d: %s",
			       label, je.line, je.column, je.text);
	return 0;
}

int wan_config_load_string(struct wan_config **out, const char *text,
			   const char *file, const char *dir)
{
	const char *label = file ? file : "<string>";
	json_t *doc = NULL;
	char absdir[WAN_PATH_MAX];
	int err;

	*out = NULL;
	if (strlen(text) > CONFIG_MAX_BYTES)
		return wan_err(WAN_ECONFIG, "'%s': the configuration is larger than 1 MiB",
			       label);
	if (dir && path_absolute(absdir, sizeof(absdir), NULL, dir) < 0)
		return wan_err_prefix(WAN_ECONFIG, "'%s'", label);
	if ((err = parse_text(&doc, text, strlen(text), label)))
		return err;
	err = load_json(out, doc, label, file, dir ? absdir : NULL);
	json_decref(doc);
	return err;
}

int wan_config_load_file(struct wan_config **out, const char *path)
{
	char abs[WAN_PATH_MAX], dir[WAN_PATH_MAX], *slash, *text = NULL;
	json_t *doc = NULL;
	struct stat st;
	ssize_t n;
	int fd = -1, err;

	*out = NULL;
	if (path_absolute(abs, sizeof(abs), NULL, path) < 0)
		return wan_err_prefix(WAN_ECONFIG, "cannot read configuration '%s'", path);
	fd = xopen(path, O_RDONLY, 0);
	if (fd < 0)
		return wan_err_sys(WAN_ECONFIG, "cannot open configuration '%s'", path);
	if (fstat(fd, &st) < 0) {
		err = wan_err_sys(WAN_ECONFIG, "cannot stat configuration '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = wan_err(WAN_ECONFIG, "configuration '%s' is not a regular file", path);
		goto out;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		err = wan_err(WAN_ECONFIG, "'%s': the configuration is larger than 1 MiB (%lld bytes)",
			      path, (long long)st.st_size);
		goto out;
	}
	/* Read one byte past the limit: the file may grow after fstat. */
	text = malloc(CONFIG_MAX_BYTES + 1);
	if (!text) {
		err = nomem();
		goto out;
	}
	n = xread(fd, text, CONFIG_MAX_BYTES + 1);
	if (n < 0) {
		err = wan_err_sys(WAN_ECONFIG, "cannot read configuration '%s'", path);
		goto out;
	}
	if (n > CONFIG_MAX_BYTES) {
		err = wan_err(WAN_ECONFIG, "'%s': the configuration is larger than 1 MiB", path);
		goto out;
	}
	if ((err = parse_text(&doc, text, (size_t)n, path)))
		goto out;
	memcpy(dir, abs, strlen(abs) + 1);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	err = load_json(out, doc, path, abs, dir);
out:
	json_decref(doc);
	free(text);
	if (fd >= 0)
		xclose(fd);
	return err;
}

static bool file_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 || errno != ENOENT;
}

int wan_config_load(struct wan_config **out, const char *explicit_path)
{
	const char *env = getenv("WANCTL_CONFIG");

	*out = NULL;
	if (explicit_path)
		return wan_config_load_file(out, explicit_path);
	if (env && *env)
		return wan_config_load_file(out, env);
	if (file_exists("wanctl.json"))
		return wan_config_load_file(out, "wanctl.json");
	if (file_exists(WAN_CONFIG_SYSTEM_PATH))
		return wan_config_load_file(out, WAN_CONFIG_SYSTEM_PATH);
	return wan_config_defaults(out);
}

void wan_config_free(struct wan_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];

		if (strchr(k->key, '[') || strchr(k->key, '*'))
			continue;
		switch (k->type) {
		case K_PATH: case K_NPATH: case K_STR: case K_NSTR:
		case K_METRIC: case K_URL: case K_LISTEN:
			free(*(char **)field(cfg, k->off));
			break;
		case K_STRLIST: case K_PATHLIST:
			strlist_free(*(char ***)field(cfg, k->off),
				     *(size_t *)field(cfg, k->off2));
			break;
		default:
			break;
		}
	}
	rules_free(cfg->monitoring.rules, cfg->monitoring.nrules);
	handlers_free(cfg->monitoring.handlers, cfg->monitoring.nhandlers);
	models_free(cfg->models, cfg->nmodels);
	free(cfg->file);
	free(cfg->dir);
	free(cfg);
}

/* ------------------------------------------------------------------ */
/* Emitting JSON                                                      */

static json_t *emit_scope(const struct wan_config *cfg, const char *scope,
			  const void *base, bool template);

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *emit_element(const struct wan_config *cfg, const char *scope,
			    const void *base)
{
	return emit_scope(cfg, scope, base, false);
}

static json_t *emit_value(const struct wan_config *cfg, const struct key *k,
			  const void *base, bool template)
{
	json_t *a;

	if (template && (k->type == K_PATH || k->type == K_NPATH ||
			 k->type == K_PATHLIST))
		return json_loads(k->def, JSON_DECODE_ANY, NULL);
	switch (k->type) {
	case K_SECTION:
		return emit_scope(cfg, k->key, base, template);
	case K_PATH: case K_NPATH: case K_STR: case K_NSTR:
	case K_METRIC: case K_URL: case K_LISTEN:
		return str_or_null(*(char *const *)cfield(base, k->off));
	case K_BOOL:
		return json_boolean(*(const bool *)cfield(base, k->off));
	case K_INT:
		return json_integer(*(const int64_t *)cfield(base, k->off));
	case K_NUM:
	case K_DURATION: {
		double d = *(const double *)cfield(base, k->off);

		if (d == floor(d) && fabs(d) < 9e15)
			return json_integer((json_int_t)d);
		return json_real(d);
	}
	case K_NNUM: {
		double d = *(const double *)cfield(base, k->off);

		if (d == 0)
			return json_null();
		if (d == floor(d) && fabs(d) < 9e15)
			return json_integer((json_int_t)d);
		return json_real(d);
	}
	case K_ENUM:
		return json_string(k->names[*(const int *)cfield(base, k->off)]);
	case K_STRLIST:
	case K_PATHLIST: {
		char *const *list = *(char **const *)cfield(base, k->off);
		size_t n = *(const size_t *)cfield(base, k->off2);

		a = json_array();
		for (size_t i = 0; a && i < n; i++)
			if (json_array_append_new(a, json_string(list[i])))
				goto fail;
		return a;
	}
	case K_LABELS: {
		const json_t *l = *(json_t *const *)cfield(base, k->off);

		return l ? json_deep_copy(l) : json_object();
	}
	case K_RULES:
		a = json_array();
		for (size_t i = 0; a && i < cfg->monitoring.nrules; i++)
			if (json_array_append_new(a, emit_element(cfg,
					"monitoring.alert_rules[]", &cfg->monitoring.rules[i])))
				goto fail;
		return a;
	case K_HANDLERS:
		a = json_array();
		for (size_t i = 0; a && i < cfg->monitoring.nhandlers; i++)
			if (json_array_append_new(a, emit_element(cfg,
					"monitoring.alert_handlers[]", &cfg->monitoring.handlers[i])))
				goto fail;
		return a;
	case K_MODELS:
		a = json_object();
		for (size_t i = 0; a && i < cfg->nmodels; i++)
			if (json_object_set_new(a, cfg->models[i].name,
					emit_element(cfg, "models.*", &cfg->models[i])))
				goto fail;
		return a;
	}
	return NULL;
fail:
	json_decref(a);
	return NULL;
}

static json_t *emit_scope(const struct wan_config *cfg, const char *scope,
			  const void *base, bool template)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];

		if (!key_is_child(k, scope))
			continue;
		if (json_object_set_new(o, key_leaf(k), emit_value(cfg, k, base, template))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *wan_config_to_json(const struct wan_config *cfg)
{
	return emit_scope(cfg, "", cfg, false);
}

json_t *wan_config_template(void)
{
	struct wan_config *cfg = NULL;
	json_t *t;

	if (wan_config_defaults(&cfg) < 0)
		return NULL;
	t = emit_scope(cfg, "", cfg, true);
	wan_config_free(cfg);
	return t;
}

int wan_config_write_template(const char *path)
{
	char tmp[WAN_PATH_MAX], dir[WAN_PATH_MAX], *text = NULL, *slash;
	json_t *t = NULL;
	int fd = -1, err = 0;
	bool tmp_made = false;

	t = wan_config_template();
	if (!t)
		return wan_err(WAN_ENOMEM, "cannot build the configuration template");
	text = json_dumps(t, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15));
	json_decref(t);
	if (!text)
		return nomem();
	if ((err = path_absolute(dir, sizeof(dir), NULL, path)) < 0)
		goto out;
	slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	if ((err = wan_snprintf(tmp, sizeof(tmp), "%s/.wanctl-config.%ld.%lx.tmp", dir,
				(long)getpid(), (unsigned long)(wan_now_mono() * 1e6))) < 0)
		goto out;
	fd = xopen(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		err = wan_err_sys(0, "cannot create a temporary file for '%s' in '%s'", path, dir);
		goto out;
	}
	tmp_made = true;
	if (fchmod(fd, 0644) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", path);
		goto out;
	}
	if (xwrite(fd, text, strlen(text)) < 0 || xwrite(fd, "\n", 1) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", path);
		goto out;
	}
	if (xfsync(fd) < 0) {
		err = wan_err_sys(0, "cannot write '%s' (fsync)", path);
		goto out;
	}
	err = xclose(fd);
	fd = -1;
	if (err < 0) {
		err = wan_err_sys(0, "cannot write '%s' (close)", path);
		goto out;
	}
	/* Publish without replacing: link() fails with EEXIST. */
	if (xlinkat(AT_FDCWD, tmp, AT_FDCWD, path) < 0) {
		if (errno == EEXIST) {
			err = wan_err(WAN_EEXISTS, "'%s' already exists; not overwriting it", path);
			goto out;
		}
		if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS) {
			err = wan_err_sys(0, "cannot create '%s'", path);
			goto out;
		}
		/* A filesystem without hard links. */
		if (xrenameat(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
			err = errno == EEXIST
				? wan_err(WAN_EEXISTS, "'%s' already exists; not overwriting it", path)
				: wan_err_sys(0, "cannot create '%s'", path);
			goto out;
		}
		tmp_made = false;
	}
	if (xfsync_parent(path) < 0)
		err = wan_err_sys(0, "cannot fsync the folder of '%s'", path);
out:
	if (fd >= 0)
		xclose(fd);
	if (tmp_made)
		xunlinkat(AT_FDCWD, tmp, 0);
	free(text);
	return err;
}

/* ------------------------------------------------------------------ */
/* Models                                                             */

int wan_config_model_name_check(const char *name)
{
	const char *why = model_name_problem(name);

	if (why)
		return wan_err(WAN_EINVAL, "invalid model name '%s': it %s", name, why);
	return 0;
}

int wan_config_model(const struct wan_config *cfg, const char *name,
		     const char **spec_out, char *source_buf, size_t bufsize)
{
	const char *src = name;
	int err;

	*spec_out = NULL;
	if ((err = wan_config_model_name_check(name)) < 0)
		return err;
	*spec_out = name;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		if (!strcmp(cfg->models[i].name, name)) {
			*spec_out = cfg->models[i].spec;
			src = cfg->models[i].source;
			break;
		}
	}
	if (src[0] == '/')
		err = path_absolute(source_buf, bufsize, NULL, src);
	else
		err = path_absolute(source_buf, bufsize, cfg->source_models_path, src);
	if (err < 0)
		return wan_err_prefix(WAN_EINVAL, "model '%s'", name);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Documentation                                                      */

static void md_cell(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			buf_adds(b, "\\|");
		else if (*s == '<')
			buf_adds(b, "&lt;");
		else if (*s == '>')
			buf_adds(b, "&gt;");
		else
			buf_addch(b, *s);
	}
}

static void md_code(struct buf *b, const char *s)
{
	buf_addch(b, '`');
	for (; *s; s++) {
		if (*s == '|')
			buf_adds(b, "\\|");
		else
			buf_addch(b, *s);
	}
	buf_addch(b, '`');
}

char *wan_config_keys_markdown(void)
{
	struct wan_config *cfg = NULL;
	struct buf b = BUF_INIT;
	static const char *const blocks[][2] = {
		{ "monitoring.alert_rules", "Default alert rules" },
		{ "monitoring.alert_handlers", "Default alert handlers" },
	};

	if (wan_config_defaults(&cfg) < 0)
		return NULL;
	buf_adds(&b, "| Key | Type | Default | Meaning |\n");
	buf_adds(&b, "| --- | --- | --- | --- |\n");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		struct buf t = BUF_INIT;

		buf_adds(&b, "| ");
		md_code(&b, k->key);
		buf_adds(&b, " | ");
		type_name(k, &t);
		md_cell(&b, buf_str(&t));
		buf_release(&t);
		buf_adds(&b, " | ");
		if (k->defdoc)
			md_cell(&b, k->defdoc);
		else if (k->def)
			md_code(&b, k->def);
		else if (k->flags & F_REQUIRED)
			buf_adds(&b, "required");
		buf_adds(&b, " | ");
		md_cell(&b, k->doc);
		buf_adds(&b, " |\n");
	}
	for (size_t i = 0; i < ARRAY_SIZE(blocks); i++) {
		json_t *v = emit_value(cfg, key_find(blocks[i][0]), cfg, false);
		char *s = v ? json_dumps(v, JSON_INDENT(2) | JSON_ENSURE_ASCII |
						 JSON_REAL_PRECISION(15)) : NULL;

		buf_printf(&b, "\n### %s\n\n`%s` when the file does not set it:\n\n```json\n%s\n```\n",
			   blocks[i][1], blocks[i][0], s ? s : "");
		free(s);
		json_decref(v);
	}
	wan_config_free(cfg);
	return buf_detach(&b);
}
