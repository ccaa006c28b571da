/*
 * Release trees, the production folder and the stat cache in the states a
 * crash, an operator or a damaged disk leave them, on a real state folder
 * in a temp directory (src/lib/release.c, store.c, ops.c):
 *  - a release whose manifest was lost is not "in the store"; publishing it
 *    again writes the manifest and keeps the tree;
 *  - a tree naming an object the store lacks is not published, and tmp/
 *    is left empty;
 *  - the sweep of the production folder removes only wanctl's own debris:
 *    a link ".<m>.wanctl-new", an adoption's folder once the model runs a
 *    release of the store; it keeps a folder whose model's link names a
 *    release the store lacks, files of the same names, and "..wanctl-new";
 *  - release_unlink leaves a real folder alone;
 *  - a link into the releases folder with a name that is not a release id
 *    is not taken for a release;
 *  - relinking a tree puts back a file deleted from it;
 *  - the object check tells missing, wrong size and damaged apart;
 *  - rollback --to refuses an unmanaged folder in production, and a
 *    rollback by deployment id refuses a model no longer deployed;
 *  - the stat cache is believed only for an entry strictly newer than the
 *    file's mtime and ctime (git's racily-clean rule) holding a
 *    well-formed hash;
 *  - gc removes unreferenced objects and leaves alone what is not an
 *    object: other names, a file where a folder of objects would be;
 *  - faults injected into one call (xio_fault_arm): relinking a tree,
 *    removing a link and gc's removal of an object each fail cleanly,
 *    leave no temp name behind, and a later try works;
 *  - a manifest asked for by an id too long for a name is an error;
 *  - status shows alert labels that do not parse as their text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
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
#include "util/sha256.h"
#include "util/xio.h"
#include "lib/db.h"
#include "lib/state.h"
#include "wanctl/config.h"
#include "wanctl/error.h"
#include "wanctl/store.h"
#include "store_fx.h"

struct fx {
	char dir[256], prod[300], rel[320], tmp[320];
	struct wan_config *cfg;
	struct wan_state *st;
	char a[WAN_RELEASE_ID_LEN + 1];   /* release of the first deploy */
	char link[1024];                  /* production/m's text then */
};

static const char *const one[] = { "m" };

static void deploy_ok(struct fx *x, char to[WAN_RELEASE_ID_LEN + 1])
{
	struct wan_deploy_opts o = { .models = one, .nmodels = 1, .transfer = -1 };
	json_t *res = NULL;

	if (wan_deploy(x->st, &o, &res) != 0)
		fail_msg("deploy: %s", wan_errmsg());
	snprintf(to, WAN_RELEASE_ID_LEN + 1, "%s", json_string_value(json_object_get(
		 json_array_get(json_object_get(res, "models"), 0), "to_release")));
	json_decref(res);
}

/* Staging A: config.json, weights.bin and w2.bin (16 bytes each, other
 * bytes), sub/tok.json; deployed once as release x->a. */
static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	char staging[300];

	fx_state_open(x->dir, "test_release", &x->cfg, &x->st);
	snprintf(staging, sizeof(staging), "%s/staging/A/sub", x->dir);
	assert_int_equal(path_mkdirs(staging, 0755), 0);
	fx_put(staging, "tok.json", "{\"v\": 1}\n");
	snprintf(staging, sizeof(staging), "%s/staging/A", x->dir);
	fx_put(staging, "w2.bin", "fedcba9876543210");
	snprintf(x->prod, sizeof(x->prod), "%s/production", x->dir);
	snprintf(x->rel, sizeof(x->rel), "%s/.wanctl/releases/m", x->prod);
	snprintf(x->tmp, sizeof(x->tmp), "%s/.wanctl/tmp", x->prod);
	deploy_ok(x, x->a);
	{
		char p[320];
		ssize_t n;

		snprintf(p, sizeof(p), "%s/m", x->prod);
		n = readlink(p, x->link, sizeof(x->link) - 1);
		assert_true(n > WAN_RELEASE_ID_LEN);
		x->link[n] = '\0';
	}
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

static bool exists(const char *dir, const char *name)
{
	char p[4096];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &sb) == 0;
}

static bool dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = true;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

