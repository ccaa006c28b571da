/* The backup codec (byte planes, frames, index), snapshot parsing and the
 * repository layout. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "util/common.h"
#include "util/crc32.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "lib/backup_internal.h"
#include "lib/manifest.h"
#include "wanctl/backup.h"
#include "wanctl/fixture.h"

static char dir[256];
static unsigned decode_threads = 1;   /* frame decoders used by decode() */

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/wanctl-test_backup.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	path_remove_tree(dir);
	return 0;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* bf16 like a checkpoint's: |x| in [2^-8, 2^-4), random sign. */
static uint16_t bf16_weight(void)
{
	float f = ldexpf(1.0f + (float)(rnd() & 0xffff) / 65536.0f, -8 + (int)(rnd() % 4));
	uint32_t u;
	if (rnd() & 1)
		f = -f;
	memcpy(&u, &f, 4);
	return (uint16_t)(u >> 16);
}

static void fill_tensor(const char *dtype, uint8_t *p, size_t nbytes)
{
	if (!strcmp(dtype, "BF16")) {
		for (size_t i = 0; i + 2 <= nbytes; i += 2) {
			uint16_t v = bf16_weight();
			memcpy(p + i, &v, 2);
		}
	} else if (!strcmp(dtype, "F32")) {
		for (size_t i = 0; i + 4 <= nbytes; i += 4) {
			float f = (float)((int)(rnd() % 20001) - 10000) / 1e5f;
			memcpy(p + i, &f, 4);
		}
	} else {
		for (size_t i = 0; i < nbytes; i++)
			p[i] = (uint8_t)rnd();
	}
}

/* A safetensors file with tensors of several dtypes and odd sizes. */
static void write_st(const char *path, uint64_t scale)
{
	static const struct { const char *name, *dtype; uint64_t n; } t[] = {
		{ "a.bf16", "BF16", 4099 }, { "b.f32", "F32", 1031 }, { "c.i32", "I32", 77 },
		{ "d.f16", "F16", 513 }, { "e.f64", "F64", 129 }, { "f.u8", "U8", 5 },
		{ "g.bf16", "BF16", 1 },
	};
	struct wan_st_writer *w = NULL;

	assert_int_equal(wan_st_writer_open(&w, path), 0);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		uint64_t shape[1] = { t[i].n * (t[i].n > 1 ? scale : 1) };
		assert_int_equal(wan_st_writer_add(w, t[i].name, t[i].dtype, shape, 1), 0);
	}
	assert_int_equal(wan_st_writer_begin(w), 0);
	for (size_t i = 0; i < wan_st_writer_count(w); i++) {
		uint64_t nb;
		const char *name = wan_st_writer_tensor_at(w, i, &nb);
		const char *dt = strchr(name, '.') + 1;
		uint8_t *buf = malloc(nb + 1);
		assert_non_null(buf);
		fill_tensor(!strcmp(dt, "bf16") ? "BF16" : !strcmp(dt, "f32") ? "F32" : "X", buf, nb);
		assert_int_equal(wan_st_writer_write(w, buf, nb), 0);
		free(buf);
	}
	assert_int_equal(wan_st_writer_finish(w), 0);
	wan_st_writer_free(w);
}

/* A safetensors file of one bf16 weight tensor of n elements. */
static void write_st_bf16(const char *path, uint64_t n)
{
	struct wan_st_writer *w = NULL;
	uint64_t shape[1] = { n };
	uint8_t *buf = malloc(n * 2);

	assert_non_null(buf);
	assert_int_equal(wan_st_writer_open(&w, path), 0);
	assert_int_equal(wan_st_writer_add(w, "w", "BF16", shape, 1), 0);
	assert_int_equal(wan_st_writer_begin(w), 0);
	fill_tensor("BF16", buf, n * 2);
	assert_int_equal(wan_st_writer_write(w, buf, n * 2), 0);
	assert_int_equal(wan_st_writer_finish(w), 0);
	wan_st_writer_free(w);
	free(buf);
}

