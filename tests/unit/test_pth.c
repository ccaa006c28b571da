/* Unit tests of src/lib/pth.c: the real .pt/.pth files of
 * $WANCTL_SHARED/reference/realfiles/pth (zip ones accepted with their
 * member counts, broken and legacy rejected with their own messages), and
 * archives written here (plain and zip64, a sparse one over 4 GiB) with one
 * planted defect each. */
#include "util/common.h"
#include "util/crc32.h"
#include "wanctl/formats.h"

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

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wanctl-test-pth-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	path_remove_tree(tmpdir);
	return 0;
}

static const char *real_dir(void)
{
	static char p[1024];
	const char *s = getenv("WANCTL_SHARED");

	snprintf(p, sizeof(p), "%s/reference/realfiles/pth", s ? s : "../shared");
	return p;
}

static int check_path(const char *path, int crc, json_t **sum)
{
	struct stat sb;
	int fd = open(path, O_RDONLY), err;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	err = wan_pth_check_fd(fd, (uint64_t)sb.st_size, crc, path, sum);
	close(fd);
	return err;
}

static void test_pth_realfiles(void **state)
{
	static const struct { const char *f, *archive; long entries, records; } ok[] = {
		{ "candle__test.pt", "test", 5, 1 },
		{ "candle__fortran_tensor_3d.pth", "fortran_tensor_3d", 5, 1 },
		{ "candle__boolean.pt", "boolean", 7, 1 },
		{ "burn__bfloat16.pt", "bfloat16", 7, 1 },
		{ "burn__checkpoint.pt", "checkpoint", 11, 5 },
		{ "burn__mnist.pt", "mnist", 24, 20 },
		{ "imdblora__rng_state.pth", "rng_state", 7, 1 },
		{ "imdblora__scheduler.pt", "scheduler", 6, 0 },
	};
	char p[2048];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		json_t *s = NULL;
		snprintf(p, sizeof(p), "%s/%s", real_dir(), ok[i].f);
		if (check_path(p, 1, &s) != 0)
			fail_msg("%s rejected: %s", p, wan_errmsg());
		assert_string_equal(json_string_value(json_object_get(s, "archive")), ok[i].archive);
		assert_int_equal(json_integer_value(json_object_get(s, "entries")), ok[i].entries);
		assert_int_equal(json_integer_value(json_object_get(s, "data_records")), ok[i].records);
		json_decref(s);
	}
	snprintf(p, sizeof(p), "%s/burn__broken.pt", real_dir());
	assert_int_equal(check_path(p, 1, NULL), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "not a zip archive"));
	assert_non_null(strstr(wan_errmsg(), "burn__broken.pt"));
	snprintf(p, sizeof(p), "%s/burn__simple_legacy.pt", real_dir());
	assert_int_equal(check_path(p, 1, NULL), WAN_ECORRUPT);
	assert_non_null(strstr(wan_errmsg(), "legacy (pre-1.6, non-zip) PyTorch file"));
}

/* ---- a small zip writer (stored entries), to a file, holes allowed */

struct zent {
	const char *name;
	const void *data;   /* NULL: len bytes of hole (zeros), CRC 0 */
	uint64_t len;
	uint16_t method, flags;
	uint64_t lho;       /* filled in */
};

struct zinfo {
	uint64_t cd_off, cd_size, eocd, z64eocd;
};

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void wr(int fd, const void *b, size_t n, uint64_t *off)
{
	assert_int_equal(pwrite(fd, b, n, (off_t)*off), (ssize_t)n);
	*off += n;
}

