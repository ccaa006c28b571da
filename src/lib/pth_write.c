#include "util/common.h"
#include "util/buf.h"
#include "util/crc32.h"
#include "util/xio.h"
#include "wanctl/fixture.h"

/*
 * A minimal torch.save writer (zip layout of torch >= 1.6, what
 * torch/serialization.py and caffe2's PyTorchStreamWriter produce): every
 * record stored uncompressed, each payload 64-byte aligned through an "FB"
 * extra field of padding, CRC-32 set, then the central directory and the
 * end record. The pickle uses only the opcodes torch.load(weights_only=True)
 * accepts.
 */

#define PTH_ALIGN 64
#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_END_SIG 0x06054b50u
#define ZIP_DOS_DATE 0x0021 /* 1980-01-01: deterministic archives */

struct zentry {
	char *name;
	uint32_t crc;
	uint32_t size;
	uint32_t offset;
};

struct zw {
	const char *path;
	int fd;
	uint64_t off;
	struct zentry *e;
	size_t n, cap;
};

static void le16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static int zw_write(struct zw *z, const void *p, size_t len)
{
	if (xwrite(z->fd, p, len) < 0)
		return wan_err_sys(0, "cannot write '%s' at offset %llu", z->path,
				   (unsigned long long)z->off);
	z->off += len;
	return 0;
}

static int zw_add(struct zw *z, const char *name, const void *data, size_t len)
{
	unsigned char h[30], extra[4 + PTH_ALIGN];
	size_t nl = strlen(name), pad, elen = 0;
	struct zentry *e;
	int err;

	if (len >= UINT32_MAX || z->off + 30 + nl + sizeof(extra) + len >= UINT32_MAX)
		return wan_err(WAN_EINVAL, "cannot write '%s': entry '%s' needs zip64, which this writer does not do",
			       z->path, name);
	if (z->n == z->cap) {
		size_t nc = z->cap ? z->cap * 2 : 16;
		struct zentry *nv = realloc(z->e, nc * sizeof(*nv));

		if (!nv)
			return wan_err(WAN_ENOMEM, "out of memory");
		z->e = nv;
		z->cap = nc;
	}
	e = &z->e[z->n];
	e->name = strdup(name);
	if (!e->name)
		return wan_err(WAN_ENOMEM, "out of memory");
	z->n++;
	e->crc = wan_crc32(0, data, len);
	e->size = (uint32_t)len;
	e->offset = (uint32_t)z->off;
	/* Align the payload: offset + 30 + name + 4 + pad. */
	pad = (PTH_ALIGN - (z->off + 30 + nl + 4) % PTH_ALIGN) % PTH_ALIGN;
	le16(extra, 0x4246); /* "FB" */
	le16(extra + 2, (uint32_t)pad);
	memset(extra + 4, 'Z', pad);
	elen = 4 + pad;
	le32(h, ZIP_LOCAL_SIG);
	le16(h + 4, 10);        /* version needed: stored */
	le16(h + 6, 0);         /* flags */
	le16(h + 8, 0);         /* method: stored */
	le16(h + 10, 0);        /* time */
	le16(h + 12, ZIP_DOS_DATE);
	le32(h + 14, e->crc);
	le32(h + 18, e->size);
	le32(h + 22, e->size);
	le16(h + 26, (uint32_t)nl);
	le16(h + 28, (uint32_t)elen);
	if ((err = zw_write(z, h, 30)) < 0 || (err = zw_write(z, name, nl)) < 0 ||
	    (err = zw_write(z, extra, elen)) < 0 ||
	    (len && (err = zw_write(z, data, len)) < 0))
		return err;
	return 0;
}