static void test_manifest_lost(void **state)
{
	struct fx *x = *state;
	char from[1024], to[1024];
	json_t *m = NULL;

	assert_int_equal(wan_manifest_load(x->st, "m", x->a, &m), 0);
	assert_true(release_exists(x->st, "m", x->a));
	snprintf(from, sizeof(from), "%s/%s.json", x->rel, x->a);
	snprintf(to, sizeof(to), "%s/lost.json", x->dir);
	assert_int_equal(rename(from, to), 0);
	assert_false(release_exists(x->st, "m", x->a));
	/* Published again: the manifest comes back, the tree is the same. */
	assert_int_equal(release_publish(x->st, "m", x->a, m), 0);
	assert_true(release_exists(x->st, "m", x->a));
	{
		char p[1024];
		struct stat sb;
		snprintf(p, sizeof(p), "%s/%s/sub/tok.json", x->rel, x->a);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_nlink, 2);	/* the object and this tree */
	}
	assert_true(dir_empty(x->tmp));
	/* A release id that names a plain file is no release. */
	fx_put(x->rel, "0123456789abcdef", "x");
	fx_put(x->rel, "0123456789abcdef.json", "{}");
	assert_false(release_exists(x->st, "m", "0123456789abcdef"));
	json_decref(m);
}

/* Release 00000000000000ff: the manifest of x->a with sub/tok.json's sha
 * replaced by sha (an object the store lacks). */
static int publish_with(struct fx *x, const char *sha)
{
	json_t *m = NULL, *f;
	size_t i;
	int err;

	assert_int_equal(wan_manifest_load(x->st, "m", x->a, &m), 0);
	json_array_foreach(json_object_get(m, "files"), i, f)
		if (!strcmp(json_string_value(json_object_get(f, "path")), "sub/tok.json"))
			json_object_set_new(f, "sha256", json_string(sha));
	json_object_set_new(m, "release", json_string("00000000000000ff"));
	err = release_publish(x->st, "m", "00000000000000ff", m);
	json_decref(m);
	return err;
}

static void test_publish_missing_object(void **state)
{
	struct fx *x = *state;
	char sha[WAN_SHA256_HEX];
	json_t *m = NULL, *f;
	size_t i;

	/* Not even its folder objects/sha256/00. */
	assert_true(publish_with(x, "00000000000000000000000000000000000000000000000000000000000000ff") < 0);
	assert_non_null(strstr(wan_errmsg(), "objects/sha256/00"));
	assert_false(exists(x->rel, "00000000000000ff"));
	assert_true(dir_empty(x->tmp));
	/* Its folder, not the object: the file of the release is named. */
	assert_int_equal(wan_manifest_load(x->st, "m", x->a, &m), 0);
	json_array_foreach(json_object_get(m, "files"), i, f)
		if (!strcmp(json_string_value(json_object_get(f, "path")), "sub/tok.json"))
			snprintf(sha, sizeof(sha), "%s", json_string_value(json_object_get(f, "sha256")));
	json_decref(m);
	sha[63] = sha[63] == '0' ? '1' : '0';
	assert_true(publish_with(x, sha) < 0);
	assert_non_null(strstr(wan_errmsg(), "cannot link object"));
	assert_non_null(strstr(wan_errmsg(), "as 'sub/tok.json'"));
	assert_false(exists(x->rel, "00000000000000ff"));
	assert_false(release_exists(x->st, "m", "00000000000000ff"));
	assert_true(dir_empty(x->tmp));
}

/* production/name: a link like the first deploy's, to release id (any
 * text: the first deploy's with its last 16 bytes replaced). */
static void link_to(struct fx *x, const char *name, const char *id)
{
	char text[1100], np[1024];

	snprintf(text, sizeof(text), "%.*s%s", (int)(strlen(x->link) - WAN_RELEASE_ID_LEN),
		 x->link, id);
	snprintf(np, sizeof(np), "%s/%s", x->prod, name);
	unlink(np);
	assert_int_equal(symlink(text, np), 0);
}