static void write_random(const char *path, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint8_t *b = malloc(n + 1);

	assert_true(fd >= 0 && b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)("config json text "[i % 17] ^ (rnd() % 3 == 0));
	assert_int_equal(xwrite(fd, b, n), 0);
	close(fd);
	free(b);
}

static void file_sha(const char *path, char sha[WAN_SHA256_HEX], uint64_t *size)
{
	struct wan_sha256 h;
	uint8_t buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(wan_sha256_init(&h), 0);
	*size = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		wan_sha256_update(&h, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	wan_sha256_final_hex(&h, sha);
	close(fd);
}

/* Encode src into enc; returns the stored size and codec. */
static int encode(const char *src, const char *enc, const char *relpath, uint32_t frame,
		  bool plain, const char *expect, uint64_t *stored, uint32_t *codec)
{
	struct bk_enc_opts o = { 3, 2, plain, frame };
	char sha[WAN_SHA256_HEX];
	uint64_t size;
	int in, out, err;

	file_sha(src, sha, &size);
	in = open(src, O_RDONLY);
	out = open(enc, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(in >= 0 && out >= 0);
	err = bk_encode(in, size, src, relpath, expect ? expect : sha, out, &o, NULL, stored, codec);
	close(in);
	close(out);
	return err;
}

/* Decode enc into dec; returns the error of index read or decode. */
static int decode(const char *enc, const char *dec, struct bk_index *ixout)
{
	struct bk_index ix;
	struct stat sb;
	int in = open(enc, O_RDONLY), out, err;

	assert_true(in >= 0);
	fstat(in, &sb);
	out = open(dec, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(out >= 0);
	err = bk_index_read(&ix, in, (uint64_t)sb.st_size, enc);
	if (err == 0) {
		err = bk_decode(in, &ix, enc, out, decode_threads, NULL);
		if (ixout)
			*ixout = ix;
		else
			bk_index_release(&ix);
	}
	close(in);
	close(out);
	return err;
}

static void same_file(const char *a, const char *b)
{
	char sa[WAN_SHA256_HEX], sb[WAN_SHA256_HEX];
	uint64_t na, nb;

	file_sha(a, sa, &na);
	file_sha(b, sb, &nb);
	assert_int_equal(na, nb);
	assert_string_equal(sa, sb);
}

static void test_backup_planes_roundtrip(void **state)
{
	static const unsigned elems[] = { 2, 4, 8 };
	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(elems); k++) {
		unsigned e = elems[k];
		for (size_t n = 1; n < 300; n += 37) {
			uint8_t *src = malloc(n * e), *pl = malloc(n * e), *back = malloc(n * e);
			assert_true(src && pl && back);
			for (size_t i = 0; i < n * e; i++)
				src[i] = (uint8_t)rnd();
			bk_planes_split(pl, src, n, e);
			for (size_t i = 0; i < n; i++)
				for (unsigned b = 0; b < e; b++)
					assert_int_equal(pl[b * n + i], src[i * e + b]);
			bk_planes_join(back, pl, n, e);
			assert_memory_equal(back, src, n * e);
			free(src);
			free(pl);
			free(back);
		}
	}
}

/* The float transforms: elements rotated left by one bit (BK_SEG_ROT),
 * split into planes, the second-highest plane grouped (stably) by the
 * highest (BK_SEG_GROUP). */
static void test_backup_float_planes_roundtrip(void **state)
{
	static const unsigned elems[] = { 2, 4, 8 };
	static const size_t ns[] = { 2, 15, 16, 17, 31, 33, 1000, 4099 };
	static const uint32_t flagsets[] = { BK_SEG_ROT, BK_SEG_GROUP, BK_SEG_ROT | BK_SEG_GROUP };
	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(elems) * ARRAY_SIZE(flagsets); k++) {
		unsigned e = elems[k % ARRAY_SIZE(elems)];
		uint32_t fl = flagsets[k / ARRAY_SIZE(elems)];
		for (size_t j = 0; j < ARRAY_SIZE(ns); j++) {
			size_t n = ns[j], at = 0;
			uint8_t *src = malloc(n * e), *pl = malloc(n * e), *back = malloc(n * e);
			uint8_t *tmp = malloc(n), *want = malloc(n * e);
			assert_true(src && pl && back && tmp && want);
			for (size_t i = 0; i < n * e; i++)
				src[i] = (uint8_t)rnd();
			/* Few distinct top bytes, as exponents are. */
			for (size_t i = 0; i < n; i++)
				src[i * e + e - 1] = (uint8_t)(0x3c + rnd() % 3);
			for (size_t i = 0; i < n; i++) {
				uint64_t x = 0;
				for (unsigned b = 0; b < e; b++)
					x |= (uint64_t)src[i * e + b] << (8 * b);
				if (fl & BK_SEG_ROT)
					x = (x << 1 | x >> (8 * e - 1)) &
					    (e == 8 ? ~0ull : (1ull << (8 * e)) - 1);
				for (unsigned b = 0; b < e; b++)
					want[b * n + i] = (uint8_t)(x >> (8 * b));
			}
			/* Expected grouping: for each top byte in order, its elements'
			 * next bytes in element order. */
			memcpy(tmp, want + (e - 2) * n, n);
			for (unsigned v = 0; v < 256 && (fl & BK_SEG_GROUP); v++)
				for (size_t i = 0; i < n; i++)
					if (want[(e - 1) * n + i] == v)
						want[(e - 2) * n + at++] = tmp[i];
			assert_int_equal(at, fl & BK_SEG_GROUP ? n : 0);
			bk_float_split(pl, src, n, e, fl, tmp);
			assert_memory_equal(pl, want, n * e);
			bk_float_join(back, pl, n, e, fl, tmp);
			assert_memory_equal(back, src, n * e);
			free(src);
			free(pl);
			free(back);
			free(tmp);
			free(want);
		}
	}
}

/* Why the float transform: on Gaussian weights (sd 0.02) it stores fewer
 * bytes than plain byte planes, with the encoder's own zstd settings. */
static size_t zstd_planes(const uint8_t *p, size_t len)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(len), r;
	void *out = malloc(cap);

	assert_true(c && out);
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_strategy, ZSTD_fast);
	ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, 6);
	ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, 7);
	r = ZSTD_compress2(c, out, cap, p, len);
	assert_false(ZSTD_isError(r));
	ZSTD_freeCCtx(c);
	free(out);
	return r;
}

