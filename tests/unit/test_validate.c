/*
 * Validation: staging checks on miniature fixtures (happy path of every
 * catalog spec, each plantable defect caught by its own check id), the
 * machine checks (disk, memory, GPU through the fake NVML library,
 * filesystem, dependencies), the smoke command and the readiness probe
 * against a real HTTP listener on loopback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/common.h"
#include "util/path.h"
#include "wanctl/catalog.h"
#include "wanctl/config.h"
#include "wanctl/fixture.h"
#include "wanctl/nvml.h"
#include "wanctl/report.h"
#include "wanctl/validate.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

static int setup(void **st)
{
	(void)st;
	snprintf(tmp, sizeof(tmp), "/tmp/wanctl-test-validate-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	path_remove_tree(tmp);
	return 0;
}

/* A configuration rooted in tmp, with extra JSON keys of "validation". */
static struct wan_config *cfg_with(const char *validation_json)
{
	char text[4096];
	struct wan_config *cfg = NULL;

	snprintf(text, sizeof(text),
		 "{\"source_models_path\": \"staging\", \"target_models_path\": \"prod\","
		 " \"validation\": {%s}}", validation_json ? validation_json : "");
	if (wan_config_load_string(&cfg, text, "test.json", tmp) < 0)
		fail_msg("config: %s", wan_errmsg());
	return cfg;
}

/* Status of the first check id (for model, NULL: any) or NULL. */
static const char *status_of(struct wan_report *r, const char *id, const char *where)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(wan_report_json(r), "checks"), i, c) {
		json_t *d = json_object_get(c, "details");
		const char *w = json_string_value(json_object_get(d, "where"));

		if (strcmp(json_string_value(json_object_get(c, "id")), id))
			continue;
		if (where && (!w || strcmp(w, where)))
			continue;
		return json_string_value(json_object_get(c, "status"));
	}
	return NULL;
}

/* Whether some check id has status st. */
static bool has_status(struct wan_report *r, const char *id, const char *st)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(wan_report_json(r), "checks"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "id")), id) &&
		    !strcmp(json_string_value(json_object_get(c, "status")), st))
			return true;
	return false;
}

static json_t *check_of(struct wan_report *r, const char *id)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(wan_report_json(r), "checks"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "id")), id))
			return c;
	return NULL;
}

static void dump(struct wan_report *r)
{
	char *s = json_dumps(wan_report_json(r), JSON_INDENT(1));

	print_message("%s\n", s ? s : "?");
	free(s);
}

static void write_fixture(const char *dir, const char *spec, enum wan_fixture_defect d)
{
	struct wan_fixture_opts o;

	memset(&o, 0, sizeof(o));
	o.seed = 7;
	o.defect = d;
	if (wan_fixture_write(dir, spec, &o, NULL) < 0)
		fail_msg("fixture %s: %s", spec, wan_errmsg());
}

/* ---- staging ------------------------------------------------------------- */

