/*
 * The core's paths that the CLI sweeps reach only with difficulty, called
 * through the library: every rejection class of the manifest parser and
 * loader, manifest publication edge cases, and state-folder refusals.
 * (Issue 7 item 5: branch coverage of store/deploy/release/state/ops/
 * manifest; the I/O error paths are driven by tests/crash/t_faults.sh.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "util/path.h"
#include "util/sha256.h"
#include "lib/manifest.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

/* A valid manifest document around the files array given (JSON text). */
static char *doc(const char *files, const char *extra)
{
	static char buf[16384];
	snprintf(buf, sizeof(buf),
		 "{\"format\":\"wanctl-manifest-1\",\"model\":\"m\",%s\"files\":%s}",
		 extra ? extra : "", files);
	return buf;
}

static int parse(const char *text)
{
	json_t *m = NULL;
	int err = manifest_parse(text, strlen(text), "t.json", &m);
	if (err == 0) {
		assert_non_null(m);
		json_decref(m);
	} else {
		assert_null(m);
	}
	return err;
}

static void test_manifest_rejects(void **state)
{
	static const char *const bad[] = {
		"",                                         /* not JSON */
		"{\"a\":1,\"a\":2}",                        /* duplicate key */
		"[]",                                       /* not an object */
		"{\"model\":\"m\",\"files\":[]}",           /* no format */
		"{\"format\":7,\"model\":\"m\",\"files\":[]}",
		"{\"format\":\"wanctl-manifest-2\",\"model\":\"m\",\"files\":[]}",
		"{\"format\":\"wanctl-manifest-1\",\"files\":[]}",        /* no model */
		"{\"format\":\"wanctl-manifest-1\",\"model\":\"../m\",\"files\":[]}",
		"{\"format\":\"wanctl-manifest-1\",\"model\":\"a/b\",\"files\":[]}",
		"{\"format\":\"wanctl-manifest-1\",\"model\":\"m\",\"files\":{}}",
		"{\"format\":\"wanctl-manifest-1\",\"model\":\"m\"}",
	};
	static const char *const badfiles[] = {
		"[1]",
		"[{\"path\":1,\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":\"1\",\"mode\":420,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":5}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":4.2,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":420}]",
		"[{\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\",\"x\":0}]",   /* no path */
		"[{\"path\":\"a\",\"mode\":420,\"sha256\":\"" H1 "\",\"x\":0}]",  /* no size */
		"[{\"path\":\"a\",\"size\":1,\"sha256\":\"" H1 "\",\"x\":0}]",   /* no mode */
		"[{\"path\":\"a\",\"size\":1,\"mode\":\"644\",\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":null}]",
		"[[\"a\",1,420,\"" H1 "\"]]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\",\"x\":0}]",
		"[{\"path\":\"a\\u0000b\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"../a\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"/a\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":-1,\"mode\":420,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":-1,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":4096,\"sha256\":\"" H1 "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"xyz\"}]",
		"[{\"path\":\"b\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"},"
		 "{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"" H2 "\"}]",  /* unsorted */
		"[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"},"
		 "{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"" H2 "\"}]",  /* duplicate */
		"[{\"path\":\"a\",\"size\":9223372036854775807,\"mode\":420,\"sha256\":\"" H1 "\"},"
		 "{\"path\":\"b\",\"size\":9223372036854775807,\"mode\":420,\"sha256\":\"" H2 "\"},"
		 "{\"path\":\"c\",\"size\":9223372036854775807,\"mode\":420,\"sha256\":\"" H2 "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"},"
		 "{\"path\":\"a/b\",\"size\":1,\"mode\":420,\"sha256\":\"" H2 "\"}]", /* file and folder */
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = parse(bad[i]);
		if (err != WAN_ECORRUPT)
			fail_msg("case %zu '%s' gave %d", i, bad[i], err);
	}
	for (size_t i = 0; i < ARRAY_SIZE(badfiles); i++) {
		int err = parse(doc(badfiles[i], NULL));
		if (err != WAN_ECORRUPT)
			fail_msg("files case %zu gave %d: %s", i, err, wan_errmsg());
	}
	/* Over the size cap: refused before the text is read. */
	{
		json_t *m = (json_t *)1;
		assert_int_equal(manifest_parse("{}", (size_t)WAN_MANIFEST_MAX_BYTES + 1, "big",
						&m), WAN_ECORRUPT);
		assert_null(m);
	}
	/* The release id must match the files. */
	assert_int_equal(parse(doc("[]", "\"release\":\"0000000000000000\",")), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "does not match"));
}