static void test_backup_float_planes_smaller(void **state)
{
	const size_t n = 1u << 20;
	float *f = malloc(n * sizeof(float));
	uint16_t *h = malloc(n * sizeof(uint16_t));
	uint8_t *pl = malloc(n * 4), *tmp = malloc(n);
	size_t plain, rot, fl;
	(void)state;

	assert_true(f && h && pl && tmp);
	for (size_t i = 0; i < n; i++) {
		float u = 0;
		uint32_t x;
		for (int j = 0; j < 4; j++)
			u += (float)(rnd() >> 8) / 16777216.0f;
		f[i] = (u - 2.0f) * 0.02f * 1.7320508f;
		memcpy(&x, &f[i], 4);
		h[i] = (uint16_t)(x >> 16);
	}
	bk_planes_split(pl, (const uint8_t *)f, n, 4);
	plain = zstd_planes(pl, n * 4);
	bk_float_split(pl, (const uint8_t *)f, n, 4, BK_SEG_ROT, tmp);
	rot = zstd_planes(pl, n * 4);
	bk_float_split(pl, (const uint8_t *)f, n, 4, BK_SEG_ROT | BK_SEG_GROUP, tmp);
	fl = zstd_planes(pl, n * 4);
	print_message("fp32 Gaussian: plain planes %.2f%%, rotated %.2f%%, rotated + grouped "
		      "%.2f%%\n", 100.0 * (double)plain / (double)(n * 4),
		      100.0 * (double)rot / (double)(n * 4), 100.0 * (double)fl / (double)(n * 4));
	assert_true(rot < plain);
	assert_true(fl < rot);
	bk_planes_split(pl, (const uint8_t *)h, n, 2);
	plain = zstd_planes(pl, n * 2);
	bk_float_split(pl, (const uint8_t *)h, n, 2, BK_SEG_ROT, tmp);
	fl = zstd_planes(pl, n * 2);
	print_message("bf16 Gaussian: plain planes %.2f%%, rotated %.2f%%\n",
		      100.0 * (double)plain / (double)(n * 2), 100.0 * (double)fl / (double)(n * 2));
	assert_true(fl < plain);
	free(f);
	free(h);
	free(pl);
	free(tmp);
}

