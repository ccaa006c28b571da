/* The model catalog: specs, user specs, detection, architecture rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "util/path.h"
#include "wanctl/catalog.h"
#include "wanctl/fixture.h"
#include "wanctl/report.h"

static const char *const wan_models[] = {
	"t2v-A14B", "i2v-A14B", "ti2v-5B", "s2v-14B", "animate-14B", "t2v-14B",
	"t2v-1.3B", "i2v-14B", "flf2v-14B", "vace-14B", "vace-1.3B",
};

static char *scratch(void)
{
	char tmpl[] = "/tmp/wanctl-test-catalog-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[WAN_PATH_MAX];
	FILE *f;

	assert_int_equal(path_join(p, sizeof(p), dir, name), 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static json_t *load(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);

	if (!j)
		fail_msg("cannot load %s: %s", path, e.text);
	return j;
}

static json_t *arch_config(const char *model_type, unsigned dim, unsigned ffn,
			   unsigned layers, unsigned in_dim, const char *ver)
{
	return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:i}",
			 "_class_name", "WanModel", "_diffusers_version", ver,
			 "dim", dim, "ffn_dim", ffn, "num_heads", dim / 128 ? dim / 128 : 1,
			 "num_layers", layers, "in_dim", in_dim, "out_dim", 16,
			 "model_type", model_type, "freq_dim", 256);
}

static void test_catalog_builtin_specs(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(wan_models); i++) {
		const struct wan_spec *s = wan_catalog_find(wan_models[i]);

		assert_non_null(s);
		assert_string_equal(s->name, wan_models[i]);
		assert_int_equal(s->kind, WAN_SPEC_WAN);
		assert_true(s->approx_bytes > 10000000000ull);
		assert_true(s->gpu_memory_gb > 0);
		assert_non_null(s->gpu_memory_source);
		assert_non_null(s->smoke_template);
		assert_non_null(strstr(s->smoke_template, "{ckpt_dir}"));
		assert_non_null(strstr(s->smoke_template, "{output}"));
		assert_non_null(strstr(s->smoke_template, s->name));
		assert_true(s->ndits >= 1);
	}
	assert_true(wan_catalog_find("t2v-A14B")->gpu_memory_gb == 80);
	assert_true(wan_catalog_find("i2v-A14B")->gpu_memory_gb == 80);
	assert_true(wan_catalog_find("s2v-14B")->gpu_memory_gb == 80);
	assert_true(wan_catalog_find("ti2v-5B")->gpu_memory_gb == 24);
	assert_true(wan_catalog_find("t2v-1.3B")->gpu_memory_gb == 8.19);
	assert_int_equal(wan_catalog_find("t2v-A14B")->ndits, 2);
	assert_string_equal(wan_catalog_find("t2v-A14B")->dits[0].folder, "high_noise_model");
	assert_int_equal(wan_catalog_find("diffusers")->kind, WAN_SPEC_DIFFUSERS);
	assert_int_equal(wan_catalog_find("safetensors")->kind, WAN_SPEC_GENERIC);
	assert_null(wan_catalog_find("t2v-A15B"));
	assert_string_equal(wan_catalog_suggest("t2v-A14"), "t2v-A14B");
	assert_string_equal(wan_catalog_suggest("T2V-1.3b"), "t2v-1.3B");
	assert_null(wan_catalog_suggest("completely-different"));
	assert_int_equal(wan_catalog_count(), ARRAY_SIZE(wan_models) + 2);
}

static bool has_path(const struct wan_spec_path *v, size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].path, p))
			return true;
	return false;
}

static void test_catalog_spec_files(void **state)
{
	struct wan_spec_path *v;
	size_t n;
	json_t *j;

	(void)state;
	assert_int_equal(wan_spec_files(wan_catalog_find("t2v-A14B"), &v, &n), 0);
	assert_true(has_path(v, n, "models_t5_umt5-xxl-enc-bf16.pth"));
	assert_true(has_path(v, n, "google/umt5-xxl/spiece.model"));
	assert_true(has_path(v, n, "Wan2.1_VAE.pth"));
	assert_true(has_path(v, n, "high_noise_model/config.json"));
	assert_true(has_path(v, n, "low_noise_model/diffusion_pytorch_model.safetensors.index.json"));
	assert_true(has_path(v, n, "low_noise_model/diffusion_pytorch_model-00006-of-00006.safetensors"));
	assert_false(has_path(v, n, "config.json")); /* A14B: no root config */
	assert_false(has_path(v, n, "Wan2.2_VAE.pth"));
	wan_spec_files_free(v, n);
	assert_int_equal(wan_spec_files(wan_catalog_find("ti2v-5B"), &v, &n), 0);
	assert_true(has_path(v, n, "Wan2.2_VAE.pth"));
	assert_true(has_path(v, n, "diffusion_pytorch_model-00003-of-00003.safetensors"));
	wan_spec_files_free(v, n);
	assert_int_equal(wan_spec_files(wan_catalog_find("t2v-1.3B"), &v, &n), 0);
	assert_true(has_path(v, n, "diffusion_pytorch_model.safetensors"));
	assert_false(has_path(v, n, "diffusion_pytorch_model.safetensors.index.json"));
	wan_spec_files_free(v, n);
	assert_int_equal(wan_spec_files(wan_catalog_find("i2v-14B"), &v, &n), 0);
	assert_true(has_path(v, n, "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"));
	assert_true(has_path(v, n, "xlm-roberta-large"));
	assert_true(has_path(v, n, "diffusion_pytorch_model-00007-of-00007.safetensors"));
	wan_spec_files_free(v, n);
	assert_int_equal(wan_spec_files(wan_catalog_find("s2v-14B"), &v, &n), 0);
	assert_true(has_path(v, n, "wav2vec2-large-xlsr-53-english"));
	wan_spec_files_free(v, n);
	assert_int_equal(wan_spec_files(wan_catalog_find("animate-14B"), &v, &n), 0);
	assert_true(has_path(v, n, "relighting_lora.ckpt"));
	assert_true(has_path(v, n, "process_checkpoint/det/yolov10m.onnx"));
	wan_spec_files_free(v, n);

	j = wan_spec_json(wan_catalog_find("t2v-1.3B"));
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "t2v-1.3B");
	assert_true(json_array_size(json_object_get(j, "files")) > 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
		json_object_get(j, "files"), 0), "size")), 11361920418ll);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(
		json_object_get(j, "dits"), 0), "config"), "dim")), 1536);
	json_decref(j);
}

