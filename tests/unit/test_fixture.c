/* Fixture models and the safetensors / torch zip writers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "wanctl/catalog.h"
#include "wanctl/fixture.h"
#include "wanctl/formats.h"
#include "wanctl/report.h"

/* Test paths are short; snprintf truncation would fail the test anyway. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char *scratch(void)
{
	char tmpl[] = "/tmp/wanctl-test-fixture-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static uint64_t file_size(const char *p)
{
	struct stat st;

	if (stat(p, &st) < 0)
		fail_msg("cannot stat %s", p);
	return (uint64_t)st.st_size;
}

static struct wan_st_header *parse_st(const char *path)
{
	struct wan_st_header *h = NULL;
	int fd = xopen(path, O_RDONLY, 0);

	assert_true(fd >= 0);
	if (wan_st_parse_fd(&h, fd, file_size(path), path) < 0)
		fail_msg("%s: %s", path, wan_errmsg());
	xclose(fd);
	return h;
}

/* ---- tree snapshots: relative path -> sha256 -------------------------------- */

struct snap {
	char path[64][512];
	char hash[64][WAN_SHA256_HEX];
	size_t n;
};

static void hash_file(const char *p, char hex[WAN_SHA256_HEX])
{
	static unsigned char buf[1 << 16];
	struct wan_sha256 h;
	ssize_t n;
	int fd = xopen(p, O_RDONLY, 0);

	assert_true(fd >= 0);
	assert_int_equal(wan_sha256_init(&h), 0);
	while ((n = xread(fd, buf, sizeof(buf))) > 0)
		wan_sha256_update(&h, buf, (size_t)n);
	wan_sha256_final_hex(&h, hex);
	xclose(fd);
}

static void snap_walk(struct snap *s, const char *root, const char *rel)
{
	char p[WAN_PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(p, sizeof(p), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(p);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char r[512], full[WAN_PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		snprintf(full, sizeof(full), "%s/%s", root, r);
		assert_int_equal(lstat(full, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			snap_walk(s, root, r);
			continue;
		}
		assert_true(s->n < 64);
		snprintf(s->path[s->n], sizeof(s->path[0]), "%s", r);
		hash_file(full, s->hash[s->n]);
		s->n++;
	}
	closedir(d);
}

static struct snap *snap_tree(const char *root)
{
	struct snap *s = calloc(1, sizeof(*s));

	snap_walk(s, root, "");
	return s;
}

static const char *snap_get(const struct snap *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->path[i], path))
			return s->hash[i];
	return NULL;
}

/* Paths that differ between a and b (present in one only, or other bytes),
 * joined with ' '. Returns the count. */
static size_t snap_diff(const struct snap *a, const struct snap *b, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < a->n; i++) {
		const char *h = snap_get(b, a->path[i]);

		if (!h || strcmp(h, a->hash[i])) {
			n++;
			snprintf(out + strlen(out), size - strlen(out), "%s%s", n > 1 ? " " : "", a->path[i]);
		}
	}
	for (size_t i = 0; i < b->n; i++)
		if (!snap_get(a, b->path[i])) {
			n++;
			snprintf(out + strlen(out), size - strlen(out), "%s%s", n > 1 ? " " : "", b->path[i]);
		}
	return n;
}

/* ---- checks on a whole fixture ---------------------------------------------- */

/* Tensor list of a DiT folder from its shard headers. */
static struct wan_tensor_list *dit_tensors(const char *dir)
{
	struct wan_tensor_list *l = wan_tensor_list_new();
	struct dirent *de;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char p[WAN_PATH_MAX];
		struct wan_st_header *h;