static void test_sweep_target(void **state)
{
	struct fx *x = *state;
	char p[1024], id[WAN_RELEASE_ID_LEN + 1];

	/* Not wanctl's, whatever their names say: kept. */
	fx_put(x->prod, "..wanctl-new", "a file without a model name");
	fx_put(x->prod, ".m.wanctl-old", "a plain file");
	/* wanctl's: a link left by a switch, removed. */
	snprintf(p, sizeof(p), "%s/.m.wanctl-new", x->prod);
	assert_int_equal(symlink("somewhere", p), 0);
	/* An adoption's old folder of a model with no release: kept. */
	snprintf(p, sizeof(p), "%s/.n.wanctl-old", x->prod);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(release_sweep_target(x->st), 0);
	assert_true(exists(x->prod, "..wanctl-new"));
	assert_true(exists(x->prod, ".m.wanctl-old"));
	assert_false(exists(x->prod, ".m.wanctl-new"));
	assert_true(exists(x->prod, ".n.wanctl-old"));

	/* An adoption's folder while the model's link names a release the
	 * store lacks: kept (its content may be all there is). */
	unlink(p);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/.m.wanctl-old", x->prod);
	unlink(p);
	assert_int_equal(mkdir(p, 0755), 0);
	fx_put(p, "only-copy.bin", "data");
	link_to(x, "m", "fedcba9876543210");
	assert_int_equal(release_sweep_target(x->st), 0);
	assert_true(exists(p, "only-copy.bin"));
	/* Once the model runs a release of the store: dropped. */
	link_to(x, "m", x->a);
	assert_int_equal(release_sweep_target(x->st), 0);
	assert_false(exists(x->prod, ".m.wanctl-old"));
	assert_int_equal(wan_release_current(x->st, "m", id, NULL), 0);
	assert_string_equal(id, x->a);
}

static void test_links_and_folders(void **state)
{
	struct fx *x = *state;
	char p[1024], id[WAN_RELEASE_ID_LEN + 1];
	bool unmanaged = false;

	/* release_unlink removes a link, never a folder. */
	snprintf(p, sizeof(p), "%s/n", x->prod);
	assert_int_equal(mkdir(p, 0755), 0);
	fx_put(p, "keep.bin", "x");
	assert_int_equal(release_unlink(x->st, "n"), 0);
	assert_true(exists(p, "keep.bin"));
	assert_int_equal(release_unlink(x->st, "nothing-here"), 0);
	assert_int_equal(wan_release_current(x->st, "n", id, &unmanaged), WAN_ENOTFOUND);
	assert_true(unmanaged);

	/* Into the releases folder, but not a release id: not a release. */
	link_to(x, "m", "0123456789abc");
	assert_int_equal(wan_release_current(x->st, "m", id, NULL), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "not to a wanctl release"));
	assert_string_equal(id, "");
	link_to(x, "m", x->a);
	assert_int_equal(wan_release_current(x->st, "m", id, NULL), 0);
}

static void test_relink_and_check(void **state)
{
	struct fx *x = *state;
	json_t *m = NULL, *bad = json_array();
	char p[1024], obj[1024], wsha[WAN_SHA256_HEX] = "";
	struct stat a, b;
	json_t *f;
	size_t i;

	assert_int_equal(wan_manifest_load(x->st, "m", x->a, &m), 0);
	/* A file deleted from the tree is linked back to its object. */
	snprintf(p, sizeof(p), "%s/%s/sub/tok.json", x->rel, x->a);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(release_relink_tree(x->st, "m", x->a, m), 0);
	assert_int_equal(stat(p, &a), 0);
	json_array_foreach(json_object_get(m, "files"), i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		if (!strcmp(path, "sub/tok.json"))
			wan_store_object_path(x->st, json_string_value(json_object_get(f, "sha256")),
					      obj, sizeof(obj));
		if (!strcmp(path, "weights.bin"))
			snprintf(wsha, sizeof(wsha), "%s",
				 json_string_value(json_object_get(f, "sha256")));
	}
	assert_int_equal(stat(obj, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);

	/* Intact: nothing bad, quick or full. */
	assert_int_equal(release_check_objects(x->st, m, true, bad), 0);
	assert_int_equal(json_array_size(bad), 0);
	/* weights.bin's object damaged in place (same size), then cut short,
	 * then gone: each named for what it is. */
	wan_store_object_path(x->st, wsha, obj, sizeof(obj));
	assert_int_equal(chmod(obj, 0644), 0);
	{
		FILE *fp = fopen(obj, "w");
		assert_non_null(fp);
		fputs("0123456789abcdeX", fp);
		fclose(fp);
	}
	assert_int_equal(release_check_objects(x->st, m, false, bad), 0);
	assert_int_equal(json_array_size(bad), 0);	/* quick: sizes only */
	assert_int_equal(release_check_objects(x->st, m, true, bad), 0);
	assert_int_equal(json_array_size(bad), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(bad, 0), "problem")),
			    "damaged");
	assert_string_equal(json_string_value(json_object_get(json_array_get(bad, 0), "path")),
			    "weights.bin");
	assert_int_equal(truncate(obj, 3), 0);
	json_array_clear(bad);
	assert_int_equal(release_check_objects(x->st, m, true, bad), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(bad, 0), "problem")),
			    "wrong size");
	assert_int_equal(unlink(obj), 0);
	json_array_clear(bad);
	assert_int_equal(release_check_objects(x->st, m, false, bad), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(bad, 0), "problem")),
			    "missing");
	json_decref(bad);
	json_decref(m);
}