static int zw_finish(struct zw *z)
{
	uint64_t cd_off = z->off;
	unsigned char h[46], end[22];
	int err;

	for (size_t i = 0; i < z->n; i++) {
		const struct zentry *e = &z->e[i];
		size_t nl = strlen(e->name);

		le32(h, ZIP_CENTRAL_SIG);
		le16(h + 4, 20);        /* made by */
		le16(h + 6, 10);        /* needed */
		le16(h + 8, 0);
		le16(h + 10, 0);
		le16(h + 12, 0);
		le16(h + 14, ZIP_DOS_DATE);
		le32(h + 16, e->crc);
		le32(h + 20, e->size);
		le32(h + 24, e->size);
		le16(h + 28, (uint32_t)nl);
		le16(h + 30, 0);        /* extra */
		le16(h + 32, 0);        /* comment */
		le16(h + 34, 0);        /* disk */
		le16(h + 36, 0);        /* internal attributes */
		le32(h + 38, 0);        /* external attributes */
		le32(h + 42, e->offset);
		if ((err = zw_write(z, h, 46)) < 0 || (err = zw_write(z, e->name, nl)) < 0)
			return err;
	}
	if (z->off >= UINT32_MAX || z->n >= 0xffff)
		return wan_err(WAN_EINVAL, "cannot write '%s': archive needs zip64", z->path);
	le32(end, ZIP_END_SIG);
	le16(end + 4, 0);
	le16(end + 6, 0);
	le16(end + 8, (uint32_t)z->n);
	le16(end + 10, (uint32_t)z->n);
	le32(end + 12, (uint32_t)(z->off - cd_off));
	le32(end + 16, (uint32_t)cd_off);
	le16(end + 20, 0);
	return zw_write(z, end, 22);
}

/* ---- pickle ---------------------------------------------------------------- */

static int pk_str(struct buf *b, const char *s)
{
	size_t l = strlen(s);
	unsigned char h[5] = { 'X' };
	int err;

	le32(h + 1, (uint32_t)l);
	err = buf_add(b, h, 5);
	return err ? err : buf_add(b, s, l);
}

static int pk_int(struct buf *b, uint64_t v)
{
	unsigned char h[10];

	if (v < 256) {
		h[0] = 'K';
		h[1] = (unsigned char)v;
		return buf_add(b, h, 2);
	}
	if (v < 65536) {
		h[0] = 'M';
		le16(h + 1, (uint32_t)v);
		return buf_add(b, h, 3);
	}
	if (v < 0x80000000ull) {
		h[0] = 'J';
		le32(h + 1, (uint32_t)v);
		return buf_add(b, h, 5);
	}
	/* LONG1: 8 little-endian bytes, plus a 0 byte if the top bit is set. */
	h[0] = 0x8a;
	h[1] = (v >> 63) ? 9 : 8;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)(v >> (8 * i));
	if (buf_add(b, h, 10) < 0)
		return WAN_ENOMEM;
	return (v >> 63) ? buf_addch(b, 0) : 0;
}

static int pk_global(struct buf *b, const char *module, const char *name)
{
	return buf_printf(b, "c%s\n%s\n", module, name);
}