static void test_validate_staging_every_spec_passes(void **st)
{
	struct wan_config *cfg = cfg_with(NULL);

	(void)st;
	for (size_t i = 0; i < wan_catalog_count(); i++) {
		const struct wan_spec *s = wan_catalog_at(i);
		struct wan_report *r;
		char dir[512];

		if (s->kind == WAN_SPEC_DIFFUSERS)
			continue;
		r = wan_report_new();
		snprintf(dir, sizeof(dir), "%s/staging/%s", tmp, s->name);
		write_fixture(dir, s->name, WAN_DEFECT_NONE);
		assert_int_equal(wan_validate_staging_ex(cfg, s->name, s->name, dir,
							 WAN_VALIDATE_FULL, r, NULL), 0);
		if (wan_report_worst(r) == WAN_CHECK_FAIL) {
			dump(r);
			fail_msg("spec %s: fixture fails validation", s->name);
		}
		assert_string_equal(status_of(r, "staging.exists", NULL), "pass");
		assert_string_equal(status_of(r, "staging.layout", NULL), "pass");
		assert_string_equal(status_of(r, "staging.lfs_pointer", NULL), "pass");
		assert_string_equal(status_of(r, "staging.safetensors", NULL), "pass");
		assert_string_equal(status_of(r, "tensors.finite", NULL), "pass");
		if (s->kind == WAN_SPEC_WAN) {
			assert_false(has_status(r, "staging.architecture", "skip"));
			assert_true(has_status(r, "staging.architecture", "pass"));
			assert_string_equal(status_of(r, "staging.pth", NULL), "pass");
			/* Miniatures are far smaller than the published T5: a
			 * warning, never a failure. */
			assert_string_equal(status_of(r, "staging.placeholder", NULL), "warn");
		}
		/* Without a spec the layout tells which model it is. */
		if (s->kind == WAN_SPEC_WAN && !s->source) {
			struct wan_report *r2 = wan_report_new();
			json_t *c;

			assert_int_equal(wan_validate_staging(cfg, "x", NULL, dir, r2), 0);
			c = check_of(r2, "staging.layout");
			assert_non_null(c);
			assert_string_equal(json_string_value(json_object_get(
				json_object_get(c, "details"), "spec")), s->name);
			assert_int_not_equal(wan_report_worst(r2), WAN_CHECK_FAIL);
			wan_report_free(r2);
		}
		wan_report_free(r);
	}
	wan_config_free(cfg);
}

struct defect_case {
	const char *spec;
	enum wan_fixture_defect defect;
	const char *check;       /* the check id that must fail */
};

static void test_validate_staging_defects(void **st)
{
	static const struct defect_case cases[] = {
		{ "t2v-A14B", WAN_DEFECT_LFS_POINTER, "staging.lfs_pointer" },
		{ "t2v-A14B", WAN_DEFECT_ZERO_BYTE, "staging.placeholder" },
		{ "t2v-A14B", WAN_DEFECT_TRUNCATED, "staging.safetensors" },
		{ "t2v-A14B", WAN_DEFECT_MISSING_FILE, "staging.layout" },
		{ "t2v-A14B", WAN_DEFECT_NAN, "tensors.finite" },
		{ "t2v-A14B", WAN_DEFECT_WRONG_ARCH, "staging.architecture" },
		{ "t2v-A14B", WAN_DEFECT_BAD_INDEX_SHARD, "staging.index" },
		{ "t2v-A14B", WAN_DEFECT_BAD_INDEX_SIZE, "staging.index" },
		{ "t2v-A14B", WAN_DEFECT_MISSING_BLOCK, "staging.architecture" },
		{ "t2v-1.3B", WAN_DEFECT_LFS_POINTER, "staging.lfs_pointer" },
		{ "t2v-1.3B", WAN_DEFECT_TRUNCATED, "staging.safetensors" },
		{ "t2v-1.3B", WAN_DEFECT_WRONG_ARCH, "staging.architecture" },
		{ "i2v-14B", WAN_DEFECT_WRONG_ARCH, "staging.architecture" },
		{ "ti2v-5B", WAN_DEFECT_NAN, "tensors.finite" },
		{ "ti2v-5B", WAN_DEFECT_MISSING_FILE, "staging.layout" },
	};
	struct wan_config *cfg = cfg_with(NULL);

	(void)st;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct defect_case *dc = &cases[i];
		struct wan_report *r = wan_report_new(), *quick = wan_report_new();
		char dir[512];

		snprintf(dir, sizeof(dir), "%s/staging/d%zu", tmp, i);
		write_fixture(dir, dc->spec, dc->defect);
		assert_int_equal(wan_validate_staging_ex(cfg, "m", dc->spec, dir,
							 WAN_VALIDATE_FULL, r, NULL), 0);
		if (!has_status(r, dc->check, "fail")) {
			dump(r);
			fail_msg("%s with defect %s: %s did not fail", dc->spec,
				 wan_fixture_defect_name(dc->defect), dc->check);
		}
		assert_int_equal(wan_report_worst(r), WAN_CHECK_FAIL);
		/* Header-only validation catches all but the NaN. */
		assert_int_equal(wan_validate_staging(cfg, "m", dc->spec, dir, quick), 0);
		if (dc->defect == WAN_DEFECT_NAN)
			assert_int_not_equal(wan_report_worst(quick), WAN_CHECK_FAIL);
		else
			assert_true(has_status(quick, dc->check, "fail"));
		wan_report_free(r);
		wan_report_free(quick);
		path_remove_tree(dir);
	}
	wan_config_free(cfg);
}

