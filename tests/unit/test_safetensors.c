/* Unit tests of src/lib/safetensors.c, st_index.c, lfs.c and inspect.c:
 * the accept and reject corpora (tests/corpus/safetensors), the real files
 * of $WANCTL_SHARED/reference/realfiles, a sparse file over 4 GiB, hostile
 * sizes, the fluxjl sharded checkpoint and planted index defects, git-lfs
 * pointers. */
#include "util/common.h"
#include "wanctl/formats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/path.h"

static char tmpdir[256];

static const char *src_dir(void)
{
	const char *s = getenv("WANCTL_SRC");
	return s ? s : ".";
}

static const char *real_dir(void)
{
	static char p[1024];
	const char *s = getenv("WANCTL_SHARED");

	snprintf(p, sizeof(p), "%s/reference/realfiles", s ? s : "../shared");
	return p;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wanctl-test-st-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	path_remove_tree(tmpdir);
	return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long n;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Parse path both ways (buffer, fd); both must agree. */
static int parse_both(const char *path, struct wan_st_header **out, char *msg, size_t msz)
{
	size_t len;
	unsigned char *b = slurp(path, &len);
	struct wan_st_header *h1 = NULL, *h2 = NULL;
	int e1, e2, fd;
	char m1[2048];

	e1 = wan_st_parse_buf(&h1, b, len, path);
	snprintf(m1, sizeof(m1), "%s", wan_errmsg());
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	e2 = wan_st_parse_fd(&h2, fd, len, path);
	close(fd);
	assert_int_equal(e1, e2);
	if (e1 < 0) {
		assert_string_equal(m1, wan_errmsg());
		if (msg)
			snprintf(msg, msz, "%s", m1);
	} else {
		assert_int_equal(h1->ntensors, h2->ntensors);
		for (size_t i = 0; i < h1->ntensors; i++) {
			assert_string_equal(h1->tensors[i].name, h2->tensors[i].name);
			assert_int_equal(h1->tensors[i].begin, h2->tensors[i].begin);
		}
	}
	wan_st_header_free(h2);
	free(b);
	if (out)
		*out = h1;
	else
		wan_st_header_free(h1);
	return e1;
}

static void test_safetensors_accept_corpus(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	DIR *d;
	struct dirent *de;
	int n = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/corpus/safetensors/accept", src_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct wan_st_header *h = NULL;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (parse_both(path, &h, NULL, 0) != 0)
			fail_msg("accept corpus file %s rejected: %s", de->d_name, wan_errmsg());
		/* offset order, contiguous */
		for (size_t i = 1; i < h->ntensors; i++)
			assert_true(h->tensors[i].begin == h->tensors[i - 1].end);
		wan_st_header_free(h);
		n++;
	}
	closedir(d);
	assert_true(n >= 16);
}

static void test_safetensors_reject_corpus(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX * 2], line[512], msg[2048];
	char seen[64][512];
	FILE *f;
	int n = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/corpus/safetensors/reject", src_dir());
	snprintf(path, sizeof(path), "%s/EXPECT", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t'), *nl;
		if (!tab)
			continue;
		*tab = '\0';
		if ((nl = strchr(tab + 1, '\n')))
			*nl = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, line);
		int err = parse_both(path, NULL, msg, sizeof(msg));
		if (err != WAN_ECORRUPT)
			fail_msg("reject corpus file %s: got %d, want WAN_ECORRUPT", line, err);
		if (!strstr(msg, tab + 1))
			fail_msg("reject corpus file %s: message '%s' lacks '%s'", line, msg, tab + 1);
		if (!strstr(msg, line))
			fail_msg("reject corpus file %s: message '%s' does not name the file", line, msg);
		assert_true(n < 64);
		snprintf(seen[n++], sizeof(seen[0]), "%s", tab + 1);
	}
	fclose(f);
	assert_true(n >= 45);
}