static void test_rollback_refusals(void **state)
{
	struct fx *x = *state;
	struct wan_rollback_opts o = { .model = "m", .to = NULL };
	char p[1024], dep[64], staging[300], b[WAN_RELEASE_ID_LEN + 1];
	json_t *res = NULL, *list = NULL;

	/* A second release, then production/m an unmanaged folder: rollback
	 * --to does not replace what it does not manage. */
	snprintf(staging, sizeof(staging), "%s/staging/A", x->dir);
	fx_put(staging, "w2.bin", "fedcba987654321X");
	deploy_ok(x, b);
	assert_string_not_equal(b, x->a);
	assert_int_equal(wan_deploy_list(x->st, "completed", "m", 1, &list), 0);
	snprintf(dep, sizeof(dep), "%s", json_string_value(json_object_get(
		 json_array_get(json_object_get(list, "deployments"), 0), "id")));
	json_decref(list);
	snprintf(p, sizeof(p), "%s/m", x->prod);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	fx_put(p, "mine.bin", "x");
	o.to = x->a;
	assert_true(wan_rollback(x->st, &o, &res) < 0);
	assert_non_null(strstr(wan_errmsg(), "unmanaged folder"));
	json_decref(res);
	res = NULL;
	assert_true(exists(p, "mine.bin"));
	/* By deployment id, with the model's link gone: refused too (only
	 * --model M --to ID puts a lost link back). */
	assert_int_equal(path_remove_tree(p), 0);
	o.model = NULL;
	o.to = NULL;
	o.deployment_id = dep;
	assert_true(wan_rollback(x->st, &o, &res) < 0);
	assert_non_null(strstr(wan_errmsg(), "is not deployed"));
	json_decref(res);
	{
		struct stat sb;
		assert_int_equal(lstat(p, &sb), -1);
	}
	/* --model M --to ID does put it back. */
	o.deployment_id = NULL;
	o.model = "m";
	o.to = x->a;
	assert_int_equal(wan_rollback(x->st, &o, NULL), 0);
	{
		char id[WAN_RELEASE_ID_LEN + 1];
		assert_int_equal(wan_release_current(x->st, "m", id, NULL), 0);
		assert_string_equal(id, x->a);
	}
}

/* Set the stat cache entry of staging file name: its sha256 (text) and
 * its recorded time: the file's mtime ("mtime_ns"), its ctime
 * ("ctime_ns"), or as it was (NULL). */
static void cache_set(struct fx *x, const char *name, const char *sha, const char *rec)
{
	sqlite3 *db = wan_db_handle(wan_state_db(x->st));
	sqlite3_stmt *q;
	char like[300], sql[200];

	snprintf(like, sizeof(like), "%%/staging/A/%s", name);
	snprintf(sql, sizeof(sql), "UPDATE stat_cache SET sha256 = ?1, recorded_ns = %s"
		 " WHERE path LIKE ?2", rec ? rec : "recorded_ns");
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, like, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(q), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(q);
}

