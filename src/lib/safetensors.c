#include "util/common.h"
#include "util/buf.h"
#include "util/xio.h"
#include "wanctl/formats.h"
#include <errno.h>
#include <stdarg.h>

/*
 * safetensors header parser. A small recursive-descent JSON parser of our
 * own instead of jansson, so that integers are exact u64 (overflowing
 * shapes are reported as overflow, not as "too big integer"), nesting is
 * bounded while parsing, and every message carries the byte offset.
 *
 * The order of checks follows the reference (safetensors tensor.rs
 * read_metadata / validate): length field, UTF-8, JSON + schema (with our
 * extra duplicate-key rule), per-tensor size, sorted-offset contiguity,
 * buffer coverage. See include/wanctl/formats.h for the limits.
 */

struct stp {
	const unsigned char *s;     /* header start (file offset 8) */
	const unsigned char *p;
	const unsigned char *end;
	const char *name;
	struct wan_st_header *h;
	size_t cap;
	uint64_t *key_off;          /* file offset of each tensor's key */
	struct buf tmp;             /* scratch for strings */
};

static uint64_t st_off(const struct stp *st, const unsigned char *at)
{
	return 8 + (uint64_t)(at - st->s);
}

static int __attribute__((format(printf, 3, 4)))
st_fail(const struct stp *st, const unsigned char *at, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wan_err(WAN_ECORRUPT,
		       "invalid safetensors file '%s': %s (at byte %llu)",
		       st->name, msg, (unsigned long long)st_off(st, at));
}

static int __attribute__((format(printf, 2, 3)))
st_fail_nooff(const char *name, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wan_err(WAN_ECORRUPT, "invalid safetensors file '%s': %s",
		       name, msg);
}

