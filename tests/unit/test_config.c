/* Unit tests of src/lib/config.c: defaults, every error class with its key
 * path, relative paths, discovery order, the template round trip, the model
 * fallback, and docs/CONFIGURATION.md against the key table. */
#include "util/common.h"
#include "wanctl/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "util/path.h"

static char tmpdir[256];
static char oldcwd[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wanctl-test-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (!getcwd(oldcwd, sizeof(oldcwd)))
		return -1;
	if (chdir(tmpdir))
		return -1;
	unsetenv("WANCTL_CONFIG");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (chdir(oldcwd))
		return -1;
	unsetenv("WANCTL_CONFIG");
	path_remove_tree(tmpdir);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Loading text must fail with WAN_ECONFIG and a message holding the file
 * name and every one of the NULL-terminated fragments. */
static void expect_error(const char *text, ...)
{
	struct wan_config *cfg = (void *)1;
	const char *frag, *msg;
	va_list ap;
	int err;

	err = wan_config_load_string(&cfg, text, "/etc/wanctl/config.json", "/srv");
	msg = wan_errmsg();
	if (err != WAN_ECONFIG)
		fail_msg("expected WAN_ECONFIG for %s, got %d (%s)", text, err, msg);
	assert_null(cfg);
	if (!strstr(msg, "'/etc/wanctl/config.json'"))
		fail_msg("message does not name the file: %s", msg);
	va_start(ap, text);
	while ((frag = va_arg(ap, const char *))) {
		if (!strstr(msg, frag)) {
			va_end(ap);
			fail_msg("message \"%s\" lacks \"%s\"", msg, frag);
		}
	}
	va_end(ap);
}

static struct wan_config *load_ok(const char *text)
{
	struct wan_config *cfg = NULL;
	int err = wan_config_load_string(&cfg, text, "t.json", "/srv/wan");

	if (err)
		fail_msg("loading %s failed: %s", text, wan_errmsg());
	assert_non_null(cfg);
	return cfg;
}

static const struct wan_alert_rule *rule(const struct wan_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->monitoring.nrules; i++)
		if (!strcmp(cfg->monitoring.rules[i].name, name))
			return &cfg->monitoring.rules[i];
	fail_msg("no rule %s", name);
	return NULL;
}

static void test_config_defaults(void **state)
{
	struct wan_config *cfg = NULL;
	char want[PATH_MAX];

	(void)state;
	assert_int_equal(wan_config_defaults(&cfg), 0);
	assert_null(cfg->file);
	assert_string_equal(cfg->dir, tmpdir);
	snprintf(want, sizeof(want), "%s/models/staging", tmpdir);
	assert_string_equal(cfg->source_models_path, want);
	snprintf(want, sizeof(want), "%s/models/production", tmpdir);
	assert_string_equal(cfg->target_models_path, want);
	snprintf(want, sizeof(want), "%s/backups/models", tmpdir);
	assert_string_equal(cfg->backup_path, want);
	snprintf(want, sizeof(want), "%s/models/production/.wanctl", tmpdir);
	assert_string_equal(cfg->state_path, want);
	assert_true(cfg->state_path_default);

	assert_int_equal(cfg->deployment.transfer, WAN_TRANSFER_AUTO);
	assert_int_equal(cfg->deployment.keep_releases, 3);
	assert_true(cfg->deployment.auto_rollback);
	assert_int_equal(cfg->deployment.verify, WAN_VERIFY_QUICK);
	assert_int_equal(cfg->deployment.workers, 0);
	assert_int_equal(cfg->deployment.max_deployment_time, 3600);
	assert_null(cfg->deployment.hooks.pre_switch);
	assert_null(cfg->deployment.hooks.post_switch);
	assert_null(cfg->deployment.hooks.post_rollback);
	assert_int_equal(cfg->deployment.hooks.timeout_seconds, 300);

	assert_true(cfg->validation.enabled);
	assert_true(cfg->validation.disk_margin_percent == 5);
	assert_true(cfg->validation.min_ram_gb == 8);
	assert_true(cfg->validation.min_vram_gb == 0);
	assert_false(cfg->validation.require_gpu);
	assert_true(cfg->validation.scan_tensors);
	assert_null(cfg->validation.inference_command);
	assert_int_equal(cfg->validation.inference_timeout_seconds, 1800);
	assert_true(cfg->validation.max_inference_seconds == 0);
	assert_true(cfg->validation.max_regression_percent == 20);
	assert_null(cfg->validation.readiness_url);
	assert_int_equal(cfg->validation.readiness_timeout_seconds, 60);
	assert_int_equal(cfg->validation.ndependencies, 0);
	assert_int_equal(cfg->validation.nspec_paths, 0);

	assert_int_equal(cfg->monitoring.interval_seconds, 30);
	assert_string_equal(cfg->monitoring.listen, "127.0.0.1:9731");
	assert_int_equal(cfg->monitoring.retention_hours, 168);
	assert_true(cfg->monitoring.scrub_mb_per_s == 50);
	assert_int_equal(cfg->monitoring.probe_interval_seconds, 0);

	assert_true(cfg->backup.enabled);
	assert_true(cfg->backup.before_deploy);
	assert_int_equal(cfg->backup.compression_level, 3);
	assert_int_equal(cfg->backup.keep, 5);
	assert_int_equal(cfg->backup.max_age_days, 30);
	assert_int_equal(cfg->nmodels, 0);

	/* The default rules and handler. */
	assert_int_equal(cfg->monitoring.nrules, 8);
	{
		const struct wan_alert_rule *r;

		r = rule(cfg, "ModelUnavailable");
		assert_string_equal(r->metric, "wanctl_model_available");
		assert_int_equal(r->cmp, WAN_CMP_EQ);
		assert_true(r->threshold == 0 && r->for_seconds == 0);
		assert_int_equal(r->severity, WAN_SEV_CRITICAL);
		r = rule(cfg, "ModelIntegrityMismatch");
		assert_string_equal(r->metric, "wanctl_model_integrity_ok");
		assert_int_equal(r->cmp, WAN_CMP_EQ);
		assert_true(r->threshold == 0 && r->for_seconds == 0);
		assert_int_equal(r->severity, WAN_SEV_CRITICAL);
		r = rule(cfg, "DiskSpaceLow");
		assert_string_equal(r->metric, "wanctl_disk_free_ratio");
		assert_int_equal(r->cmp, WAN_CMP_LT);
		assert_true(r->threshold == 0.10 && r->for_seconds == 300);
		assert_int_equal(r->severity, WAN_SEV_WARNING);
		r = rule(cfg, "MemoryHigh");
		assert_string_equal(r->metric, "wanctl_memory_used_ratio");
		assert_int_equal(r->cmp, WAN_CMP_GT);
		assert_true(r->threshold == 0.95 && r->for_seconds == 300);
		r = rule(cfg, "CpuHigh");
		assert_string_equal(r->metric, "wanctl_cpu_usage_ratio");
		assert_true(r->threshold == 0.95 && r->for_seconds == 600);
		assert_int_equal(r->severity, WAN_SEV_WARNING);
		r = rule(cfg, "GpuMemoryHigh");
		assert_string_equal(r->metric, "wanctl_gpu_memory_used_ratio");
		assert_true(r->threshold == 0.95 && r->for_seconds == 300);
		r = rule(cfg, "GpuTemperatureHigh");
		assert_string_equal(r->metric, "wanctl_gpu_temperature_celsius");
		assert_int_equal(r->cmp, WAN_CMP_GT);
		assert_true(r->threshold == 85 && r->for_seconds == 120);
		assert_int_equal(r->severity, WAN_SEV_CRITICAL);
		r = rule(cfg, "InferenceSlow");
		assert_string_equal(r->metric, "wanctl_probe_latency_seconds");
		assert_true(r->threshold == 600 && r->for_seconds == 0);
		assert_int_equal(r->severity, WAN_SEV_WARNING);
		assert_true(!r->labels || json_object_size(r->labels) == 0);
	}
	assert_int_equal(cfg->monitoring.nhandlers, 1);
	assert_int_equal(cfg->monitoring.handlers[0].type, WAN_HANDLER_LOG);
	assert_null(cfg->monitoring.handlers[0].command);
	assert_null(cfg->monitoring.handlers[0].url);
	wan_config_free(cfg);
}