static void test_validate_staging_messages(void **st)
{
	struct wan_config *cfg = cfg_with(NULL);
	struct wan_report *r = wan_report_new();
	char dir[512], p[600];
	json_t *c, *ptr;
	FILE *f;

	(void)st;
	snprintf(dir, sizeof(dir), "%s/staging/msg", tmp);
	write_fixture(dir, "t2v-1.3B", WAN_DEFECT_LFS_POINTER);
	/* An HTML error page saved under a .pth name. */
	snprintf(p, sizeof(p), "%s/Wan2.1_VAE.pth", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("<!DOCTYPE html><html>Entry not found</html>\n", f);
	fclose(f);
	assert_int_equal(wan_validate_staging(cfg, "m", "t2v-1.3B", dir, r), 0);
	c = check_of(r, "staging.lfs_pointer");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	ptr = json_array_get(json_object_get(json_object_get(c, "details"), "pointers"), 0);
	assert_string_equal(json_string_value(json_object_get(ptr, "file")),
			    "diffusion_pytorch_model.safetensors");
	assert_true(json_integer_value(json_object_get(ptr, "size")) > 1000);
	assert_int_equal(strlen(json_string_value(json_object_get(ptr, "oid"))), 64);
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "git-lfs pointer"));
	c = check_of(r, "staging.placeholder");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "Wan2.1_VAE.pth"));
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "DOCTYPE"));
	wan_report_free(r);

	/* A torch zip under a .bin name is checked like a .pth; a cut one fails. */
	{
		char src[600], cmd[2200];
		struct wan_report *rb = wan_report_new();

		snprintf(src, sizeof(src), "%s/models_t5_umt5-xxl-enc-bf16.pth", dir);
		snprintf(cmd, sizeof(cmd), "mkdir -p %s/w2v && head -c 2000 %s > %s/w2v/pytorch_model.bin",
			 dir, src, dir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(wan_validate_staging(cfg, "m", "t2v-1.3B", dir, rb), 0);
		c = check_of(rb, "staging.pth");
		assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
		assert_non_null(strstr(json_string_value(json_object_get(c, "message")),
				       "w2v/pytorch_model.bin"));
		wan_report_free(rb);
		snprintf(cmd, sizeof(cmd), "cp %s %s/w2v/pytorch_model.bin", src, dir);
		assert_int_equal(system(cmd), 0);
		rb = wan_report_new();
		assert_int_equal(wan_validate_staging(cfg, "m", "t2v-1.3B", dir, rb), 0);
		c = check_of(rb, "staging.pth");
		assert_string_equal(json_string_value(json_object_get(c, "status")), "pass");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "details"),
								   "files")), 2);
		wan_report_free(rb);
	}

	/* Missing staging folder. */
	r = wan_report_new();
	snprintf(p, sizeof(p), "%s/staging/none", tmp);
	assert_int_equal(wan_validate_staging(cfg, "none", NULL, p, r), 0);
	assert_string_equal(status_of(r, "staging.exists", NULL), "fail");
	wan_report_free(r);

	/* An unknown spec name is a layout failure with a suggestion. */
	r = wan_report_new();
	assert_int_equal(wan_validate_staging(cfg, "m", "t2v-A15B", dir, r), 0);
	c = check_of(r, "staging.layout");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "t2v-A14B"));
	wan_report_free(r);
	wan_config_free(cfg);
}

