/*
 * What the monitor watches, on a release layout built by hand: the list of
 * deployed models, availability and its failure modes, and the rolling
 * scrub (resumes across small budgets, finds a changed byte, recovers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "util/path.h"
#include "util/sha256.h"
#include "wanctl/monitor.h"

struct lay {
	char root[64];
	char target[512], state[1024];
	struct wan_config cfg;
};

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* One object in the store, hard-linked into the release as rel. */
static void add_file(struct lay *l, const char *model, const char *id, const char *rel,
		     const char *content, json_t *files)
{
	char hex[WAN_SHA256_HEX], obj[4096], dir[2048], dst[4096], dstdir[4096];

	wan_sha256_hex(content, strlen(content), hex);
	snprintf(dir, sizeof(dir), "%s/objects/sha256/%.2s", l->state, hex);
	assert_int_equal(path_mkdirs(dir, 0755), 0);
	snprintf(obj, sizeof(obj), "%s/%s", dir, hex + 2);
	if (access(obj, F_OK) != 0)
		write_file(obj, content, strlen(content));
	snprintf(dst, sizeof(dst), "%s/releases/%s/%s/%s", l->state, model, id, rel);
	memcpy(dstdir, dst, sizeof(dstdir));
	*strrchr(dstdir, '/') = '\0';
	assert_int_equal(path_mkdirs(dstdir, 0755), 0);
	assert_int_equal(link(obj, dst), 0);
	json_array_append_new(files, json_pack("{s:s, s:I, s:i, s:s}", "path", rel,
		"size", (json_int_t)strlen(content), "mode", 0444, "sha256", hex));
}

static void deploy(struct lay *l, const char *model, const char *id)
{
	char path[4096], link_target[256];
	json_t *files = json_array(), *m;

	add_file(l, model, id, "config.json", "{\"dim\": 16}", files);
	add_file(l, model, id, "high_noise_model/diffusion.safetensors",
		 "0123456789abcdefghijklmnopqrstuvwxyz-a-model-file", files);
	m = json_pack("{s:s, s:s, s:s, s:o}", "format", "wanctl-manifest-1", "model", model,
		      "release", id, "files", files);
	snprintf(path, sizeof(path), "%s/releases/%s/%s.json", l->state, model, id);
	assert_int_equal(json_dump_file(m, path, 0), 0);
	json_decref(m);
	snprintf(path, sizeof(path), "%s/%s", l->target, model);
	snprintf(link_target, sizeof(link_target), ".wanctl/releases/%s/%s", model, id);
	unlink(path);
	assert_int_equal(symlink(link_target, path), 0);
}

static int setup(void **st)
{
	struct lay *l = calloc(1, sizeof(*l));

	snprintf(l->root, sizeof(l->root), "/tmp/test_watch.XXXXXX");
	assert_non_null(mkdtemp(l->root));
	snprintf(l->target, sizeof(l->target), "%s/production", l->root);
	snprintf(l->state, sizeof(l->state), "%s/.wanctl", l->target);
	assert_int_equal(path_mkdirs(l->state, 0755), 0);
	l->cfg.target_models_path = l->target;
	l->cfg.state_path = l->state;
	deploy(l, "alpha", "00000000000000aa");
	*st = l;
	return 0;
}

static int teardown(void **st)
{
	struct lay *l = *st;

	path_remove_tree(l->root);
	free(l);
	return 0;
}