static const char *storage_of(const char *dtype, size_t *elsize)
{
	static const struct { const char *dt, *st; size_t sz; } map[] = {
		{ "BF16", "BFloat16Storage", 2 }, { "F16", "HalfStorage", 2 },
		{ "F32", "FloatStorage", 4 }, { "F64", "DoubleStorage", 8 },
		{ "I64", "LongStorage", 8 }, { "I32", "IntStorage", 4 },
		{ "U8", "ByteStorage", 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(map[i].dt, dtype)) {
			*elsize = map[i].sz;
			return map[i].st;
		}
	return NULL;
}

static int pk_tensor(struct buf *b, const struct wan_pth_tensor *t, size_t key,
		     uint64_t numel, const char *storage)
{
	uint64_t stride[WAN_TENSOR_MAXDIM];
	char k[32];
	int err = 0;

	snprintf(k, sizeof(k), "%zu", key);
	err |= pk_str(b, t->name);
	err |= pk_global(b, "torch._utils", "_rebuild_tensor_v2");
	err |= buf_addch(b, '(');
	/* persistent id ('storage', torch.XStorage, key, 'cpu', numel) */
	err |= buf_addch(b, '(');
	err |= pk_str(b, "storage");
	err |= pk_global(b, "torch", storage);
	err |= pk_str(b, k);
	err |= pk_str(b, "cpu");
	err |= pk_int(b, numel);
	err |= buf_addch(b, 't');
	err |= buf_addch(b, 'Q');
	err |= pk_int(b, 0);                    /* storage offset */
	err |= buf_addch(b, '(');
	for (uint32_t i = 0; i < t->ndim; i++)
		err |= pk_int(b, t->shape[i]);
	err |= buf_addch(b, 't');
	for (uint32_t i = t->ndim; i-- > 0;)
		stride[i] = (i + 1 == t->ndim) ? 1 : stride[i + 1] * t->shape[i + 1];
	err |= buf_addch(b, '(');
	for (uint32_t i = 0; i < t->ndim; i++)
		err |= pk_int(b, stride[i]);
	err |= buf_addch(b, 't');
	err |= buf_addch(b, (char)0x89);        /* requires_grad False */
	err |= pk_global(b, "collections", "OrderedDict");
	err |= buf_addch(b, ')');
	err |= buf_addch(b, 'R');               /* backward hooks */
	err |= buf_addch(b, 't');
	err |= buf_addch(b, 'R');
	return err ? wan_err(WAN_ENOMEM, "out of memory building a pickle") : 0;
}

int wan_pth_write(const char *path, const char *archive,
		  const struct wan_pth_tensor *t, size_t n, unsigned flags)
{
	struct zw z = { path, -1, 0, NULL, 0, 0 };
	struct buf pk = BUF_INIT;
	char name[512];
	int err = 0;

	/* data.pkl */
	err |= buf_add(&pk, "\x80\x02", 2);
	if (flags & WAN_PTH_STATE_DICT) {
		err |= buf_addch(&pk, '}');
		err |= pk_str(&pk, "state_dict");
	}
	err |= pk_global(&pk, "collections", "OrderedDict");
	err |= buf_addch(&pk, ')');
	err |= buf_addch(&pk, 'R');
	if (err) {
		err = wan_err(WAN_ENOMEM, "out of memory building a pickle");
		goto out;
	}
	if (n) {
		if ((err = buf_addch(&pk, '(')) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			size_t elsize;
			const char *st = storage_of(t[i].dtype, &elsize);
			uint64_t numel = 1;

			if (!st) {
				err = wan_err(WAN_EINVAL, "cannot write '%s': dtype '%s' of '%s' not supported",
					      path, t[i].dtype, t[i].name);
				goto out;
			}
			if (t[i].ndim > WAN_TENSOR_MAXDIM) {
				err = wan_err(WAN_EINVAL, "cannot write '%s': tensor '%s' has too many dimensions",
					      path, t[i].name);
				goto out;
			}
			for (uint32_t d = 0; d < t[i].ndim; d++)
				numel *= t[i].shape[d];
			if (numel * elsize != t[i].nbytes) {
				err = wan_err(WAN_EINVAL, "cannot write '%s': tensor '%s' has %zu bytes, its shape needs %llu",
					      path, t[i].name, t[i].nbytes,
					      (unsigned long long)(numel * elsize));
				goto out;
			}
			if ((err = pk_tensor(&pk, &t[i], i, numel, st)) < 0)
				goto out;
		}
		if ((err = buf_addch(&pk, 'u')) < 0)
			goto out;
	}
	if ((flags & WAN_PTH_STATE_DICT) && (err = buf_addch(&pk, 's')) < 0)
		goto out;
	if ((err = buf_addch(&pk, '.')) < 0)
		goto out;

	z.fd = xopen(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (z.fd < 0) {
		err = wan_err_sys(0, "cannot create '%s'", path);
		goto out;
	}
#define ADD(suffix, data, len) do { \
		if ((err = wan_snprintf(name, sizeof(name), "%s/%s", archive, suffix)) < 0 || \
		    (err = zw_add(&z, name, data, len)) < 0) \
			goto out; \
	} while (0)
	ADD("data.pkl", pk.p, pk.len);
	ADD(".format_version", "1", 1);
	ADD(".storage_alignment", "64", 2);
	ADD("byteorder", "little", 6);
	for (size_t i = 0; i < n; i++) {
		char rec[32];

		snprintf(rec, sizeof(rec), "data/%zu", i);
		ADD(rec, t[i].data, t[i].nbytes);
	}
	ADD("version", "3\n", 2);
	ADD(".data/serialization_id", "1234567890123456789012345678901234567890", 40);
#undef ADD
	if ((err = zw_finish(&z)) < 0)
		goto out;
	err = xclose(z.fd);
	z.fd = -1;
	if (err < 0)
		err = wan_err_sys(0, "cannot close '%s'", path);
out:
	if (z.fd >= 0)
		xclose(z.fd);
	for (size_t i = 0; i < z.n; i++)
		free(z.e[i].name);
	free(z.e);
	buf_release(&pk);
	return err;
}