/* A partial section keeps the defaults of the keys it does not name;
 * values of every type land in the struct. */
static void test_config_values(void **state)
{
	struct wan_config *cfg;
	const struct wan_alert_rule *r;

	(void)state;
	cfg = load_ok(
		      "{\"deployment\": {\"workers\": 4, \"transfer\": \"hardlink\","
		      " \"hooks\": {\"post_switch\": \"systemctl reload wan\"}},"
		      " \"validation\": {\"min_vram_gb\": 24.5, \"dependencies\": [\"ffmpeg\", \"nvidia-smi\"],"
		      "  \"max_inference_seconds\": 120, \"readiness_url\": \"http://127.0.0.1:8000/ready\"},"
		      " \"monitoring\": {\"listen\": \"[::1]:9100\", \"alert_handlers\": ["
		      "  {\"type\": \"exec\", \"command\": \"cat >> /tmp/a\"},"
		      "  {\"type\": \"webhook\", \"url\": \"https://hooks.example/x\", \"timeout_seconds\": 3},"
		      "  {\"type\": \"alertmanager\", \"url\": \"http://127.0.0.1:9093\"}]},"
		      " \"backup\": {\"compression_level\": 19, \"keep\": 0}}");
	assert_int_equal(cfg->deployment.workers, 4);
	assert_int_equal(cfg->deployment.transfer, WAN_TRANSFER_HARDLINK);
	assert_int_equal(cfg->deployment.keep_releases, 3);
	assert_string_equal(cfg->deployment.hooks.post_switch, "systemctl reload wan");
	assert_null(cfg->deployment.hooks.pre_switch);
	assert_int_equal(cfg->deployment.hooks.timeout_seconds, 300);
	assert_true(cfg->validation.min_vram_gb == 24.5);
	assert_int_equal(cfg->validation.ndependencies, 2);
	assert_string_equal(cfg->validation.dependencies[1], "nvidia-smi");
	assert_string_equal(cfg->validation.readiness_url, "http://127.0.0.1:8000/ready");
	assert_string_equal(cfg->monitoring.listen, "[::1]:9100");
	assert_int_equal(cfg->monitoring.nhandlers, 3);
	assert_int_equal(cfg->monitoring.handlers[0].type, WAN_HANDLER_EXEC);
	assert_string_equal(cfg->monitoring.handlers[0].command, "cat >> /tmp/a");
	assert_int_equal(cfg->monitoring.handlers[0].timeout_seconds, 10);
	assert_int_equal(cfg->monitoring.handlers[1].type, WAN_HANDLER_WEBHOOK);
	assert_int_equal(cfg->monitoring.handlers[1].timeout_seconds, 3);
	assert_int_equal(cfg->monitoring.handlers[2].type, WAN_HANDLER_ALERTMANAGER);
	assert_int_equal(cfg->backup.compression_level, 19);
	assert_int_equal(cfg->backup.keep, 0);
	assert_int_equal(cfg->backup.max_age_days, 30);
	/* The default rules stay, and InferenceSlow follows max_inference_seconds. */
	assert_int_equal(cfg->monitoring.nrules, 8);
	r = rule(cfg, "InferenceSlow");
	assert_true(r->threshold == 120);
	wan_config_free(cfg);

	/* Rules given explicitly; "for" as a duration string; labels. */
	cfg = load_ok("{\"validation\": {\"max_inference_seconds\": 120},"
		      " \"monitoring\": {\"alert_rules\": ["
		      "  {\"name\": \"A\", \"metric\": \"wanctl_disk_free_ratio\", \"comparison\": \"<=\","
		      "   \"threshold\": 0.2, \"for\": \"5m\", \"labels\": {\"path\": \"/models\"}},"
		      "  {\"name\": \"B\", \"metric\": \"wanctl_x\", \"comparison\": \"!=\", \"threshold\": 1,"
		      "   \"for\": \"1h30m\", \"severity\": \"INFO\", \"summary\": \"{value}\"},"
		      "  {\"name\": \"C\", \"metric\": \"wanctl_y\", \"comparison\": \">=\", \"threshold\": -3,"
		      "   \"for\": \"30s\"},"
		      "  {\"name\": \"InferenceSlow\", \"metric\": \"wanctl_probe_latency_seconds\","
		      "   \"comparison\": \">\", \"threshold\": 50, \"for\": 2.5}]}}");
	assert_int_equal(cfg->monitoring.nrules, 4);
	r = rule(cfg, "A");
	assert_int_equal(r->cmp, WAN_CMP_LE);
	assert_true(r->for_seconds == 300);
	assert_int_equal(r->severity, WAN_SEV_WARNING);
	assert_string_equal(json_string_value(json_object_get(r->labels, "path")), "/models");
	assert_string_equal(r->summary, "");
	r = rule(cfg, "B");
	assert_int_equal(r->cmp, WAN_CMP_NE);
	assert_true(r->for_seconds == 5400);
	assert_int_equal(r->severity, WAN_SEV_INFO);
	assert_string_equal(r->summary, "{value}");
	r = rule(cfg, "C");
	assert_int_equal(r->cmp, WAN_CMP_GE);
	assert_true(r->threshold == -3 && r->for_seconds == 30);
	r = rule(cfg, "InferenceSlow");
	assert_true(r->threshold == 50 && r->for_seconds == 2.5);
	/* Integral reals are accepted for integers. */
	wan_config_free(cfg);
	cfg = load_ok("{\"deployment\": {\"workers\": 8.0}, \"monitoring\": {\"alert_handlers\": []}}");
	assert_int_equal(cfg->deployment.workers, 8);
	assert_int_equal(cfg->monitoring.nhandlers, 0);
	wan_config_free(cfg);
}

