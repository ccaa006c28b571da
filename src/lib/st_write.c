#include "util/common.h"
#include "util/buf.h"
#include "util/xio.h"
#include "wanctl/fixture.h"
#include "wanctl/safetensors.h"

#include <errno.h>

/*
 * Streaming safetensors writer. The header is complete before any data, so
 * all tensors are declared first; data is then streamed in header order
 * (sorted by name), and the writer counts bytes so the file's offsets cover
 * the data exactly.
 */

struct st_entry {
	char *name;
	const struct wan_st_dtype *dtype;
	uint32_t ndim;
	uint64_t shape[WAN_TENSOR_MAXDIM];
	uint64_t nbytes;
};

struct wan_st_writer {
	char *path;
	int fd;
	struct st_entry *v;
	size_t n, cap;
	struct buf meta;            /* ,"k":"v" pairs of __metadata__ */
	bool begun, finished;
	uint64_t header_len, data_len, written;
};

int wan_st_writer_open(struct wan_st_writer **out, const char *path)
{
	struct wan_st_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w || !(w->path = strdup(path))) {
		free(w);
		return wan_err(WAN_ENOMEM, "out of memory opening '%s'", path);
	}
	w->fd = xopen(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w->fd < 0) {
		int err = wan_err_sys(0, "cannot create '%s'", path);

		free(w->path);
		free(w);
		return err;
	}
	buf_init(&w->meta);
	*out = w;
	return 0;
}

void wan_st_writer_free(struct wan_st_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		xclose(w->fd);
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].name);
	free(w->v);
	buf_release(&w->meta);
	free(w->path);
	free(w);
}

int wan_st_writer_add(struct wan_st_writer *w, const char *name,
		      const char *dtype, const uint64_t *shape, uint32_t ndim)
{
	const struct wan_st_dtype *dt = wan_st_dtype_find(dtype);
	struct st_entry *e;
	uint64_t bits = 1;

	if (w->begun)
		WAN_BUG("wan_st_writer_add after begin");
	if (!dt)
		return wan_err(WAN_EINVAL, "cannot write tensor '%s' to '%s': unknown dtype '%s'",
			       name, w->path, dtype);
	if (ndim > WAN_TENSOR_MAXDIM)
		return wan_err(WAN_EINVAL, "cannot write tensor '%s' to '%s': %u dimensions",
			       name, w->path, ndim);
	for (uint32_t i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(bits, shape[i], &bits))
			return wan_err(WAN_EINVAL, "tensor '%s': size overflows", name);
	if (__builtin_mul_overflow(bits, (uint64_t)dt->bits, &bits))
		return wan_err(WAN_EINVAL, "tensor '%s': size overflows", name);
	if (bits % 8)
		return wan_err(WAN_EINVAL, "tensor '%s': %llu bits is not a whole number of bytes",
			       name, (unsigned long long)bits);
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 64;
		struct st_entry *nv = realloc(w->v, nc * sizeof(*nv));

		if (!nv)
			return wan_err(WAN_ENOMEM, "out of memory");
		w->v = nv;
		w->cap = nc;
	}
	e = &w->v[w->n];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name)
		return wan_err(WAN_ENOMEM, "out of memory");
	e->dtype = dt;
	e->ndim = ndim;
	if (ndim)
		memcpy(e->shape, shape, ndim * sizeof(*shape));
	e->nbytes = bits / 8;
	w->n++;
	return 0;
}

static int json_escape(struct buf *b, const char *s)
{
	int err = buf_addch(b, '"');

	for (; !err && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			err = buf_addch(b, '\\');
			if (!err)
				err = buf_addch(b, (char)c);
		} else if (c < 0x20) {
			err = buf_printf(b, "\\u%04x", c);
		} else {
			err = buf_addch(b, (char)c);
		}
	}
	return err ? err : buf_addch(b, '"');
}

int wan_st_writer_metadata(struct wan_st_writer *w, const char *key,
			   const char *value)
{
	int err = 0;

	if (w->begun)
		WAN_BUG("wan_st_writer_metadata after begin");
	if (w->meta.len)
		err = buf_addch(&w->meta, ',');
	if (!err)
		err = json_escape(&w->meta, key);
	if (!err)
		err = buf_addch(&w->meta, ':');
	if (!err)
		err = json_escape(&w->meta, value);
	return err;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct st_entry *)a)->name,
		      ((const struct st_entry *)b)->name);
}