static void test_safetensors_details(void **state)
{
	char path[PATH_MAX];
	struct wan_st_header *h = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/corpus/safetensors/accept/unsorted.safetensors", src_dir());
	assert_int_equal(parse_both(path, &h, NULL, 0), 0);
	assert_int_equal(h->ntensors, 3);
	assert_string_equal(h->tensors[0].name, "a");
	assert_string_equal(h->tensors[0].dtype->name, "F32");
	assert_int_equal(h->tensors[0].ndim, 1);
	assert_int_equal(h->tensors[0].shape[0], 2);
	assert_string_equal(h->tensors[1].name, "b");
	assert_string_equal(h->tensors[2].name, "c");
	assert_int_equal(h->tensors[2].ndim, 2);
	assert_int_equal(h->tensors[2].begin, 12);
	assert_int_equal(h->tensors[2].end, 16);
	assert_null(h->metadata);
	assert_int_equal(h->data_start, 8 + h->header_len);
	wan_st_header_free(h);

	snprintf(path, sizeof(path), "%s/tests/corpus/safetensors/accept/metadata.safetensors", src_dir());
	assert_int_equal(parse_both(path, &h, NULL, 0), 0);
	assert_non_null(h->metadata);
	assert_string_equal(json_string_value(json_object_get(h->metadata, "format")), "pt");
	assert_string_equal(json_string_value(json_object_get(h->metadata, "note")),
			    "caf\xc3\xa9 \"q\"");
	wan_st_header_free(h);

	snprintf(path, sizeof(path), "%s/tests/corpus/safetensors/accept/names.safetensors", src_dir());
	assert_int_equal(parse_both(path, &h, NULL, 0), 0);
	assert_string_equal(h->tensors[0].name, "<detail-schemas>");
	assert_string_equal(h->tensors[1].name, "blocks.0.attn/q");
	assert_string_equal(h->tensors[2].name, "\xc3\xa9\xf0\x9f\x98\x80");
	wan_st_header_free(h);

	snprintf(path, sizeof(path), "%s/tests/corpus/safetensors/accept/every_dtype.safetensors", src_dir());
	assert_int_equal(parse_both(path, &h, NULL, 0), 0);
	{
		size_t nd = 0;
		for (const struct wan_st_dtype *d = wan_st_dtypes(); d->name; d++)
			nd++;
		assert_int_equal(h->ntensors, nd);
	}
	wan_st_header_free(h);

	snprintf(path, sizeof(path), "%s/tests/corpus/safetensors/accept/zero_size.safetensors", src_dir());
	assert_int_equal(parse_both(path, &h, NULL, 0), 0);
	assert_int_equal(h->ntensors, 3);
	assert_string_equal(h->tensors[0].name, "z");   /* [0,0] sorts first */
	assert_int_equal(wan_st_tensor_elements(&h->tensors[2]), 0);
	wan_st_header_free(h);
}

/* README of realfiles: verdicts and tensor counts. */
static const struct { const char *file; int ok; long tensors; } realst[] = {
	{ "safetensors/hfst__overall.safetensors", 1, 9 },
	{ "safetensors/candle__voices.safetensors", 1, 2 },
	{ "safetensors/candle__jfk-codes.safetensors", 1, 1 },
	{ "safetensors/mlxex__adapters.safetensors", 1, 16 },
	{ "safetensors/burn__multi_layer.safetensors", 1, 9 },
	{ "safetensors/fluxjl__model.with_metadata.safetensors", 1, 36 },
	{ "safetensors/stcpp__model.safetensors", 1, 2 },
	{ "safetensors/stcpp__safetensors_abuse_attempt_1.safetensors", 0, 0 },
	{ "safetensors/rst__hello.safetensors", 1, 2 },
	{ "safetensors/tinygradmnist__model.safetensors", 1, 2 },
	{ "safetensors/savetest__model.safetensors", 1, 4 },
	{ "safetensors/peftgpt2__adapter_model.safetensors", 1, 25 },
	{ "safetensors/sdlora__pytorch_lora_weights.safetensors", 1, 256 },
	{ "safetensors/textinv__learned_embeds.safetensors", 1, 1 },
	{ "safetensors/flowerlora__pytorch_lora_weights.safetensors", 0, 0 },
	{ "lfs-pointers/pythia410m__model.safetensors", 0, 0 },
	{ "lfs-pointers/scu__adapter_model.safetensors", 0, 0 },
	{ "index/fluxjl__sharded/model-00001-of-00006.safetensors", 1, 19 },
	{ "index/fluxjl__sharded/model-00002-of-00006.safetensors", 1, 1 },
	{ "index/fluxjl__sharded/model-00003-of-00006.safetensors", 1, 2 },
	{ "index/fluxjl__sharded/model-00004-of-00006.safetensors", 1, 4 },
	{ "index/fluxjl__sharded/model-00005-of-00006.safetensors", 1, 7 },
	{ "index/fluxjl__sharded/model-00006-of-00006.safetensors", 1, 3 },
};