/* Strict UTF-8 (RFC 3629): returns the offset of the first bad byte or -1. */
static long utf8_check(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		/* Fast path: 8 ASCII bytes at a time. */
		if (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ULL)) {
				i += 8;
				continue;
			}
		}
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			len = 2;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;  /* no UTF-16 surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return (long)i;
		}
		if (n - i < len)
			return (long)i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return (long)i;
		for (size_t k = 2; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return (long)i;
		i += len;
	}
	return -1;
}

static void st_ws(struct stp *st)
{
	while (st->p < st->end && (*st->p == ' ' || *st->p == '\t' ||
				   *st->p == '\n' || *st->p == '\r'))
		st->p++;
}

static const char *st_what(const struct stp *st)
{
	static _Thread_local char w[16];

	if (st->p >= st->end)
		return "end of header";
	if (*st->p >= 0x20 && *st->p < 0x7f)
		snprintf(w, sizeof(w), "'%c'", *st->p);
	else
		snprintf(w, sizeof(w), "byte 0x%02x", *st->p);
	return w;
}

static int st_expect(struct stp *st, char c, const char *ctx)
{
	st_ws(st);
	if (st->p >= st->end || *st->p != (unsigned char)c)
		return st_fail(st, st->p, "invalid JSON: expected '%c' %s, found %s",
			       c, ctx, st_what(st));
	st->p++;
	return 0;
}

static int hex4(const unsigned char *p, unsigned *v)
{
	unsigned x = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		x = x << 4 | d;
	}
	*v = x;
	return 0;
}

static int put_utf8(struct buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_add(b, u, n);
}

/* Parse a JSON string at st->p (which must be '"') into st->tmp. */
static int st_string(struct stp *st, const char *ctx)
{
	const unsigned char *start;

	st_ws(st);
	if (st->p >= st->end || *st->p != '"')
		return st_fail(st, st->p, "invalid JSON: expected a string %s, found %s",
			       ctx, st_what(st));
	st->p++;
	buf_reset(&st->tmp);
	if (buf_add(&st->tmp, "", 0) < 0)
		return wan_err(WAN_ENOMEM, "out of memory");
	for (;;) {
		start = st->p;
		while (st->p < st->end && *st->p != '"' && *st->p != '\\' &&
		       *st->p >= 0x20)
			st->p++;
		if (st->p > start &&
		    buf_add(&st->tmp, start, (size_t)(st->p - start)) < 0)
			return wan_err(WAN_ENOMEM, "out of memory");
		if (st->p >= st->end)
			return st_fail(st, st->p, "invalid JSON: unterminated string %s", ctx);
		if (*st->p == '"') {
			st->p++;
			return 0;
		}
		if (*st->p < 0x20)
			return st_fail(st, st->p,
				       "invalid JSON: control character 0x%02x in string %s",
				       *st->p, ctx);
		/* backslash */
		const unsigned char *esc = st->p;
		if (st->end - st->p < 2)
			return st_fail(st, esc, "invalid JSON: unterminated string %s", ctx);
		unsigned char e = st->p[1];
		char c;
		st->p += 2;
		switch (e) {
		case '"': c = '"'; break;
		case '\\': c = '\\'; break;
		case '/': c = '/'; break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (st->end - st->p < 4 || hex4(st->p, &cp) < 0)
				return st_fail(st, esc, "invalid JSON: bad \\u escape %s", ctx);
			st->p += 4;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return st_fail(st, esc, "invalid JSON: lone surrogate \\u%04X %s",
					       cp, ctx);
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (st->end - st->p < 6 || st->p[0] != '\\' ||
				    st->p[1] != 'u' || hex4(st->p + 2, &lo) < 0 ||
				    lo < 0xDC00 || lo > 0xDFFF)
					return st_fail(st, esc,
						       "invalid JSON: lone surrogate \\u%04X %s",
						       cp, ctx);
				st->p += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			if (cp == 0)
				return st_fail(st, esc, "\\u0000 (NUL) in string %s", ctx);
			if (put_utf8(&st->tmp, cp) < 0)
				return wan_err(WAN_ENOMEM, "out of memory");
			continue;
		}
		default:
			return st_fail(st, esc, "invalid JSON: bad escape '\\%c' %s",
				       e >= 0x20 && e < 0x7f ? e : '?', ctx);
		}
		if (buf_addch(&st->tmp, c) < 0)
			return wan_err(WAN_ENOMEM, "out of memory");
	}
}

/* An unsigned 64-bit JSON integer (what: "dimension 2 of the shape of tensor 'x'"). */
static int st_u64(struct stp *st, uint64_t *out, const char *what)
{
	const unsigned char *start;
	uint64_t v = 0;

	st_ws(st);
	start = st->p;
	if (st->p < st->end && *st->p == '-')
		return st_fail(st, start, "%s is negative", what);
	if (st->p >= st->end || *st->p < '0' || *st->p > '9')
		return st_fail(st, start, "invalid JSON: expected an integer for %s, found %s",
			       what, st_what(st));
	if (*st->p == '0' && st->end - st->p > 1 && st->p[1] >= '0' && st->p[1] <= '9')
		return st_fail(st, start, "invalid JSON: leading zero in %s", what);
	while (st->p < st->end && *st->p >= '0' && *st->p <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*st->p - '0'), &v))
			return st_fail(st, start, "%s exceeds 2^64-1", what);
		st->p++;
	}
	if (st->p < st->end && (*st->p == '.' || *st->p == 'e' || *st->p == 'E'))
		return st_fail(st, start, "%s is not an integer", what);
	*out = v;
	return 0;
}

static int st_literal(struct stp *st, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(st->end - st->p) < n || memcmp(st->p, lit, n))
		return st_fail(st, st->p, "invalid JSON: unexpected %s", st_what(st));
	st->p += n;
	return 0;
}