static void test_stat_cache_rules(void **state)
{
	struct fx *x = *state;
	char wsha[WAN_SHA256_HEX], to[WAN_RELEASE_ID_LEN + 1];
	json_t *m = NULL, *f;
	size_t i;

	/* The stored hash of weights.bin (16 bytes, like w2.bin). */
	assert_int_equal(wan_manifest_load(x->st, "m", x->a, &m), 0);
	json_array_foreach(json_object_get(m, "files"), i, f)
		if (!strcmp(json_string_value(json_object_get(f, "path")), "weights.bin"))
			snprintf(wsha, sizeof(wsha), "%s",
				 json_string_value(json_object_get(f, "sha256")));
	json_decref(m);
	/* Racily clean (recorded at the file's mtime, not after): the lie
	 * about w2.bin is not believed, the file is hashed: same release. */
	cache_set(x, "w2.bin", wsha, "mtime_ns");
	deploy_ok(x, to);
	assert_string_equal(to, x->a);
	/* Racily clean by its ctime only: the file's mtime set an hour back
	 * (its ctime is now), hashed again, then the entry recorded at that
	 * ctime: not believed either. */
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { time(NULL) - 3600, 0 } };
		char p[400];

		snprintf(p, sizeof(p), "%s/staging/A/w2.bin", x->dir);
		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
		deploy_ok(x, to);
		assert_string_equal(to, x->a);
		cache_set(x, "w2.bin", wsha, "ctime_ns");
		deploy_ok(x, to);
		assert_string_equal(to, x->a);
	}
	/* Not a hash: not believed either. */
	cache_set(x, "w2.bin", "zz", NULL);
	deploy_ok(x, to);
	assert_string_equal(to, x->a);
	/* The control: a well-formed hash in an entry newer than the file is
	 * believed (this is what makes redeploys fast), so the lie changes
	 * the release; --rehash ignores the cache and finds the truth. */
	cache_set(x, "w2.bin", wsha, NULL);
	deploy_ok(x, to);
	assert_string_not_equal(to, x->a);
	{
		struct wan_deploy_opts o = { .models = one, .nmodels = 1, .transfer = -1,
					     .rehash = true };
		json_t *res = NULL;
		assert_int_equal(wan_deploy(x->st, &o, &res), 0);
		assert_string_equal(json_string_value(json_object_get(json_array_get(
			json_object_get(res, "models"), 0), "to_release")), x->a);
		json_decref(res);
	}
}

static void test_gc_strangers(void **state)
{
	struct fx *x = *state;
	char objs[400], p[1024], staging[300], b[WAN_RELEASE_ID_LEN + 1];
	const char *odd = "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg";
	json_t *out = NULL;

	snprintf(objs, sizeof(objs), "%s/.wanctl/objects/sha256", x->prod);
	/* Not objects: a file named like a folder of them, a folder that is
	 * not two hex digits, a 62-character name that is not hex, a name of
	 * the wrong length. */
	fx_put(objs, "zz", "a file");
	snprintf(p, sizeof(p), "%s/qq", objs);
	assert_int_equal(mkdir(p, 0755), 0);
	fx_put(p, odd, "x");
	snprintf(p, sizeof(p), "%s/ab", objs);
	mkdir(p, 0755);
	fx_put(p, odd, "x");
	fx_put(p, "short", "x");
	/* Four releases: the oldest is collected (deployment.keep_releases 3). */
	snprintf(staging, sizeof(staging), "%s/staging/A", x->dir);
	fx_put(staging, "w2.bin", "fedcba987654321X");
	deploy_ok(x, b);
	fx_put(staging, "w2.bin", "fedcba987654321Y");
	deploy_ok(x, b);
	fx_put(staging, "w2.bin", "fedcba987654321Z");
	deploy_ok(x, b);
	assert_int_equal(wan_gc(x->st, true, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "releases_removed")), 1);
	json_decref(out);
	assert_true(release_exists(x->st, "m", x->a));	/* a dry run */
	assert_int_equal(wan_gc(x->st, false, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "releases_removed")), 1);
	/* w2.bin of the first release: the only unreferenced object. */
	assert_int_equal(json_integer_value(json_object_get(out, "objects_removed")), 1);
	assert_int_equal(json_integer_value(json_object_get(out, "bytes_freed")), 16);
	json_decref(out);
	assert_false(release_exists(x->st, "m", x->a));
	assert_true(exists(objs, "zz"));
	snprintf(p, sizeof(p), "%s/qq", objs);
	assert_true(exists(p, odd));
	snprintf(p, sizeof(p), "%s/ab", objs);
	assert_true(exists(p, odd));
	assert_true(exists(p, "short"));
}