static void test_safetensors_realfiles(void **state)
{
	char path[PATH_MAX], msg[2048];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(realst); i++) {
		struct wan_st_header *h = NULL;
		int err;

		snprintf(path, sizeof(path), "%s/%s", real_dir(), realst[i].file);
		err = parse_both(path, &h, msg, sizeof(msg));
		if (realst[i].ok) {
			if (err)
				fail_msg("%s (PASS in README) rejected: %s", path, wan_errmsg());
			assert_int_equal(h->ntensors, realst[i].tensors);
		} else {
			if (err != WAN_ECORRUPT)
				fail_msg("%s (FAIL in README) accepted", path);
		}
		wan_st_header_free(h);
	}
	/* The specific reasons the README gives. */
	snprintf(path, sizeof(path), "%s/safetensors/stcpp__safetensors_abuse_attempt_1.safetensors", real_dir());
	parse_both(path, NULL, msg, sizeof(msg));
	assert_non_null(strstr(msg, "header length 1000 + 8 exceeds the file size 88"));
	snprintf(path, sizeof(path), "%s/lfs-pointers/pythia410m__model.safetensors", real_dir());
	parse_both(path, NULL, msg, sizeof(msg));
	assert_non_null(strstr(msg, "header length 2336927755350992246 exceeds the limit"));
	snprintf(path, sizeof(path), "%s/safetensors/flowerlora__pytorch_lora_weights.safetensors", real_dir());
	parse_both(path, NULL, msg, sizeof(msg));
	assert_non_null(strstr(msg, "2 bytes, shorter than"));
	/* MLX writes "__metadata__": null and data out of name order. */
	{
		struct wan_st_header *h = NULL;
		snprintf(path, sizeof(path), "%s/safetensors/mlxex__adapters.safetensors", real_dir());
		assert_int_equal(parse_both(path, &h, NULL, 0), 0);
		assert_null(h->metadata);
		wan_st_header_free(h);
		snprintf(path, sizeof(path), "%s/safetensors/savetest__model.safetensors", real_dir());
		assert_int_equal(parse_both(path, &h, NULL, 0), 0);
		assert_string_equal(json_string_value(json_object_get(h->metadata, "git_tag")), "v1.45");
		wan_st_header_free(h);
	}
}

/* Sparse file > 4 GiB: offsets and sizes past 32 bits. */
static void test_safetensors_sparse_4g(void **state)
{
	char path[PATH_MAX], hdr[512];
	const uint64_t big = 5000000003ULL;   /* > 4 GiB, odd */
	struct wan_st_header *h = NULL;
	unsigned char lenb[8];
	uint64_t n, size;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/big.safetensors", tmpdir);
	snprintf(hdr, sizeof(hdr),
		 "{\"small\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
		 "\"big\":{\"dtype\":\"U8\",\"shape\":[%llu],\"data_offsets\":[3,%llu]},"
		 "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%llu,%llu]}}",
		 (unsigned long long)big, (unsigned long long)(3 + big),
		 (unsigned long long)(3 + big), (unsigned long long)(3 + big + 8));
	n = strlen(hdr);
	for (int i = 0; i < 8; i++)
		lenb[i] = (unsigned char)(n >> (8 * i));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, lenb, 8), 8);
	assert_int_equal(write(fd, hdr, n), (ssize_t)n);
	size = 8 + n + 3 + big + 8;
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(wan_st_parse_fd(&h, fd, size, path), 0);
	assert_int_equal(h->ntensors, 3);
	assert_string_equal(h->tensors[1].name, "big");
	assert_int_equal(h->tensors[1].end, 3 + big);
	assert_int_equal(wan_st_tensor_elements(&h->tensors[1]), big);
	assert_string_equal(h->tensors[2].name, "tail");
	assert_int_equal(h->tensors[2].begin, 3 + big);
	wan_st_header_free(h);
	h = NULL;
	/* one byte short: the exact shortfall in the message */
	assert_int_equal(ftruncate(fd, (off_t)(size - 1)), 0);
	assert_int_equal(wan_st_parse_fd(&h, fd, size - 1, path), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "1 bytes missing"));
	/* 2^32 extra bytes: trailing, not wrapped to 0 */
	assert_int_equal(ftruncate(fd, (off_t)(size + (1ULL << 32))), 0);
	assert_int_equal(wan_st_parse_fd(&h, fd, size + (1ULL << 32), path), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "4294967296 trailing bytes"));
	close(fd);
	/* inspect reports the >4 GiB parameter count */
	assert_int_equal(ftruncate(open(path, O_RDWR), (off_t)size), 0);
	{
		json_t *s = NULL;
		assert_int_equal(wan_inspect_file(path, 0, &s), 0);
		assert_int_equal(json_integer_value(json_object_get(s, "parameters")), 3 + big + 2);
		assert_int_equal(json_integer_value(json_object_get(s, "data_bytes")), 3 + big + 8);
		json_decref(s);
	}
	unlink(path);
}