static int st_number(struct stp *st)
{
	const unsigned char *start = st->p;

	if (st->p < st->end && *st->p == '-')
		st->p++;
	if (st->p >= st->end || *st->p < '0' || *st->p > '9')
		return st_fail(st, start, "invalid JSON: bad number");
	if (*st->p == '0')
		st->p++;
	else
		while (st->p < st->end && *st->p >= '0' && *st->p <= '9')
			st->p++;
	if (st->p < st->end && *st->p == '.') {
		st->p++;
		if (st->p >= st->end || *st->p < '0' || *st->p > '9')
			return st_fail(st, start, "invalid JSON: bad number");
		while (st->p < st->end && *st->p >= '0' && *st->p <= '9')
			st->p++;
	}
	if (st->p < st->end && (*st->p == 'e' || *st->p == 'E')) {
		st->p++;
		if (st->p < st->end && (*st->p == '+' || *st->p == '-'))
			st->p++;
		if (st->p >= st->end || *st->p < '0' || *st->p > '9')
			return st_fail(st, start, "invalid JSON: bad number");
		while (st->p < st->end && *st->p >= '0' && *st->p <= '9')
			st->p++;
	}
	return 0;
}

static int st_depth(struct stp *st, unsigned depth)
{
	if (depth > WAN_ST_DEPTH_MAX)
		return st_fail(st, st->p, "JSON nesting deeper than %d levels",
			       WAN_ST_DEPTH_MAX);
	return 0;
}

/* Validate and skip any JSON value; depth is that of its container. */
static int st_skip(struct stp *st, unsigned depth)
{
	int err;

	st_ws(st);
	if (st->p >= st->end)
		return st_fail(st, st->p, "invalid JSON: expected a value, found end of header");
	switch (*st->p) {
	case '"':
		return st_string(st, "");
	case 't':
		return st_literal(st, "true");
	case 'f':
		return st_literal(st, "false");
	case 'n':
		return st_literal(st, "null");
	case '[':
		if ((err = st_depth(st, depth + 1)) < 0)
			return err;
		st->p++;
		st_ws(st);
		if (st->p < st->end && *st->p == ']') {
			st->p++;
			return 0;
		}
		for (;;) {
			if ((err = st_skip(st, depth + 1)) < 0)
				return err;
			st_ws(st);
			if (st->p < st->end && *st->p == ',') {
				st->p++;
				continue;
			}
			return st_expect(st, ']', "to close an array");
		}
	case '{':
		if ((err = st_depth(st, depth + 1)) < 0)
			return err;
		st->p++;
		st_ws(st);
		if (st->p < st->end && *st->p == '}') {
			st->p++;
			return 0;
		}
		for (;;) {
			if ((err = st_string(st, "as object key")) < 0 ||
			    (err = st_expect(st, ':', "after an object key")) < 0 ||
			    (err = st_skip(st, depth + 1)) < 0)
				return err;
			st_ws(st);
			if (st->p < st->end && *st->p == ',') {
				st->p++;
				continue;
			}
			return st_expect(st, '}', "to close an object");
		}
	default:
		if (*st->p == '-' || (*st->p >= '0' && *st->p <= '9'))
			return st_number(st);
		return st_fail(st, st->p, "invalid JSON: unexpected %s", st_what(st));
	}
}

/* "[u64, ...]" into v (at most max entries); *n gets the count. */
static int st_u64_array(struct stp *st, uint64_t *v, unsigned max, unsigned *n,
			const char *field, const char *tensor)
{
	char what[512];
	const unsigned char *start;
	int err;

	st_ws(st);
	start = st->p;
	if (st->p >= st->end || *st->p != '[')
		return st_fail(st, start, "%s of tensor '%s' is not an array of integers",
			       field, tensor);
	if ((err = st_depth(st, 3)) < 0)
		return err;
	st->p++;
	*n = 0;
	st_ws(st);
	if (st->p < st->end && *st->p == ']') {
		st->p++;
		return 0;
	}
	for (;;) {
		if (*n >= max)
			return st_fail(st, start, "%s of tensor '%s' has more than %u entries",
				       field, tensor, max);
		snprintf(what, sizeof(what), "entry %u of %s of tensor '%s'",
			 *n, field, tensor);
		if ((err = st_u64(st, &v[*n], what)) < 0)
			return err;
		(*n)++;
		st_ws(st);
		if (st->p < st->end && *st->p == ',') {
			st->p++;
			continue;
		}
		return st_expect(st, ']', "to close an array");
	}
}