/* Objects written before the float transform (index version 1, plain
 * planes) still decode; a version 1 index with float flags does not parse. */
static void test_backup_decode_v1(void **state)
{
	const char *srcdir = getenv("WANCTL_SRC");
	char path[512], dec[300];
	struct bk_index ix;
	uint8_t *buf;
	struct stat sb;
	size_t len;
	int fd;
	(void)state;

	assert_non_null(srcdir);
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/bkobject/byteplane.zst", srcdir);
	snprintf(dec, sizeof(dec), "%s/v1.out", dir);
	assert_int_equal(decode(path, dec, &ix), 0);
	assert_int_equal(ix.version, 1);
	assert_true(ix.nsegs > 0);
	assert_int_equal(ix.segs[0].flags, 0);
	bk_index_release(&ix);
	/* Set the float flag on its first segment, fix the CRC: refused. */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	fstat(fd, &sb);
	len = (size_t)sb.st_size;
	buf = malloc(len);
	assert_true(buf && read(fd, buf, len) == (ssize_t)len);
	close(fd);
	{
		uint32_t plen = (uint32_t)buf[len - 8] | (uint32_t)buf[len - 7] << 8 |
				(uint32_t)buf[len - 6] << 16 | (uint32_t)buf[len - 5] << 24;
		uint8_t *p = buf + len - plen;
		uint32_t nframes = (uint32_t)p[52] | (uint32_t)p[53] << 8;
		uint8_t *seg = p + 60 + 20 * (size_t)nframes;
		uint32_t crc;

		seg[17] |= 1;     /* elem | BK_SEG_ROT */
		crc = wan_crc32(0, p, plen - 12);
		for (int i = 0; i < 4; i++)
			p[plen - 12 + i] = (uint8_t)(crc >> (8 * i));
		assert_int_equal(bk_index_parse(&ix, p, plen, len - plen - 8, "v1"), WAN_ECORRUPT);
		assert_non_null(strstr(wan_errmsg(), "segment"));
		p[4] = 2;         /* the same index as version 2 is fine */
		crc = wan_crc32(0, p, plen - 12);
		for (int i = 0; i < 4; i++)
			p[plen - 12 + i] = (uint8_t)(crc >> (8 * i));
		assert_int_equal(bk_index_parse(&ix, p, plen, len - plen - 8, "v2"), 0);
		assert_int_equal(ix.segs[0].flags, BK_SEG_ROT);
		bk_index_release(&ix);
		seg[17] |= 4;     /* an unknown flag (0x400): refused */
		crc = wan_crc32(0, p, plen - 12);
		for (int i = 0; i < 4; i++)
			p[plen - 12 + i] = (uint8_t)(crc >> (8 * i));
		assert_int_equal(bk_index_parse(&ix, p, plen, len - plen - 8, "v2"), WAN_ECORRUPT);
	}
	free(buf);
}