static void test_manifest_accepts(void **state)
{
	const char *files = "[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"},"
			    "{\"path\":\"ab/c\",\"size\":2,\"mode\":292,\"sha256\":\"" H2 "\"}]";
	json_t *arr, *m;
	char id[17], again[17];

	(void)state;
	assert_int_equal(parse(doc(files, NULL)), 0);
	arr = json_loads(files, 0, NULL);
	assert_non_null(arr);
	assert_int_equal(manifest_release_id(arr, id), 0);
	assert_int_equal(strlen(id), 16);
	/* The id names the content: the same files in another order sort to it. */
	{
		json_t *rev = json_array();
		json_array_append(rev, json_array_get(arr, 1));
		json_array_append(rev, json_array_get(arr, 0));
		assert_int_equal(manifest_sort_files(rev), 0);
		assert_int_equal(manifest_release_id(rev, again), 0);
		assert_string_equal(id, again);
		json_decref(rev);
	}
	{
		char rel[64];
		snprintf(rel, sizeof(rel), "\"release\":\"%s\",", id);
		assert_int_equal(parse(doc(files, rel)), 0);
	}
	/* Empty and one-file arrays sort trivially; the empty id is fixed. */
	m = json_array();
	assert_int_equal(manifest_sort_files(m), 0);
	assert_int_equal(manifest_release_id(m, again), 0);
	assert_string_equal(again, "e3b0c44298fc1c14"); /* SHA-256 of "" */
	json_decref(m);
	json_decref(arr);
}

/* manifest_write_at for m.json in dir, its temp file in tmp: the folders
 * as descriptors, as the store passes them. */
static int write_in(json_t *m, const char *dir, const char *name, const char *tmp)
{
	char path[1024];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), tfd = open(tmp, O_RDONLY | O_DIRECTORY), err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_true(dfd >= 0);
	if (tfd < 0) {
		close(dfd);
		return wan_err_sys(0, "cannot create a temp file in '%s'", tmp);
	}
	err = manifest_write_at(m, dfd, name, path, tfd, tmp);
	close(dfd);
	close(tfd);
	return err;
}

static void test_manifest_files(void **state)
{
	char dir[] = "/tmp/test_core.XXXXXX", p[512], tmp[512], q[512];
	json_t *m = NULL, *back = NULL;
	struct stat sb;
	const char *text;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	assert_int_equal(mkdir(tmp, 0755), 0);
	text = doc("[{\"path\":\"a\",\"size\":1,\"mode\":420,\"sha256\":\"" H1 "\"}]", NULL);
	assert_int_equal(manifest_parse(text, strlen(text), "w", &m), 0);

	/* Missing, a folder, a symlink, corrupt. */
	snprintf(p, sizeof(p), "%s/none.json", dir);
	assert_true(manifest_load_at(AT_FDCWD, p, p, &back) < 0);
	assert_null(back);
	assert_int_equal(manifest_load_at(AT_FDCWD, tmp, tmp, &back), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "not a regular file"));
	snprintf(p, sizeof(p), "%s/bad.json", dir);
	{
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fputs("{\"format\":", f);
		fclose(f);
	}
	assert_int_equal(manifest_load_at(AT_FDCWD, p, p, &back), WAN_ECORRUPT);
	snprintf(q, sizeof(q), "%s/link.json", dir);
	assert_int_equal(symlink(p, q), 0);
	assert_true(manifest_load_at(AT_FDCWD, q, q, &back) < 0);
	assert_null(back);

	/* Written once, read back, never rewritten; the temp file is gone. */
	snprintf(p, sizeof(p), "%s/m.json", dir);
	assert_int_equal(write_in(m, dir, "m.json", tmp), 0);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0444);
	assert_int_equal(manifest_load_at(AT_FDCWD, p, p, &back), 0);
	assert_true(json_equal(back, m));
	json_decref(back);
	assert_int_equal(write_in(m, dir, "m.json", tmp), 0);
	assert_int_equal(rmdir(tmp), 0); /* empty */
	/* A temp folder that does not exist: a clean error, nothing published. */
	snprintf(p, sizeof(p), "%s/n.json", dir);
	assert_true(write_in(m, dir, "n.json", tmp) < 0);
	assert_non_null(strstr(wan_errmsg(), "cannot create"));
	assert_int_not_equal(access(p, F_OK), 0);

	json_decref(m);
	assert_int_equal(path_remove_tree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_rejects),
		cmocka_unit_test(test_manifest_accepts),
		cmocka_unit_test(test_manifest_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
