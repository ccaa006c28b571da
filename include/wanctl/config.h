#ifndef WANCTL_CONFIG_H
#define WANCTL_CONFIG_H
/*
 * The configuration of SPEC.md "Configuration". One table of keys in
 * src/lib/config.c is the single source for parsing, validation, the
 * template of `config init`, `config show` and docs/CONFIGURATION.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum wan_transfer { WAN_TRANSFER_AUTO, WAN_TRANSFER_REFLINK,
		    WAN_TRANSFER_HARDLINK, WAN_TRANSFER_COPY };
enum wan_verify_mode { WAN_VERIFY_QUICK, WAN_VERIFY_FULL };
enum wan_cmp { WAN_CMP_GT, WAN_CMP_GE, WAN_CMP_LT, WAN_CMP_LE, WAN_CMP_EQ, WAN_CMP_NE };
enum wan_severity { WAN_SEV_INFO, WAN_SEV_WARNING, WAN_SEV_CRITICAL };
enum wan_handler_type { WAN_HANDLER_LOG, WAN_HANDLER_EXEC, WAN_HANDLER_WEBHOOK,
			WAN_HANDLER_ALERTMANAGER };

struct wan_hooks_cfg {
	char *pre_switch;       /* NULL: none; run through /bin/sh -c */
	char *post_switch;
	char *post_rollback;
	int64_t timeout_seconds;
};

struct wan_deployment_cfg {
	enum wan_transfer transfer;
	int64_t keep_releases;
	bool auto_rollback;
	enum wan_verify_mode verify;
	int64_t workers;              /* 0: one per core */
	int64_t max_deployment_time;  /* seconds, 0: no limit */
	struct wan_hooks_cfg hooks;
};

struct wan_validation_cfg {
	bool enabled;
	double disk_margin_percent;
	double min_ram_gb;
	double min_vram_gb;           /* 0 (null): the spec's figure */
	bool require_gpu;
	bool scan_tensors;
	char *inference_command;      /* NULL: no smoke test */
	int64_t inference_timeout_seconds;
	double max_inference_seconds; /* 0: no limit */
	double max_regression_percent;
	char *readiness_url;
	int64_t readiness_timeout_seconds;
	char **dependencies;          /* commands that must be on PATH */
	size_t ndependencies;
	char **spec_paths;            /* folders of user model specs (*.json) */
	size_t nspec_paths;
};

struct wan_alert_rule {
	char *name;
	char *metric;                 /* e.g. "wanctl_disk_free_ratio" */
	json_t *labels;               /* object of label matchers, may be NULL */
	enum wan_cmp cmp;
	double threshold;
	double for_seconds;
	enum wan_severity severity;
	char *summary;                /* template: {value} {threshold} {labels.X} */
};

struct wan_alert_handler {
	enum wan_handler_type type;
	char *command;                /* exec */
	char *url;                    /* webhook, alertmanager */
	int64_t timeout_seconds;
};

struct wan_monitoring_cfg {
	int64_t interval_seconds;
	char *listen;                 /* "127.0.0.1:9731" */
	int64_t retention_hours;
	double scrub_mb_per_s;        /* 0: scrub off */
	int64_t probe_interval_seconds; /* 0: no probe */
	struct wan_alert_rule *rules;
	size_t nrules;
	struct wan_alert_handler *handlers;
	size_t nhandlers;
};

struct wan_backup_cfg {
	bool enabled;
	bool before_deploy;
	int64_t compression_level;
	int64_t keep;
	int64_t max_age_days;
};

struct wan_model_cfg {
	char *name;
	char *spec;                   /* catalog spec name */
	char *source;                 /* folder under source_models_path, or absolute */
};

struct wan_config {
	char *file;                   /* the file it came from, NULL: defaults only */
	char *dir;                    /* folder relative paths resolve against */
	/* Paths below are absolute after loading. */
	char *source_models_path;
	char *target_models_path;
	char *backup_path;
	char *state_path;             /* default <target_models_path>/.wanctl */
	bool state_path_default;
	struct wan_deployment_cfg deployment;
	struct wan_validation_cfg validation;
	struct wan_monitoring_cfg monitoring;
	struct wan_backup_cfg backup;
	struct wan_model_cfg *models;
	size_t nmodels;
};

/* The system-wide configuration file, last in the discovery order. */
#define WAN_CONFIG_SYSTEM_PATH "/etc/wanctl/config.json"

/*
 * Load the configuration: explicit path, else $WANCTL_CONFIG, else
 * ./wanctl.json, else /etc/wanctl/config.json, else defaults. Errors
 * (WAN_ECONFIG) name the file and the key path ("deployment.workers").
 */
int wan_config_load(struct wan_config **out, const char *explicit_path);
int wan_config_load_file(struct wan_config **out, const char *path);
/* Parse from a JSON text; file names the source in messages, dir resolves
 * relative paths (NULL: cwd). */
int wan_config_load_string(struct wan_config **out, const char *text,
			   const char *file, const char *dir);
int wan_config_defaults(struct wan_config **out);
void wan_config_free(struct wan_config *cfg);
/* The effective configuration as JSON with every key (new reference). */
json_t *wan_config_to_json(const struct wan_config *cfg);
/* Write the template with every key and its default; refuses to
 * overwrite (WAN_EEXISTS). Published atomically. */
int wan_config_write_template(const char *path);
/* The template as JSON (new reference; NULL when out of memory): every key
 * with its default, paths as written in the table (relative). */
json_t *wan_config_template(void);
/*
 * A model's spec name and absolute staging folder: from `models`, or the
 * catalog spec of the same name and the staging folder of the same name.
 * *spec_out points into cfg or is `name` itself; the absolute staging
 * folder is written into source_buf. WAN_EINVAL for an unsafe name (see
 * wan_config_model_name_check) or a folder that does not fit.
 */
int wan_config_model(const struct wan_config *cfg, const char *name,
		     const char **spec_out, char *source_buf, size_t bufsize);
/* 0 when name is one safe path component (not empty, not "." or "..", no
 * slash or control character, <= 255 bytes), else WAN_EINVAL. */
int wan_config_model_name_check(const char *name);

/* Table of keys, for docs and tests: key path, type, default as JSON text,
 * description. Terminated by an entry with key == NULL. */
struct wan_config_key {
	const char *key;
	const char *type;
	const char *def;
	const char *doc;
};
const struct wan_config_key *wan_config_keys(void);
/* The key table of docs/CONFIGURATION.md in Markdown (malloc'd; NULL when
 * out of memory). tests/unit/test_config.c compares it with the doc;
 * `wanctl config keys --markdown` prints it. */
char *wan_config_keys_markdown(void);

#endif