		if (len < 12 || strcmp(de->d_name + len - 12, ".safetensors"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		h = parse_st(p);
		for (size_t i = 0; i < h->ntensors; i++)
			assert_int_equal(wan_tensor_list_add(l, h->tensors[i].name, h->tensors[i].shape,
							     h->tensors[i].ndim), 0);
		wan_st_header_free(h);
	}
	closedir(d);
	return l;
}

static int check_arch(const char *dir, const struct wan_spec *s, struct wan_report *rep)
{
	char p[WAN_PATH_MAX];
	json_error_t je;
	json_t *cfg;
	struct wan_tensor_list *exp = NULL, *act;
	int rc;

	snprintf(p, sizeof(p), "%s/config.json", dir);
	cfg = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(cfg);
	assert_int_equal(wan_arch_expected(cfg, wan_arch_flags_for(s), &exp), 0);
	act = dit_tensors(dir);
	rc = wan_arch_compare(exp, act, rep, s->name, dir);
	wan_tensor_list_free(exp);
	wan_tensor_list_free(act);
	json_decref(cfg);
	return rc;
}

/* All float data of one safetensors file finite? 0 or WAN_ECORRUPT. */
static int scan_file(const char *path)
{
	static unsigned char buf[1 << 16];
	struct wan_st_header *h = parse_st(path);
	struct wan_tscan *ts = NULL;
	ssize_t n;
	int fd = xopen(path, O_RDONLY, 0), rc;

	assert_int_equal(wan_tscan_new(&ts, h, path), 0);
	while ((n = xread(fd, buf, sizeof(buf))) > 0)
		assert_int_equal(wan_tscan_feed(ts, buf, (size_t)n), 0);
	rc = wan_tscan_finish(ts, NULL);
	wan_tscan_free(ts);
	wan_st_header_free(h);
	xclose(fd);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* Every file of a clean fixture is valid: safetensors parse + finite, .pth
 * zips with CRCs, indexes consistent, tensors match config.json. */
static void check_clean(const char *root, const struct wan_spec *s)
{
	struct snap *sn = snap_tree(root);
	struct wan_report *rep = wan_report_new();

	for (size_t i = 0; i < sn->n; i++) {
		char p[WAN_PATH_MAX];
		const char *r = sn->path[i];

		snprintf(p, sizeof(p), "%s/%s", root, r);
		assert_true(file_size(p) > 0);
		if (ends_with(r, ".safetensors")) {
			if (scan_file(p) != 0)
				fail_msg("%s: %s", p, wan_errmsg());
		} else if (ends_with(r, ".pth") || ends_with(r, ".pt") || ends_with(r, ".ckpt")) {
			json_t *sum = NULL;
			int fd = xopen(p, O_RDONLY, 0);

			if (wan_pth_check_fd(fd, file_size(p), 1, p, &sum) != 0)
				fail_msg("%s: %s", p, wan_errmsg());
			assert_true(json_integer_value(json_object_get(sum, "data_records")) >= 1);
			json_decref(sum);
			xclose(fd);
		} else if (ends_with(r, ".safetensors.index.json")) {
			char d[WAN_PATH_MAX], *slash;
			const char *base = strrchr(p, '/') + 1;

			snprintf(d, sizeof(d), "%s", p);
			slash = strrchr(d, '/');
			*slash = '\0';
			assert_int_equal(wan_st_index_check(d, base, s->name, rep), 0);
		} else if ((!strcmp(r, "config.json") || ends_with(r, "/config.json")) &&
			   s->kind == WAN_SPEC_WAN && !strstr(r, "wav2vec2")) {
			char d[WAN_PATH_MAX], *slash;

			snprintf(d, sizeof(d), "%s", p);
			slash = strrchr(d, '/');
			*slash = '\0';
			if (check_arch(d, s, rep) != 0)
				fail_msg("%s: %s", d, wan_report_first_failure(rep));
		}
	}
	if (wan_report_worst(rep) == WAN_CHECK_FAIL)
		fail_msg("%s: %s", s->name, wan_report_first_failure(rep));
	wan_report_free(rep);
	free(sn);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_fixture_st_writer(void **state)
{
	char *d = scratch(), p[WAN_PATH_MAX];
	struct wan_st_writer *w = NULL;
	struct wan_st_header *h;
	static const uint64_t s1[] = { 3, 5 }, s2[] = { 0, 4 }, s3[] = { 7 };
	unsigned char data[128];
	uint64_t nb, total = 0;

	(void)state;
	memset(data, 0x11, sizeof(data));
	snprintf(p, sizeof(p), "%s/a.safetensors", d);
	assert_int_equal(wan_st_writer_open(&w, p), 0);
	assert_int_equal(wan_st_writer_metadata(w, "format", "pt"), 0);
	assert_int_equal(wan_st_writer_metadata(w, "quote\"d", "new\nline"), 0);
	assert_int_equal(wan_st_writer_add(w, "z.weight", "F32", s1, 2), 0);
	assert_int_equal(wan_st_writer_add(w, "a.empty", "BF16", s2, 2), 0);
	assert_int_equal(wan_st_writer_add(w, "m.scalar", "I64", NULL, 0), 0);
	assert_int_equal(wan_st_writer_add(w, "b\"odd", "U8", s3, 1), 0);
	assert_int_equal(wan_st_writer_add(w, "x", "NOPE", s3, 1), WAN_EINVAL);
	assert_int_equal(wan_st_writer_begin(w), 0);
	assert_int_equal((8 + wan_st_writer_header_len(w)) % 8, 0);
	assert_int_equal(wan_st_writer_count(w), 4);
	/* data order is name order */
	assert_string_equal(wan_st_writer_tensor_at(w, 0, &nb), "a.empty");
	assert_int_equal(nb, 0);
	assert_string_equal(wan_st_writer_tensor_at(w, 1, &nb), "b\"odd");
	assert_int_equal(nb, 7);
	assert_string_equal(wan_st_writer_tensor_at(w, 3, &nb), "z.weight");
	assert_int_equal(nb, 60);
	for (size_t i = 0; i < 4; i++) {
		wan_st_writer_tensor_at(w, i, &nb);
		total += nb;
	}
	assert_int_equal(total, 7 + 8 + 60);
	/* finishing early is refused, writing too much too */
	assert_int_equal(wan_st_writer_write(w, data, 10), 0);
	assert_int_equal(wan_st_writer_finish(w), WAN_EINVAL);
	assert_int_equal(wan_st_writer_write(w, data, 66), WAN_EINVAL);
	assert_int_equal(wan_st_writer_write(w, data, 60), 0);
	assert_int_equal(wan_st_writer_write(w, data, 5), 0);
	assert_int_equal(wan_st_writer_finish(w), 0);
	assert_int_equal(file_size(p), wan_st_writer_file_size(w));
	wan_st_writer_free(w);

	/* the parser accepts it: offsets cover the data exactly */
	h = parse_st(p);
	assert_int_equal(h->ntensors, 4);
	assert_int_equal(h->data_start % 8, 0);
	assert_int_equal(h->data_start + 75, h->file_size);
	assert_int_equal(wan_st_header_find(h, "m.scalar") >= 0, 1);
	assert_int_equal(h->tensors[wan_st_header_find(h, "z.weight")].shape[1], 5);
	assert_string_equal(json_string_value(json_object_get(h->metadata, "quote\"d")), "new\nline");
	wan_st_header_free(h);

	/* a duplicate name is refused at begin */
	snprintf(p, sizeof(p), "%s/b.safetensors", d);
	assert_int_equal(wan_st_writer_open(&w, p), 0);
	assert_int_equal(wan_st_writer_add(w, "t", "F32", s3, 1), 0);
	assert_int_equal(wan_st_writer_add(w, "t", "F32", s3, 1), 0);
	assert_int_equal(wan_st_writer_begin(w), WAN_EINVAL);
	wan_st_writer_free(w);
	/* an empty file with only metadata */
	snprintf(p, sizeof(p), "%s/c.safetensors", d);
	assert_int_equal(wan_st_writer_open(&w, p), 0);
	assert_int_equal(wan_st_writer_begin(w), 0);
	assert_int_equal(wan_st_writer_finish(w), 0);
	wan_st_writer_free(w);
	h = parse_st(p);
	assert_int_equal(h->ntensors, 0);
	wan_st_header_free(h);
	assert_int_equal(path_remove_tree(d), 0);
	free(d);
}

static void test_fixture_pth_writer(void **state)
{
	char *d = scratch(), p[WAN_PATH_MAX];
	static const uint64_t s1[] = { 2, 3 }, s2[] = { 4 };
	float f[6] = { 1, 2, 3, 4, 5, 6 };
	int64_t i64[4] = { 1, 2, 3, 1ll << 40 };
	struct wan_pth_tensor t[] = {
		{ "a.weight", "F32", s1, 2, f, sizeof(f) },
		{ "b.ids", "I64", s2, 1, i64, sizeof(i64) },
	};
	json_t *sum = NULL;
	unsigned char *buf;
	uint64_t n;
	int fd;

	(void)state;
	snprintf(p, sizeof(p), "%s/m.pth", d);
	assert_int_equal(wan_pth_write(p, "m", t, 2, 0), 0);
	n = file_size(p);
	buf = malloc(n);
	fd = xopen(p, O_RDONLY, 0);
	assert_int_equal(xread(fd, buf, n), (ssize_t)n);
	xclose(fd);
	assert_memory_equal(buf, "PK\x03\x04", 4);
	assert_int_equal(wan_pth_check_buf(buf, n, 1, p, &sum), 0);
	assert_string_equal(json_string_value(json_object_get(sum, "archive")), "m");
	assert_int_equal(json_integer_value(json_object_get(sum, "data_records")), 2);
	json_decref(sum);
	/* a flipped payload byte breaks the CRC */
	{
		void *hit = memmem(buf, n, "\x00\x00\xa0\x40", 4); /* 5.0f */

		assert_non_null(hit);
		((unsigned char *)hit)[3] ^= 1;
		assert_int_equal(wan_pth_check_buf(buf, n, 1, p, NULL), WAN_ECORRUPT);
		assert_int_equal(wan_pth_check_buf(buf, n, 0, p, NULL), 0);
	}
	/* the pickle names the torch rebuild function and the storages */
	assert_non_null(memmem(buf, n, "torch._utils\n_rebuild_tensor_v2\n", 32));
	assert_non_null(memmem(buf, n, "torch\nFloatStorage\n", 19));
	assert_non_null(memmem(buf, n, "torch\nLongStorage\n", 18));
	free(buf);
	/* state_dict wrapper, no tensors */
	snprintf(p, sizeof(p), "%s/e.ckpt", d);
	assert_int_equal(wan_pth_write(p, "e", NULL, 0, WAN_PTH_STATE_DICT), 0);
	fd = xopen(p, O_RDONLY, 0);
	assert_int_equal(wan_pth_check_fd(fd, file_size(p), 1, p, NULL), 0);
	xclose(fd);
	/* a size that does not match the shape is refused */
	t[0].nbytes = 20;
	assert_int_equal(wan_pth_write(p, "m", t, 1, 0), WAN_EINVAL);
	assert_int_equal(path_remove_tree(d), 0);
	free(d);
}

static void test_fixture_every_model_valid(void **state)
{
	char *root = scratch();

	(void)state;
	for (size_t i = 0; i < wan_catalog_count(); i++) {
		const struct wan_spec *s = wan_catalog_at(i);
		struct wan_fixture_opts o = { .seed = 3 };
		struct wan_fixture_result r;
		char dir[WAN_PATH_MAX];

		snprintf(dir, sizeof(dir), "%s/%s", root, s->name);
		if (wan_fixture_write(dir, s->name, &o, &r) < 0)
			fail_msg("%s: %s", s->name, wan_errmsg());
		assert_true(r.files >= 3);
		assert_true(r.bytes > 1000);
		check_clean(dir, s);
	}
	assert_int_equal(path_remove_tree(root), 0);
	free(root);
}

static void test_fixture_deterministic_and_variant(void **state)
{
	char *root = scratch(), a[WAN_PATH_MAX], b[WAN_PATH_MAX], c[WAN_PATH_MAX], e[WAN_PATH_MAX];
	char diff[4096];
	struct wan_fixture_opts o = { .seed = 42 };
	struct snap *sa, *sb, *sc, *se;

	(void)state;
	snprintf(a, sizeof(a), "%s/a", root);
	snprintf(b, sizeof(b), "%s/b", root);
	snprintf(c, sizeof(c), "%s/c", root);
	snprintf(e, sizeof(e), "%s/e", root);
	assert_int_equal(wan_fixture_write(a, "t2v-A14B", &o, NULL), 0);
	assert_int_equal(wan_fixture_write(b, "t2v-A14B", &o, NULL), 0);
	o.variant = 1;
	assert_int_equal(wan_fixture_write(c, "t2v-A14B", &o, NULL), 0);
	o.variant = 0;
	o.seed = 43;
	assert_int_equal(wan_fixture_write(e, "t2v-A14B", &o, NULL), 0);
	sa = snap_tree(a);
	sb = snap_tree(b);
	sc = snap_tree(c);
	se = snap_tree(e);
	assert_int_equal(sa->n, 23);
	assert_int_equal(snap_diff(sa, sb, diff, sizeof(diff)), 0);
	/* the second release: only the last shard of each expert differs */
	assert_int_equal(snap_diff(sa, sc, diff, sizeof(diff)), 2);
	assert_non_null(strstr(diff, "high_noise_model/diffusion_pytorch_model-00006-of-00006.safetensors"));
	assert_non_null(strstr(diff, "low_noise_model/diffusion_pytorch_model-00006-of-00006.safetensors"));
	check_clean(c, wan_catalog_find("t2v-A14B"));
	/* another seed: every data file differs, configs and JSON do not */
	assert_true(snap_diff(sa, se, diff, sizeof(diff)) >= 12);
	assert_null(strstr(diff, "config.json"));
	assert_null(strstr(diff, "index.json"));
	free(sa);
	free(sb);
	free(sc);
	free(se);
	assert_int_equal(path_remove_tree(root), 0);
	free(root);
}

static void test_fixture_size_knob(void **state)
{
	char *root = scratch(), dir[WAN_PATH_MAX], p[WAN_PATH_MAX];
	struct wan_fixture_opts o = { .seed = 1, .shard_bytes = 4u << 20 };
	struct wan_fixture_result r;
	uint64_t sum = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/big", root);
	assert_int_equal(wan_fixture_write(dir, "ti2v-5B", &o, &r), 0);
	assert_true(r.dim > 64);
	for (int s = 1; s <= 3; s++) {
		uint64_t sz;

		snprintf(p, sizeof(p), "%s/diffusion_pytorch_model-%05d-of-00003.safetensors", dir, s);
		sz = file_size(p);
		assert_true(sz > (1u << 20));      /* roughly 4 MiB each */
		assert_true(sz < (8u << 20));
		sum += sz;
	}
	assert_true(sum > (8u << 20) && sum <= (12u << 20) + 65536);
	check_clean(dir, wan_catalog_find("ti2v-5B"));
	/* 1 KiB: the smallest dims, still valid */
	o.shard_bytes = 1024;
	snprintf(dir, sizeof(dir), "%s/tiny", root);
	assert_int_equal(wan_fixture_write(dir, "t2v-1.3B", &o, &r), 0);
	assert_int_equal(r.dim, 8);
	check_clean(dir, wan_catalog_find("t2v-1.3B"));
	assert_int_equal(path_remove_tree(root), 0);
	free(root);
}

/* Each defect option plants exactly that defect: compared with the clean
 * fixture of the same seed, only the named file differs, in the way named. */
static void test_fixture_defects(void **state)
{
	char *root = scratch(), clean[WAN_PATH_MAX], dir[WAN_PATH_MAX], p[WAN_PATH_MAX], diff[4096];
	const struct wan_spec *s = wan_catalog_find("t2v-A14B");
	struct wan_fixture_opts o = { .seed = 5 };
	struct wan_fixture_result r;
	struct snap *sc, *sd;
	const char *shard1 = "high_noise_model/diffusion_pytorch_model-00001-of-00006.safetensors";

	(void)state;
	snprintf(clean, sizeof(clean), "%s/clean", root);
	assert_int_equal(wan_fixture_write(clean, "t2v-A14B", &o, NULL), 0);
	sc = snap_tree(clean);

	for (int d = WAN_DEFECT_LFS_POINTER; d <= WAN_DEFECT_MISSING_BLOCK; d++) {
		struct wan_report *rep = wan_report_new();
		enum wan_fixture_defect parsed;
		size_t nd;

		o.defect = (enum wan_fixture_defect)d;
		assert_int_equal(wan_fixture_defect_parse(wan_fixture_defect_name(o.defect), &parsed), 0);
		assert_int_equal(parsed, o.defect);
		snprintf(dir, sizeof(dir), "%s/%s", root, wan_fixture_defect_name(o.defect));
		if (wan_fixture_write(dir, "t2v-A14B", &o, &r) < 0)
			fail_msg("%s: %s", wan_fixture_defect_name(o.defect), wan_errmsg());
		sd = snap_tree(dir);
		nd = snap_diff(sc, sd, diff, sizeof(diff));
		snprintf(p, sizeof(p), "%s/%s", dir, r.defect_path);
		switch (o.defect) {
		case WAN_DEFECT_LFS_POINTER: {
			char buf[1024], oid[65], cp[WAN_PATH_MAX];
			uint64_t size;
			int fd = xopen(p, O_RDONLY, 0);
			ssize_t n = xread(fd, buf, sizeof(buf));

			xclose(fd);
			assert_string_equal(r.defect_path, shard1);
			assert_int_equal(nd, 1);
			assert_string_equal(diff, shard1);
			assert_int_equal(wan_lfs_pointer_parse(buf, (size_t)n, oid, &size), 1);
			snprintf(cp, sizeof(cp), "%s/%s", clean, shard1);
			assert_int_equal(size, file_size(cp));
			assert_string_equal(oid, snap_get(sc, shard1));
			break;
		}
		case WAN_DEFECT_ZERO_BYTE:
			assert_int_equal(nd, 1);
			assert_string_equal(diff, shard1);
			assert_int_equal(file_size(p), 0);
			break;
		case WAN_DEFECT_TRUNCATED: {
			struct wan_st_header *h = NULL;
			char cp[WAN_PATH_MAX];
			int fd = xopen(p, O_RDONLY, 0);

			assert_int_equal(nd, 1);
			assert_string_equal(diff, shard1);
			snprintf(cp, sizeof(cp), "%s/%s", clean, shard1);
			assert_true(file_size(p) < file_size(cp));
			assert_int_equal(wan_st_parse_fd(&h, fd, file_size(p), p), WAN_ECORRUPT);
			xclose(fd);
			break;
		}
		case WAN_DEFECT_MISSING_FILE:
			assert_int_equal(nd, 1);
			assert_string_equal(diff, "Wan2.1_VAE.pth");
			assert_true(access(p, F_OK) < 0);
			assert_int_equal(sd->n, sc->n - 1);
			break;
		case WAN_DEFECT_NAN: {
			char cp[WAN_PATH_MAX];

			assert_int_equal(nd, 1);
			assert_string_equal(r.defect_tensor, "blocks.0.self_attn.q.weight");
			assert_string_equal(diff, r.defect_path);
			assert_int_equal(scan_file(p), WAN_ECORRUPT);
			assert_non_null(strstr(wan_errmsg(), "blocks.0.self_attn.q.weight"));
			snprintf(cp, sizeof(cp), "%s/%s", clean, r.defect_path);
			assert_int_equal(scan_file(cp), 0);
			assert_int_equal(file_size(p), file_size(cp));
			break;
		}
		case WAN_DEFECT_WRONG_ARCH: {
			char hd[WAN_PATH_MAX];

			/* high_noise shards and index differ; config.json and
			 * the low-noise expert do not */
			assert_string_equal(r.defect_path, "high_noise_model");
			assert_null(strstr(diff, "low_noise_model"));
			assert_null(strstr(diff, "config.json"));
			snprintf(hd, sizeof(hd), "%s/high_noise_model", dir);
			assert_int_equal(check_arch(hd, s, rep), WAN_ECHECK);
			assert_non_null(strstr(wan_report_first_failure(rep), "image-to-video"));
			snprintf(hd, sizeof(hd), "%s/low_noise_model", dir);
			assert_int_equal(check_arch(hd, s, rep), 0);
			break;
		}
		case WAN_DEFECT_BAD_INDEX_SHARD:
		case WAN_DEFECT_BAD_INDEX_SIZE: {
			char hd[WAN_PATH_MAX];

			assert_int_equal(nd, 1);
			assert_string_equal(diff, "high_noise_model/diffusion_pytorch_model.safetensors.index.json");
			snprintf(hd, sizeof(hd), "%s/high_noise_model", dir);
			assert_int_equal(wan_st_index_check(hd, "diffusion_pytorch_model.safetensors.index.json",
							    s->name, rep), 0);
			assert_int_equal(wan_report_worst(rep), WAN_CHECK_FAIL);
			if (o.defect == WAN_DEFECT_BAD_INDEX_SIZE)
				assert_non_null(strstr(wan_report_first_failure(rep), "total_size"));
			else
				assert_non_null(strstr(wan_report_first_failure(rep), "-00007-of-00006"));
			break;
		}
		case WAN_DEFECT_MISSING_BLOCK: {
			char hd[WAN_PATH_MAX];

			assert_null(strstr(diff, "low_noise_model"));
			snprintf(hd, sizeof(hd), "%s/high_noise_model", dir);
			assert_int_equal(check_arch(hd, s, rep), WAN_ECHECK);
			assert_non_null(strstr(wan_report_first_failure(rep), "block 1 missing"));
			break;
		}
		default:
			break;
		}
		wan_report_free(rep);
		free(sd);
	}
	free(sc);

	/* single-file DiT: defects that need an index are refused */
	o.defect = WAN_DEFECT_BAD_INDEX_SIZE;
	snprintf(dir, sizeof(dir), "%s/single", root);
	assert_int_equal(wan_fixture_write(dir, "t2v-1.3B", &o, NULL), WAN_EINVAL);
	/* a chosen file and tensor */
	o.defect = WAN_DEFECT_ZERO_BYTE;
	o.defect_file = "google/umt5-xxl/spiece.model";
	assert_int_equal(wan_fixture_write(dir, "t2v-1.3B", &o, &r), 0);
	snprintf(p, sizeof(p), "%s/google/umt5-xxl/spiece.model", dir);
	assert_int_equal(file_size(p), 0);
	o.defect_file = "../escape";
	assert_int_equal(wan_fixture_write(dir, "t2v-1.3B", &o, &r), WAN_EINVAL);
	o.defect_file = "no-such-file";
	assert_int_equal(wan_fixture_write(dir, "t2v-1.3B", &o, &r), WAN_EINVAL);
	o.defect_file = NULL;
	o.defect = WAN_DEFECT_NAN;
	o.defect_tensor = "head.head.weight";
	snprintf(dir, sizeof(dir), "%s/nan13", root);
	assert_int_equal(wan_fixture_write(dir, "t2v-1.3B", &o, &r), 0);
	assert_string_equal(r.defect_path, "diffusion_pytorch_model.safetensors");
	snprintf(p, sizeof(p), "%s/%s", dir, r.defect_path);
	assert_int_equal(scan_file(p), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "head.head.weight"));
	o.defect_tensor = "no.such.tensor";
	assert_int_equal(wan_fixture_write(dir, "t2v-1.3B", &o, &r), WAN_EINVAL);
	assert_int_equal(wan_fixture_write(dir, "no-such-model", NULL, NULL), WAN_ENOTFOUND);
	assert_int_equal(path_remove_tree(root), 0);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_st_writer),
		cmocka_unit_test(test_fixture_pth_writer),
		cmocka_unit_test(test_fixture_every_model_valid),
		cmocka_unit_test(test_fixture_deterministic_and_variant),
		cmocka_unit_test(test_fixture_size_knob),
		cmocka_unit_test(test_fixture_defects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