static int st_tensor(struct stp *st, char *tname, uint64_t key_off)
{
	struct wan_st_tensor *t;
	unsigned seen = 0;  /* 1 dtype, 2 shape, 4 data_offsets */
	const unsigned char *start;
	int err;

	if (st->h->ntensors >= WAN_ST_TENSORS_MAX) {
		free(tname);
		return st_fail(st, st->p, "more than %d tensors (the limit)",
			       WAN_ST_TENSORS_MAX);
	}
	if (st->h->ntensors == st->cap) {
		size_t nc = st->cap ? st->cap * 2 : 16;
		void *a = realloc(st->h->tensors, nc * sizeof(*st->h->tensors));
		void *b = a ? realloc(st->key_off, nc * sizeof(*st->key_off)) : NULL;
		if (a)
			st->h->tensors = a;
		if (b)
			st->key_off = b;
		if (!a || !b) {
			free(tname);
			return wan_err(WAN_ENOMEM, "out of memory parsing '%s'", st->name);
		}
		st->cap = nc;
	}
	t = &st->h->tensors[st->h->ntensors];
	memset(t, 0, sizeof(*t));
	t->name = tname;
	st->key_off[st->h->ntensors] = key_off;
	st->h->ntensors++;

	st_ws(st);
	start = st->p;
	if (st->p >= st->end || *st->p != '{')
		return st_fail(st, start, "entry of tensor '%s' is not an object", tname);
	if ((err = st_depth(st, 2)) < 0)
		return err;
	st->p++;
	st_ws(st);
	if (st->p < st->end && *st->p == '}') {
		st->p++;
	} else {
		for (;;) {
			const unsigned char *kp;
			unsigned bit;
			uint64_t off[3];
			unsigned n;

			st_ws(st);
			kp = st->p;
			if ((err = st_string(st, "as object key")) < 0 ||
			    (err = st_expect(st, ':', "after an object key")) < 0)
				return err;
			if (!strcmp(buf_str(&st->tmp), "dtype"))
				bit = 1;
			else if (!strcmp(buf_str(&st->tmp), "shape"))
				bit = 2;
			else if (!strcmp(buf_str(&st->tmp), "data_offsets"))
				bit = 4;
			else
				bit = 0;
			if (bit & seen)
				return st_fail(st, kp, "duplicate key '%s' in tensor '%s'",
					       buf_str(&st->tmp), tname);
			seen |= bit;
			st_ws(st);
			if (bit == 1) {
				const unsigned char *vp = st->p;
				if (st->p >= st->end || *st->p != '"')
					return st_fail(st, vp, "dtype of tensor '%s' is not a string",
						       tname);
				if ((err = st_string(st, "")) < 0)
					return err;
				t->dtype = wan_st_dtype_find(buf_str(&st->tmp));
				if (!t->dtype)
					return st_fail(st, vp, "unknown dtype '%.64s' of tensor '%s'",
						       buf_str(&st->tmp), tname);
			} else if (bit == 2) {
				if ((err = st_u64_array(st, t->shape, WAN_ST_NDIM_MAX, &t->ndim,
							"shape", tname)) < 0)
					return err;
			} else if (bit == 4) {
				const unsigned char *vp = st->p;
				if ((err = st_u64_array(st, off, 3, &n, "data_offsets",
							tname)) < 0)
					return err;
				if (n != 2)
					return st_fail(st, vp,
						       "data_offsets of tensor '%s' must have 2 entries, not %s%u",
						       tname, n > 2 ? "at least " : "", n);
				t->begin = off[0];
				t->end = off[1];
			} else if ((err = st_skip(st, 2)) < 0) {
				return err;
			}
			st_ws(st);
			if (st->p < st->end && *st->p == ',') {
				st->p++;
				continue;
			}
			if ((err = st_expect(st, '}', "to close a tensor entry")) < 0)
				return err;
			break;
		}
	}
	if (seen != 7)
		return st_fail(st, start, "tensor '%s' has no '%s'", tname,
			       !(seen & 1) ? "dtype" : !(seen & 2) ? "shape" : "data_offsets");
	return 0;
}

