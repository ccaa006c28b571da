#include "util/common.h"
#include "wanctl/formats.h"
#include <math.h>
#include <pthread.h>

/*
 * Streaming finite scan and statistics of safetensors float tensors.
 *
 * Speed matters (it runs inside ingest of 100 GB checkpoints), so the hot
 * loops use GCC/clang vector extensions explicitly instead of relying on
 * the auto-vectoriser (which needs -O3/-ffast-math for float reductions):
 * 8 lanes, unaligned loads through memcpy, NaN/Inf detected with integer
 * tests of the exponent field (BF16: (x & 0x7F80) == 0x7F80) fused with
 * the min/max/sum/sum-of-squares/zero-count pass. Per block of
 * TS_BLOCK elements the float lane accumulators are folded into double
 * totals; a block that holds a NaN/Inf is redone by the scalar path, which
 * finds the element index and keeps the finite values in the statistics.
 * F8 variants go through 256-entry lookup tables (scalar).
 */

#define TS_BLOCK 4096
#define TS_LANES 8

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef int16_t v8s __attribute__((vector_size(16)));

enum ts_kind { TS_NONE, TS_F16, TS_BF16, TS_F32, TS_F64, TS_F8_E4M3,
	       TS_F8_E5M2, TS_F8_E4M3FNUZ, TS_F8_E5M2FNUZ, TS_F8_E8M0 };

struct tstat {
	enum ts_kind kind;
	unsigned esz;
	uint64_t finite, zeros, nonfinite;
	double sum, sumsq, min, max;
};

struct wan_tscan {
	const struct wan_st_header *h;
	char *name;
	uint64_t pos;           /* bytes fed so far (file offset) */
	size_t cur;             /* current tensor (offset order) */
	unsigned char carry[8];
	unsigned ncarry;
	struct tstat *st;
	int bad;
	size_t bad_tensor;
	uint64_t bad_index;
	double bad_value;
};

static float f8lut[5][256];
static pthread_once_t f8once = PTHREAD_ONCE_INIT;

static float f8_decode(unsigned b, unsigned ebits, unsigned mbits, int bias,
		       int ieee, int fnuz)
{
	unsigned s = b >> 7, e = (b >> mbits) & ((1u << ebits) - 1);
	unsigned m = b & ((1u << mbits) - 1);
	float v;

	if (fnuz && b == 0x80)
		return NAN;
	if (ieee && e == (1u << ebits) - 1)
		return m ? NAN : (s ? -INFINITY : INFINITY);
	if (!ieee && !fnuz && e == (1u << ebits) - 1 && m == (1u << mbits) - 1)
		return NAN;   /* E4M3FN: S.1111.111 */
	if (e == 0)
		v = ldexpf((float)m, 1 - bias - (int)mbits);
	else
		v = ldexpf(1.0f + (float)m / (float)(1u << mbits), (int)e - bias);
	return s ? -v : v;
}

static void f8_init(void)
{
	for (unsigned b = 0; b < 256; b++) {
		f8lut[0][b] = f8_decode(b, 4, 3, 7, 0, 0);     /* E4M3 (FN) */
		f8lut[1][b] = f8_decode(b, 5, 2, 15, 1, 0);    /* E5M2 */
		f8lut[2][b] = f8_decode(b, 4, 3, 8, 0, 1);     /* E4M3FNUZ */
		f8lut[3][b] = f8_decode(b, 5, 2, 16, 0, 1);    /* E5M2FNUZ */
		f8lut[4][b] = b == 0xFF ? NAN : ldexpf(1.0f, (int)b - 127); /* E8M0 */
	}
}