/* Hostile sizes: 10^6-deep nesting, header length at the limits,
 * more tensors than the cap (WANCTL_LONG only: ~60 MB header). */
static void test_safetensors_hostile(void **state)
{
	struct wan_st_header *h = NULL;
	size_t n = 1000000;
	unsigned char *b = malloc(8 + 11 + n);

	(void)state;
	assert_non_null(b);
	memcpy(b + 8, "{\"a\":{\"x\":", 10);
	memset(b + 18, '[', n);
	b[18 + n] = '}';
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((11 + n) >> (8 * i));
	assert_int_equal(wan_st_parse_buf(&h, b, 8 + 11 + n, "deep"), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "nesting deeper than 128"));
	free(b);

	/* N = 100,000,000 exactly is within the limit: then the size check. */
	{
		unsigned char l[16] = { 0 };
		uint64_t v = 100000000;
		for (int i = 0; i < 8; i++)
			l[i] = (unsigned char)(v >> (8 * i));
		assert_int_equal(wan_st_parse_buf(&h, l, 16, "n100m"), WAN_ECORRUPT);
		assert_non_null(strstr(wan_errmsg(), "exceeds the file size"));
		memset(l, 0xff, 8);
		assert_int_equal(wan_st_parse_buf(&h, l, 16, "nmax"), WAN_ECORRUPT);
		assert_non_null(strstr(wan_errmsg(), "exceeds the limit"));
	}

	if (getenv("WANCTL_LONG")) {
		size_t cap = (size_t)WAN_ST_TENSORS_MAX + 1, len = 0;
		size_t sz = cap * 64 + 16;
		char *t = malloc(sz + 8);
		assert_non_null(t);
		len = 8;
		t[len++] = '{';
		for (size_t i = 0; i < cap; i++)
			len += (size_t)snprintf(t + len, sz + 8 - len,
					       "%s\"%zx\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
					       i ? "," : "", i);
		t[len++] = '}';
		for (int i = 0; i < 8; i++)
			t[i] = (char)((len - 8) >> (8 * i));
		assert_int_equal(wan_st_parse_buf(&h, t, len, "many"), WAN_ECORRUPT);
		assert_non_null(strstr(wan_errmsg(), "more than 1000000 tensors"));
		free(t);
	}
}

static void test_safetensors_index_fluxjl(void **state)
{
	char dir[PATH_MAX];
	struct wan_report *r = wan_report_new();

	(void)state;
	snprintf(dir, sizeof(dir), "%s/index/fluxjl__sharded", real_dir());
	assert_int_equal(wan_st_index_check(dir, "model.safetensors.index.json", "fluxjl", r), 0);
	if (wan_report_worst(r) != WAN_CHECK_PASS)
		fail_msg("fluxjl index: %s", json_dumps(wan_report_json(r), 0));
	assert_int_equal(wan_report_count(r), 1);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(
		json_object_get(wan_report_json(r), "checks"), 0), "message")),
		"36 tensors in 6 shards, 4305 bytes"));
	wan_report_free(r);
}