static void test_validate_staging_diffusers(void **st)
{
	struct wan_config *cfg = cfg_with(NULL);
	struct wan_report *r = wan_report_new();
	char dir[512], p[600];
	FILE *f;

	(void)st;
	snprintf(dir, sizeof(dir), "%s/staging/t2v-1.3B", tmp);
	write_fixture(dir, "t2v-1.3B", WAN_DEFECT_NONE);
	snprintf(p, sizeof(p), "%s/model_index.json", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("{\"_class_name\": \"WanPipeline\", \"_diffusers_version\": \"0.33.0\"}\n", f);
	fclose(f);
	/* Detected: named as a Diffusers layout, a warning. */
	assert_int_equal(wan_validate_staging(cfg, "w", NULL, dir, r), 0);
	assert_string_equal(status_of(r, "staging.layout", NULL), "warn");
	assert_non_null(strstr(json_string_value(json_object_get(check_of(r, "staging.layout"),
								   "message")), "Diffusers"));
	assert_int_not_equal(wan_report_worst(r), WAN_CHECK_FAIL);
	wan_report_free(r);
	/* Configured as an original Wan model: the wrong download. */
	r = wan_report_new();
	assert_int_equal(wan_validate_staging(cfg, "w", "t2v-1.3B", dir, r), 0);
	assert_string_equal(status_of(r, "staging.layout", NULL), "fail");
	wan_report_free(r);
	wan_config_free(cfg);
}

/* ---- system -------------------------------------------------------------- */

static void test_validate_system_disk_memory(void **st)
{
	struct wan_config *cfg = cfg_with("\"min_ram_gb\": 0.001, \"disk_margin_percent\": 10");
	struct wan_report *r = wan_report_new();
	const char *spec = "t2v-1.3B";
	json_t *c;

	(void)st;
	assert_int_equal(wan_validate_system(cfg, NULL, &spec, 1, 1000, r), 0);
	assert_string_equal(status_of(r, "system.disk", NULL), "pass");
	assert_string_equal(status_of(r, "system.memory", NULL), "pass");
	assert_string_equal(status_of(r, "system.filesystem", NULL), "pass");
	assert_string_equal(status_of(r, "system.dependencies", NULL), "skip");
	c = check_of(r, "system.disk");
	/* 1000 bytes + 10 % */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "details"),
							   "needed_bytes")), 1100);
	wan_report_free(r);
	wan_config_free(cfg);

	/* More than any disk holds; more RAM than any machine has. */
	cfg = cfg_with("\"min_ram_gb\": 1000000");
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, &spec, 1, UINT64_MAX / 4, r), 0);
	c = check_of(r, "system.disk");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_true(json_integer_value(json_object_get(json_object_get(c, "details"),
						       "missing_bytes")) > 0);
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "missing"));
	assert_string_equal(status_of(r, "system.memory", NULL), "fail");
	wan_report_free(r);
	wan_config_free(cfg);
}

static void test_validate_system_dependencies(void **st)
{
	struct wan_config *cfg = cfg_with("\"dependencies\": [\"sh\", \"/bin/sh\"]");
	struct wan_report *r = wan_report_new();
	json_t *c;

	(void)st;
	assert_int_equal(wan_validate_system(cfg, NULL, NULL, 0, 0, r), 0);
	assert_string_equal(status_of(r, "system.dependencies", NULL), "pass");
	wan_report_free(r);
	wan_config_free(cfg);
	cfg = cfg_with("\"dependencies\": [\"sh\", \"wanctl-no-such-command\", \"/nonexistent/python3\"]");
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, NULL, 0, 0, r), 0);
	c = check_of(r, "system.dependencies");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_int_equal(json_array_size(json_object_get(json_object_get(c, "details"),
							 "missing")), 2);
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")),
			       "wanctl-no-such-command"));
	wan_report_free(r);
	wan_config_free(cfg);
}

static void test_validate_system_filesystem(void **st)
{
	struct wan_config *cfg;
	struct wan_report *r;
	struct stat a, b;
	char text[1024];

	(void)st;
	/* /dev/shm is a tmpfs of its own on Linux; skip where it is not. */
	if (stat("/dev/shm", &a) < 0 || stat(tmp, &b) < 0 || a.st_dev == b.st_dev) {
		print_message("skipped: no second filesystem at /dev/shm\n");
		return;
	}
	snprintf(text, sizeof(text),
		 "{\"target_models_path\": \"%s/prod\", \"state_path\": \"/dev/shm/wanctl-test-%d/state\"}",
		 tmp, (int)getpid());
	assert_int_equal(wan_config_load_string(&cfg, text, "t.json", tmp), 0);
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, NULL, 0, 0, r), 0);
	assert_string_equal(status_of(r, "system.filesystem", NULL), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(check_of(r, "system.filesystem"),
								   "message")), "different filesystems"));
	wan_report_free(r);
	wan_config_free(cfg);
}