static void mkzip(const char *path, struct zent *e, size_t n, int zip64, struct zinfo *zi)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint64_t off = 0, cd0;
	unsigned char h[128];

	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(e[i].name);
		uint32_t crc = e[i].data ? wan_crc32(0, e[i].data, e[i].len) : 0;

		e[i].lho = off;
		memset(h, 0, sizeof(h));
		put32(h, 0x04034b50);
		put16(h + 4, zip64 ? 45 : 20);
		put16(h + 6, e[i].flags);
		put16(h + 8, e[i].method);
		put32(h + 14, crc);
		put32(h + 18, zip64 ? 0xFFFFFFFFu : (uint32_t)e[i].len);
		put32(h + 22, zip64 ? 0xFFFFFFFFu : (uint32_t)e[i].len);
		put16(h + 26, (unsigned)nl);
		put16(h + 28, zip64 ? 20 : 0);
		wr(fd, h, 30, &off);
		wr(fd, e[i].name, nl, &off);
		if (zip64) {
			memset(h, 0, 20);
			put16(h, 1);
			put16(h + 2, 16);
			put64(h + 4, e[i].len);
			put64(h + 12, e[i].len);
			wr(fd, h, 20, &off);
		}
		if (e[i].data)
			wr(fd, e[i].data, e[i].len, &off);
		else
			off += e[i].len;
	}
	cd0 = off;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(e[i].name);
		uint32_t crc = e[i].data ? wan_crc32(0, e[i].data, e[i].len) : 0;

		memset(h, 0, sizeof(h));
		put32(h, 0x02014b50);
		put16(h + 4, 45);
		put16(h + 6, zip64 ? 45 : 20);
		put16(h + 8, e[i].flags);
		put16(h + 10, e[i].method);
		put32(h + 16, crc);
		put32(h + 20, zip64 ? 0xFFFFFFFFu : (uint32_t)e[i].len);
		put32(h + 24, zip64 ? 0xFFFFFFFFu : (uint32_t)e[i].len);
		put16(h + 28, (unsigned)nl);
		put16(h + 30, zip64 ? 28 : 0);
		put32(h + 42, zip64 ? 0xFFFFFFFFu : (uint32_t)e[i].lho);
		wr(fd, h, 46, &off);
		wr(fd, e[i].name, nl, &off);
		if (zip64) {
			memset(h, 0, 28);
			put16(h, 1);
			put16(h + 2, 24);
			put64(h + 4, e[i].len);
			put64(h + 12, e[i].len);
			put64(h + 20, e[i].lho);
			wr(fd, h, 28, &off);
		}
	}
	zi->cd_off = cd0;
	zi->cd_size = off - cd0;
	if (zip64) {
		zi->z64eocd = off;
		memset(h, 0, 76);
		put32(h, 0x06064b50);
		put64(h + 4, 44);
		put16(h + 12, 45);
		put16(h + 14, 45);
		put64(h + 24, n);
		put64(h + 32, n);
		put64(h + 40, zi->cd_size);
		put64(h + 48, zi->cd_off);
		put32(h + 56, 0x07064b50);
		put64(h + 56 + 8, zi->z64eocd);
		put32(h + 56 + 16, 1);
		wr(fd, h, 76, &off);
	}
	zi->eocd = off;
	memset(h, 0, 22);
	put32(h, 0x06054b50);
	put16(h + 8, zip64 ? 0xFFFF : (unsigned)n);
	put16(h + 10, zip64 ? 0xFFFF : (unsigned)n);
	put32(h + 12, zip64 ? 0xFFFFFFFFu : (uint32_t)zi->cd_size);
	put32(h + 16, zip64 ? 0xFFFFFFFFu : (uint32_t)zi->cd_off);
	wr(fd, h, 22, &off);
	assert_int_equal(close(fd), 0);
}