/* Copy the fluxjl set into tmpdir/name, index edited by edit(). */
static void copy_fluxjl(const char *name, char *out, size_t outsz)
{
	char src[PATH_MAX], p[PATH_MAX * 2], q[PATH_MAX * 2];
	DIR *d;
	struct dirent *de;

	snprintf(src, sizeof(src), "%s/index/fluxjl__sharded", real_dir());
	snprintf(out, outsz, "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(out, 0755), 0);
	d = opendir(src);
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t len;
		unsigned char *b;
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", src, de->d_name);
		snprintf(q, sizeof(q), "%s/%s", out, de->d_name);
		b = slurp(p, &len);
		spit(q, b, len);
		free(b);
	}
	closedir(d);
}

static json_t *load_index(const char *dir)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/model.safetensors.index.json", dir);
	json_t *j = json_load_file(p, 0, NULL);
	assert_non_null(j);
	return j;
}

static void save_index(const char *dir, json_t *j)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/model.safetensors.index.json", dir);
	assert_int_equal(json_dump_file(j, p, JSON_INDENT(1)), 0);
	json_decref(j);
}

static void expect_index_fail(const char *dir, const char *sub)
{
	struct wan_report *r = wan_report_new();
	json_t *checks;
	size_t i;
	json_t *c;
	int found = 0;

	assert_int_equal(wan_st_index_check(dir, "model.safetensors.index.json", NULL, r), 0);
	assert_int_equal(wan_report_worst(r), WAN_CHECK_FAIL);
	checks = json_object_get(wan_report_json(r), "checks");
	json_array_foreach(checks, i, c) {
		assert_string_equal(json_string_value(json_object_get(c, "id")), "staging.index");
		if (strstr(json_string_value(json_object_get(c, "message")), sub))
			found = 1;
	}
	if (!found)
		fail_msg("no check message with '%s' in %s", sub, json_dumps(checks, 0));
	wan_report_free(r);
}

