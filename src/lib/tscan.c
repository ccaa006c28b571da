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
 * 4-lane vectors, unaligned loads through memcpy, NaN/Inf detected with integer
 * tests of the exponent field (BF16: (x & 0x7F80) == 0x7F80) fused with
 * the min/max/sum/sum-of-squares/zero-count pass. Per block of
 * TS_BLOCK elements the float lane accumulators are folded into double
 * totals; a block that holds a NaN/Inf is redone by the scalar path, which
 * finds the element index and keeps the finite values in the statistics.
 * F8 variants go through 256-entry lookup tables (scalar).
 */

#define TS_BLOCK 1024
#define TS_LANES 8


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

/*
 * 4-lane SSE2-sized vectors (8-lane GCC vectors are split badly without
 * AVX). A 16-byte load of 16-bit floats is seen as 4 u32 words: the low
 * halves are the even elements, the high halves the odd ones; each half
 * feeds its own accumulator set (order does not matter for the stats, and
 * two chains keep the adders busy).
 */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));

struct acc4 {
	v4f mn, mx, sum, sq;
	v4i z;
};

static inline void acc_init(struct acc4 *a)
{
	const v4f inf = { INFINITY, INFINITY, INFINITY, INFINITY };

	a->mn = inf;
	a->mx = -inf;
	a->sum = a->sq = (v4f){ 0, 0, 0, 0 };
	a->z = (v4i){ 0, 0, 0, 0 };
}

static inline __attribute__((always_inline)) void acc_add(struct acc4 *a, v4f v)
{
	v4i lt = v < a->mn, gt = v > a->mx;

	a->mn = (v4f)((lt & (v4i)v) | (~lt & (v4i)a->mn));
	a->mx = (v4f)((gt & (v4i)v) | (~gt & (v4i)a->mx));
	a->sum += v;
	a->sq += v * v;
	a->z -= (v == 0);
}

static void acc_fold(const struct acc4 *a, struct tstat *s)
{
	for (int i = 0; i < 4; i++) {
		if (a->mn[i] < s->min)
			s->min = a->mn[i];
		if (a->mx[i] > s->max)
			s->max = a->mx[i];
		s->sum += a->sum[i];
		s->sumsq += a->sq[i];
		s->zeros += (uint64_t)(int64_t)a->z[i];
	}
}

static inline __attribute__((always_inline)) int
block_end(struct tstat *s, struct acc4 *a, struct acc4 *b, v4i bad, size_t n)
{
	if (bad[0] | bad[1] | bad[2] | bad[3])
		return 1;
	acc_fold(a, s);
	acc_fold(b, s);
	s->finite += n;
	return 0;
}

/* One block (n <= TS_BLOCK, multiple of 8); returns 1 if it holds a
 * NaN/Inf (stats not taken: the scalar path redoes the block). */
static int block_bf16(struct tstat *s, const unsigned char *p, size_t n)
{
	struct acc4 a, b;
	v4i bad = { 0, 0, 0, 0 };

	acc_init(&a);
	acc_init(&b);
	for (size_t i = 0; i < n; i += 8) {
		v4u w;

		memcpy(&w, p + 2 * i, 16);
		bad |= (v4i)((w & 0x7F80u) == 0x7F80u) |
		       (v4i)((w & 0x7F800000u) == 0x7F800000u);
		acc_add(&a, (v4f)(w << 16));
		acc_add(&b, (v4f)(w & 0xFFFF0000u));
	}
	return block_end(s, &a, &b, bad, n);
}

static inline __attribute__((always_inline)) v4f f16x4(v4u h)
{
	v4f f = (v4f)((h & 0x7fffu) << 13) * 0x1p112f;

	return (v4f)((v4u)f | ((h & 0x8000u) << 16));
}

static int block_f16(struct tstat *s, const unsigned char *p, size_t n)
{
	struct acc4 a, b;
	v4i bad = { 0, 0, 0, 0 };

	acc_init(&a);
	acc_init(&b);
	for (size_t i = 0; i < n; i += 8) {
		v4u w;

		memcpy(&w, p + 2 * i, 16);
		bad |= (v4i)((w & 0x7C00u) == 0x7C00u) |
		       (v4i)((w & 0x7C000000u) == 0x7C000000u);
		acc_add(&a, f16x4(w & 0xFFFFu));
		acc_add(&b, f16x4(w >> 16));
	}
	return block_end(s, &a, &b, bad, n);
}

static int block_f32(struct tstat *s, const unsigned char *p, size_t n)
{
	struct acc4 a, b;
	v4i bad = { 0, 0, 0, 0 };

	acc_init(&a);
	acc_init(&b);
	for (size_t i = 0; i < n; i += 8) {
		v4f x, y;

		memcpy(&x, p + 4 * i, 16);
		memcpy(&y, p + 4 * i + 16, 16);
		bad |= (((v4i)x & 0x7F800000) == 0x7F800000) |
		       (((v4i)y & 0x7F800000) == 0x7F800000);
		acc_add(&a, x);
		acc_add(&b, y);
	}
	return block_end(s, &a, &b, bad, n);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define TS_AVX2 1
/*
 * AVX2 + FMA (+ F16C for F16) versions, picked at run time
 * (__builtin_cpu_supports): 16 elements per step, two accumulator sets.
 */
#define TS_TARGET __attribute__((target("avx2,fma,f16c")))

struct acc8 {
	__m256 mn, mx, sum, sq;
	__m256i z;
};

static inline TS_TARGET __attribute__((always_inline)) void acc8_init(struct acc8 *a)
{
	a->mn = _mm256_set1_ps(INFINITY);
	a->mx = _mm256_set1_ps(-INFINITY);
	a->sum = a->sq = _mm256_setzero_ps();
	a->z = _mm256_setzero_si256();
}

static inline TS_TARGET __attribute__((always_inline)) void acc8_add(struct acc8 *a, __m256 v)
{
	a->mn = _mm256_min_ps(a->mn, v);
	a->mx = _mm256_max_ps(a->mx, v);
	a->sum = _mm256_add_ps(a->sum, v);
	a->sq = _mm256_fmadd_ps(v, v, a->sq);
	a->z = _mm256_sub_epi32(a->z, _mm256_castps_si256(
		_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_EQ_OQ)));
}

