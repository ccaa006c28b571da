/*
 * deploy_rollback: deploy a model with libwanctl, then roll it back.
 *
 *   deploy_rollback MODEL [CONFIG]
 *
 * With CONFIG, the configuration is that file (wan_config_load); without,
 * the built-in defaults (wan_config_defaults): staging in
 * ./models/staging/MODEL, production in ./models/production/MODEL.
 *
 * What it shows: a deployment is one call (validate, copy into the store
 * while hashing, switch production with one rename(2), verify, roll back
 * by itself on failure), and so is the way back. If production/MODEL was
 * an ordinary folder, the deploy adopts it as a release first, so even the
 * very first deploy can be rolled back.
 *
 * Build against an installed libwanctl:
 *   cc deploy_rollback.c $(pkg-config --cflags --libs wanctl) -o deploy_rollback
 * Exit status: 0 deployed and rolled back, 1 a step failed, 2 usage,
 * 3 another wanctl holds the lock, 4 a validation check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <wanctl/wanctl.h>
#include <wanctl/store.h>

/* The library never prints: show its messages on stderr. */
static void print_log(enum wan_log_level lvl, const char *msg, void *ud)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	(void)ud;
	if (lvl <= WAN_LOG_INFO)
		fprintf(stderr, "libwanctl %s: %s\n", names[lvl], msg);
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "-";
}

/* Print "MODEL: FROM -> TO" for each model of a deploy or rollback result. */
static void print_result(const char *what, const json_t *result)
{
	const json_t *m;
	size_t i;

	printf("%s %s: %s\n", what, str(result, "id"), str(result, "status"));
	json_array_foreach(json_object_get(result, "models"), i, m)
		printf("  %s: %s -> %s\n", str(m, "model"), str(m, "from_release"),
		       str(m, "to_release"));
}

static int exit_status(int err)
{
	switch (err) {
	case 0: return 0;
	case WAN_ELOCKED: return 3;
	case WAN_ECHECK: return 4;
	case WAN_ECONFIG: return 2;
	default: return 1;
	}
}

int main(int argc, char **argv)
{
	struct wan_config *cfg = NULL;
	struct wan_state *st = NULL;
	json_t *result = NULL;
	char before[WAN_RELEASE_ID_LEN + 1] = "", after[WAN_RELEASE_ID_LEN + 1];
	const char *model;
	bool unmanaged = false;
	int err;

	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: deploy_rollback MODEL [CONFIG]\n");
		return 2;
	}
	model = argv[1];
	wan_log_set_sink(print_log, NULL);

	/* 1. The configuration: a file, or the defaults. */
	err = argc == 3 ? wan_config_load(&cfg, argv[2]) : wan_config_defaults(&cfg);
	if (err < 0) {
		fprintf(stderr, "deploy_rollback: %s\n", wan_errmsg());
		return 2;
	}

	/* 2. The state folder, locked: nobody else deploys meanwhile. Opening
	 * it also finishes or undoes any deployment a crash interrupted. */
	err = wan_state_open(&st, cfg, WAN_STATE_LOCK, 10.0, "deploy_rollback");
	if (err < 0)
		goto out;
	if (wan_release_current(st, model, before, &unmanaged) < 0)
		snprintf(before, sizeof(before), "%s", unmanaged ? "(unmanaged)" : "(none)");
	printf("%s: production is at %s\n", model, unmanaged ? "an unmanaged folder" : before);

	/* 3. Deploy. On failure production is untouched or rolled back; the
	 * result says which, and its "report" holds the validation checks. */
	{
		const char *models[] = { model };
		struct wan_deploy_opts o = {
			.models = models,
			.nmodels = 1,
			.transfer = -1,            /* deployment.transfer */
		};

		err = wan_deploy(st, &o, &result);
		if (result)
			print_result("deploy", result);
		json_decref(result);
		result = NULL;
		if (err < 0)
			goto out;
	}

	/* 4. Roll back to the release before it: one rename, whatever the
	 * model's size. */
	{
		struct wan_rollback_opts r = { .model = model };

		err = wan_rollback(st, &r, &result);
		if (result)
			print_result("rollback", result);
		json_decref(result);
		result = NULL;
		if (err < 0)
			goto out;
	}

	if ((err = wan_release_current(st, model, after, &unmanaged)) < 0)
		goto out;
	printf("%s: production is at %s\n", model, after);
out:
	if (err < 0)
		fprintf(stderr, "deploy_rollback: %s\n", wan_errmsg());
	wan_state_close(st);
	wan_config_free(cfg);
	return exit_status(err);
}