/* libfake_nvml.so sits beside this test executable. */
static void fake_nvml_path(char *buf, size_t size)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	assert_true(n > 0);
	self[n] = '\0';
	snprintf(buf, size, "%s/libfake_nvml.so", dirname(self));
}

static void test_validate_system_gpu(void **st)
{
	struct wan_config *cfg = cfg_with(NULL);
	struct wan_report *r;
	const char *big = "t2v-A14B", *small = "t2v-1.3B";
	char lib[600];
	json_t *c;

	(void)st;
	fake_nvml_path(lib, sizeof(lib));
	if (access(lib, R_OK) < 0) {
		print_message("skipped: %s not built\n", lib);
		wan_config_free(cfg);
		return;
	}
	/* No NVML: a warning, or a failure when a GPU is required. */
	wan_nvml_shutdown();
	setenv("WANCTL_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, &big, 1, 0, r), 0);
	c = check_of(r, "system.gpu");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "warn");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "no GPU visible"));
	wan_report_free(r);
	wan_config_free(cfg);
	cfg = cfg_with("\"require_gpu\": true");
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, &big, 1, 0, r), 0);
	assert_string_equal(status_of(r, "system.gpu", NULL), "fail");
	wan_report_free(r);

	/* One 80 GiB H100 (the fake's default): enough for A14B's 80 GB. */
	wan_nvml_shutdown();
	setenv("WANCTL_NVML_LIB", lib, 1);
	unsetenv("FAKE_NVML_MEM_TOTAL");
	setenv("FAKE_NVML_GPUS", "1", 1);
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, &big, 1, 0, r), 0);
	c = check_of(r, "system.gpu");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "pass");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "details"),
							      "driver")), "550.54.15");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(json_object_get(c, "details"), "gpus"), 0), "name")),
			    "NVIDIA H100 80GB HBM3");
	wan_report_free(r);

	/* A 24 GiB card: too small for A14B, enough for 1.3B. */
	setenv("FAKE_NVML_MEM_TOTAL", "25769803776", 1);
	setenv("FAKE_NVML_NAME", "NVIDIA GeForce RTX 4090", 1);
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, &big, 1, 0, r), 0);
	c = check_of(r, "system.gpu");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "RTX 4090"));
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "80.0 GB"));
	wan_report_free(r);
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, &small, 1, 0, r), 0);
	assert_string_equal(status_of(r, "system.gpu", NULL), "pass");
	wan_report_free(r);
	wan_config_free(cfg);

	/* min_vram_gb overrides the spec's figure. */
	cfg = cfg_with("\"min_vram_gb\": 40");
	r = wan_report_new();
	assert_int_equal(wan_validate_system(cfg, NULL, &small, 1, 0, r), 0);
	assert_string_equal(status_of(r, "system.gpu", NULL), "fail");
	wan_report_free(r);
	wan_config_free(cfg);
	unsetenv("FAKE_NVML_MEM_TOTAL");
	unsetenv("FAKE_NVML_NAME");
	wan_nvml_shutdown();
	setenv("WANCTL_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
}

/* ---- smoke ----------------------------------------------------------------- */

static void test_validate_fill_template(void **st)
{
	char *s = NULL;

	(void)st;
	assert_int_equal(wan_validate_fill_template("gen --task {model} --ckpt_dir {ckpt_dir} --size {size} --save_file {output}",
						    "t2v-1.3B", "/srv/models/t2v-1.3B", "/tmp/x/out.mp4",
						    "832*480", &s), 0);
	assert_string_equal(s, "gen --task t2v-1.3B --ckpt_dir /srv/models/t2v-1.3B --size '832*480' --save_file /tmp/x/out.mp4");
	free(s);
	assert_int_equal(wan_validate_fill_template("run {ckpt_dir}{unknown}", "m",
						    "/a b/it's", "o", "", &s), 0);
	assert_string_equal(s, "run '/a b/it'\\''s'{unknown}");
	free(s);
}