/* The names derived from the real Wan2.2-TI2V-5B config.json are exactly the
 * 825 keys of the real index, and their fp32 bytes its total_size. */
static void test_catalog_ti2v_real_index(void **state)
{
	const char *shared = getenv("WANCTL_SHARED");
	char p[WAN_PATH_MAX];
	json_t *cfg, *ix, *wm;
	struct wan_tensor_list *l = NULL;
	uint64_t bytes = 0;

	(void)state;
	assert_non_null(shared);
	snprintf(p, sizeof(p), "%s/reference/realfiles/index/wan22ti2v5b__config.json", shared);
	cfg = load(p);
	snprintf(p, sizeof(p), "%s/reference/realfiles/index/wan22ti2v5b__diffusion_pytorch_model.safetensors.index.json",
		 shared);
	ix = load(p);
	wm = json_object_get(ix, "weight_map");
	assert_int_equal(json_object_size(wm), 825);
	assert_int_equal(wan_arch_expected(cfg, 0, &l), 0);
	assert_int_equal(l->n, 825);
	for (size_t i = 0; i < l->n; i++) {
		if (!json_object_get(wm, l->v[i].name))
			fail_msg("derived tensor '%s' not in the real index", l->v[i].name);
		bytes += wan_tensor_numel(&l->v[i]) * 4;
	}
	assert_int_equal(bytes, 19999150848ull);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ix, "metadata"),
							    "total_size")), (json_int_t)bytes);
	assert_int_equal(l->nopen, 0);
	wan_tensor_list_free(l);
	json_decref(cfg);
	json_decref(ix);
}

static void expect_counts(json_t *cfg, unsigned flags, size_t tensors, uint64_t params)
{
	struct wan_tensor_list *l = NULL;

	assert_non_null(cfg);
	assert_int_equal(wan_arch_expected(cfg, flags, &l), 0);
	assert_int_equal(l->n, tensors);
	if (params)
		assert_int_equal(wan_tensor_list_numel(l), params);
	wan_tensor_list_free(l);
	json_decref(cfg);
}