static void test_backup_codec_roundtrip_safetensors(void **state)
{
	static const uint32_t frames[] = { 0, 4099, 65536, 1000000 };
	char src[300], enc[300], dec[300];
	(void)state;

	snprintf(src, sizeof(src), "%s/m.safetensors", dir);
	snprintf(enc, sizeof(enc), "%s/m.zst", dir);
	snprintf(dec, sizeof(dec), "%s/m.out", dir);
	write_st(src, 37);
	for (size_t i = 0; i < ARRAY_SIZE(frames); i++) {
		struct bk_index ix;
		uint64_t stored;
		uint32_t codec;
		struct stat sb;

		assert_int_equal(encode(src, enc, "dit/m.safetensors", frames[i], false, NULL,
					&stored, &codec), 0);
		assert_int_equal(codec, BK_CODEC_BYTEPLANE);
		stat(enc, &sb);
		assert_int_equal((uint64_t)sb.st_size, stored);
		decode_threads = 1 + (unsigned)(i % 2);   /* frame-parallel decoding too */
		assert_int_equal(decode(enc, dec, &ix), 0);
		decode_threads = 1;
		assert_true(ix.nsegs > 0);
		assert_int_equal(ix.version, 2);
		for (uint32_t k = 0; k < ix.nsegs; k++)
			assert_int_equal(ix.segs[k].flags,
					 BK_SEG_ROT | (ix.segs[k].elem >= 4 ? BK_SEG_GROUP : 0));
		if (frames[i] == 4099)
			assert_true(ix.nframes > 10);
		for (uint32_t k = 0; k < ix.nsegs; k++)
			assert_int_equal(ix.segs[k].len % ix.segs[k].elem, 0);
		bk_index_release(&ix);
		same_file(src, dec);
	}
	/* The same data as plain zstd, when told. */
	{
		uint64_t stored;
		uint32_t codec;
		assert_int_equal(encode(src, enc, "dit/m.safetensors", 0, true, NULL, &stored,
					&codec), 0);
		assert_int_equal(codec, BK_CODEC_ZSTD);
		assert_int_equal(decode(enc, dec, NULL), 0);
		same_file(src, dec);
	}
}

static void test_backup_codec_plain_and_empty(void **state)
{
	char src[300], enc[300], dec[300];
	uint64_t stored;
	uint32_t codec;
	struct bk_index ix;
	(void)state;

	snprintf(src, sizeof(src), "%s/config.json", dir);
	snprintf(enc, sizeof(enc), "%s/c.zst", dir);
	snprintf(dec, sizeof(dec), "%s/c.out", dir);
	write_random(src, 300000);
	assert_int_equal(encode(src, enc, "config.json", 65536, false, NULL, &stored, &codec), 0);
	assert_int_equal(codec, BK_CODEC_ZSTD);
	assert_true(stored < 300000);
	assert_int_equal(decode(enc, dec, &ix), 0);
	assert_int_equal(ix.nsegs, 0);
	assert_int_equal(ix.nframes, 5);
	bk_index_release(&ix);
	same_file(src, dec);
	/* A file named .safetensors that is not one: plain zstd. */
	assert_int_equal(encode(src, enc, "x.safetensors", 0, false, NULL, &stored, &codec), 0);
	assert_int_equal(codec, BK_CODEC_ZSTD);
	/* Empty file. */
	write_random(src, 0);
	assert_int_equal(encode(src, enc, "empty", 0, false, NULL, &stored, &codec), 0);
	assert_int_equal(decode(enc, dec, &ix), 0);
	assert_int_equal(ix.nframes, 0);
	assert_int_equal(ix.raw_size, 0);
	bk_index_release(&ix);
	same_file(src, dec);
}