static struct wan_report *smoke(const char *validation_json, double prev, double *secs)
{
	struct wan_config *cfg = cfg_with(validation_json);
	struct wan_report *r = wan_report_new();
	struct wan_post_ctx c;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/prod-m", tmp);
	mkdir(dir, 0755);
	memset(&c, 0, sizeof(c));
	c.model = "m";
	c.spec = "t2v-1.3B";
	c.release = "0123456789abcdef";
	c.ckpt_dir = dir;
	c.prev_smoke_seconds = prev;
	assert_int_equal(wan_validate_post(cfg, &c, r, secs), 0);
	wan_config_free(cfg);
	return r;
}

static void test_validate_smoke(void **st)
{
	struct wan_report *r;
	double secs = 0;
	json_t *c, *d;

	(void)st;
	/* Not configured: every post check is skipped. */
	r = smoke(NULL, -1, &secs);
	assert_string_equal(status_of(r, "inference.smoke", NULL), "skip");
	assert_string_equal(status_of(r, "service.ready", NULL), "skip");
	assert_string_equal(status_of(r, "tensors.finite", NULL), "skip");
	assert_true(secs < 0);
	wan_report_free(r);

	/* Pass: exit 0, output written, placeholders filled. */
	r = smoke("\"inference_command\": \"echo model={model} size={size} dir={ckpt_dir}; printf video > {output}\"",
		  -1, &secs);
	c = check_of(r, "inference.smoke");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "pass");
	d = json_object_get(c, "details");
	assert_int_equal(json_integer_value(json_object_get(d, "exit_status")), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "output_bytes")), 5);
	assert_true(json_integer_value(json_object_get(d, "max_rss")) > 0);
	assert_non_null(strstr(json_string_value(json_object_get(d, "output_tail")),
			       "model=m size=832*480 dir="));
	assert_true(secs >= 0 && secs < 10);
	wan_report_free(r);

	/* The values are in the environment too. */
	r = smoke("\"inference_command\": \"test -d \\\"$WANCTL_CKPT_DIR\\\" && echo $WANCTL_MODEL:$WANCTL_SIZE:$WANCTL_RELEASE > \\\"$WANCTL_OUTPUT\\\"\"",
		  -1, &secs);
	c = check_of(r, "inference.smoke");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "pass");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "details"),
							   "output_bytes")),
			 strlen("m:832*480:0123456789abcdef\n"));
	wan_report_free(r);

	/* Non-zero exit: the message carries the status and the last line. */
	r = smoke("\"inference_command\": \"echo CUDA out of memory >&2; exit 3\"", -1, &secs);
	c = check_of(r, "inference.smoke");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "status 3"));
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "CUDA out of memory"));
	assert_true(secs < 0);
	wan_report_free(r);

	/* Timeout. */
	r = smoke("\"inference_command\": \"sleep 30\", \"inference_timeout_seconds\": 1", -1, &secs);
	c = check_of(r, "inference.smoke");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_true(json_is_true(json_object_get(json_object_get(c, "details"), "timed_out")));
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "timed out"));
	wan_report_free(r);

	/* Exit 0 without output, and with an empty output. */
	r = smoke("\"inference_command\": \"true\"", -1, &secs);
	assert_string_equal(status_of(r, "inference.smoke", NULL), "fail");
	wan_report_free(r);
	r = smoke("\"inference_command\": \": > {output}\"", -1, &secs);
	c = check_of(r, "inference.smoke");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "empty"));
	wan_report_free(r);

	/* Over max_inference_seconds. */
	r = smoke("\"inference_command\": \"sleep 0.3; echo x > {output}\", \"max_inference_seconds\": 0.1",
		  -1, &secs);
	c = check_of(r, "inference.smoke");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "max_inference_seconds"));
	wan_report_free(r);

	/* Slower than the previous release by more than 20 %, and within. */
	r = smoke("\"inference_command\": \"sleep 0.3; echo x > {output}\"", 0.1, &secs);
	c = check_of(r, "inference.smoke");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "slower than the previous"));
	wan_report_free(r);
	r = smoke("\"inference_command\": \"echo x > {output}\"", 10, &secs);
	assert_string_equal(status_of(r, "inference.smoke", NULL), "pass");
	wan_report_free(r);
}