static void test_config_unknown_keys(void **state)
{
	(void)state;
	expect_error("{\"deploymnet\": {}}", "deploymnet", "unknown key",
		     "did you mean 'deployment'?", NULL);
	expect_error("{\"deployment\": {\"wokers\": 2}}", "deployment.wokers",
		     "did you mean 'workers'?", NULL);
	expect_error("{\"deployment\": {\"hooks\": {\"pre_swtich\": \"x\"}}}",
		     "deployment.hooks.pre_swtich", "did you mean 'pre_switch'?", NULL);
	expect_error("{\"completely_different\": 1}", "completely_different: unknown key", NULL);
	/* A dotted key is not a shortcut into a section. */
	expect_error("{\"deployment.workers\": 1}", "deployment.workers: unknown key", NULL);
	expect_error("{\"monitoring\": {\"alert_rules\": [{\"name\": \"x\", \"metric\": \"m\","
		     " \"comparison\": \">\", \"threshold\": 1, \"sevrity\": \"INFO\"}]}}",
		     "monitoring.alert_rules[0].sevrity", "did you mean 'severity'?", NULL);
	expect_error("{\"monitoring\": {\"alert_handlers\": [{\"type\": \"log\", \"cmd\": \"x\"}]}}",
		     "monitoring.alert_handlers[0].cmd: unknown key", NULL);
	expect_error("{\"models\": {\"t2v-A14B\": {\"spec\": \"t2v-A14B\", \"path\": \"x\"}}}",
		     "models.t2v-A14B.path: unknown key", NULL);
}

static void test_config_wrong_types(void **state)
{
	(void)state;
	expect_error("{\"deployment\": {\"workers\": \"4\"}}",
		     "deployment.workers: must be an integer, got a string", NULL);
	expect_error("{\"deployment\": {\"workers\": 2.5}}",
		     "deployment.workers: must be an integer, got 2.5", NULL);
	expect_error("{\"deployment\": 3}", "deployment: must be an object", NULL);
	expect_error("{\"deployment\": {\"auto_rollback\": 1}}",
		     "deployment.auto_rollback: must be true or false", NULL);
	expect_error("{\"source_models_path\": 5}", "source_models_path: must be a string", NULL);
	expect_error("{\"source_models_path\": null}", "source_models_path: must be a string, got null", NULL);
	expect_error("{\"source_models_path\": \"\"}", "source_models_path: must not be empty", NULL);
	expect_error("{\"validation\": {\"min_ram_gb\": \"8\"}}",
		     "validation.min_ram_gb: must be a number", NULL);
	expect_error("{\"validation\": {\"dependencies\": \"ffmpeg\"}}",
		     "validation.dependencies: must be an array", NULL);
	expect_error("{\"validation\": {\"dependencies\": [\"ffmpeg\", 3]}}",
		     "validation.dependencies[1]: must be a string", NULL);
	expect_error("{\"validation\": {\"inference_command\": \"\"}}",
		     "validation.inference_command: must not be empty (use null", NULL);
	expect_error("{\"monitoring\": {\"alert_rules\": {}}}",
		     "monitoring.alert_rules: must be an array", NULL);
	expect_error("{\"monitoring\": {\"alert_rules\": [3]}}",
		     "monitoring.alert_rules[0]: must be an object", NULL);
	expect_error("{\"monitoring\": {\"alert_rules\": [{\"name\": \"x\", \"metric\": \"m\","
		     " \"comparison\": \">\", \"threshold\": 1, \"labels\": {\"model\": 3}}]}}",
		     "monitoring.alert_rules[0].labels: model: label values must be strings", NULL);
	expect_error("{\"models\": []}", "models: must be an object", NULL);
	expect_error("{\"monitoring\": {\"alert_rules\": [{\"name\": \"x\", \"metric\": \"m\","
		     " \"comparison\": \">\", \"threshold\": 1, \"labels\": {\"a-b\": \"3\"}}]}}",
		     "monitoring.alert_rules[0].labels: 'a-b' is not a label name", NULL);
	expect_error("[1, 2]", "must be a JSON object", NULL);
}

