/*
 * The store's internal API refuses what its callers must never pass, and
 * wan_deploy() refuses bad options before touching anything, on a real
 * state folder in a temp directory: object names that are not 64 hex
 * digits, names for messages cut short, model folder names too long for a
 * path, no model, --source with two models, a model named twice, a
 * rollback given both or neither of a deployment id and a model. The CLI
 * checks the options first (exit 2), the library must not trust it; a
 * deploy and a rollback without a result pointer work.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/common.h"
#include "util/path.h"
#include "lib/db.h"
#include "lib/state.h"
#include "wanctl/config.h"
#include "wanctl/error.h"
#include "wanctl/store.h"
#include "store_fx.h"

struct fx {
	char dir[256];
	struct wan_config *cfg;
	struct wan_state *st;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	fx_state_open(x->dir, "test_store", &x->cfg, &x->st);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	fx_state_close(x->dir, x->cfg, x->st);
	free(x);
	return 0;
}

static const char good[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void test_object_names(void **state)
{
	struct fx *x = *state;
	const char *bad[] = { "", "zz", "0123", "../etc/passwd",
			      "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
			      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefff" };
	char buf[WAN_PATH_MAX];
	struct stat sb;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		/* The name for messages shows what was asked, even "" or "zz"
		 * (ASan: nothing read past its end); the store refuses it. */
		assert_ptr_equal(wan_store_object_path(x->st, bad[i], buf, sizeof(buf)), buf);
		assert_non_null(strstr(buf, "/objects/sha256/"));
		assert_true(state_object_dir(x->st, bad[i], false) < 0);
		errno = 0;
		assert_int_equal(state_object_open(x->st, bad[i], O_RDONLY), -1);
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_int_equal(state_object_stat(x->st, bad[i], &sb), -1);
		assert_int_equal(errno, EINVAL);
	}
	/* A good name: the path is built; a buffer too small cuts it short
	 * (a name for messages never fails the operation it names). */
	wan_store_object_path(x->st, good, buf, sizeof(buf));
	assert_non_null(strstr(buf, "/objects/sha256/01/23456789abcdef"));
	assert_int_equal(strlen(wan_store_object_path(x->st, good, buf, 40)), 39);
	/* Not in the store: no such file, not an error of the name. */
	errno = 0;
	assert_int_equal(state_object_stat(x->st, good, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_release_folder_names(void **state)
{
	struct fx *x = *state;
	char *longname = malloc(WAN_PATH_MAX + 16);

	memset(longname, 'm', WAN_PATH_MAX + 15);
	longname[WAN_PATH_MAX + 15] = '\0';
	errno = 0;
	assert_int_equal(state_release_open(x->st, longname, true), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	/* Nothing was made for it. */
	assert_int_equal(state_release_open(x->st, "never-deployed", false), -1);
	free(longname);
}

static void test_deploy_refusals(void **state)
{
	struct fx *x = *state;
	const char *two[] = { "m", "n" }, *twice[] = { "m", "m" };
	struct wan_deploy_opts o = { .transfer = -1 };
	json_t *res = NULL;
	char prod[300];
	struct stat sb;

	snprintf(prod, sizeof(prod), "%s/production/m", x->dir);
	o.models = two;
	o.nmodels = 0;
	assert_int_equal(wan_deploy(x->st, &o, &res), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "no model"));
	json_decref(res);
	res = NULL;
	o.nmodels = 2;
	o.source = x->dir;
	assert_int_equal(wan_deploy(x->st, &o, &res), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "one model; 2 given"));
	json_decref(res);
	res = NULL;
	o.source = NULL;
	o.models = twice;
	assert_int_equal(wan_deploy(x->st, &o, &res), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "named twice"));
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "status")), "failed");
	json_decref(res);
	assert_int_equal(lstat(prod, &sb), -1);
	/* Without a result pointer the deploy runs all the same. */
	o.nmodels = 1;
	assert_int_equal(wan_deploy(x->st, &o, NULL), 0);
	assert_int_equal(lstat(prod, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
}

/* wan_rollback: exactly one of deployment id and model, without the CLI;
 * no result pointer needed. */
static void test_rollback_refusals(void **state)
{
	struct fx *x = *state;
	const char *one[] = { "m" };
	struct wan_deploy_opts d = { .models = one, .nmodels = 1, .transfer = -1 };
	struct wan_rollback_opts o = { 0 };
	json_t *res = NULL;

	assert_int_equal(wan_rollback(x->st, &o, &res), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "either"));
	json_decref(res);
	o.deployment_id = "dep-x";
	o.model = "m";
	assert_int_equal(wan_rollback(x->st, &o, NULL), WAN_EINVAL);
	o.model = NULL;
	assert_int_equal(wan_rollback(x->st, &o, NULL), WAN_ENOTFOUND);
	assert_non_null(strstr(wan_errmsg(), "no deployment 'dep-x'"));
	/* A first deploy has nothing to go back to. */
	assert_int_equal(wan_deploy(x->st, &d, NULL), 0);
	o.deployment_id = NULL;
	o.model = "m";
	assert_true(wan_rollback(x->st, &o, NULL) < 0);
}