/* The point of the byte planes: bf16 weights compress better. */
static void test_backup_codec_byteplane_smaller(void **state)
{
	char src[300], enc[300];
	uint64_t planes, plain;
	uint32_t codec;
	(void)state;

	snprintf(src, sizeof(src), "%s/w.safetensors", dir);
	snprintf(enc, sizeof(enc), "%s/w.zst", dir);
	write_st_bf16(src, 1u << 20);     /* 2 MiB of bf16 weights */
	assert_int_equal(encode(src, enc, "w.safetensors", 0, false, NULL, &planes, &codec), 0);
	assert_int_equal(codec, BK_CODEC_BYTEPLANE);
	assert_int_equal(encode(src, enc, "w.safetensors", 0, true, NULL, &plain, &codec), 0);
	print_message("byte planes %llu bytes, plain zstd %llu bytes (%.3f)\n",
		      (unsigned long long)planes, (unsigned long long)plain,
		      (double)planes / (double)plain);
	assert_true((double)planes < 0.9 * (double)plain);
}

static void test_backup_codec_expect_sha(void **state)
{
	char src[300], enc[300];
	uint64_t stored;
	uint32_t codec;
	(void)state;

	snprintf(src, sizeof(src), "%s/e.bin", dir);
	snprintf(enc, sizeof(enc), "%s/e.zst", dir);
	write_random(src, 1000);
	assert_int_equal(encode(src, enc, "e.bin", 0, false,
				"0000000000000000000000000000000000000000000000000000000000000000",
				&stored, &codec), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "damaged"));
}

/* Every single-byte change and every truncation of an encoded object is
 * caught (index read or decode fails), never a crash, never wrong bytes. */
static void test_backup_codec_damage(void **state)
{
	char src[300], enc[300], bad[300], dec[300];
	uint64_t stored;
	uint32_t codec;
	uint8_t *img;
	int fd;
	(void)state;

	snprintf(src, sizeof(src), "%s/d.safetensors", dir);
	snprintf(enc, sizeof(enc), "%s/d.zst", dir);
	snprintf(bad, sizeof(bad), "%s/d.bad", dir);
	snprintf(dec, sizeof(dec), "%s/d.out", dir);
	write_st(src, 3);
	assert_int_equal(encode(src, enc, "d.safetensors", 8192, false, NULL, &stored, &codec), 0);
	img = malloc(stored);
	fd = open(enc, O_RDONLY);
	assert_int_equal(xread(fd, img, stored), (ssize_t)stored);
	close(fd);
	for (uint64_t pos = 0; pos < stored; pos += (pos < 64 || pos > stored - 600) ? 1 : 97) {
		uint8_t save = img[pos];
		img[pos] ^= (uint8_t)(1u << (pos % 8));
		decode_threads = 1 + (unsigned)(pos % 2);
		fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(xwrite(fd, img, stored), 0);
		close(fd);
		if (decode(bad, dec, NULL) == 0) {
			/* Only possible if the flip hit a byte zstd ignores; the
			 * content must then still be exact. */
			same_file(src, dec);
		}
		img[pos] = save;
	}
	for (uint64_t len = 0; len < stored; len += 1 + len / 3) {
		fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(xwrite(fd, img, len), 0);
		close(fd);
		decode_threads = 1 + (unsigned)(len % 2);
		assert_int_equal(decode(bad, dec, NULL), WAN_ECORRUPT);
	}
	decode_threads = 1;
	free(img);
}

static void test_backup_index_parse_garbage(void **state)
{
	struct bk_index ix;
	uint8_t buf[512];
	(void)state;

	for (int round = 0; round < 2000; round++) {
		size_t len = rnd() % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd();
		if (len >= 4 && round % 2)
			memcpy(buf, "WBK1", 4);
		if (len >= 8 && round % 3 == 0)
			memcpy(buf + len - 4, "WBKX", 4);
		assert_int_equal(bk_index_parse(&ix, buf, len, rnd(), "garbage"), WAN_ECORRUPT);
	}
}

/* ---- snapshots ---- */