static void test_config_bad_values(void **state)
{
	(void)state;
	expect_error("{\"deployment\": {\"workers\": -1}}",
		     "deployment.workers: must be >= 0, got -1", NULL);
	expect_error("{\"deployment\": {\"keep_releases\": -2}}",
		     "deployment.keep_releases: must be >= 0, got -2", NULL);
	expect_error("{\"deployment\": {\"transfer\": \"rsync\"}}",
		     "deployment.transfer: unknown value 'rsync'", "\"reflink\"", NULL);
	expect_error("{\"deployment\": {\"verify\": \"paranoid\"}}",
		     "deployment.verify: unknown value 'paranoid'", NULL);
	expect_error("{\"deployment\": {\"hooks\": {\"timeout_seconds\": 0}}}",
		     "deployment.hooks.timeout_seconds: must be >= 1, got 0", NULL);
	expect_error("{\"monitoring\": {\"interval_seconds\": 0}}",
		     "monitoring.interval_seconds: must be >= 1, got 0", NULL);
	expect_error("{\"monitoring\": {\"listen\": \"127.0.0.1:70000\"}}",
		     "monitoring.listen", "1..65535", NULL);
	expect_error("{\"monitoring\": {\"listen\": \"127.0.0.1:0\"}}", "monitoring.listen", NULL);
	expect_error("{\"monitoring\": {\"listen\": \"127.0.0.1\"}}",
		     "monitoring.listen", "no port", NULL);
	expect_error("{\"monitoring\": {\"listen\": \":9731\"}}", "monitoring.listen", "no host", NULL);
	expect_error("{\"monitoring\": {\"listen\": \"::1:9731\"}}",
		     "monitoring.listen", "brackets", NULL);
	expect_error("{\"monitoring\": {\"listen\": \"[::1]\"}}", "monitoring.listen", NULL);
	expect_error("{\"monitoring\": {\"listen\": \"[::1]:x\"}}", "monitoring.listen", NULL);
	expect_error("{\"monitoring\": {\"scrub_mb_per_s\": -5}}",
		     "monitoring.scrub_mb_per_s: must be >= 0", NULL);
	expect_error("{\"backup\": {\"compression_level\": 0}}",
		     "backup.compression_level: must be >= 1, got 0", NULL);
	expect_error("{\"backup\": {\"compression_level\": 20}}",
		     "backup.compression_level: must be <= 19, got 20", NULL);
	expect_error("{\"backup\": {\"keep\": -1}}", "backup.keep: must be >= 0", NULL);
	expect_error("{\"validation\": {\"disk_margin_percent\": 101}}",
		     "validation.disk_margin_percent: must be <= 100", NULL);
	expect_error("{\"validation\": {\"disk_margin_percent\": -0.5}}",
		     "validation.disk_margin_percent: must be >= 0", NULL);
	expect_error("{\"validation\": {\"max_regression_percent\": 150}}",
		     "validation.max_regression_percent: must be <= 100", NULL);
	expect_error("{\"validation\": {\"min_vram_gb\": -1}}",
		     "validation.min_vram_gb: must be >= 0", NULL);
	expect_error("{\"source_models_path\": \"m\", \"target_models_path\": \"./m/\"}",
		     "target_models_path: must differ from source_models_path ('/srv/m')", NULL);
	expect_error("{\"backup_path\": \"models/production\"}",
		     "backup_path: must differ", NULL);
	expect_error("{\"validation\": {\"readiness_url\": \"ftp://x\"}}",
		     "validation.readiness_url", "http", NULL);
	expect_error("{\"monitoring\": {\"alert_handlers\": [{\"type\": \"pager\"}]}}",
		     "monitoring.alert_handlers[0].type: unknown value 'pager'", NULL);
	expect_error("{\"monitoring\": {\"alert_handlers\": [{\"type\": \"log\"}, {\"type\": \"exec\"}]}}",
		     "monitoring.alert_handlers[1]", "exec handler needs a \"command\"", NULL);
	expect_error("{\"monitoring\": {\"alert_handlers\": [{\"type\": \"webhook\"}]}}",
		     "monitoring.alert_handlers[0]", "webhook handler needs a \"url\"", NULL);
	expect_error("{\"monitoring\": {\"alert_handlers\": [{\"type\": \"alertmanager\", \"url\": null}]}}",
		     "monitoring.alert_handlers[0]", "alertmanager handler needs a \"url\"", NULL);
	expect_error("{\"monitoring\": {\"alert_handlers\": [{\"url\": \"http://x\"}]}}",
		     "monitoring.alert_handlers[0]: \"type\" is required", NULL);
	expect_error("{\"monitoring\": {\"alert_handlers\": [{\"type\": \"log\", \"timeout_seconds\": 0}]}}",
		     "monitoring.alert_handlers[0].timeout_seconds: must be >= 1", NULL);
}