/* GPU memory is sampled through NVML while the smoke command runs: the
 * command raises the fake driver's "used" figure for a moment. */
static void test_validate_smoke_gpu_peak(void **st)
{
	char lib[600], file[600], v[2048];
	struct wan_report *r;
	json_t *d;
	FILE *f;

	(void)st;
	fake_nvml_path(lib, sizeof(lib));
	if (access(lib, R_OK) < 0) {
		print_message("skipped: %s not built\n", lib);
		return;
	}
	snprintf(file, sizeof(file), "%s/nvml.env", tmp);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("FAKE_NVML_MEM_USED=1000000000\n", f);
	fclose(f);
	wan_nvml_shutdown();
	setenv("WANCTL_NVML_LIB", lib, 1);
	setenv("FAKE_NVML_FILE", file, 1);
	setenv("FAKE_NVML_GPUS", "1", 1);
	snprintf(v, sizeof(v),
		 "\"inference_command\": \"echo FAKE_NVML_MEM_USED=50000000000 > %s; sleep 1;"
		 " echo FAKE_NVML_MEM_USED=1000000000 > %s; echo v > {output}\"", file, file);
	r = smoke(v, -1, NULL);
	d = json_object_get(check_of(r, "inference.smoke"), "details");
	assert_string_equal(status_of(r, "inference.smoke", NULL), "pass");
	assert_int_equal(json_integer_value(json_object_get(d, "gpu_memory_baseline")), 1000000000);
	assert_int_equal(json_integer_value(json_object_get(d, "gpu_memory_peak")), 50000000000LL);
	assert_true(json_integer_value(json_object_get(d, "gpu_samples")) >= 2);
	wan_report_free(r);
	unsetenv("FAKE_NVML_FILE");
	wan_nvml_shutdown();
	setenv("WANCTL_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
	/* Without a GPU nothing is sampled. */
	r = smoke("\"inference_command\": \"echo v > {output}\"", -1, NULL);
	d = json_object_get(check_of(r, "inference.smoke"), "details");
	assert_null(json_object_get(d, "gpu_memory_peak"));
	wan_report_free(r);
}

/* Only headers are read: a 64 GiB (sparse) shard validates at once. */
static void test_validate_staging_headers_only(void **st)
{
	static const char hdr[] =
		"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4],\"data_offsets\":[0,68719476736]}}";
	struct wan_config *cfg = cfg_with(NULL);
	struct wan_report *r = wan_report_new();
	char dir[512], p[600], buf[128];
	uint64_t n = 88, bytes = 0;
	double t0;
	FILE *f;

	(void)st;
	assert_true(strlen(hdr) <= n);
	memset(buf, ' ', sizeof(buf));
	memcpy(buf + 8, hdr, strlen(hdr));
	for (int i = 0; i < 8; i++)
		buf[i] = (char)(n >> (8 * i));
	snprintf(dir, sizeof(dir), "%s/staging/big", tmp);
	assert_int_equal(path_mkdirs(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, 8 + n, f), 8 + n);
	fclose(f);
	assert_int_equal(truncate(p, (off_t)(8 + n + 68719476736ULL)), 0);
	t0 = wan_now_mono();
	assert_int_equal(wan_validate_staging_ex(cfg, "big", NULL, dir, 0, r, &bytes), 0);
	assert_true(wan_now_mono() - t0 < 1.0);
	assert_int_equal(bytes, 8 + n + 68719476736ULL);
	assert_string_equal(status_of(r, "staging.safetensors", NULL), "pass");
	assert_string_equal(status_of(r, "staging.layout", NULL), "pass");
	wan_report_free(r);
	wan_config_free(cfg);
}

/* ---- readiness ---------------------------------------------------------------- */

struct http_srv {
	int fd;
	int port;
	int status;             /* HTTP status answered */
	volatile int stop;
	pthread_t th;
};

static void *http_main(void *arg)
{
	struct http_srv *s = arg;

	while (!s->stop) {
		struct pollfd pf = { .fd = s->fd, .events = POLLIN };
		char req[2048], resp[256];
		int c;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		(void)read(c, req, sizeof(req));
		snprintf(resp, sizeof(resp),
			 "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
			 s->status);
		(void)write(c, resp, strlen(resp));
		close(c);
	}
	return NULL;
}

static void http_start(struct http_srv *s, int status)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->status = status;
	s->stop = 0;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &l), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, http_main, s), 0);
}