static void test_safetensors_index_defects(void **state)
{
	char dir[PATH_MAX], p[PATH_MAX * 2], q[PATH_MAX * 2];
	json_t *j, *wm;

	(void)state;
	/* a missing shard */
	copy_fluxjl("missing", dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/model-00003-of-00006.safetensors", dir);
	assert_int_equal(unlink(p), 0);
	expect_index_fail(dir, "shard 'model-00003-of-00006.safetensors' named by the weight_map cannot be opened");

	/* an unreferenced shard file, and a series gap in the weight_map */
	copy_fluxjl("unref", dir, sizeof(dir));
	j = load_index(dir);
	wm = json_object_get(j, "weight_map");
	{
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(wm, tmp, k, v)
			if (!strcmp(json_string_value(v), "model-00002-of-00006.safetensors"))
				json_object_del(wm, k);
	}
	save_index(dir, j);
	expect_index_fail(dir, "shard file 'model-00002-of-00006.safetensors' is not referenced by the index");
	expect_index_fail(dir, "shard 2 of 6");

	/* total_size wrong */
	copy_fluxjl("total", dir, sizeof(dir));
	j = load_index(dir);
	json_object_set_new(json_object_get(j, "metadata"), "total_size", json_integer(4306));
	save_index(dir, j);
	expect_index_fail(dir, "metadata.total_size is 4306 but the shards hold 4305 tensor bytes");

	/* a tensor mapped to the wrong shard */
	copy_fluxjl("wrong", dir, sizeof(dir));
	j = load_index(dir);
	wm = json_object_get(j, "weight_map");
	{
		const char *k;
		json_t *v;
		json_object_foreach(wm, k, v)
			if (!strcmp(json_string_value(v), "model-00001-of-00006.safetensors")) {
				json_object_set_new(wm, k, json_string("model-00003-of-00006.safetensors"));
				break;
			}
	}
	save_index(dir, j);
	expect_index_fail(dir, "is mapped to shard 'model-00003-of-00006.safetensors' but is in 'model-00001-of-00006.safetensors'");

	/* a tensor in two shards + an extra map entry without a tensor */
	copy_fluxjl("two", dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/model-00002-of-00006.safetensors", dir);
	snprintf(q, sizeof(q), "%s/extra.safetensors", dir);
	{
		size_t len;
		unsigned char *b = slurp(p, &len);
		spit(q, b, len);
		free(b);
	}
	j = load_index(dir);
	json_object_set_new(json_object_get(j, "weight_map"), "zzz.not.there", json_string("extra.safetensors"));
	save_index(dir, j);
	expect_index_fail(dir, "is in two shards");
	expect_index_fail(dir, "tensor 'zzz.not.there' is mapped to shard 'extra.safetensors' but is in no shard");

	/* a corrupt shard */
	copy_fluxjl("corrupt", dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/model-00004-of-00006.safetensors", dir);
	assert_int_equal(truncate(p, 1000), 0);
	expect_index_fail(dir, "shard 'model-00004-of-00006.safetensors' is not a valid safetensors file");

	/* the index itself: duplicate keys, unsafe shard path */
	copy_fluxjl("dupkey", dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/model.safetensors.index.json", dir);
	spit(p, "{\"weight_map\":{\"a\":\"model-00001-of-00006.safetensors\",\"a\":\"x\"}}", 63);
	expect_index_fail(dir, "duplicate object key");
	spit(p, "{\"weight_map\":{\"a\":\"../model-00001-of-00006.safetensors\"}}", 58);
	expect_index_fail(dir, "unsafe path");
}

static void test_safetensors_index_real(void **state)
{
	static const struct { const char *f; size_t entries, shards; uint64_t total; } ix[] = {
		{ "wan22ti2v5b__diffusion_pytorch_model.safetensors.index.json", 825, 3, 19999150848ULL },
		{ "sd35large__diffusion_pytorch_model.safetensors.index.json", 1227, 2, 16292561536ULL },
		{ "easyanimate-te__model.safetensors.index.json", 730, 5, 16582751232ULL },
		{ "fluxjl__sharded/model.safetensors.index.json", 36, 6, 4305 },
	};
	char p[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ix); i++) {
		struct wan_st_index *x = NULL;
		size_t len;
		unsigned char *b;

		snprintf(p, sizeof(p), "%s/index/%s", real_dir(), ix[i].f);
		b = slurp(p, &len);
		if (wan_st_index_parse(&x, b, len, p) != 0)
			fail_msg("%s: %s", p, wan_errmsg());
		assert_int_equal(json_object_size(x->weight_map), ix[i].entries);
		assert_int_equal(x->nshards, ix[i].shards);
		assert_true(x->has_total_size);
		assert_int_equal(x->total_size, ix[i].total);
		wan_st_index_free(x);
		free(b);
	}
}

static void test_lfs_pointer(void **state)
{
	static const struct { const char *f; uint64_t size; const char *oid16; } lp[] = {
		{ "pythia410m__model.safetensors", 1415337224ULL, "d5d9a9d7a2b18fa5" },
		{ "scu__adapter_model.safetensors", 45118424ULL, "28a10b449eb6eba2" },
		{ "kokoro__kokoro-v0_19.pth", 327211206ULL, "3b0c392f87508da3" },
	};
	char p[PATH_MAX], oid[65];
	uint64_t size;
	const char *good = "version https://git-lfs.github.com/spec/v1\n"
			   "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			   "size 12345\n";
	char bad[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(lp); i++) {
		size_t len;
		unsigned char *b;
		json_t *s = NULL;

		snprintf(p, sizeof(p), "%s/lfs-pointers/%s", real_dir(), lp[i].f);
		b = slurp(p, &len);
		assert_int_equal(wan_lfs_pointer_parse(b, len, oid, &size), 1);
		assert_int_equal(size, lp[i].size);
		assert_int_equal(strncmp(oid, lp[i].oid16, 16), 0);
		free(b);
		assert_int_equal(wan_inspect_file(p, 0, &s), WAN_ECORRUPT);
		assert_string_equal(json_string_value(json_object_get(s, "format")), "lfs-pointer");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "lfs"), "size")),
				 lp[i].size);
		assert_false(json_is_true(json_object_get(s, "valid")));
		json_decref(s);
	}
	assert_int_equal(wan_lfs_pointer_parse(good, strlen(good), oid, &size), 1);
	assert_int_equal(size, 12345);
	/* extension keys are allowed; no final newline is tolerated */
	snprintf(bad, sizeof(bad), "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:00\n"
		 "oid sha256:%064d\nsize 7", 0);
	assert_int_equal(wan_lfs_pointer_parse(bad, strlen(bad), oid, &size), 1);
	assert_int_equal(size, 7);
	/* not pointers */
	const char *nots[] = {
		"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 1\n",
		"version https://git-lfs.github.com/spec/v1\nsize 12345\n",
		"version https://git-lfs.github.com/spec/v1\r\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\r\nsize 1\r\n",
		"version https://example.com/v9\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 1\n",
		"version https://git-lfs.github.com/spec/v1\noid sha256:4D7A214614AB2935C943F9E0FF69D22EADBB8F32B1258DAAA5E2CA24D17E2393\nsize 1\n",
		"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 99999999999999999999999\n",
		"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize -1\n",
		"{\"a\":1}",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(nots); i++)
		if (wan_lfs_pointer_parse(nots[i], strlen(nots[i]), oid, &size) != 0)
			fail_msg("not a pointer but accepted: case %zu", i);
}