static TS_TARGET void acc8_fold(const struct acc8 *a, struct tstat *s)
{
	float mn[8], mx[8], sum[8], sq[8];
	int32_t z[8];

	_mm256_storeu_ps(mn, a->mn);
	_mm256_storeu_ps(mx, a->mx);
	_mm256_storeu_ps(sum, a->sum);
	_mm256_storeu_ps(sq, a->sq);
	_mm256_storeu_si256((__m256i *)z, a->z);
	for (int i = 0; i < 8; i++) {
		if (mn[i] < s->min)
			s->min = mn[i];
		if (mx[i] > s->max)
			s->max = mx[i];
		s->sum += sum[i];
		s->sumsq += sq[i];
		s->zeros += (uint64_t)(int64_t)z[i];
	}
}

/* n multiple of 16 */
static TS_TARGET int block_avx2(struct tstat *s, const unsigned char *p, size_t n,
				enum ts_kind k)
{
	struct acc8 a, b;
	__m256i bad = _mm256_setzero_si256();

	acc8_init(&a);
	acc8_init(&b);
	if (k == TS_BF16) {
		const __m256i em = _mm256_set1_epi16(0x7F80);
		const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
		for (size_t i = 0; i < n; i += 16) {
			__m256i w = _mm256_loadu_si256((const __m256i *)(p + 2 * i));
			bad = _mm256_or_si256(bad, _mm256_cmpeq_epi16(_mm256_and_si256(w, em), em));
			acc8_add(&a, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
			acc8_add(&b, _mm256_castsi256_ps(_mm256_and_si256(w, hi)));
		}
	} else if (k == TS_F16) {
		const __m256i em = _mm256_set1_epi16(0x7C00);
		for (size_t i = 0; i < n; i += 16) {
			__m256i w = _mm256_loadu_si256((const __m256i *)(p + 2 * i));
			bad = _mm256_or_si256(bad, _mm256_cmpeq_epi16(_mm256_and_si256(w, em), em));
			acc8_add(&a, _mm256_cvtph_ps(_mm256_castsi256_si128(w)));
			acc8_add(&b, _mm256_cvtph_ps(_mm256_extracti128_si256(w, 1)));
		}
	} else {
		const __m256i em = _mm256_set1_epi32(0x7F800000);
		for (size_t i = 0; i < n; i += 16) {
			__m256 x = _mm256_loadu_ps((const float *)(const void *)(p + 4 * i));
			__m256 y = _mm256_loadu_ps((const float *)(const void *)(p + 4 * i + 32));
			bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(
				_mm256_and_si256(_mm256_castps_si256(x), em), em));
			bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(
				_mm256_and_si256(_mm256_castps_si256(y), em), em));
			acc8_add(&a, x);
			acc8_add(&b, y);
		}
	}
	if (!_mm256_testz_si256(bad, bad))
		return 1;
	acc8_fold(&a, s);
	acc8_fold(&b, s);
	s->finite += n;
	return 0;
}

/* AVX2 + FMA + F16C usable (F16C checked through cpuid: clang 14 has no
 * "f16c" for __builtin_cpu_supports). WANCTL_NO_AVX2 forces the SSE2 path. */
static int avx2_ok;
static pthread_once_t avx2_once = PTHREAD_ONCE_INIT;

static void avx2_probe(void)
{
	unsigned a, b, c, d;

	__builtin_cpu_init();
	avx2_ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		  __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) &&
		  getenv("WANCTL_NO_AVX2") == NULL;
}

static int have_avx2(void)
{
	pthread_once(&avx2_once, avx2_probe);
	return avx2_ok;
}
#endif

/* n whole elements of the current tensor, first element index idx0. */
static void scan_elems(struct wan_tscan *ts, struct tstat *s,
		       const unsigned char *p, size_t n, uint64_t idx0)
{
	size_t i = 0;

	if (s->kind == TS_F16 || s->kind == TS_BF16 || s->kind == TS_F32) {
#ifdef TS_AVX2
		if (have_avx2()) {
			while (n - i >= 16) {
				size_t m = n - i < TS_BLOCK ? n - i : TS_BLOCK;

				m -= m % 16;
				if (block_avx2(s, p + i * s->esz, m, s->kind))
					scan_slow(ts, s, p + i * s->esz, m, idx0 + i);
				i += m;
			}
		}
#endif
		while (n - i >= TS_LANES) {
			size_t m = n - i < TS_BLOCK ? n - i : TS_BLOCK;
			int bad;

			m -= m % TS_LANES;
			if (s->kind == TS_F32)
				bad = block_f32(s, p + i * 4, m);
			else if (s->kind == TS_BF16)
				bad = block_bf16(s, p + i * 2, m);
			else
				bad = block_f16(s, p + i * 2, m);
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

/* JSON has no NaN or Inf (jansson's json_real() refuses them): a sum of
 * squares of huge finite values can overflow to Inf, reported as null. */
static json_t *num_or_null(double v, int ok)
{
	return ok && isfinite(v) ? json_real(v) : json_null();
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
