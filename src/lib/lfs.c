#include "util/common.h"
#include "wanctl/formats.h"

/*
 * git-lfs pointer files (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md):
 * "key value\n" lines, the first "version <url>", keys otherwise sorted,
 * "oid sha256:<64 hex>" and "size <bytes>" required, under 1024 bytes.
 * We accept the spec's version URL and the pre-release hawser one, and a
 * missing final newline; anything else is not a pointer.
 */

static int lfs_line(const char *p, const char *end, const char **key_end,
		    const char **val, const char **eol)
{
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (!nl)
		nl = end;
	if (!sp || sp > nl || sp == p)
		return -1;
	for (const char *c = p; c < sp; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      *c == '.' || *c == '-'))
			return -1;
	*key_end = sp;
	*val = sp + 1;
	*eol = nl;
	return 0;
}

static int keyis(const char *p, const char *ke, const char *k)
{
	return (size_t)(ke - p) == strlen(k) && !memcmp(p, k, strlen(k));
}

int wan_lfs_pointer_parse(const void *buf, size_t len, char oid[65],
			  uint64_t *size)
{
	const char *p = buf, *end = p + len;
	int have_oid = 0, have_size = 0, first = 1;
	uint64_t sz = 0;
	char o[65];

	if (len == 0 || len >= WAN_LFS_POINTER_MAX || memchr(p, '\0', len))
		return 0;
	while (p < end) {
		const char *ke, *v, *eol;
		size_t vl;

		if (lfs_line(p, end, &ke, &v, &eol) < 0)
			return 0;
		vl = (size_t)(eol - v);
		if (first) {
			static const char v1[] = "https://git-lfs.github.com/spec/v1";
			static const char v0[] = "https://hawser.github.com/spec/v1";
			if (!keyis(p, ke, "version") ||
			    !((vl == sizeof(v1) - 1 && !memcmp(v, v1, vl)) ||
			      (vl == sizeof(v0) - 1 && !memcmp(v, v0, vl))))
				return 0;
			first = 0;
		} else if (keyis(p, ke, "oid")) {
			if (have_oid || vl != 71 || memcmp(v, "sha256:", 7))
				return 0;
			for (size_t i = 0; i < 64; i++) {
				char c = v[7 + i];
				if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
					return 0;
				o[i] = c;
			}
			o[64] = '\0';
			have_oid = 1;
		} else if (keyis(p, ke, "size")) {
			if (have_size || vl == 0 || vl > 20 || (vl > 1 && v[0] == '0'))
				return 0;
			for (size_t i = 0; i < vl; i++) {
				if (v[i] < '0' || v[i] > '9' ||
				    __builtin_mul_overflow(sz, 10, &sz) ||
				    __builtin_add_overflow(sz, (uint64_t)(v[i] - '0'), &sz))
					return 0;
			}
			have_size = 1;
		}
		p = eol < end ? eol + 1 : end;
	}
	if (first || !have_oid || !have_size)
		return 0;
	if (oid)
		memcpy(oid, o, 65);
	if (size)
		*size = sz;
	return 1;
}