static int st_metadata(struct stp *st)
{
	const unsigned char *start;
	json_t *meta;
	int err;

	st_ws(st);
	start = st->p;
	if (st->p < st->end && *st->p == 'n')
		return st_literal(st, "null");   /* MLX writes null */
	if (st->p >= st->end || *st->p != '{')
		return st_fail(st, start, "__metadata__ must be an object of strings or null");
	if ((err = st_depth(st, 2)) < 0)
		return err;
	meta = json_object();
	if (!meta)
		return wan_err(WAN_ENOMEM, "out of memory");
	st->h->metadata = meta;
	st->p++;
	st_ws(st);
	if (st->p < st->end && *st->p == '}') {
		st->p++;
		return 0;
	}
	for (;;) {
		const unsigned char *kp, *vp;
		char *key;
		json_t *v;

		st_ws(st);
		kp = st->p;
		if ((err = st_string(st, "as object key")) < 0 ||
		    (err = st_expect(st, ':', "after an object key")) < 0)
			return err;
		key = buf_detach(&st->tmp);
		if (!key)
			return wan_err(WAN_ENOMEM, "out of memory");
		if (json_object_get(meta, key)) {
			err = st_fail(st, kp, "duplicate key '%s' in __metadata__", key);
			free(key);
			return err;
		}
		st_ws(st);
		vp = st->p;
		if (st->p >= st->end || *st->p != '"') {
			err = st_fail(st, vp, "__metadata__ value of key '%s' is not a string",
				      key);
			free(key);
			return err;
		}
		if ((err = st_string(st, "")) < 0) {
			free(key);
			return err;
		}
		v = json_stringn(buf_str(&st->tmp), st->tmp.len);
		if (!v || json_object_set_new(meta, key, v) < 0) {
			free(key);
			return wan_err(WAN_ENOMEM, "out of memory");
		}
		free(key);
		st_ws(st);
		if (st->p < st->end && *st->p == ',') {
			st->p++;
			continue;
		}
		return st_expect(st, '}', "to close __metadata__");
	}
}

static int st_root(struct stp *st)
{
	int seen_meta = 0;
	int err;

	st_ws(st);
	if (st->p >= st->end)
		return st_fail(st, st->p, "invalid JSON: the header is empty or blank");
	if (*st->p != '{')
		return st_fail(st, st->p,
			       "invalid JSON: the header does not start with an object but %s",
			       st_what(st));
	st->p++;
	st_ws(st);
	if (st->p < st->end && *st->p == '}') {
		st->p++;
	} else {
		for (;;) {
			const unsigned char *kp;

			st_ws(st);
			kp = st->p;
			if ((err = st_string(st, "as object key")) < 0 ||
			    (err = st_expect(st, ':', "after an object key")) < 0)
				return err;
			if (!strcmp(buf_str(&st->tmp), "__metadata__")) {
				if (seen_meta)
					return st_fail(st, kp, "duplicate key '__metadata__'");
				seen_meta = 1;
				err = st_metadata(st);
			} else {
				char *key = malloc(st->tmp.len + 1);
				if (key)
					memcpy(key, buf_str(&st->tmp), st->tmp.len + 1);
				if (!key)
					return wan_err(WAN_ENOMEM, "out of memory");
				err = st_tensor(st, key, st_off(st, kp));
			}
			if (err < 0)
				return err;
			st_ws(st);
			if (st->p < st->end && *st->p == ',') {
				st->p++;
				continue;
			}
			if ((err = st_expect(st, '}', "to close the header object")) < 0)
				return err;
			break;
		}
	}
	st_ws(st);
	if (st->p < st->end)
		return st_fail(st, st->p,
			       "invalid JSON: unexpected %s after the header object",
			       st_what(st));
	return 0;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
	const struct wan_st_tensor *sort_tensors = arg;
	const uint32_t *x = a, *y = b;
	int c = strcmp(sort_tensors[*x].name, sort_tensors[*y].name);

	return c ? c : (*x > *y) - (*x < *y);
}