static void test_inspect_realfiles(void **state)
{
	static const struct { const char *f; const char *format; int ok; } cases[] = {
		{ "safetensors/hfst__overall.safetensors", "safetensors", 1 },
		{ "safetensors/sdlora__pytorch_lora_weights.safetensors", "safetensors", 1 },
		{ "safetensors/flowerlora__pytorch_lora_weights.safetensors", "safetensors", 0 },
		{ "pth/burn__mnist.pt", "pth", 1 },
		{ "pth/burn__broken.pt", "pth", 0 },
		{ "pth/burn__simple_legacy.pt", "pth-legacy", 0 },
		{ "index/fluxjl__sharded/model.safetensors.index.json", "index", 1 },
		{ "index/wan22ti2v5b__config.json", "json", 1 },
		{ "index/sd35large__config.json", "json", 1 },
	};
	char p[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *s = NULL;
		int err;

		snprintf(p, sizeof(p), "%s/%s", real_dir(), cases[i].f);
		err = wan_inspect_file(p, 1, &s);
		assert_non_null(s);
		if (cases[i].ok != (err == 0))
			fail_msg("%s: got %d (%s)", p, err, wan_errmsg());
		assert_string_equal(json_string_value(json_object_get(s, "format")), cases[i].format);
		assert_int_equal(json_is_true(json_object_get(s, "valid")), cases[i].ok);
		json_decref(s);
	}
	{
		json_t *s = NULL;
		snprintf(p, sizeof(p), "%s/safetensors/fluxjl__model.with_metadata.safetensors", real_dir());
		assert_int_equal(wan_inspect_file(p, 1, &s), 0);
		assert_int_equal(json_integer_value(json_object_get(s, "tensors")), 36);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "dtypes"), "BF16")), 3);
		assert_true(json_is_true(json_object_get(s, "finite")));
		/* 3 tensors of each float dtype: F64 F32 BF16 F16 F8_E4M3 F8_E5M2 */
		assert_int_equal(json_object_size(json_object_get(s, "stats")), 18);
		json_decref(s);
	}
	{
		json_t *s = NULL;
		char e[PATH_MAX * 2];
		snprintf(e, sizeof(e), "%s/empty.safetensors", tmpdir);
		spit(e, "", 0);
		assert_int_equal(wan_inspect_file(e, 0, &s), WAN_ECORRUPT);
		assert_string_equal(json_string_value(json_object_get(s, "format")), "empty");
		json_decref(s);
		snprintf(e, sizeof(e), "%s/page.safetensors", tmpdir);
		spit(e, "<!DOCTYPE html><html>404</html>", 31);
		assert_int_equal(wan_inspect_file(e, 0, &s), WAN_ECORRUPT);
		assert_non_null(strstr(wan_errmsg(), "HTML"));
		json_decref(s);
		snprintf(e, sizeof(e), "%s/nope", tmpdir);
		assert_int_equal(wan_inspect_file(e, 0, &s), WAN_ENOTFOUND);
		assert_null(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safetensors_accept_corpus),
		cmocka_unit_test(test_safetensors_reject_corpus),
		cmocka_unit_test(test_safetensors_details),
		cmocka_unit_test(test_safetensors_realfiles),
		cmocka_unit_test(test_safetensors_sparse_4g),
		cmocka_unit_test(test_safetensors_hostile),
		cmocka_unit_test(test_safetensors_index_fluxjl),
		cmocka_unit_test(test_safetensors_index_defects),
		cmocka_unit_test(test_safetensors_index_real),
		cmocka_unit_test(test_lfs_pointer),
		cmocka_unit_test(test_inspect_realfiles),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