static void test_injected_faults(void **state)
{
	struct fx *x = *state;
	static const struct { const char *spec, *msg; } f[] = {
		{ "link:1:EIO", "cannot link" },
		{ "rename:1:EIO", "cannot replace" },
		{ "fsync:1:EIO", "cannot fsync the folder of" },
	};
	char p[1100], sub[1024], staging[300], b[WAN_RELEASE_ID_LEN + 1];
	json_t *m = NULL, *out = NULL;
	struct stat sb;

	assert_int_equal(wan_manifest_load(x->st, "m", x->a, &m), 0);
	snprintf(sub, sizeof(sub), "%s/%s/sub", x->rel, x->a);
	snprintf(p, sizeof(p), "%s/tok.json", sub);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		unlink(p);
		xio_fault_arm(f[i].spec);
		assert_true(release_relink_tree(x->st, "m", x->a, m) < 0);
		xio_fault_arm(NULL);
		if (!strstr(wan_errmsg(), f[i].msg))
			fail_msg("%s: '%s' lacks '%s'", f[i].spec, wan_errmsg(), f[i].msg);
		assert_false(exists(sub, "tok.json.wanctl-fix"));
		assert_int_equal(release_relink_tree(x->st, "m", x->a, m), 0);
		assert_int_equal(stat(p, &sb), 0);
	}
	json_decref(m);

	/* Removing production's link: the unlink fails, the link stays; the
	 * fsync after it fails, the error says so. */
	xio_fault_arm("unlink:1:EIO");
	assert_true(release_unlink(x->st, "m") < 0);
	xio_fault_arm(NULL);
	assert_non_null(strstr(wan_errmsg(), "cannot remove"));
	assert_true(exists(x->prod, "m"));
	xio_fault_arm("fsync:1:EIO");
	assert_true(release_unlink(x->st, "m") < 0);
	xio_fault_arm(NULL);
	assert_non_null(strstr(wan_errmsg(), "cannot fsync"));
	assert_int_equal(release_switch(x->st, "m", x->a), 0);

	/* gc: an object it cannot remove is not reported removed, and stays
	 * for the next gc. */
	snprintf(staging, sizeof(staging), "%s/staging/A", x->dir);
	for (const char *c = "XYZ"; *c; c++) {
		char v[20];
		snprintf(v, sizeof(v), "fedcba987654321%c", *c);
		fx_put(staging, "w2.bin", v);
		deploy_ok(x, b);
	}
	xio_fault_arm("unlink:1:EIO");
	assert_int_equal(wan_gc(x->st, false, &out), 0);
	xio_fault_arm(NULL);
	assert_int_equal(json_array_size(json_object_get(out, "releases_removed")), 1);
	assert_int_equal(json_integer_value(json_object_get(out, "objects_removed")), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "bytes_freed")), 0);
	json_decref(out);
	assert_int_equal(wan_gc(x->st, false, &out), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "objects_removed")), 1);
	json_decref(out);
}

static void test_odd_inputs(void **state)
{
	struct fx *x = *state;
	sqlite3 *db = wan_db_handle(wan_state_db(x->st));
	char id[200];
	json_t *m = NULL, *st = NULL, *a;

	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_true(wan_manifest_load(x->st, "m", id, &m) < 0);
	assert_null(m);
	/* Labels written by something else than the monitor, not JSON: shown
	 * as the text they are, not dropped. */
	assert_int_equal(sqlite3_exec(db, "INSERT INTO alerts(name, labels, state, fired_at)"
				      " VALUES('Odd', '{not json', 'firing', 1)", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(wan_status(x->st, &st), 0);
	a = json_array_get(json_object_get(st, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "name")), "Odd");
	assert_string_equal(json_string_value(json_object_get(a, "labels")), "{not json");
	json_decref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_manifest_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_missing_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_and_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relink_and_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_strangers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_injected_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_inputs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