int wan_st_writer_begin(struct wan_st_writer *w)
{
	struct buf h = BUF_INIT;
	uint64_t off = 0, len_le;
	unsigned char lenbuf[8];
	int err = 0;

	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), cmp_entry);
	for (size_t i = 1; i < w->n; i++)
		if (!strcmp(w->v[i - 1].name, w->v[i].name))
			return wan_err(WAN_EINVAL, "cannot write '%s': tensor '%s' declared twice",
				       w->path, w->v[i].name);
	err = buf_addch(&h, '{');
	if (!err && w->meta.len)
		err = buf_printf(&h, "\"__metadata__\":{%s}%s", buf_str(&w->meta),
				 w->n ? "," : "");
	for (size_t i = 0; i < w->n && !err; i++) {
		const struct st_entry *e = &w->v[i];

		if (i)
			err = buf_addch(&h, ',');
		if (!err)
			err = json_escape(&h, e->name);
		if (!err)
			err = buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", e->dtype->name);
		for (uint32_t d = 0; d < e->ndim && !err; d++)
			err = buf_printf(&h, "%s%llu", d ? "," : "",
					 (unsigned long long)e->shape[d]);
		if (!err)
			err = buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}",
					 (unsigned long long)off,
					 (unsigned long long)(off + e->nbytes));
		off += e->nbytes;
	}
	if (!err)
		err = buf_addch(&h, '}');
	/* Pad with spaces so that 8 + N is a multiple of 8. */
	while (!err && h.len % 8)
		err = buf_addch(&h, ' ');
	if (err) {
		buf_release(&h);
		return err;
	}
	len_le = h.len;
	for (int i = 0; i < 8; i++)
		lenbuf[i] = (unsigned char)(len_le >> (8 * i));
	if (xwrite(w->fd, lenbuf, 8) < 0 || xwrite(w->fd, h.p, h.len) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", w->path);
		buf_release(&h);
		return err;
	}
	w->header_len = h.len;
	w->data_len = off;
	w->begun = true;
	buf_release(&h);
	return 0;
}

size_t wan_st_writer_count(const struct wan_st_writer *w)
{
	return w->n;
}

const char *wan_st_writer_tensor_at(const struct wan_st_writer *w, size_t i,
				    uint64_t *nbytes)
{
	if (i >= w->n)
		return NULL;
	if (nbytes)
		*nbytes = w->v[i].nbytes;
	return w->v[i].name;
}

int wan_st_writer_write(struct wan_st_writer *w, const void *data, size_t len)
{
	if (!w->begun)
		WAN_BUG("wan_st_writer_write before begin");
	if (len > w->data_len - w->written)
		return wan_err(WAN_EINVAL, "cannot write '%s': %zu bytes more than the %llu bytes of data declared",
			       w->path, len, (unsigned long long)w->data_len);
	if (xwrite(w->fd, data, len) < 0)
		return wan_err_sys(0, "cannot write '%s' at data offset %llu", w->path,
				   (unsigned long long)w->written);
	w->written += len;
	return 0;
}

int wan_st_writer_finish(struct wan_st_writer *w)
{
	int fd = w->fd;

	if (!w->begun)
		WAN_BUG("wan_st_writer_finish before begin");
	if (w->written != w->data_len)
		return wan_err(WAN_EINVAL, "cannot finish '%s': %llu of %llu data bytes written",
			       w->path, (unsigned long long)w->written,
			       (unsigned long long)w->data_len);
	w->fd = -1;
	if (xclose(fd) < 0)
		return wan_err_sys(0, "cannot close '%s'", w->path);
	w->finished = true;
	return 0;
}

uint64_t wan_st_writer_header_len(const struct wan_st_writer *w)
{
	return w->header_len;
}

uint64_t wan_st_writer_file_size(const struct wan_st_writer *w)
{
	return 8 + w->header_len + w->data_len;
}