static void patch(const char *path, uint64_t off, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static unsigned char rec0[64];

/* A PyTorch-layout archive; variant v plants one defect. */
static void good_entries(struct zent *e)
{
	static const char pkl[] = "\x80\x02}q\x00.";
	for (size_t i = 0; i < sizeof(rec0); i++)
		rec0[i] = (unsigned char)(i * 37);
	e[0] = (struct zent){ "arc/data.pkl", pkl, sizeof(pkl) - 1, 0, 0, 0 };
	e[1] = (struct zent){ "arc/version", "3\n", 2, 0, 0, 0 };
	e[2] = (struct zent){ "arc/data/0", rec0, sizeof(rec0), 0, 0, 0 };
	e[3] = (struct zent){ "arc/.data/serialization_id", "1234567890", 10, 0, 0, 0 };
}

static void expect(const char *path, int crc, const char *sub)
{
	int err = check_path(path, crc, NULL);

	if (!sub) {
		if (err)
			fail_msg("%s rejected: %s", path, wan_errmsg());
		return;
	}
	if (err != WAN_ECORRUPT)
		fail_msg("%s: got %d, want WAN_ECORRUPT (%s)", path, err, sub);
	if (!strstr(wan_errmsg(), sub))
		fail_msg("%s: message '%s' lacks '%s'", path, wan_errmsg(), sub);
}

static void test_pth_written(void **state)
{
	struct zent e[5];
	struct zinfo zi;
	char p[512];
	json_t *s = NULL;
	unsigned char b[8];

	(void)state;
	for (int z = 0; z < 2; z++) {
		snprintf(p, sizeof(p), "%s/good%d.pth", tmpdir, z);
		good_entries(e);
		mkzip(p, e, 4, z, &zi);
		assert_int_equal(check_path(p, 1, &s), 0);
		assert_string_equal(json_string_value(json_object_get(s, "archive")), "arc");
		assert_int_equal(json_integer_value(json_object_get(s, "entries")), 4);
		assert_int_equal(json_integer_value(json_object_get(s, "data_records")), 1);
		assert_int_equal(json_integer_value(json_object_get(s, "bytes")), 64);
		json_decref(s);
		s = NULL;

		/* a flipped data byte: only the CRC check sees it */
		b[0] = (unsigned char)(rec0[5] ^ 1);
		patch(p, e[2].lho + 30 + strlen(e[2].name) + (z ? 20 : 0) + 5, b, 1);
		expect(p, 0, NULL);
		expect(p, 1, "entry 'arc/data/0'");
		expect(p, 1, "fails its CRC-32 check");

		/* truncated */
		assert_int_equal(truncate(p, (off_t)(zi.eocd + 21)), 0);
		expect(p, 0, "no end of central directory record");
		assert_int_equal(truncate(p, (off_t)zi.cd_off), 0);
		expect(p, 0, "(truncated?)");

		/* the central directory does not end at the end record */
		mkzip(p, e, 4, z, &zi);
		put32(b, (uint32_t)zi.cd_size - 1);
		if (z) {
			put64(b, zi.cd_size - 1);
			patch(p, zi.z64eocd + 40, b, 8);
		} else {
			patch(p, zi.eocd + 12, b, 4);
		}
		expect(p, 0, "does not end where the end record starts");

		/* a local header offset past the directory */
		mkzip(p, e, 4, z, &zi);
		if (z) {
			put64(b, zi.cd_off + 10);
			/* entry 0's zip64 extra: after 46 + name */
			patch(p, zi.cd_off + 46 + strlen(e[0].name) + 20, b, 8);
		} else {
			put32(b, (uint32_t)zi.cd_off + 10);
			patch(p, zi.cd_off + 42, b, 4);
		}
		expect(p, 0, "not before the central directory");

		/* a size running into the next entry */
		mkzip(p, e, 4, z, &zi);
		if (z) {
			put64(b, 1000);
			patch(p, zi.cd_off + 46 + strlen(e[0].name) + 4, b, 8);
			patch(p, zi.cd_off + 46 + strlen(e[0].name) + 12, b, 8);
		} else {
			put32(b, 1000);
			patch(p, zi.cd_off + 20, b, 4);
			patch(p, zi.cd_off + 24, b, 4);
		}
		expect(p, 0, "runs past the next entry");

		/* a broken local header signature */
		mkzip(p, e, 4, z, &zi);
		patch(p, e[1].lho, "XX", 2);
		expect(p, 0, "entry 'arc/version': no local header");

		/* encrypted */
		mkzip(p, e, 4, z, &zi);
		put16(b, 1);
		patch(p, zi.cd_off + 8, b, 2);
		expect(p, 0, "is encrypted");
	}

	/* layout defects */
	snprintf(p, sizeof(p), "%s/layout.pth", tmpdir);
	good_entries(e);
	e[0].name = "arc/other.pkl";
	mkzip(p, e, 4, 0, &zi);
	expect(p, 0, "no 'arc/data.pkl' entry");
	good_entries(e);
	e[1].name = "arc/versio";
	mkzip(p, e, 4, 0, &zi);
	expect(p, 0, "no 'arc/version' entry");
	good_entries(e);
	e[3].name = "elsewhere/x";
	mkzip(p, e, 4, 0, &zi);
	expect(p, 0, "outside the archive folder 'arc'");
	good_entries(e);
	e[2].name = "arc/data/x1";
	mkzip(p, e, 4, 0, &zi);
	expect(p, 0, "'arc/data/x1' is not a data record");
	good_entries(e);
	e[3].name = "arc/version";
	mkzip(p, e, 4, 0, &zi);
	expect(p, 0, "duplicate entry 'arc/version'");
	good_entries(e);
	e[2].method = 12;
	mkzip(p, e, 4, 0, &zi);
	expect(p, 0, "compression method 12");
	good_entries(e);
	e[4] = (struct zent){ "arc/.format_version", "1", 1, 0, 0, 0 };
	e[1].name = "arc/byteorder";
	mkzip(p, e, 5, 0, &zi);
	expect(p, 1, NULL);   /* .format_version stands in for version */

	/* zip64 record offset outside the file */
	snprintf(p, sizeof(p), "%s/z64.pth", tmpdir);
	good_entries(e);
	mkzip(p, e, 4, 1, &zi);
	put64(b, zi.eocd + 1000);
	patch(p, zi.eocd - 20 + 8, b, 8);
	expect(p, 0, "zip64 end record offset");

	/* legacy */
	snprintf(p, sizeof(p), "%s/legacy.pt", tmpdir);
	{
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(write(fd, "\x80\x02\x8a\x0a" "l\xfc\x9c" "F\xf9 j\xa8P\x19.", 15), 15);
		close(fd);
	}
	expect(p, 0, "legacy");
	{
		int fd = open(p, O_WRONLY | O_TRUNC);
		assert_int_equal(write(fd, "\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", 14), 14);
		close(fd);
	}
	expect(p, 0, "bare pickle (protocol 4)");

	/* the buffer API agrees */
	{
		unsigned char z[22] = { 0x50, 0x4b, 5, 6 };
		assert_int_equal(wan_pth_check_buf(z, sizeof(z), 1, "empty.zip", NULL), WAN_ECORRUPT);
		assert_non_null(strstr(wan_errmsg(), "no entries"));
	}
}

/* A zip64 archive over 4 GiB (sparse): offsets and sizes past 32 bits. */
static void test_pth_sparse_4g(void **state)
{
	struct zent e[4];
	struct zinfo zi;
	char p[512];
	json_t *s = NULL;
	const uint64_t big = 4294967296ULL + 4099;

	(void)state;
	snprintf(p, sizeof(p), "%s/big.pth", tmpdir);
	good_entries(e);
	e[2] = (struct zent){ "arc/data/7", NULL, big, 0, 0, 0 };   /* hole, CRC 0 */
	mkzip(p, e, 4, 1, &zi);
	assert_true(zi.cd_off > big);
	assert_int_equal(check_path(p, 0, &s), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "bytes")), big);
	json_decref(s);
	/* the entry after the hole, found through a 64-bit offset */
	patch(p, e[3].lho, "PQ", 2);
	expect(p, 0, "entry 'arc/.data/serialization_id': no local header at byte ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pth_realfiles),
		cmocka_unit_test(test_pth_written),
		cmocka_unit_test(test_pth_sparse_4g),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