static enum ts_kind kind_of(const struct wan_st_dtype *d)
{
	static const struct { const char *n; enum ts_kind k; } map[] = {
		{ "F16", TS_F16 }, { "BF16", TS_BF16 }, { "F32", TS_F32 },
		{ "F64", TS_F64 }, { "F8_E4M3", TS_F8_E4M3 },
		{ "F8_E5M2", TS_F8_E5M2 }, { "F8_E4M3FNUZ", TS_F8_E4M3FNUZ },
		{ "F8_E5M2FNUZ", TS_F8_E5M2FNUZ }, { "F8_E8M0", TS_F8_E8M0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(d->name, map[i].n))
			return map[i].k;
	return TS_NONE;
}

static float bf16_to_f(uint16_t x)
{
	uint32_t w = (uint32_t)x << 16;
	float f;

	memcpy(&f, &w, 4);
	return f;
}

static float f16_to_f(uint16_t x)
{
	uint32_t w = (uint32_t)(x & 0x7fff) << 13, s = (uint32_t)(x & 0x8000) << 16;
	float f;

	if ((x & 0x7C00) == 0x7C00)
		w = 0x7F800000u | ((uint32_t)(x & 0x3ff) << 13);
	else {
		memcpy(&f, &w, 4);
		f *= 0x1p112f;
		memcpy(&w, &f, 4);
	}
	w |= s;
	memcpy(&f, &w, 4);
	return f;
}

static double elem_value(enum ts_kind k, const unsigned char *p)
{
	uint16_t h;
	float f;
	double d;

	switch (k) {
	case TS_F16:
		memcpy(&h, p, 2);
		return f16_to_f(h);
	case TS_BF16:
		memcpy(&h, p, 2);
		return bf16_to_f(h);
	case TS_F32:
		memcpy(&f, p, 4);
		return f;
	case TS_F64:
		memcpy(&d, p, 8);
		return d;
	case TS_F8_E4M3:
		return f8lut[0][*p];
	case TS_F8_E5M2:
		return f8lut[1][*p];
	case TS_F8_E4M3FNUZ:
		return f8lut[2][*p];
	case TS_F8_E5M2FNUZ:
		return f8lut[3][*p];
	case TS_F8_E8M0:
		return f8lut[4][*p];
	case TS_NONE:
		break;
	}
	return 0;
}

/* Scalar path: every element checked; finite ones go into the stats. */
static void scan_slow(struct wan_tscan *ts, struct tstat *s,
		      const unsigned char *p, size_t n, uint64_t idx0)
{
	for (size_t i = 0; i < n; i++) {
		double v = elem_value(s->kind, p + i * s->esz);

		if (!isfinite(v)) {
			s->nonfinite++;
			if (!ts->bad) {
				ts->bad = 1;
				ts->bad_tensor = ts->cur;
				ts->bad_index = idx0 + i;
				ts->bad_value = v;
			}
			continue;
		}
		s->finite++;
		s->sum += v;
		s->sumsq += v * v;
		s->zeros += v == 0;
		if (v < s->min)
			s->min = v;
		if (v > s->max)
			s->max = v;
	}
}

struct vacc {
	v8f mn, mx, sum, sq;
	v8i zeros;
};

static inline void vacc_init(struct vacc *a)
{
	for (int i = 0; i < TS_LANES; i++) {
		a->mn[i] = INFINITY;
		a->mx[i] = -INFINITY;
		a->sum[i] = 0;
		a->sq[i] = 0;
		a->zeros[i] = 0;
	}
}

static inline void vacc_add(struct vacc *a, const v8f *vp)
{
	v8f v = *vp;
	v8i lt = v < a->mn, gt = v > a->mx;

	a->mn = (v8f)((lt & (v8i)v) | (~lt & (v8i)a->mn));
	a->mx = (v8f)((gt & (v8i)v) | (~gt & (v8i)a->mx));
	a->sum += v;
	a->sq += v * v;
	a->zeros -= (v == 0);
}

static void vacc_fold(const struct vacc *a, struct tstat *s, size_t n)
{
	double sum = 0, sq = 0;
	int64_t z = 0;

	for (int i = 0; i < TS_LANES; i++) {
		if (a->mn[i] < s->min)
			s->min = a->mn[i];
		if (a->mx[i] > s->max)
			s->max = a->mx[i];
		sum += a->sum[i];
		sq += a->sq[i];
		z += a->zeros[i];
	}
	s->sum += sum;
	s->sumsq += sq;
	s->zeros += (uint64_t)z;
	s->finite += n;
}

/* One block (n <= TS_BLOCK, multiple of 8) of 16-bit floats; returns 1 if
 * it holds a NaN/Inf (stats not taken). */
static int block_16(struct tstat *s, const unsigned char *p, size_t n, int bf)
{
	struct vacc a;
	v8s bad = { 0 };
	const uint16_t em = bf ? 0x7F80 : 0x7C00;

	vacc_init(&a);
	for (size_t i = 0; i < n; i += TS_LANES) {
		v8h h;
		v8u w;
		v8f f;

		memcpy(&h, p + 2 * i, 16);
		bad |= (h & em) == em;
		if (bf) {
			w = __builtin_convertvector(h, v8u) << 16;
			f = (v8f)w;
		} else {
			w = __builtin_convertvector(h & 0x7fff, v8u) << 13;
			f = (v8f)w * 0x1p112f;
			f = (v8f)((v8u)f | (__builtin_convertvector(h & 0x8000, v8u) << 16));
		}
		vacc_add(&a, &f);
	}
	for (int i = 0; i < TS_LANES; i++)
		if (bad[i])
			return 1;
	vacc_fold(&a, s, n);
	return 0;
}

static int block_f32(struct tstat *s, const unsigned char *p, size_t n)
{
	struct vacc a;
	v8i bad = { 0 };

	vacc_init(&a);
	for (size_t i = 0; i < n; i += TS_LANES) {
		v8f f;

		memcpy(&f, p + 4 * i, 32);
		bad |= ((v8i)f & 0x7F800000) == 0x7F800000;
		vacc_add(&a, &f);
	}
	for (int i = 0; i < TS_LANES; i++)
		if (bad[i])
			return 1;
	vacc_fold(&a, s, n);
	return 0;
}

/* n whole elements of the current tensor, first element index idx0. */
static void scan_elems(struct wan_tscan *ts, struct tstat *s,
		       const unsigned char *p, size_t n, uint64_t idx0)
{
	size_t i = 0;

	if (s->kind == TS_F16 || s->kind == TS_BF16 || s->kind == TS_F32) {
		while (n - i >= TS_LANES) {
			size_t m = n - i < TS_BLOCK ? n - i : TS_BLOCK;
			int bad;

			m -= m % TS_LANES;
			if (s->kind == TS_F32)
				bad = block_f32(s, p + i * 4, m);
			else
				bad = block_16(s, p + i * 2, m, s->kind == TS_BF16);
			if (bad)
				scan_slow(ts, s, p + i * s->esz, m, idx0 + i);
			i += m;
		}
	}
	if (i < n)
		scan_slow(ts, s, p + i * s->esz, n - i, idx0 + i);
}

int wan_tscan_new(struct wan_tscan **out, const struct wan_st_header *h,
		  const char *name)
{
	struct wan_tscan *ts;

	*out = NULL;
	pthread_once(&f8once, f8_init);
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return wan_err(WAN_ENOMEM, "out of memory");
	ts->st = calloc(h->ntensors ? h->ntensors : 1, sizeof(*ts->st));
	ts->name = wan_strdup(name ? name : "?");
	if (!ts->st || !ts->name) {
		wan_tscan_free(ts);
		return wan_err(WAN_ENOMEM, "out of memory");
	}
	ts->h = h;
	for (size_t i = 0; i < h->ntensors; i++) {
		struct tstat *s = &ts->st[i];

		s->kind = kind_of(h->tensors[i].dtype);
		s->esz = h->tensors[i].dtype->bits / 8;
		s->min = INFINITY;
		s->max = -INFINITY;
	}
	*out = ts;
	return 0;
}

void wan_tscan_free(struct wan_tscan *ts)
{
	if (!ts)
		return;
	free(ts->st);
	free(ts->name);
	free(ts);
}

int wan_tscan_feed(struct wan_tscan *ts, const void *buf, size_t len)
{
	const struct wan_st_header *h = ts->h;
	const unsigned char *p = buf;

	while (len > 0) {
		const struct wan_st_tensor *t;
		struct tstat *s;
		uint64_t rel, avail;

		if (ts->pos < h->data_start) {
			uint64_t skip = h->data_start - ts->pos;
			if (skip > len)
				skip = len;
			ts->pos += skip;
			p += skip;
			len -= skip;
			continue;
		}
		rel = ts->pos - h->data_start;
		while (ts->cur < h->ntensors && h->tensors[ts->cur].end <= rel)
			ts->cur++;
		if (ts->cur >= h->ntensors) {
			ts->pos += len;   /* beyond the data: finish() reports it */
			break;
		}
		t = &h->tensors[ts->cur];
		s = &ts->st[ts->cur];
		avail = t->end - rel;
		if (avail > len)
			avail = len;
		if (s->kind != TS_NONE) {
			const unsigned char *q = p;
			uint64_t left = avail, idx;

			if (ts->ncarry) {
				uint64_t es = rel - ts->ncarry;
				unsigned take = s->esz - ts->ncarry;
				if (take > left)
					take = (unsigned)left;
				memcpy(ts->carry + ts->ncarry, q, take);
				ts->ncarry += take;
				q += take;
				left -= take;
				if (ts->ncarry == s->esz) {
					idx = (es - t->begin) / s->esz;
					scan_slow(ts, s, ts->carry, 1, idx);
					ts->ncarry = 0;
				}
			}
			if (left) {
				uint64_t r0 = rel + (uint64_t)(q - p);
				size_t n = (size_t)(left / s->esz);
				idx = (r0 - t->begin) / s->esz;
				if (n)
					scan_elems(ts, s, q, n, idx);
				q += (size_t)n * s->esz;
				left -= (uint64_t)n * s->esz;
				if (left) {
					memcpy(ts->carry, q, (size_t)left);
					ts->ncarry = (unsigned)left;
				}
			}
		}
		ts->pos += avail;
		p += avail;
		len -= (size_t)avail;
	}
	return 0;
}

static json_t *num_or_null(double v, int ok)
{
	return ok ? json_real(v) : json_null();
}

int wan_tscan_finish(struct wan_tscan *ts, json_t **stats_out)
{
	const struct wan_st_header *h = ts->h;
	json_t *stats = NULL;
	int err = 0;

	if (stats_out)
		*stats_out = NULL;
	if (ts->pos != h->file_size)
		return wan_err(WAN_ECORRUPT,
			       "tensor scan of '%s' saw %llu bytes but the file has %llu",
			       ts->name, (unsigned long long)ts->pos,
			       (unsigned long long)h->file_size);
	if (stats_out) {
		stats = json_object();
		if (!stats)
			return wan_err(WAN_ENOMEM, "out of memory");
		for (size_t i = 0; i < h->ntensors; i++) {
			const struct tstat *s = &ts->st[i];
			double mean = 0, var = 0;
			json_t *o;

			if (s->kind == TS_NONE)
				continue;
			if (s->finite) {
				mean = s->sum / (double)s->finite;
				var = s->sumsq / (double)s->finite - mean * mean;
				if (var < 0)
					var = 0;
			}
			o = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
				      "dtype", h->tensors[i].dtype->name,
				      "count", (json_int_t)wan_st_tensor_elements(&h->tensors[i]),
				      "zeros", (json_int_t)s->zeros,
				      "nonfinite", (json_int_t)s->nonfinite,
				      "min", num_or_null(s->min, s->finite > 0),
				      "max", num_or_null(s->max, s->finite > 0),
				      "mean", num_or_null(mean, s->finite > 0),
				      "std", num_or_null(sqrt(var), s->finite > 0));
			if (!o || json_object_set_new(stats, h->tensors[i].name, o) < 0) {
				json_decref(stats);
				return wan_err(WAN_ENOMEM, "out of memory");
			}
		}
		*stats_out = stats;
	}
	if (ts->bad) {
		const struct wan_st_tensor *t = &h->tensors[ts->bad_tensor];
		const struct tstat *s = &ts->st[ts->bad_tensor];

		err = wan_err(WAN_ECORRUPT,
			      "tensor '%s' of '%s' holds %s at element %llu (byte %llu; %llu non-finite elements in this tensor)",
			      t->name, ts->name,
			      isnan(ts->bad_value) ? "NaN" : ts->bad_value > 0 ? "+Inf" : "-Inf",
			      (unsigned long long)ts->bad_index,
			      (unsigned long long)(h->data_start + t->begin +
						   ts->bad_index * s->esz),
			      (unsigned long long)s->nonfinite);
	}
	return err;
}