/* Tensor and parameter counts of wan-models.md §3 at real dims. */
static void test_catalog_real_counts(void **state)
{
	json_t *vace;

	(void)state;
	/* t2v-A14B expert and t2v-14B: 1095 tensors, 14.288 B params. */
	expect_counts(arch_config("t2v", 5120, 13824, 40, 16, "0.33.0"), 0, 1095, 14288491584ull);
	expect_counts(arch_config("t2v", 5120, 13824, 40, 16, "0.30.0"), 0, 1095, 14288491584ull);
	/* Wan2.1 i2v-14B: 1303 tensors, 16.395 B. */
	expect_counts(arch_config("i2v", 5120, 13824, 40, 36, "0.30.0"), 0, 1303, 16394878784ull);
	expect_counts(arch_config("i2v", 5120, 13824, 40, 36, "0.33.0"), WAN_ARCH_WAN21, 1303, 0);
	/* Wan2.2 i2v-A14B expert: no CLIP branch, 14.289 B. */
	expect_counts(arch_config("i2v", 5120, 13824, 40, 36, "0.33.0"), 0, 1095, 14288901184ull);
	expect_counts(arch_config("i2v", 5120, 13824, 40, 36, "0.30.0"), WAN_ARCH_WAN22, 1095, 0);
	/* flf2v adds img_emb.emb_pos. */
	expect_counts(arch_config("flf2v", 5120, 13824, 40, 36, "0.30.0"), 0, 1304, 16395536704ull);
	/* t2v-1.3B: 825 tensors, 1.419 B (5.68 GB fp32). */
	expect_counts(arch_config("t2v", 1536, 8960, 30, 16, "0.30.0"), 0, 825, 1418996800ull);
	/* vace-14B: 17.34 B (69.35 GB fp32). */
	vace = arch_config("vace", 5120, 13824, 40, 16, "0.30.0");
	json_object_set_new(vace, "vace_layers", json_pack("[i,i,i,i,i,i,i,i]", 0, 5, 10, 15, 20, 25, 30, 35));
	json_object_set_new(vace, "vace_in_dim", json_integer(96));
	expect_counts(vace, 0, 1331, 17337592896ull);
	/* catalog spec architectures give the same figures */
	expect_counts(wan_arch_config_json(&wan_catalog_find("t2v-A14B")->arch),
		      wan_arch_flags_for(wan_catalog_find("t2v-A14B")), 1095, 14288491584ull);
	expect_counts(wan_arch_config_json(&wan_catalog_find("i2v-A14B")->arch),
		      wan_arch_flags_for(wan_catalog_find("i2v-A14B")), 1095, 14288901184ull);
	expect_counts(wan_arch_config_json(&wan_catalog_find("i2v-14B")->arch),
		      wan_arch_flags_for(wan_catalog_find("i2v-14B")), 1303, 16394878784ull);
	expect_counts(wan_arch_config_json(&wan_catalog_find("vace-14B")->arch),
		      wan_arch_flags_for(wan_catalog_find("vace-14B")), 1331, 17337592896ull);
	expect_counts(wan_arch_config_json(&wan_catalog_find("vace-1.3B")->arch),
		      wan_arch_flags_for(wan_catalog_find("vace-1.3B")), 1264, 2153972032ull);
}

static void test_catalog_arch_errors(void **state)
{
	struct wan_tensor_list *l = NULL;
	json_t *c;

	(void)state;
	c = arch_config("t2v", 5120, 13824, 40, 16, "0.33.0");
	json_object_del(c, "dim");
	assert_int_equal(wan_arch_expected(c, 0, &l), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "'dim'"));
	json_decref(c);
	c = arch_config("t3v", 5120, 13824, 40, 16, "0.33.0");
	assert_int_equal(wan_arch_expected(c, 0, &l), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "model_type"));
	json_decref(c);
	c = arch_config("t2v", 5121, 13824, 40, 16, "0.33.0");
	assert_int_equal(wan_arch_expected(c, 0, &l), WAN_EINVAL);
	json_decref(c);
	c = arch_config("t2v", 5120, 13824, 40, 16, "0.33.0");
	json_object_set_new(c, "num_layers", json_string("40"));
	assert_int_equal(wan_arch_expected(c, 0, &l), WAN_EINVAL);
	assert_non_null(strstr(wan_errmsg(), "num_layers"));
	json_decref(c);
	assert_null(l);
}

static struct wan_tensor_list *copy_without(const struct wan_tensor_list *l, const char *prefix)
{
	struct wan_tensor_list *c = wan_tensor_list_new();