#define RULE(extra) "{\"monitoring\": {\"alert_rules\": [{\"name\": \"R\", " extra "}]}}"

static void test_config_bad_rules(void **state)
{
	(void)state;
	expect_error(RULE("\"metric\": \"m\", \"comparison\": \">\""),
		     "monitoring.alert_rules[0]: \"threshold\" is required", NULL);
	expect_error(RULE("\"threshold\": 1, \"comparison\": \">\""),
		     "monitoring.alert_rules[0]: \"metric\" is required", NULL);
	expect_error(RULE("\"metric\": \"m\", \"threshold\": 1"),
		     "monitoring.alert_rules[0]: \"comparison\" is required", NULL);
	expect_error(RULE("\"metric\": \"m\", \"threshold\": 1, \"comparison\": \"=>\""),
		     "monitoring.alert_rules[0].comparison: unknown value '=>'", NULL);
	expect_error(RULE("\"metric\": \"m\", \"threshold\": 1, \"comparison\": \">\", \"severity\": \"FATAL\""),
		     "monitoring.alert_rules[0].severity: unknown value 'FATAL'", "CRITICAL", NULL);
	expect_error(RULE("\"metric\": \"m\", \"threshold\": 1, \"comparison\": \">\", \"for\": \"5 minutes\""),
		     "monitoring.alert_rules[0].for", "not a duration", NULL);
	expect_error(RULE("\"metric\": \"m\", \"threshold\": 1, \"comparison\": \">\", \"for\": \"1h30\""),
		     "monitoring.alert_rules[0].for", "not a duration", NULL);
	expect_error(RULE("\"metric\": \"m\", \"threshold\": 1, \"comparison\": \">\", \"for\": -1"),
		     "monitoring.alert_rules[0].for: must be >= 0", NULL);
	expect_error(RULE("\"metric\": \"m\", \"threshold\": \"1\", \"comparison\": \">\""),
		     "monitoring.alert_rules[0].threshold: must be a number", NULL);
	expect_error(RULE("\"metric\": \"9bad name\", \"threshold\": 1, \"comparison\": \">\""),
		     "monitoring.alert_rules[0].metric", "not a metric name", NULL);
	expect_error("{\"monitoring\": {\"alert_rules\": ["
		     "{\"name\": \"R\", \"metric\": \"m\", \"threshold\": 1, \"comparison\": \">\"},"
		     "{\"name\": \"R\", \"metric\": \"n\", \"threshold\": 1, \"comparison\": \">\"}]}}",
		     "monitoring.alert_rules[1]", "duplicate rule name 'R'", NULL);
}

static void test_config_bad_models(void **state)
{
	(void)state;
	expect_error("{\"models\": {\"..\": {}}}", "models...", "not a folder name", NULL);
	expect_error("{\"models\": {\"a/b\": {}}}", "models.a/b", "slash", NULL);
	expect_error("{\"models\": {\"\": {}}}", "empty", NULL);
	expect_error("{\"models\": {\"a\\u0001\": {}}}", "control character", NULL);
	expect_error("{\"models\": {\"m\": {\"source\": \"../elsewhere\"}}}",
		     "models.m", "source", NULL);
	expect_error("{\"models\": {\"m\": {\"spec\": \"\"}}}", "models.m", "spec: must not be empty", NULL);
	expect_error("{\"models\": {\"m\": 3}}", "models.m: must be an object", NULL);
}

static void test_config_syntax(void **state)
{
	struct wan_config *cfg = (void *)1;
	char big[64];
	int fd;

	(void)state;
	/* JSON syntax error: file, line and column. */
	write_file("broken.json", "{\n  \"deployment\": {\n    \"workers\": 4,\n  }\n}\n");
	assert_int_equal(wan_config_load_file(&cfg, "broken.json"), WAN_ECONFIG);
	assert_null(cfg);
	if (!strstr(wan_errmsg(), "'broken.json': line 4, column"))
		fail_msg("%s", wan_errmsg());
	/* Duplicate keys are rejected. */
	write_file("dup.json", "{\"backup\": {\"keep\": 1, \"keep\": 2}}");
	assert_int_equal(wan_config_load_file(&cfg, "dup.json"), WAN_ECONFIG);
	if (!strstr(wan_errmsg(), "'dup.json': line 1") || !strstr(wan_errmsg(), "duplicate"))
		fail_msg("%s", wan_errmsg());
	/* Larger than 1 MiB: refused before it is parsed. */
	fd = open("big.json", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1024 * 1024 + 1), 0);
	close(fd);
	assert_int_equal(wan_config_load_file(&cfg, "big.json"), WAN_ECONFIG);
	if (!strstr(wan_errmsg(), "'big.json'") || !strstr(wan_errmsg(), "larger than 1 MiB"))
		fail_msg("%s", wan_errmsg());
	/* Not a regular file. */
	assert_int_equal(mkdir("adir", 0755), 0);
	assert_int_equal(wan_config_load_file(&cfg, "adir"), WAN_ECONFIG);
	if (!strstr(wan_errmsg(), "'adir'"))
		fail_msg("%s", wan_errmsg());
	/* Empty file. */
	write_file("empty.json", "");
	assert_int_equal(wan_config_load_file(&cfg, "empty.json"), WAN_ECONFIG);
	if (!strstr(wan_errmsg(), "'empty.json'"))
		fail_msg("%s", wan_errmsg());
	/* Missing file. */
	assert_int_equal(wan_config_load_file(&cfg, "missing.json"), WAN_ECONFIG);
	if (!strstr(wan_errmsg(), "'missing.json'") || !strstr(wan_errmsg(), "No such file"))
		fail_msg("%s", wan_errmsg());
	/* Errors from a file name the file and the key path. */
	snprintf(big, sizeof(big), "{\"deployment\": {\"workers\": -1}}");
	write_file("neg.json", big);
	assert_int_equal(wan_config_load_file(&cfg, "neg.json"), WAN_ECONFIG);
	assert_string_equal(wan_errmsg(), "'neg.json': deployment.workers: must be >= 0, got -1");
}