static int cmp_offsets(const void *a, const void *b, void *arg)
{
	const struct wan_st_tensor *sort_tensors = arg;
	const struct wan_st_tensor *x = &sort_tensors[*(const uint32_t *)a];
	const struct wan_st_tensor *y = &sort_tensors[*(const uint32_t *)b];

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return (*(const uint32_t *)a > *(const uint32_t *)b) -
	       (*(const uint32_t *)a < *(const uint32_t *)b);
}

static void fmt_shape(char *dst, size_t size, const struct wan_st_tensor *t)
{
	size_t n = 0;

	n += (size_t)snprintf(dst + n, size - n, "[");
	for (unsigned i = 0; i < t->ndim && n < size; i++)
		n += (size_t)snprintf(dst + n, size - n, "%s%llu", i ? "," : "",
				      (unsigned long long)t->shape[i]);
	if (n < size)
		snprintf(dst + n, size - n, "]");
}

uint64_t wan_st_tensor_elements(const struct wan_st_tensor *t)
{
	uint64_t n = 1;

	for (unsigned i = 0; i < t->ndim; i++)
		if (__builtin_mul_overflow(n, t->shape[i], &n))
			return UINT64_MAX;
	return n;
}

static int st_validate(struct stp *st)
{
	struct wan_st_header *h = st->h;
	struct wan_st_tensor *sorted = NULL;
	uint32_t *idx = NULL;
	uint64_t prev_end = 0, data_len;
	size_t prev = SIZE_MAX;
	char shape[256];
	int err = 0;

	/* Per tensor, in key order: size arithmetic. */
	for (size_t i = 0; i < h->ntensors; i++) {
		const struct wan_st_tensor *t = &h->tensors[i];
		uint64_t n = 1, bits;
		int ovf = 0;

		for (unsigned d = 0; d < t->ndim; d++)
			ovf |= __builtin_mul_overflow(n, t->shape[d], &n);
		if (!ovf)
			ovf = __builtin_mul_overflow(n, (uint64_t)t->dtype->bits, &bits);
		fmt_shape(shape, sizeof(shape), t);
		if (ovf)
			return wan_err(WAN_ECORRUPT,
				       "invalid safetensors file '%s': size of tensor '%s' overflows 64 bits (%s × shape %s; key at byte %llu)",
				       st->name, t->name, t->dtype->name, shape,
				       (unsigned long long)st->key_off[i]);
		if (bits % 8)
			return wan_err(WAN_ECORRUPT,
				       "invalid safetensors file '%s': tensor '%s' (%s, shape %s) is %llu bits, not a whole number of bytes (key at byte %llu)",
				       st->name, t->name, t->dtype->name, shape,
				       (unsigned long long)bits,
				       (unsigned long long)st->key_off[i]);
		if (t->end < t->begin)
			return wan_err(WAN_ECORRUPT,
				       "invalid safetensors file '%s': tensor '%s' has end offset %llu before begin offset %llu (key at byte %llu)",
				       st->name, t->name, (unsigned long long)t->end,
				       (unsigned long long)t->begin,
				       (unsigned long long)st->key_off[i]);
		if (t->end - t->begin != bits / 8)
			return wan_err(WAN_ECORRUPT,
				       "invalid safetensors file '%s': tensor '%s' data_offsets [%llu,%llu] hold %llu bytes but %s shape %s needs %llu bytes (key at byte %llu)",
				       st->name, t->name, (unsigned long long)t->begin,
				       (unsigned long long)t->end,
				       (unsigned long long)(t->end - t->begin),
				       t->dtype->name, shape,
				       (unsigned long long)(bits / 8),
				       (unsigned long long)st->key_off[i]);
	}

	idx = malloc((h->ntensors ? h->ntensors : 1) * sizeof(*idx));
	sorted = malloc((h->ntensors ? h->ntensors : 1) * sizeof(*sorted));
	if (!idx || !sorted) {
		err = wan_err(WAN_ENOMEM, "out of memory validating '%s'", st->name);
		goto out;
	}
	for (size_t i = 0; i < h->ntensors; i++)
		idx[i] = (uint32_t)i;

	/* Duplicate tensor names (stricter than the reference). */
	qsort_r(idx, h->ntensors, sizeof(*idx), cmp_name, h->tensors);
	for (size_t i = 1; i < h->ntensors; i++) {
		if (!strcmp(h->tensors[idx[i]].name, h->tensors[idx[i - 1]].name)) {
			err = wan_err(WAN_ECORRUPT,
				      "invalid safetensors file '%s': duplicate key '%s' (at bytes %llu and %llu)",
				      st->name, h->tensors[idx[i]].name,
				      (unsigned long long)st->key_off[idx[i - 1]],
				      (unsigned long long)st->key_off[idx[i]]);
			goto out;
		}
	}

	/* Sorted by offsets, each begin must be the previous end. */
	for (size_t i = 0; i < h->ntensors; i++)
		idx[i] = (uint32_t)i;
	qsort_r(idx, h->ntensors, sizeof(*idx), cmp_offsets, h->tensors);
	for (size_t i = 0; i < h->ntensors; i++) {
		const struct wan_st_tensor *t = &h->tensors[idx[i]];

		if (t->begin > prev_end) {
			err = wan_err(WAN_ECORRUPT,
				      "invalid safetensors file '%s': gap in the data buffer: bytes [%llu,%llu) before tensor '%s' belong to no tensor (data starts at byte %llu)",
				      st->name, (unsigned long long)prev_end,
				      (unsigned long long)t->begin, t->name,
				      (unsigned long long)h->data_start);
			goto out;
		}
		if (t->begin < prev_end) {
			err = wan_err(WAN_ECORRUPT,
				      "invalid safetensors file '%s': tensor '%s' data_offsets [%llu,%llu] overlap tensor '%s' [%llu,%llu]",
				      st->name, t->name, (unsigned long long)t->begin,
				      (unsigned long long)t->end,
				      h->tensors[idx[prev]].name,
				      (unsigned long long)h->tensors[idx[prev]].begin,
				      (unsigned long long)h->tensors[idx[prev]].end);
			goto out;
		}
		prev_end = t->end;
		prev = i;
	}
	data_len = h->file_size - h->data_start;
	if (prev_end < data_len) {
		err = wan_err(WAN_ECORRUPT,
			      "invalid safetensors file '%s': %llu trailing bytes after the last tensor's data (bytes %llu to %llu of the file belong to no tensor)",
			      st->name, (unsigned long long)(data_len - prev_end),
			      (unsigned long long)(h->data_start + prev_end),
			      (unsigned long long)h->file_size);
		goto out;
	}
	if (prev_end > data_len) {
		err = wan_err(WAN_ECORRUPT,
			      "invalid safetensors file '%s': %llu bytes missing: the tensors need %llu data bytes (file size %llu) but the file has %llu (truncated?)",
			      st->name, (unsigned long long)(prev_end - data_len),
			      (unsigned long long)prev_end,
			      (unsigned long long)(h->data_start + prev_end),
			      (unsigned long long)h->file_size);
		goto out;
	}
	for (size_t i = 0; i < h->ntensors; i++)
		sorted[i] = h->tensors[idx[i]];
	free(h->tensors);
	h->tensors = sorted;
	sorted = NULL;
out:
	free(sorted);
	free(idx);
	return err;
}

