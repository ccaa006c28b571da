/*
 * The real state folder the store's unit tests (test_store, test_release)
 * start from: a temp directory with staging/A (config.json, weights.bin),
 * production/ and a configuration deploying staging A as model m
 * (validation and backups off), its state opened and locked.
 */
#ifndef WAN_TEST_STORE_FX_H
#define WAN_TEST_STORE_FX_H

#include <stdio.h>
#include <stdlib.h>

#include "util/path.h"
#include "wanctl/config.h"
#include "wanctl/store.h"

static void fx_put(const char *dir, const char *name, const char *text)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
}

/* dir: 256 bytes; test names the temp directory and the state's command. */
static void fx_state_open(char *dir, const char *test, struct wan_config **cfg,
			  struct wan_state **st)
{
	char text[2048], staging[300];

	snprintf(dir, 256, "%s/wanctl-%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 test);
	assert_non_null(mkdtemp(dir));
	snprintf(staging, sizeof(staging), "%s/staging/A", dir);
	assert_int_equal(path_mkdirs(staging, 0755), 0);
	fx_put(staging, "config.json", "{\"dim\": 1536}\n");
	fx_put(staging, "weights.bin", "0123456789abcdef");
	snprintf(text, sizeof(text),
		 "{\"source_models_path\":\"%s/staging\",\"target_models_path\":\"%s/production\","
		 "\"backup_path\":\"%s/backups\",\"backup\":{\"before_deploy\":false},"
		 "\"validation\":{\"enabled\":false},\"models\":{\"m\":{\"source\":\"A\"}}}",
		 dir, dir, dir);
	assert_int_equal(wan_config_load_string(cfg, text, "test.json", dir), 0);
	assert_int_equal(wan_state_open(st, *cfg, WAN_STATE_LOCK, 0, test), 0);
}

static void fx_state_close(const char *dir, struct wan_config *cfg, struct wan_state *st)
{
	wan_state_close(st);
	wan_config_free(cfg);
	path_remove_tree(dir);
}

#endif