static void test_config_relative_paths(void **state)
{
	struct wan_config *cfg = NULL;
	char want[PATH_MAX];

	(void)state;
	assert_int_equal(mkdir("etc", 0755), 0);
	write_file("etc/w.json",
		   "{\"source_models_path\": \"../stage\", \"target_models_path\": \"/srv/./prod/\","
		   " \"backup_path\": \"bk\", \"state_path\": \"st/../state\","
		   " \"validation\": {\"spec_paths\": [\"specs\", \"/opt/specs\"]}}");
	assert_int_equal(wan_config_load_file(&cfg, "etc/w.json"), 0);
	snprintf(want, sizeof(want), "%s/etc/w.json", tmpdir);
	assert_string_equal(cfg->file, want);
	snprintf(want, sizeof(want), "%s/etc", tmpdir);
	assert_string_equal(cfg->dir, want);
	snprintf(want, sizeof(want), "%s/stage", tmpdir);
	assert_string_equal(cfg->source_models_path, want);
	assert_string_equal(cfg->target_models_path, "/srv/prod");
	snprintf(want, sizeof(want), "%s/etc/bk", tmpdir);
	assert_string_equal(cfg->backup_path, want);
	snprintf(want, sizeof(want), "%s/etc/state", tmpdir);
	assert_string_equal(cfg->state_path, want);
	assert_false(cfg->state_path_default);
	snprintf(want, sizeof(want), "%s/etc/specs", tmpdir);
	assert_string_equal(cfg->validation.spec_paths[0], want);
	assert_string_equal(cfg->validation.spec_paths[1], "/opt/specs");
	wan_config_free(cfg);

	/* state_path null follows the target. */
	cfg = load_ok("{\"target_models_path\": \"prod\"}");
	assert_string_equal(cfg->target_models_path, "/srv/wan/prod");
	assert_string_equal(cfg->state_path, "/srv/wan/prod/.wanctl");
	assert_true(cfg->state_path_default);
	wan_config_free(cfg);

	/* From a string without a folder: the current directory. */
	assert_int_equal(wan_config_load_string(&cfg, "{\"backup_path\": \"b\"}", NULL, NULL), 0);
	snprintf(want, sizeof(want), "%s/b", tmpdir);
	assert_string_equal(cfg->backup_path, want);
	assert_null(cfg->file);
	wan_config_free(cfg);
}

static int64_t keep_of(const struct wan_config *cfg)
{
	return cfg->deployment.keep_releases;
}