/* Deployment ids: with half of the ids of this second and the next two
 * taken, 200 new ids in a row are each fresh (without drawing again, about
 * half would repeat one and the deploy would fail on the unique key). */
static void test_deployment_ids(void **state)
{
	struct fx *x = *state;
	sqlite3 *db = wan_db_handle(wan_state_db(x->st));
	sqlite3_stmt *ins, *look;
	time_t now = time(NULL);
	char id[64];

	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO deployments(id, status, started, updated)"
					    " VALUES(?, 'completed', 0, 0)", -1, &ins, NULL), SQLITE_OK);
	for (int sec = 0; sec < 3; sec++) {
		time_t t = now + sec;
		struct tm tm;
		char ts[32];

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
		for (unsigned r = 0; r < 0x8000; r++) {
			snprintf(id, sizeof(id), "dep-%s-%02x%02x", ts, r & 0xff, r >> 8);
			sqlite3_reset(ins);
			sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
			assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		}
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM deployments WHERE id = ?", -1,
					    &look, NULL), SQLITE_OK);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(deploy_make_id(x->st, id, sizeof(id)), 0);
		sqlite3_reset(look);
		sqlite3_bind_text(look, 1, id, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(look) == SQLITE_ROW)
			fail_msg("draw %d gave an id already used: %s", i, id);
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
	}
	sqlite3_finalize(look);
	sqlite3_finalize(ins);
}

/* A state folder on another filesystem than production is refused before
 * anything is written (the switch must be one rename). No command name is
 * needed to open a state. */
static void test_state_elsewhere(void **state)
{
	struct fx *x = *state;
	struct wan_config *cfg = NULL;
	struct wan_state *st = NULL;
	char other[128], text[2048];
	struct stat a, b;

	assert_int_equal(stat(x->dir, &a), 0);
	if (stat("/dev/shm", &b) < 0 || a.st_dev == b.st_dev || access("/dev/shm", W_OK) < 0) {
		print_message("no second filesystem (/dev/shm): skipped\n");
		return;
	}
	snprintf(other, sizeof(other), "/dev/shm/wanctl-test_store.XXXXXX");
	assert_non_null(mkdtemp(other));
	snprintf(text, sizeof(text),
		 "{\"source_models_path\":\"%s/staging\",\"target_models_path\":\"%s/production\","
		 "\"state_path\":\"%s/state\",\"models\":{\"m\":{\"source\":\"A\"}}}",
		 x->dir, x->dir, other);
	assert_int_equal(wan_config_load_string(&cfg, text, "elsewhere.json", x->dir), 0);
	assert_int_equal(wan_state_open(&st, cfg, WAN_STATE_LOCK, 0, NULL), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "different filesystems"));
	assert_null(st);
	path_remove_tree(other);
	wan_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_object_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_folder_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deploy_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deployment_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_elsewhere, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