	for (size_t i = 0; i < l->n; i++)
		if (!prefix || strncmp(l->v[i].name, prefix, strlen(prefix)))
			assert_int_equal(wan_tensor_list_add(c, l->v[i].name, l->v[i].shape,
							     l->v[i].ndim), 0);
	return c;
}

static void test_catalog_arch_compare(void **state)
{
	struct wan_tensor_list *exp = NULL, *act, *i2v = NULL;
	struct wan_report *rep = wan_report_new();
	json_t *c = arch_config("t2v", 64, 128, 3, 16, "0.30.0"), *chk, *d;
	const char *msg;

	(void)state;
	json_object_set_new(c, "num_heads", json_integer(4));
	assert_int_equal(wan_arch_expected(c, 0, &exp), 0);
	/* identical: pass */
	act = copy_without(exp, NULL);
	assert_int_equal(wan_arch_compare(exp, act, rep, "m", "high_noise_model"), 0);
	chk = json_array_get(json_object_get(wan_report_json(rep), "checks"), 0);
	assert_string_equal(json_string_value(json_object_get(chk, "id")), "staging.architecture");
	assert_string_equal(json_string_value(json_object_get(chk, "status")), "pass");
	wan_tensor_list_free(act);

	/* a whole block missing */
	act = copy_without(exp, "blocks.2.");
	assert_int_equal(wan_arch_compare(exp, act, rep, "m", ""), WAN_ECHECK);
	chk = json_array_get(json_object_get(wan_report_json(rep), "checks"), 1);
	assert_string_equal(json_string_value(json_object_get(chk, "status")), "fail");
	msg = json_string_value(json_object_get(chk, "message"));
	assert_non_null(strstr(msg, "block 2 missing"));
	d = json_object_get(chk, "details");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(d, "missing_blocks"), 0)), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "missing_count")), 27);
	wan_tensor_list_free(act);

	/* i2v weights under a t2v config */
	json_object_set_new(c, "model_type", json_string("i2v"));
	json_object_set_new(c, "in_dim", json_integer(36));
	assert_int_equal(wan_arch_expected(c, WAN_ARCH_WAN21, &i2v), 0);
	assert_int_equal(wan_arch_compare(exp, i2v, rep, "m", "."), WAN_ECHECK);
	chk = json_array_get(json_object_get(wan_report_json(rep), "checks"), 2);
	msg = json_string_value(json_object_get(chk, "message"));
	assert_non_null(strstr(msg, "patch_embedding.weight"));
	assert_non_null(strstr(msg, "expected [64, 16, 1, 2, 2], found [64, 36, 1, 2, 2]"));
	assert_non_null(strstr(msg, "image-to-video"));
	d = json_object_get(chk, "details");
	assert_int_equal(json_integer_value(json_object_get(d, "unexpected_count")), 3 * 5 + 8);
	assert_int_equal(json_integer_value(json_object_get(d, "shape_mismatch_count")), 1);
	assert_int_equal(wan_report_worst(rep), WAN_CHECK_FAIL);

	wan_tensor_list_free(i2v);
	wan_tensor_list_free(exp);
	wan_report_free(rep);
	json_decref(c);
}

/* Open prefixes (s2v audio modules) are accepted, anything else is not. */
static void test_catalog_arch_open_prefixes(void **state)
{
	struct wan_tensor_list *exp = NULL, *act;
	struct wan_report *rep = wan_report_new();
	json_t *c = arch_config("s2v", 64, 128, 2, 16, "0.33.0");
	static const uint64_t shp[] = { 4, 4 };

	(void)state;
	json_object_set_new(c, "num_heads", json_integer(4));
	assert_int_equal(wan_arch_expected(c, 0, &exp), 0);
	assert_int_equal(exp->nopen, 3);
	act = copy_without(exp, NULL);
	assert_int_equal(wan_tensor_list_add(act, "casual_audio_encoder.encoder.conv1.weight", shp, 2), 0);
	assert_int_equal(wan_arch_compare(exp, act, rep, "s", ""), 0);
	assert_int_equal(wan_tensor_list_add(act, "something_else.weight", shp, 2), 0);
	assert_int_equal(wan_arch_compare(exp, act, rep, "s", ""), WAN_ECHECK);
	wan_tensor_list_free(act);
	wan_tensor_list_free(exp);
	wan_report_free(rep);
	json_decref(c);
}

/* Every catalog model's fixture holds the spec's required files and is
 * detected as that spec. */