static void test_config_discovery(void **state)
{
	struct wan_config *cfg = NULL;
	struct stat st;
	char want[PATH_MAX];

	(void)state;
	/* Nothing: the built-in defaults (unless this machine has a system
	 * configuration, which then comes last). */
	assert_int_equal(wan_config_load(&cfg, NULL), 0);
	if (stat(WAN_CONFIG_SYSTEM_PATH, &st) == 0) {
		assert_string_equal(cfg->file, WAN_CONFIG_SYSTEM_PATH);
	} else {
		assert_null(cfg->file);
		assert_int_equal(keep_of(cfg), 3);
	}
	wan_config_free(cfg);

	/* ./wanctl.json */
	write_file("wanctl.json", "{\"deployment\": {\"keep_releases\": 7}}");
	assert_int_equal(wan_config_load(&cfg, NULL), 0);
	assert_int_equal(keep_of(cfg), 7);
	snprintf(want, sizeof(want), "%s/wanctl.json", tmpdir);
	assert_string_equal(cfg->file, want);
	wan_config_free(cfg);

	/* $WANCTL_CONFIG beats ./wanctl.json */
	write_file("env.json", "{\"deployment\": {\"keep_releases\": 8}}");
	setenv("WANCTL_CONFIG", "env.json", 1);
	assert_int_equal(wan_config_load(&cfg, NULL), 0);
	assert_int_equal(keep_of(cfg), 8);
	wan_config_free(cfg);

	/* --config beats both */
	write_file("explicit.json", "{\"deployment\": {\"keep_releases\": 9}}");
	assert_int_equal(wan_config_load(&cfg, "explicit.json"), 0);
	assert_int_equal(keep_of(cfg), 9);
	wan_config_free(cfg);

	/* A named file that does not exist is an error, not a fallback. */
	assert_int_equal(wan_config_load(&cfg, "nope.json"), WAN_ECONFIG);
	assert_null(cfg);
	if (!strstr(wan_errmsg(), "'nope.json'"))
		fail_msg("%s", wan_errmsg());
	setenv("WANCTL_CONFIG", "gone.json", 1);
	assert_int_equal(wan_config_load(&cfg, NULL), WAN_ECONFIG);
	if (!strstr(wan_errmsg(), "'gone.json'"))
		fail_msg("%s", wan_errmsg());
	/* An empty $WANCTL_CONFIG is unset. */
	setenv("WANCTL_CONFIG", "", 1);
	assert_int_equal(wan_config_load(&cfg, NULL), 0);
	assert_int_equal(keep_of(cfg), 7);
	wan_config_free(cfg);
	unsetenv("WANCTL_CONFIG");
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_config_template_round_trip(void **state)
{
	struct wan_config *def = NULL, *cfg = NULL, *again = NULL;
	json_t *a, *b, *c, *t;
	struct stat st;
	char *text, *before;
	mode_t old;

	(void)state;
	old = umask(077);
	assert_int_equal(wan_config_write_template("t.json"), 0);
	umask(old);
	assert_int_equal(stat("t.json", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(count_entries("."), 1);   /* no temporary file left */

	/* Refuses to overwrite, and leaves the file as it was. */
	before = read_file("t.json");
	write_file("other.json", "{}");
	assert_int_equal(wan_config_write_template("other.json"), WAN_EEXISTS);
	if (!strstr(wan_errmsg(), "'other.json' already exists"))
		fail_msg("%s", wan_errmsg());
	text = read_file("other.json");
	assert_string_equal(text, "{}");
	free(text);
	assert_int_equal(count_entries("."), 2);
	assert_int_equal(wan_config_write_template("t.json"), WAN_EEXISTS);
	text = read_file("t.json");
	assert_string_equal(text, before);
	free(text);
	free(before);
	/* A folder that does not exist. */
	assert_true(wan_config_write_template("no/such/dir/x.json") < 0);

	/* The template names every key with its default and loads back as the
	 * defaults. */
	t = wan_config_template();
	assert_non_null(t);
	assert_true(json_is_null(json_object_get(t, "state_path")));
	assert_string_equal(json_string_value(json_object_get(t, "source_models_path")),
			    "models/staging");
	json_decref(t);
	assert_int_equal(wan_config_load_file(&cfg, "t.json"), 0);
	assert_int_equal(wan_config_defaults(&def), 0);
	a = wan_config_to_json(def);
	b = wan_config_to_json(cfg);
	assert_non_null(a);
	assert_non_null(b);
	if (!json_equal(a, b)) {
		char *sa = json_dumps(a, JSON_INDENT(1)), *sb = json_dumps(b, JSON_INDENT(1));

		fail_msg("template does not load as the defaults:\n%s\nvs\n%s", sa, sb);
	}
	/* config show's output loads back to itself, here with models, labels
	 * and fractional values too. */
	wan_config_free(cfg);
	cfg = load_ok("{\"models\": {\"t2v-A14B\": {\"source\": \"Wan2.2-T2V-A14B\"},"
		      " \"ti2v-5B\": {\"spec\": \"ti2v-5B\", \"source\": \"/data/ti2v\"}},"
		      " \"validation\": {\"min_vram_gb\": 79.5, \"dependencies\": [\"ffmpeg\"]},"
		      " \"monitoring\": {\"alert_rules\": [{\"name\": \"X\", \"metric\": \"wanctl_x\","
		      " \"labels\": {\"model\": \"t2v-A14B\"}, \"comparison\": \"<\", \"threshold\": 0.333,"
		      " \"for\": \"90s\", \"severity\": \"INFO\", \"summary\": \"s\"}],"
		      " \"alert_handlers\": [{\"type\": \"exec\", \"command\": \"logger\"}]}}");
	c = wan_config_to_json(cfg);
	text = json_dumps(c, JSON_REAL_PRECISION(15));
	assert_int_equal(wan_config_load_string(&again, text, "shown.json", "/"), 0);
	json_decref(b);
	b = wan_config_to_json(again);
	assert_true(json_equal(b, c));
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_object_get(c, "models"), "t2v-A14B"), "spec")), "t2v-A14B");
	free(text);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	wan_config_free(again);
	wan_config_free(cfg);
	wan_config_free(def);
}

static void test_config_model_fallback(void **state)
{
	struct wan_config *cfg;
	const char *spec;
	char src[PATH_MAX];
	static const char *const bad[] = { "", ".", "..", "a/b", "../x", "/abs", "a\nb", "x\x7f" };

	(void)state;
	cfg = load_ok("{\"source_models_path\": \"staging\", \"models\": {"
		      " \"prod-t2v\": {\"spec\": \"t2v-A14B\", \"source\": \"/data/Wan2.2-T2V-A14B\"},"
		      " \"m2\": {\"source\": \"sub/m2-dir\"}}}");
	assert_int_equal(wan_config_model(cfg, "prod-t2v", &spec, src, sizeof(src)), 0);
	assert_string_equal(spec, "t2v-A14B");
	assert_string_equal(src, "/data/Wan2.2-T2V-A14B");
	assert_int_equal(wan_config_model(cfg, "m2", &spec, src, sizeof(src)), 0);
	assert_string_equal(spec, "m2");
	assert_string_equal(src, "/srv/wan/staging/sub/m2-dir");
	/* Absent from models: the spec and the staging folder of its name. */
	assert_int_equal(wan_config_model(cfg, "i2v-A14B", &spec, src, sizeof(src)), 0);
	assert_string_equal(spec, "i2v-A14B");
	assert_string_equal(src, "/srv/wan/staging/i2v-A14B");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wan_config_model(cfg, bad[i], &spec, src, sizeof(src)) != WAN_EINVAL)
			fail_msg("model name '%s' was accepted", bad[i]);
		assert_int_equal(wan_config_model_name_check(bad[i]), WAN_EINVAL);
	}
	assert_int_equal(wan_config_model_name_check("Wan2.1-T2V-1.3B"), 0);
	/* Too small a buffer is an error, not a truncation. */
	assert_int_equal(wan_config_model(cfg, "m2", &spec, src, 8), WAN_EINVAL);
	wan_config_free(cfg);
}

