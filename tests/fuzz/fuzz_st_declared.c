/* libFuzzer target: the header-length path with a declared file size, to
 * test "huge N, small file" and "huge file, small input" without huge
 * inputs. Input: 8 bytes little-endian declared size, then the first bytes
 * of the file; reads past them return zeros. The parser must never ask for
 * bytes past 8 + N, nor N > 100,000,000. */
#include "util/common.h"
#include "wanctl/formats.h"
#include "fuzz.h"

struct vfile {
	const uint8_t *p;
	size_t len;
	uint64_t size;
};

static int vread(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct vfile *v = ctx;

	if (off > v->size || len > v->size - off || off + len > 8 + WAN_ST_HEADER_MAX)
		WAN_BUG("read past the declared file or the header limit");
	memset(dst, 0, len);
	if (off < v->len)
		memcpy(dst, v->p + off, len < v->len - off ? len : v->len - off);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wan_st_header *h = NULL;
	struct vfile v;
	uint64_t declared = 0;

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		declared = declared << 8 | data[i];
	v.p = data + 8;
	v.len = size - 8;
	v.size = declared;
	/* A header length that passes the size checks but lies mostly past the
	 * input reads as zeros and fails at the first NUL; skip those above
	 * 1 MiB so that the fuzzer is not busy clearing 100 MB buffers. */
	if (v.len >= 8) {
		uint64_t n = 0;
		for (int i = 7; i >= 0; i--)
			n = n << 8 | v.p[i];
		if (n > (1u << 20) && n <= WAN_ST_HEADER_MAX && declared >= 8 &&
		    n <= declared - 8 && n > v.len)
			return 0;
	}
	if (wan_st_parse_cb(&h, vread, &v, declared, "declared.safetensors") == 0)
		wan_st_header_free(h);
	return 0;
}