static char *snapshot_text(const char *path, const char *mutate)
{
	char sha[WAN_SHA256_HEX], id[17];
	json_t *files, *m, *s;
	char *text;

	wan_sha256_hex("abc", 3, sha);
	files = json_pack("[{s:s,s:i,s:i,s:s}]", "path", path, "size", 3, "mode", 420, "sha256", sha);
	manifest_release_id(files, id);
	m = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:{s:i,s:i}}", "format", "wanctl-manifest-1",
		      "model", "m1", "spec", "m1", "source", "/s", "created", "2026-01-01T00:00:00Z",
		      "release", id, "files", files, "totals", "files", 1, "bytes", 3);
	s = json_pack("{s:s,s:s,s:s,s:s,s:f,s:o,s:{s:{s:i,s:i,s:s}}}", "format",
		      "wanctl-backup-snapshot-1", "model", "m1", "release", id, "created",
		      "2026-01-01T00:00:00Z", "created_ts", 1.0, "manifest", m, "objects", sha,
		      "size", 3, "stored", 50, "codec", "zstd");
	if (!strcmp(mutate, "bad-codec"))
		json_object_set_new(json_object_get(json_object_get(s, "objects"), sha), "codec",
				    json_string("lz4"));
	else if (!strcmp(mutate, "wrong-size"))
		json_object_set_new(json_object_get(json_object_get(s, "objects"), sha), "size",
				    json_integer(4));
	else if (!strcmp(mutate, "extra-object"))
		json_object_set_new(json_object_get(s, "objects"),
				    "1111111111111111111111111111111111111111111111111111111111111111",
				    json_pack("{s:i,s:i,s:s}", "size", 1, "stored", 1, "codec", "zstd"));
	else if (!strcmp(mutate, "no-object"))
		json_object_clear(json_object_get(s, "objects"));
	else if (!strcmp(mutate, "release-mismatch"))
		json_object_set_new(s, "release", json_string("0123456789abcdef"));
	else if (!strcmp(mutate, "model-escape"))
		json_object_set_new(s, "model", json_string("../x"));
	else if (!strcmp(mutate, "negative-ts"))
		json_object_set_new(s, "created_ts", json_real(-1));
	text = json_dumps(s, JSON_COMPACT);
	json_decref(files);
	json_decref(s);
	return text;
}

static void test_backup_snapshot_parse(void **state)
{
	static const char *const bad[] = { "bad-codec", "wrong-size", "extra-object",
					   "no-object", "release-mismatch", "model-escape",
					   "negative-ts" };
	static const char *const badpaths[] = { "../x", "/abs", "a/../b", "a//b", "" };
	json_t *out = NULL;
	char *t;
	(void)state;

	t = snapshot_text("a/b.bin", "");
	assert_int_equal(wan_backup_snapshot_parse(t, strlen(t), "ok", &out), 0);
	assert_non_null(out);
	json_decref(out);
	free(t);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		t = snapshot_text("a/b.bin", bad[i]);
		assert_int_equal(wan_backup_snapshot_parse(t, strlen(t), bad[i], &out), WAN_ECORRUPT);
		assert_null(out);
		assert_non_null(strstr(wan_errmsg(), bad[i]));  /* names the file */
		free(t);
	}
	for (size_t i = 0; i < ARRAY_SIZE(badpaths); i++) {
		t = snapshot_text(badpaths[i], "");
		assert_int_equal(wan_backup_snapshot_parse(t, strlen(t), "p", &out), WAN_ECORRUPT);
		free(t);
	}
	{
		static const char dup[] = "{\"format\":\"wanctl-backup-snapshot-1\","
					  "\"format\":\"wanctl-backup-snapshot-1\"}";
		assert_int_equal(wan_backup_snapshot_parse(dup, strlen(dup), "dup", &out), WAN_ECORRUPT);
		assert_int_equal(wan_backup_snapshot_parse("[1,2", 4, "trunc", &out), WAN_ECORRUPT);
		assert_int_equal(wan_backup_snapshot_parse("", 0, "empty", &out), WAN_ECORRUPT);
		assert_int_equal(wan_backup_snapshot_parse("{}", (size_t)BK_SNAPSHOT_MAX + 1, "big",
							   &out), WAN_ECORRUPT);
	}
}