/* Every key of `config show` is in the table and every table key outside
 * element scopes is in `config show`. */
static void walk(json_t *o, const char *prefix, int *n)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		char path[256];
		const struct wan_config_key *e;
		bool found = false;

		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k);
		for (e = wan_config_keys(); e->key; e++)
			if (!strcmp(e->key, path))
				found = true;
		if (!found)
			fail_msg("config show has '%s', the key table does not", path);
		(*n)++;
		if (json_is_object(v) && strcmp(path, "models"))
			walk(v, path, n);
	}
}

static void test_config_key_table(void **state)
{
	struct wan_config *cfg = NULL;
	const struct wan_config_key *k;
	int shown = 0, tabled = 0;
	json_t *doc;

	(void)state;
	assert_int_equal(wan_config_defaults(&cfg), 0);
	doc = wan_config_to_json(cfg);
	walk(doc, "", &shown);
	for (k = wan_config_keys(); k->key; k++) {
		assert_non_null(k->type);
		assert_non_null(k->doc);
		assert_true(strlen(k->doc) > 5);
		if (k->def) {
			json_t *d = json_loads(k->def, JSON_DECODE_ANY, NULL);

			if (!d)
				fail_msg("default of %s is not JSON: %s", k->key, k->def);
			json_decref(d);
		}
		for (const struct wan_config_key *o = k + 1; o->key; o++)
			if (!strcmp(o->key, k->key))
				fail_msg("key %s twice in the table", k->key);
		if (!strchr(k->key, '[') && !strchr(k->key, '*'))
			tabled++;
	}
	assert_int_equal(shown, tabled);
	json_decref(doc);
	wan_config_free(cfg);
}

/* docs/CONFIGURATION.md holds the rendered key table between markers. */
static void test_config_doc_in_sync(void **state)
{
	static const char begin[] = "<!-- BEGIN KEYS: generated by `wanctl config keys --markdown` -->\n";
	static const char end[] = "<!-- END KEYS -->";
	const char *src = getenv("WANCTL_SRC");
	char path[PATH_MAX], *doc, *md, *b, *e;

	(void)state;
	if (!src)
		fail_msg("WANCTL_SRC (the source tree) is not set");
	snprintf(path, sizeof(path), "%s/docs/CONFIGURATION.md", src);
	doc = read_file(path);
	if (!doc)
		fail_msg("cannot read %s", path);
	b = strstr(doc, begin);
	if (!b)
		fail_msg("%s lacks the line %s", path, begin);
	b += strlen(begin);
	e = strstr(b, end);
	if (!e)
		fail_msg("%s lacks the line %s", path, end);
	*e = '\0';
	md = wan_config_keys_markdown();
	assert_non_null(md);
	if (strcmp(b, md)) {
		size_t i = 0;

		while (b[i] && b[i] == md[i])
			i++;
		fail_msg("%s is out of date with the key table in src/lib/config.c "
			 "(first difference at byte %zu of the table: \"%.60s\" vs \"%.60s\"); "
			 "regenerate the part between the markers with "
			 "`build/wanctl config keys --markdown`", path, i, b + i, md + i);
	}
	free(md);
	free(doc);
}

/* Mangled configurations load or fail with WAN_ECONFIG; they never crash
 * (run under ASan by make check). */
static void test_config_mutations(void **state)
{
	static const char alphabet[] = "{}[]\":,.-+eE0123456789 \\tnul\n/ax\x01\xff";
	json_t *t = wan_config_template();
	char *text = json_dumps(t, JSON_COMPACT), *m;
	size_t len = strlen(text), rounds = getenv("WANCTL_QUICK") ? 300 : 3000;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int loaded = 0;

	(void)state;
	json_decref(t);
	m = malloc(len * 2 + 1);
	assert_non_null(m);
	for (size_t r = 0; r < rounds; r++) {
		struct wan_config *cfg = NULL;
		size_t n = len, edits;
		int err;

		memcpy(m, text, len + 1);
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
		edits = 1 + RND() % 4;
		for (size_t e = 0; e < edits && n; e++) {
			size_t at = RND() % n, span = 1 + RND() % 16;

			switch (RND() % 4) {
			case 0: /* replace a byte */
				m[at] = alphabet[RND() % (sizeof(alphabet) - 1)];
				break;
			case 1: /* delete a span */
				if (at + span > n)
					span = n - at;
				memmove(m + at, m + at + span, n - at - span + 1);
				n -= span;
				break;
			case 2: /* duplicate a span */
				if (at + span > n)
					span = n - at;
				if (n + span <= len * 2) {
					memmove(m + at + span, m + at, n - at + 1);
					n += span;
				}
				break;
			default: /* truncate */
				m[at] = '\0';
				n = at;
				break;
			}
		}
		m[n] = '\0';
		err = wan_config_load_string(&cfg, m, "fuzz.json", "/srv");
		if (err != 0 && err != WAN_ECONFIG)
			fail_msg("unexpected error %d (%s) for %s", err, wan_errmsg(), m);
		if (!err) {
			json_t *again = wan_config_to_json(cfg);

			assert_non_null(again);
			json_decref(again);
			loaded++;
		} else {
			assert_null(cfg);
			assert_non_null(strstr(wan_errmsg(), "'fuzz.json'"));
		}
		wan_config_free(cfg);
#undef RND
	}
	/* Some mutations keep the document valid (a changed digit...). */
	assert_true(loaded > 0);
	free(m);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_unknown_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_wrong_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_discovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_template_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_model_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_key_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_doc_in_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_mutations, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