static void test_watch_list(void **st)
{
	struct lay *l = *st;
	struct wan_model_cfg mc = { (char *)"configured", NULL, NULL };
	char **names, other[1024];
	size_t n;

	l->cfg.models = &mc;
	l->cfg.nmodels = 1;
	/* A plain folder and a link elsewhere are not deployed models. */
	snprintf(other, sizeof(other), "%s/unmanaged", l->target);
	assert_int_equal(mkdir(other, 0755), 0);
	snprintf(other, sizeof(other), "%s/elsewhere", l->target);
	assert_int_equal(symlink("/tmp", other), 0);
	assert_int_equal(wan_watch_list(&l->cfg, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "alpha");
	assert_string_equal(names[1], "configured");
	wan_watch_names_free(names, n);
	l->cfg.models = NULL;
	l->cfg.nmodels = 0;
}

static void test_watch_available_and_failures(void **st)
{
	struct lay *l = *st;
	struct wan_watch_model m;
	char f[1024], obj[1024], tmp[1100];

	assert_int_equal(wan_watch_check(&l->cfg, "alpha", &m), 0);
	assert_true(m.available);
	assert_string_equal(m.release, "00000000000000aa");
	assert_int_equal(m.nf, 2);
	assert_int_equal(m.files, 2);
	wan_watch_model_release(&m);

	assert_int_equal(wan_watch_check(&l->cfg, "nosuch", &m), 0);
	assert_false(m.available);
	assert_non_null(strstr(m.reason, "not deployed"));
	wan_watch_model_release(&m);

	/* A production file replaced by a copy of the same size: not the
	 * store object any more. */
	snprintf(f, sizeof(f), "%s/alpha/config.json", l->target);
	snprintf(tmp, sizeof(tmp), "%s.copy", f);
	write_file(tmp, "{\"dim\": 16}", 11);
	assert_int_equal(rename(tmp, f), 0);
	assert_int_equal(wan_watch_check(&l->cfg, "alpha", &m), 0);
	assert_false(m.available);
	assert_non_null(strstr(m.reason, "is not the store object"));
	wan_watch_model_release(&m);

	/* Missing file. */
	assert_int_equal(unlink(f), 0);
	assert_int_equal(wan_watch_check(&l->cfg, "alpha", &m), 0);
	assert_false(m.available);
	assert_non_null(strstr(m.reason, "config.json' is missing"));
	wan_watch_model_release(&m);

	/* Wrong size (truncated through the hard link, so the object too). */
	snprintf(obj, sizeof(obj), "%s/alpha/high_noise_model/diffusion.safetensors", l->target);
	assert_int_equal(truncate(obj, 3), 0);
	deploy(l, "beta", "00000000000000bb");
	assert_int_equal(wan_watch_check(&l->cfg, "beta", &m), 0);
	assert_false(m.available);
	assert_non_null(strstr(m.reason, "has 3 bytes, the manifest says 49"));
	wan_watch_model_release(&m);

	/* A dangling link. */
	snprintf(f, sizeof(f), "%s/gamma", l->target);
	assert_int_equal(symlink(".wanctl/releases/gamma/0000000000000000", f), 0);
	assert_int_equal(wan_watch_check(&l->cfg, "gamma", &m), 0);
	assert_false(m.available);
	assert_non_null(strstr(m.reason, "does not resolve"));
	wan_watch_model_release(&m);
}

/* Step until one more pass has completed. */
static void run_pass(struct wan_scrub *s)
{
	struct wan_scrub_status ss;
	uint64_t before;
	double idle;

	assert_int_equal(wan_scrub_status(s, "alpha", &ss), 0);
	before = ss.passes;
	for (int i = 0; i < 10 && ss.passes == before; i++) {
		wan_scrub_step(s, 16, &idle);
		assert_int_equal(wan_scrub_status(s, "alpha", &ss), 0);
	}
	assert_int_equal(ss.passes, before + 1);
}

static void test_watch_scrub(void **st)
{
	struct lay *l = *st;
	struct wan_watch_model m;
	struct wan_scrub *s;
	struct wan_scrub_status ss;
	double idle;
	uint64_t total = 0, n;
	char f[1024];
	int fd, steps = 0;

	assert_int_equal(wan_watch_check(&l->cfg, "alpha", &m), 0);
	assert_true(m.available);
	assert_int_equal(wan_scrub_new(&s, &l->cfg), 0);
	/* One pass an hour: 7 bytes at a time, the pass resumes across steps,
	 * then the scrub idles. */
	assert_int_equal(wan_scrub_set_models(s, &m, 1, 3600), 0);
	while ((n = wan_scrub_step(s, 7, &idle)) > 0 && steps < 100) {
		assert_true(n <= 7);
		total += n;
		steps++;
	}
	assert_true(idle > 3000);
	assert_int_equal(total, 11 + 49);
	assert_true(steps >= 60 / 7);
	assert_int_equal(wan_scrub_status(s, "alpha", &ss), 0);
	assert_true(ss.ok && ss.checked);
	assert_int_equal(ss.passes, 1);
	assert_int_equal(wan_scrub_bytes_total(s), 60);
	/* No spacing: passes follow each other. */
	assert_int_equal(wan_scrub_set_models(s, &m, 1, 0), 0);

	/* A changed byte is found on the next pass, named, and clears once a
	 * pass is clean again. */
	snprintf(f, sizeof(f), "%s/alpha/high_noise_model/diffusion.safetensors", l->target);
	fd = open(f, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 10), 1);
	run_pass(s);
	assert_int_equal(wan_scrub_status(s, "alpha", &ss), 0);
	assert_false(ss.ok);
	assert_string_equal(ss.bad_file, "high_noise_model/diffusion.safetensors");
	assert_true(ss.bad_since > 1e9);
	assert_int_equal(pwrite(fd, "a", 1, 10), 1);
	close(fd);
	run_pass(s);
	assert_int_equal(wan_scrub_status(s, "alpha", &ss), 0);
	assert_true(ss.ok);
	assert_string_equal(ss.bad_file, "");
	assert_int_equal(ss.passes, 3);
	wan_scrub_free(s);
	wan_watch_model_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_watch_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_available_and_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_scrub, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