/* ---- repository ---- */

static void test_backup_repo_open(void **state)
{
	char p[300], f[400];
	struct bk_repo r;
	int fd;
	(void)state;

	snprintf(p, sizeof(p), "%s/repo", dir);
	assert_int_equal(bk_repo_open(&r, p, false), WAN_ENOTFOUND);
	assert_int_equal(bk_repo_open(&r, p, true), 0);
	bk_repo_close(&r);
	snprintf(f, sizeof(f), "%s/FORMAT", p);
	assert_int_equal(access(f, F_OK), 0);
	snprintf(f, sizeof(f), "%s/objects/sha256", p);
	assert_int_equal(access(f, F_OK), 0);
	assert_int_equal(bk_repo_open(&r, p, false), 0);
	bk_repo_close(&r);
	/* A folder with other content is not taken over. */
	snprintf(p, sizeof(p), "%s/foreign", dir);
	mkdir(p, 0755);
	snprintf(f, sizeof(f), "%s/notes.txt", p);
	fd = open(f, O_WRONLY | O_CREAT, 0644);
	close(fd);
	assert_int_equal(bk_repo_open(&r, p, true), WAN_EINVAL);
	/* An unknown FORMAT is refused. */
	snprintf(f, sizeof(f), "%s/FORMAT", p);
	fd = open(f, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(xwrite(fd, "wanctl-backup-9\n", 16), 0);
	close(fd);
	assert_int_equal(bk_repo_open(&r, p, false), WAN_ECORRUPT);
	/* A file where the folder should be. */
	assert_true(bk_repo_open(&r, f, true) < 0);
	/* Publishing never replaces: the first content stays. */
	snprintf(p, sizeof(p), "%s/repo", dir);
	assert_int_equal(bk_repo_open(&r, p, true), 0);
	for (int i = 0; i < 2; i++) {
		char name[128];
		bool existed;
		assert_int_equal(bk_tmp_create(&r, "t", name, sizeof(name), &fd), 0);
		assert_int_equal(xwrite(fd, i ? "second" : "first", i ? 6 : 5), 0);
		assert_int_equal(bk_publish(&r, fd, name, "snapshots/m/x.json", &existed), 0);
		assert_int_equal(existed, i == 1);
	}
	snprintf(f, sizeof(f), "%s/snapshots/m/x.json", p);
	{
		struct stat sb;
		assert_int_equal(stat(f, &sb), 0);
		assert_int_equal(sb.st_size, 5);
		assert_int_equal(sb.st_mode & 0777, 0444);
	}
	snprintf(f, sizeof(f), "%s/tmp", p);
	{
		int n = 0;
		DIR *d = opendir(f);
		struct dirent *de;
		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
		assert_int_equal(n, 0);
	}
	bk_repo_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup_planes_roundtrip),
		cmocka_unit_test(test_backup_float_planes_roundtrip),
		cmocka_unit_test(test_backup_float_planes_smaller),
		cmocka_unit_test(test_backup_decode_v1),
		cmocka_unit_test(test_backup_codec_roundtrip_safetensors),
		cmocka_unit_test(test_backup_codec_plain_and_empty),
		cmocka_unit_test(test_backup_codec_byteplane_smaller),
		cmocka_unit_test(test_backup_codec_expect_sha),
		cmocka_unit_test(test_backup_codec_damage),
		cmocka_unit_test(test_backup_index_parse_garbage),
		cmocka_unit_test(test_backup_snapshot_parse),
		cmocka_unit_test(test_backup_repo_open),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