static void http_stop(struct http_srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->fd);
}

static void test_validate_ready(void **st)
{
	struct http_srv srv;
	struct wan_report *r;
	char v[256];
	double t0;
	json_t *c;

	(void)st;
	http_start(&srv, 200);
	snprintf(v, sizeof(v), "\"readiness_url\": \"http://127.0.0.1:%d/readyz\", \"readiness_timeout_seconds\": 5",
		 srv.port);
	r = smoke(v, -1, NULL);
	c = check_of(r, "service.ready");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "pass");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "details"), "status")), 200);
	wan_report_free(r);
	http_stop(&srv);

	/* 503 until the timeout. */
	http_start(&srv, 503);
	snprintf(v, sizeof(v), "\"readiness_url\": \"http://127.0.0.1:%d/readyz\", \"readiness_timeout_seconds\": 1",
		 srv.port);
	t0 = wan_now_mono();
	r = smoke(v, -1, NULL);
	c = check_of(r, "service.ready");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "HTTP 503"));
	assert_true(json_integer_value(json_object_get(json_object_get(c, "details"), "attempts")) >= 2);
	assert_true(wan_now_mono() - t0 < 4);
	wan_report_free(r);
	http_stop(&srv);

	/* Nobody listening (the port just closed). */
	r = smoke(v, -1, NULL);
	assert_string_equal(status_of(r, "service.ready", NULL), "fail");
	wan_report_free(r);
}

/* ---- tensors.finite on production ----------------------------------------------- */

static void test_validate_post_scan(void **st)
{
	struct wan_config *cfg = cfg_with(NULL);
	struct wan_report *r;
	struct wan_post_ctx c;
	char dir[512];
	json_t *ck;

	(void)st;
	snprintf(dir, sizeof(dir), "%s/prod/nan", tmp);
	write_fixture(dir, "t2v-1.3B", WAN_DEFECT_NAN);
	memset(&c, 0, sizeof(c));
	c.model = "nan";
	c.ckpt_dir = dir;
	c.prev_smoke_seconds = -1;
	c.scan_tensors = true;
	r = wan_report_new();
	assert_int_equal(wan_validate_post(cfg, &c, r, NULL), 0);
	ck = check_of(r, "tensors.finite");
	assert_string_equal(json_string_value(json_object_get(ck, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(ck, "message")),
			       "blocks.0.self_attn.q.weight"));
	assert_non_null(strstr(json_string_value(json_object_get(ck, "message")), "element"));
	wan_report_free(r);
	path_remove_tree(dir);
	write_fixture(dir, "t2v-1.3B", WAN_DEFECT_NONE);
	r = wan_report_new();
	assert_int_equal(wan_validate_post(cfg, &c, r, NULL), 0);
	assert_string_equal(status_of(r, "tensors.finite", NULL), "pass");
	wan_report_free(r);
	wan_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_validate_staging_every_spec_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_staging_defects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_staging_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_staging_diffusers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_system_disk_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_system_dependencies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_system_filesystem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_system_gpu, setup, teardown),
		cmocka_unit_test(test_validate_fill_template),
		cmocka_unit_test_setup_teardown(test_validate_smoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_smoke_gpu_peak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_staging_headers_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_post_scan, setup, teardown),
	};

	setenv("WANCTL_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