void wan_st_header_free(struct wan_st_header *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->ntensors; i++)
		free(h->tensors[i].name);
	free(h->tensors);
	json_decref(h->metadata);
	free(h);
}

long wan_st_header_find(const struct wan_st_header *h, const char *name)
{
	for (size_t i = 0; i < h->ntensors; i++)
		if (!strcmp(h->tensors[i].name, name))
			return (long)i;
	return -1;
}

int wan_st_parse_cb(struct wan_st_header **out, wan_st_read_fn rd, void *ctx,
		    uint64_t file_size, const char *name)
{
	struct stp st = { .name = name, .tmp = BUF_INIT };
	unsigned char lenb[8];
	unsigned char *hdr = NULL;
	uint64_t n = 0;
	long bad;
	int err;

	*out = NULL;
	if (file_size < 8)
		return st_fail_nooff(name,
				     "the file is %llu bytes, shorter than the 8-byte header length field",
				     (unsigned long long)file_size);
	if ((err = rd(ctx, lenb, 8, 0)) < 0)
		return err;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | lenb[i];
	if (n > WAN_ST_HEADER_MAX)
		return st_fail_nooff(name,
				     "header length %llu exceeds the limit of %llu bytes",
				     (unsigned long long)n,
				     (unsigned long long)WAN_ST_HEADER_MAX);
	if (n > file_size - 8)
		return st_fail_nooff(name,
				     "header length %llu + 8 exceeds the file size %llu",
				     (unsigned long long)n, (unsigned long long)file_size);
	hdr = malloc(n ? n : 1);
	st.h = calloc(1, sizeof(*st.h));
	if (!hdr || !st.h) {
		err = wan_err(WAN_ENOMEM, "out of memory reading the header of '%s'", name);
		goto out;
	}
	st.h->header_len = n;
	st.h->data_start = 8 + n;
	st.h->file_size = file_size;
	if (n && (err = rd(ctx, hdr, n, 8)) < 0)
		goto out;
	st.s = st.p = hdr;
	st.end = hdr + n;
	bad = utf8_check(hdr, n);
	if (bad >= 0) {
		err = st_fail(&st, hdr + bad, "the header is not valid UTF-8");
		goto out;
	}
	if ((err = st_root(&st)) < 0)
		goto out;
	if ((err = st_validate(&st)) < 0)
		goto out;
	*out = st.h;
	st.h = NULL;
out:
	wan_st_header_free(st.h);
	free(st.key_off);
	buf_release(&st.tmp);
	free(hdr);
	return err;
}