static void test_catalog_fixture_layout(void **state)
{
	char *root = scratch();

	(void)state;
	for (size_t i = 0; i < wan_catalog_count(); i++) {
		const struct wan_spec *s = wan_catalog_at(i), *got = NULL;
		struct wan_fixture_opts o = { .seed = 7 };
		struct wan_spec_path *v;
		char dir[WAN_PATH_MAX];
		size_t n;

		assert_int_equal(path_join(dir, sizeof(dir), root, s->name), 0);
		if (wan_fixture_write(dir, s->name, &o, NULL) < 0)
			fail_msg("fixture %s: %s", s->name, wan_errmsg());
		assert_int_equal(wan_spec_files(s, &v, &n), 0);
		for (size_t k = 0; k < n; k++) {
			char p[WAN_PATH_MAX];
			struct stat st;

			assert_int_equal(path_join(p, sizeof(p), dir, v[k].path), 0);
			if (stat(p, &st) < 0)
				fail_msg("%s: required '%s' missing", s->name, v[k].path);
			if (v[k].flags & WAN_SF_DIR)
				assert_true(S_ISDIR(st.st_mode));
			else if (!S_ISREG(st.st_mode) || st.st_size == 0)
				fail_msg("%s: '%s' empty or not a file", s->name, v[k].path);
		}
		wan_spec_files_free(v, n);
		if (wan_catalog_detect(dir, &got) < 0)
			fail_msg("detect %s: %s", s->name, wan_errmsg());
		assert_string_equal(got->name, s->name);
	}
	assert_int_equal(path_remove_tree(root), 0);
	free(root);
}

static void test_catalog_detect_misc(void **state)
{
	char *d = scratch();
	const struct wan_spec *s = NULL;

	(void)state;
	assert_int_equal(wan_catalog_detect(d, &s), WAN_ENOTFOUND);
	put(d, "config.json", "{\"model_type\": \"t2v\", \"dim\": 1536}");
	assert_int_equal(wan_catalog_detect(d, &s), 0);
	assert_string_equal(s->name, "t2v-1.3B");
	put(d, "config.json", "{\"model_type\": \"t2v\", \"dim\": 1536, \"dim\": 1}");
	assert_true(wan_catalog_detect(d, &s) < 0);
	put(d, "config.json", "{\"model_type\": \"other\"}");
	put(d, "model.safetensors", "x");
	assert_int_equal(wan_catalog_detect(d, &s), 0);
	assert_string_equal(s->name, "safetensors");
	put(d, "model_index.json", "{}");
	assert_int_equal(wan_catalog_detect(d, &s), 0);
	assert_string_equal(s->name, "diffusers");
	assert_int_equal(s->kind, WAN_SPEC_DIFFUSERS);
	assert_int_equal(path_remove_tree(d), 0);
	free(d);
}

static int load_one(const char *dir)
{
	const char *dirs[] = { dir };

	return wan_catalog_load_user(dirs, 1);
}