struct memsrc {
	const unsigned char *p;
	size_t len;
};

static int mem_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct memsrc *m = ctx;

	if (off > m->len || len > m->len - off)
		WAN_BUG("safetensors parser read past the buffer");
	memcpy(dst, m->p + off, len);
	return 0;
}

int wan_st_parse_buf(struct wan_st_header **out, const void *buf, size_t len,
		     const char *name)
{
	struct memsrc m = { buf, len };

	return wan_st_parse_cb(out, mem_read, &m, len, name);
}

struct fdsrc {
	int fd;
	const char *name;
};

static int fd_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct fdsrc *f = ctx;
	ssize_t r = xpread(f->fd, dst, len, (off_t)off);

	if (r < 0)
		return wan_err_sys(WAN_EIO, "cannot read '%s' at byte %llu", f->name,
				   (unsigned long long)off);
	if ((size_t)r != len)
		return wan_err(WAN_EIO,
			       "cannot read '%s': %zu bytes at byte %llu, got %zd (file shrank?)",
			       f->name, len, (unsigned long long)off, r);
	return 0;
}

int wan_st_parse_fd(struct wan_st_header **out, int fd, uint64_t file_size,
		    const char *name)
{
	struct fdsrc f = { fd, name };

	return wan_st_parse_cb(out, fd_read, &f, file_size, name);
}