static void test_catalog_user_specs(void **state)
{
	char *d = scratch(), *e = scratch();
	const char *two[2];
	const struct wan_spec *s;
	size_t base = wan_catalog_count();
	struct wan_spec_path *v;
	size_t n;

	(void)state;
	put(d, "a.json",
	    "{\"name\": \"my-t2v\", \"base\": \"t2v-14B\", \"version\": \"2.1-ft\",\n"
	    " \"files\": [\"models_t5_umt5-xxl-enc-bf16.pth\", \"tok/\",\n"
	    "   {\"path\": \"lora.safetensors\", \"size\": 10, \"optional\": true}],\n"
	    " \"gpu_memory_gb\": 48, \"sizes\": [\"832*480\", \"1280*720\"],\n"
	    " \"smoke_command\": \"run {ckpt_dir} {output}\"}\n");
	put(d, "b.json", "{\"name\": \"plain\", \"approx_size_bytes\": 1000}");
	put(d, "notes.txt", "not a spec");
	assert_int_equal(load_one(d), 0);
	assert_int_equal(wan_catalog_count(), base + 2);
	s = wan_catalog_find("my-t2v");
	assert_non_null(s);
	assert_int_equal(s->kind, WAN_SPEC_WAN);
	assert_string_equal(s->version, "2.1-ft");
	assert_int_equal(s->arch.dim, 5120);
	assert_true(s->gpu_memory_gb == 48);
	assert_string_equal(s->sizes, "832*480 1280*720");
	assert_non_null(strstr(s->source, "a.json"));
	assert_int_equal(wan_spec_files(s, &v, &n), 0);
	assert_true(has_path(v, n, "tok"));
	assert_true(has_path(v, n, "diffusion_pytorch_model-00006-of-00006.safetensors"));
	assert_false(has_path(v, n, "Wan2.1_VAE.pth")); /* files replaced */
	wan_spec_files_free(v, n);
	s = wan_catalog_find("plain");
	assert_non_null(s);
	assert_int_equal(s->kind, WAN_SPEC_GENERIC);
	assert_int_equal(s->approx_bytes, 1000);

	/* errors name the file and the key; the loaded set stays */
#define BAD(text, needle) do { \
		put(e, "x.json", text); \
		assert_int_equal(load_one(e), WAN_ECONFIG); \
		if (!strstr(wan_errmsg(), needle) || !strstr(wan_errmsg(), "x.json")) \
			fail_msg("message '%s' lacks '%s'", wan_errmsg(), needle); \
		assert_non_null(wan_catalog_find("my-t2v")); \
	} while (0)
	BAD("{\"name\": \"a\", \"name\": \"b\"}", "duplicate");
	BAD("{\"name\": \"a\", \"shards\": 3}", "'shards'");
	BAD("{\"name\": 3}", "'name'");
	BAD("{\"name\": \"a b\"}", "'name'");
	BAD("{\"name\": \"t2v-A14B\"}", "built-in");
	BAD("{\"name\": \"a\", \"base\": \"nope\"}", "'base'");
	BAD("{\"name\": \"a\", \"files\": [\"../etc/passwd\"]}", "files[0]");
	BAD("{\"name\": \"a\", \"files\": [\"/abs\"]}", "files[0]");
	BAD("{\"name\": \"a\", \"files\": [{\"path\": \"x\", \"colour\": 1}]}", "files[0].colour");
	BAD("{\"name\": \"a\", \"files\": [{\"path\": \"x\", \"sha256\": \"abc\"}]}", "files[0].sha256");
	BAD("{\"name\": \"a\", \"dits\": [{\"folder\": \"x\", \"shards\": -1}]}", "dits[0].shards");
	BAD("{\"name\": \"a\", \"gpu_memory_gb\": \"lots\"}", "gpu_memory_gb");
	BAD("{\"name\": \"a\", \"sizes\": [1]}", "sizes[0]");
	BAD("[1, 2]", "object");
	BAD("{\"name\": ", "cannot parse");
	/* the same name in two files */
	put(e, "x.json", "{\"name\": \"plain\"}");
	two[0] = d;
	two[1] = e;
	assert_int_equal(wan_catalog_load_user(two, 2), WAN_ECONFIG);
	assert_non_null(strstr(wan_errmsg(), "already defined"));
	/* a folder that does not exist */
	two[1] = "/nonexistent/wanctl-specs";
	assert_int_equal(wan_catalog_load_user(two, 2), WAN_ECONFIG);
	assert_non_null(strstr(wan_errmsg(), "/nonexistent/wanctl-specs"));
	assert_non_null(wan_catalog_find("my-t2v"));

	/* a user spec with a base gets a fixture */
	{
		char fx[WAN_PATH_MAX], p[WAN_PATH_MAX];
		struct stat st;

		assert_int_equal(path_join(fx, sizeof(fx), e, "fx"), 0);
		assert_int_equal(wan_fixture_write(fx, "my-t2v", NULL, NULL), 0);
		assert_int_equal(path_join(p, sizeof(p), fx, "diffusion_pytorch_model-00006-of-00006.safetensors"), 0);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(path_join(p, sizeof(p), fx, "tok"), 0);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}

	wan_catalog_unload_user();
	assert_null(wan_catalog_find("my-t2v"));
	assert_int_equal(wan_catalog_count(), base);
	assert_int_equal(path_remove_tree(d), 0);
	assert_int_equal(path_remove_tree(e), 0);
	free(d);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalog_builtin_specs),
		cmocka_unit_test(test_catalog_spec_files),
		cmocka_unit_test(test_catalog_ti2v_real_index),
		cmocka_unit_test(test_catalog_real_counts),
		cmocka_unit_test(test_catalog_arch_errors),
		cmocka_unit_test(test_catalog_arch_compare),
		cmocka_unit_test(test_catalog_arch_open_prefixes),
		cmocka_unit_test(test_catalog_fixture_layout),
		cmocka_unit_test(test_catalog_detect_misc),
		cmocka_unit_test(test_catalog_user_specs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
