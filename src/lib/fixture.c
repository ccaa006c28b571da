#include "util/common.h"
#include "util/buf.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "wanctl/fixture.h"

#include <errno.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Fixture models (see fixture.h). Values come from splitmix64 streams, one
 * per tensor, seeded from (seed, tensor name, variant where it applies), so
 * a tensor's bytes do not depend on how tensors are laid out in shards, and
 * a "second release" (variant) changes only the last shard of each DiT.
 * Each 64-bit draw yields four BF16 values: random sign and 7-bit mantissa,
 * exponent 119..122, i.e. |x| in [2^-8, 2^-4): finite and weight-like.
 */

#define GEN_BUF (8u << 20)
#define BF16_NAN 0x7fc0u

static const char *const defect_names[] = {
	[WAN_DEFECT_NONE] = "none",
	[WAN_DEFECT_LFS_POINTER] = "lfs-pointer",
	[WAN_DEFECT_ZERO_BYTE] = "zero-byte",
	[WAN_DEFECT_TRUNCATED] = "truncated",
	[WAN_DEFECT_MISSING_FILE] = "missing-file",
	[WAN_DEFECT_NAN] = "nan",
	[WAN_DEFECT_WRONG_ARCH] = "wrong-arch",
	[WAN_DEFECT_BAD_INDEX_SHARD] = "bad-index-shard",
	[WAN_DEFECT_BAD_INDEX_SIZE] = "bad-index-size",
	[WAN_DEFECT_MISSING_BLOCK] = "missing-block",
};

const char *wan_fixture_defect_name(enum wan_fixture_defect d)
{
	return (unsigned)d < ARRAY_SIZE(defect_names) ? defect_names[d] : "?";
}

int wan_fixture_defect_parse(const char *name, enum wan_fixture_defect *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(defect_names); i++)
		if (!strcmp(name, defect_names[i])) {
			*out = (enum wan_fixture_defect)i;
			return 0;
		}
	return wan_err(WAN_EINVAL, "unknown defect '%s'", name);
}

/* ---- pseudo-random data -------------------------------------------------- */

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t stream_seed(uint64_t seed, const char *what, uint32_t variant)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull ^ fnv1a(what) ^
		((uint64_t)variant << 40);

	splitmix64(&s);
	return s;
}

/* Four BF16 values per draw (little-endian lanes). */
static inline uint64_t bf16x4(uint64_t w)
{
	return (w & 0x807f807f807f807full) |
		((((w >> 7) & 0x0003000300030003ull) + 0x0077007700770077ull) << 7);
}

/* Fill len bytes (even) of BF16 values. */
static void fill_bf16(uint64_t *state, unsigned char *p, size_t len)
{
	size_t words = len / 8;
	uint64_t *q = (uint64_t *)(void *)p;

	for (size_t i = 0; i < words; i++)
		q[i] = bf16x4(splitmix64(state));
	if (len % 8) {
		uint64_t w = bf16x4(splitmix64(state));

		memcpy(p + words * 8, &w, len % 8);
	}
}

/* F32 values from BF16 ones (same magnitudes). */
static void fill_f32(uint64_t *state, unsigned char *p, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i += 8) {
		uint64_t w = bf16x4(splitmix64(state));

		for (int k = 0; k < 4 && i + k * 4 + 4 <= len; k++) {
			uint32_t v = (uint32_t)((w >> (16 * k)) & 0xffff) << 16;

			memcpy(p + i + k * 4, &v, 4);
		}
	}
}

/* F16: sign, exponent 10..13 (|x| in [2^-5, 2^-1)), 10-bit mantissa. */
static void fill_f16(uint64_t *state, unsigned char *p, size_t len)
{
	for (size_t i = 0; i + 2 <= len; i += 2) {
		uint64_t r = splitmix64(state);
		uint16_t v = (uint16_t)((r & 0x83ff) | ((10 + ((r >> 10) & 3)) << 10));

		memcpy(p + i, &v, 2);
	}
}

/* ---- small helpers ----------------------------------------------------------- */

struct fx {
	const char *dir;
	const struct wan_spec *spec;
	const struct wan_fixture_opts *o;
	struct wan_fixture_result *res;
	unsigned char *buf;         /* GEN_BUF bytes */
	unsigned char *buf2;        /* GEN_BUF bytes */
};

static void set_str(char *dst, size_t size, const char *s)
{
	size_t l = strlen(s);

	if (l >= size)
		l = size - 1;
	memcpy(dst, s, l);
	dst[l] = '\0';
}

static int mkparent(const char *path)
{
	char tmp[WAN_PATH_MAX];
	int err = wan_snprintf(tmp, sizeof(tmp), "%s", path);

	if (err < 0)
		return err;
	return path_mkdirs(dirname(tmp), 0755);
}

static int fx_path(const struct fx *f, const char *rel, char *out, size_t size)
{
	return path_join(out, size, f->dir, rel);
}

static int write_file(struct fx *f, const char *rel, const void *data, size_t len)
{
	char p[WAN_PATH_MAX];
	int fd, err;

	if ((err = fx_path(f, rel, p, sizeof(p))) < 0 || (err = mkparent(p)) < 0)
		return err;
	fd = xopen(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return wan_err_sys(0, "cannot create '%s'", p);
	if (len && xwrite(fd, data, len) < 0) {
		err = wan_err_sys(0, "cannot write '%s'", p);
		xclose(fd);
		return err;
	}
	if (xclose(fd) < 0)
		return wan_err_sys(0, "cannot close '%s'", p);
	f->res->bytes += len;
	f->res->files++;
	return 0;
}

static int write_json(struct fx *f, const char *rel, json_t *doc)
{
	char *s;
	int err;

	if (!doc)
		return wan_err(WAN_ENOMEM, "out of memory building '%s'", rel);
	s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	if (!s)
		return wan_err(WAN_ENOMEM, "out of memory building '%s'", rel);
	{
		struct buf b = BUF_INIT;

		err = buf_adds(&b, s);
		if (!err)
			err = buf_addch(&b, '\n');
		free(s);
		if (!err)
			err = write_file(f, rel, b.p, b.len);
		buf_release(&b);
	}
	return err;
}

static int write_random(struct fx *f, const char *rel, const char *magic, size_t len)
{
	uint64_t st = stream_seed(f->o->seed, rel, 0);
	size_t ml = magic ? strlen(magic) : 0;

	if (len > GEN_BUF)
		len = GEN_BUF;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = splitmix64(&st);

		memcpy(f->buf + i, &w, len - i < 8 ? len - i : 8);
	}
	if (ml && ml <= len)
		memcpy(f->buf, magic, ml);
	return write_file(f, rel, f->buf, len);
}

/* A small .pth with tensors named names[] of the given shapes. */
struct mini_tensor {
	const char *name;
	uint32_t ndim;
	uint64_t shape[4];
};

static int write_pth(struct fx *f, const char *rel, const char *dtype,
		     const struct mini_tensor *mt, size_t n, unsigned flags)
{
	struct wan_pth_tensor t[8];
	char p[WAN_PATH_MAX], archive[256];
	size_t off = 0, esz = !strcmp(dtype, "F32") ? 4 : 2;
	uint64_t st = stream_seed(f->o->seed, rel, 0);
	const char *base, *dot;
	struct stat sb;
	int err;

	if (n > ARRAY_SIZE(t))
		WAN_BUG("too many mini tensors");
	for (size_t i = 0; i < n; i++) {
		uint64_t numel = 1;

		for (uint32_t d = 0; d < mt[i].ndim; d++)
			numel *= mt[i].shape[d];
		t[i].name = mt[i].name;
		t[i].dtype = dtype;
		t[i].shape = mt[i].shape;
		t[i].ndim = mt[i].ndim;
		t[i].nbytes = numel * esz;
		if (off + t[i].nbytes > GEN_BUF)
			WAN_BUG("mini tensors too large");
		t[i].data = f->buf + off;
		if (esz == 4)
			fill_f32(&st, f->buf + off, t[i].nbytes);
		else if (!strcmp(dtype, "F16"))
			fill_f16(&st, f->buf + off, t[i].nbytes);
		else
			fill_bf16(&st, f->buf + off, t[i].nbytes);
		off += (t[i].nbytes + 63) & ~(size_t)63;
	}
	base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	dot = strrchr(base, '.');
	if ((err = wan_snprintf(archive, sizeof(archive), "%.*s",
				(int)(dot ? (size_t)(dot - base) : strlen(base)), base)) < 0)
		return err;
	if ((err = fx_path(f, rel, p, sizeof(p))) < 0 || (err = mkparent(p)) < 0)
		return err;
	if ((err = wan_pth_write(p, archive, t, n, flags)) < 0)
		return err;
	if (stat(p, &sb) == 0)
		f->res->bytes += (uint64_t)sb.st_size;
	f->res->files++;
	return 0;
}

/* ---- DiT ------------------------------------------------------------------------ */

void wan_fixture_arch(const struct wan_spec *s, uint64_t shard_bytes,
		      struct wan_arch *a)
{
	uint32_t shards = 1;

	*a = s->arch;
	a->num_heads = 4;
	a->num_layers = 2;
	a->dim = 64;
	a->ffn_dim = 128;
	if (a->model_type && !strcmp(a->model_type, "vace")) {
		a->num_layers = 4;
		a->nvace_layers = 2;
		a->vace_layers[0] = 0;
		a->vace_layers[1] = 2;
	}
	if (!shard_bytes || !a->model_type)
		return;
	for (size_t d = 0; d < s->ndits; d++)
		if (s->dits[d].shards != WAN_SHARDS_SINGLE)
			shards = s->dits[d].shards == WAN_SHARDS_ANY ? 4 : s->dits[d].shards;
	{
		/* Largest dim (multiple of 8, ffn = 2 dim) whose BF16 bytes stay
		 * within shard_bytes * shards; at least 8. */
		uint64_t target = shard_bytes, lo = 1, hi = 1u << 17;

		if (__builtin_mul_overflow(target, shards, &target))
			target = UINT64_MAX;
		while (lo < hi) {
			uint64_t mid = (lo + hi + 1) / 2, bytes;
			struct wan_tensor_list *l = NULL;
			struct wan_arch t = *a;
			json_t *cfg;

			t.dim = (uint32_t)(mid * 8);
			t.ffn_dim = t.dim * 2;
			cfg = wan_arch_config_json(&t);
			if (!cfg || wan_arch_expected(cfg, wan_arch_flags_for(s), &l) < 0) {
				json_decref(cfg);
				break;
			}
			json_decref(cfg);
			bytes = wan_tensor_list_numel(l) * 2;
			wan_tensor_list_free(l);
			if (bytes <= target)
				lo = mid;
			else
				hi = mid - 1;
		}
		a->dim = (uint32_t)(lo * 8);
		a->ffn_dim = a->dim * 2;
	}
}

/* Write one safetensors file of the tensors idx[0..n) of l. */
static int write_st(struct fx *f, const char *rel, const struct wan_tensor_list *l,
		    const size_t *idx, size_t n, uint32_t variant,
		    const char *nan_tensor, uint64_t *nan_index)
{
	struct wan_st_writer *w = NULL;
	char p[WAN_PATH_MAX];
	int err;

	if ((err = fx_path(f, rel, p, sizeof(p))) < 0 || (err = mkparent(p)) < 0)
		return err;
	if ((err = wan_st_writer_open(&w, p)) < 0)
		return err;
	if ((err = wan_st_writer_metadata(w, "format", "pt")) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct wan_tensor *t = &l->v[idx[i]];

		if ((err = wan_st_writer_add(w, t->name, "BF16", t->shape, t->ndim)) < 0)
			goto out;
	}
	if ((err = wan_st_writer_begin(w)) < 0)
		goto out;
	for (size_t i = 0; i < wan_st_writer_count(w); i++) {
		uint64_t nbytes, done = 0, nan_off = UINT64_MAX;
		const char *name = wan_st_writer_tensor_at(w, i, &nbytes);
		uint64_t st = stream_seed(f->o->seed, name, variant);

		if (nan_tensor && !strcmp(name, nan_tensor) && nbytes >= 2) {
			*nan_index = nbytes / 4; /* element in the middle */
			nan_off = *nan_index * 2;
		}
		/* The first chunk is drawn value by value; later chunks are
		 * that chunk with sign and mantissa bits flipped by a fresh
		 * random mask: as weight-like, at memory speed. */
		while (done < nbytes) {
			size_t chunk = nbytes - done > GEN_BUF ? GEN_BUF : (size_t)(nbytes - done);
			unsigned char *outp = f->buf;

			if (done == 0) {
				fill_bf16(&st, f->buf, chunk);
			} else {
				uint64_t mask = splitmix64(&st) & 0x807f807f807f807full;
				const uint64_t *b = (const uint64_t *)(const void *)f->buf;
				uint64_t *q = (uint64_t *)(void *)f->buf2;
				size_t words = chunk / 8;

				for (size_t k = 0; k < words; k++)
					q[k] = b[k] ^ mask;
				memcpy(f->buf2 + words * 8, f->buf + words * 8, chunk % 8);
				outp = f->buf2;
			}
			if (nan_off >= done && nan_off < done + chunk) {
				uint16_t v = BF16_NAN;

				if (outp == f->buf) {
					memcpy(f->buf2, f->buf, chunk);
					outp = f->buf2;
				}
				memcpy(outp + (nan_off - done), &v, 2);
			}
			if ((err = wan_st_writer_write(w, outp, chunk)) < 0)
				goto out;
			done += chunk;
		}
	}
	if ((err = wan_st_writer_finish(w)) < 0)
		goto out;
	f->res->bytes += wan_st_writer_file_size(w);
	f->res->files++;
out:
	wan_st_writer_free(w);
	return err;
}

static void rel_in(char *dst, size_t size, const char *folder, const char *name)
{
	if (*folder)
		snprintf(dst, size, "%s/%s", folder, name);
	else
		snprintf(dst, size, "%s", name);
}

/* Config for the wrong-architecture defect: i2v (2.1) weights for a t2v-like
 * model, t2v weights for an image model. */
static json_t *wrong_config(const struct wan_arch *a, unsigned *flags)
{
	struct wan_arch w = *a;

	if (a->img_cross || !strcmp(a->model_type, "i2v") ||
	    !strcmp(a->model_type, "flf2v") || !strcmp(a->model_type, "animate")) {
		w.model_type = "t2v";
		w.class_name = "WanModel";
		w.in_dim = 16;
		w.img_cross = false;
		*flags = 0;
	} else {
		w.model_type = "i2v";
		w.class_name = "WanModel";
		w.in_dim = 36;
		w.out_dim = 16;
		w.img_cross = true;
		*flags = WAN_ARCH_WAN21;
	}
	return wan_arch_config_json(&w);
}

static int write_dit(struct fx *f, const struct wan_dit *dit, bool first,
		     const struct wan_arch *arch)
{
	const struct wan_fixture_opts *o = f->o;
	struct wan_tensor_list *l = NULL;
	json_t *cfg = NULL, *tcfg = NULL, *wm = NULL;
	size_t *idx = NULL, nkeep = 0;
	uint32_t nshards = dit->shards == WAN_SHARDS_ANY ? 4 : dit->shards;
	unsigned flags = wan_arch_flags_for(f->spec);
	const char *nan = NULL;
	uint64_t total = 0, nan_index = UINT64_MAX;
	char rel[WAN_PATH_MAX], name[128];
	int err;

	cfg = wan_arch_config_json(arch);
	if (!cfg)
		return wan_err(WAN_ENOMEM, "out of memory");
	rel_in(rel, sizeof(rel), dit->folder, "config.json");
	if ((err = write_json(f, rel, json_incref(cfg))) < 0)
		goto out;
	if (first && o->defect == WAN_DEFECT_WRONG_ARCH) {
		tcfg = wrong_config(arch, &flags);
		set_str(f->res->defect_path, sizeof(f->res->defect_path), *dit->folder ? dit->folder : ".");
	} else {
		tcfg = json_incref(cfg);
	}
	if ((err = wan_arch_expected(tcfg, flags, &l)) < 0)
		goto out;
	idx = malloc(l->n * sizeof(*idx));
	if (!idx) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	{
		char drop[64] = "";

		if (first && o->defect == WAN_DEFECT_MISSING_BLOCK) {
			snprintf(drop, sizeof(drop), "blocks.%u.", arch->num_layers - 1);
			set_str(f->res->defect_path, sizeof(f->res->defect_path), *dit->folder ? dit->folder : ".");
			snprintf(f->res->defect_tensor, sizeof(f->res->defect_tensor),
				 "blocks.%u", arch->num_layers - 1);
		}
		for (size_t i = 0; i < l->n; i++) {
			if (*drop && !strncmp(l->v[i].name, drop, strlen(drop)))
				continue;
			idx[nkeep++] = i;
			total += wan_tensor_numel(&l->v[i]) * 2;
		}
	}
	if (first && o->defect == WAN_DEFECT_NAN) {
		nan = o->defect_tensor ? o->defect_tensor : "blocks.0.self_attn.q.weight";
		set_str(f->res->defect_tensor, sizeof(f->res->defect_tensor), nan);
	}
	if (dit->shards == WAN_SHARDS_SINGLE) {
		rel_in(rel, sizeof(rel), dit->folder, "diffusion_pytorch_model.safetensors");
		if ((err = write_st(f, rel, l, idx, nkeep, o->variant, nan, &nan_index)) < 0)
			goto out;
		if (nan && nan_index != UINT64_MAX)
			set_str(f->res->defect_path, sizeof(f->res->defect_path), rel);
	} else {
		uint64_t cum = 0;
		size_t start = 0;

		if (nkeep < nshards) {
			err = wan_err(WAN_EINVAL, "cannot spread %zu tensors over %u shards", nkeep, nshards);
			goto out;
		}
		wm = json_object();
		if (!wm) {
			err = wan_err(WAN_ENOMEM, "out of memory");
			goto out;
		}
		for (uint32_t s = 0; s < nshards; s++) {
			size_t end = start;
			uint64_t goal = (uint64_t)((double)total * (s + 1) / nshards);
			bool last = s + 1 == nshards;
			const char *nan_here = NULL;

			/* at least one tensor, leave one for each later shard */
			do {
				cum += wan_tensor_numel(&l->v[idx[end]]) * 2;
				end++;
			} while (end < nkeep - (nshards - s - 1) &&
				 (last || cum < goal));
			snprintf(name, sizeof(name),
				 "diffusion_pytorch_model-%05u-of-%05u.safetensors",
				 s + 1, nshards);
			rel_in(rel, sizeof(rel), dit->folder, name);
			for (size_t i = start; i < end; i++) {
				json_object_set_new(wm, l->v[idx[i]].name, json_string(name));
				if (nan && !strcmp(l->v[idx[i]].name, nan))
					nan_here = nan;
			}
			if ((err = write_st(f, rel, l, idx + start, end - start,
					    last ? o->variant : 0, nan_here, &nan_index)) < 0)
				goto out;
			if (nan_here)
				set_str(f->res->defect_path, sizeof(f->res->defect_path), rel);
			start = end;
		}
		if (first && o->defect == WAN_DEFECT_BAD_INDEX_SHARD) {
			const char *victim = l->v[idx[0]].name;

			snprintf(name, sizeof(name),
				 "diffusion_pytorch_model-%05u-of-%05u.safetensors",
				 nshards + 1, nshards);
			json_object_set_new(wm, victim, json_string(name));
			set_str(f->res->defect_tensor, sizeof(f->res->defect_tensor), victim);
		}
		if (first && o->defect == WAN_DEFECT_BAD_INDEX_SIZE)
			total += 2;
		rel_in(rel, sizeof(rel), dit->folder,
		       "diffusion_pytorch_model.safetensors.index.json");
		if (first && (o->defect == WAN_DEFECT_BAD_INDEX_SHARD ||
			      o->defect == WAN_DEFECT_BAD_INDEX_SIZE))
			set_str(f->res->defect_path, sizeof(f->res->defect_path), rel);
		err = write_json(f, rel, json_pack("{s:{s:I}, s:o}", "metadata",
						   "total_size", (json_int_t)total,
						   "weight_map", wm));
		wm = NULL;
		if (err < 0)
			goto out;
	}
	if (nan) {
		if (nan_index == UINT64_MAX) {
			err = wan_err(WAN_EINVAL, "cannot plant a NaN: no tensor '%s' in the fixture", nan);
			goto out;
		}
		f->res->defect_index = nan_index;
	}
out:
	json_decref(wm);
	json_decref(cfg);
	json_decref(tcfg);
	free(idx);
	wan_tensor_list_free(l);
	return err;
}

/* ---- other files --------------------------------------------------------------- */

static const struct mini_tensor t5_tensors[] = {
	{ "token_embedding.weight", 2, { 256, 32 } },
	{ "blocks.0.attn.q.weight", 2, { 32, 32 } },
	{ "blocks.0.ffn.fc1.weight", 2, { 64, 32 } },
	{ "norm.weight", 1, { 32 } },
};
static const struct mini_tensor vae21_tensors[] = {
	{ "encoder.conv1.weight", 4, { 32, 3, 3, 3 } },
	{ "conv1.weight", 4, { 32, 32, 1, 1 } },
	{ "decoder.head.2.weight", 4, { 3, 32, 3, 3 } },
};
static const struct mini_tensor vae22_tensors[] = {
	{ "encoder.conv1.weight", 4, { 48, 12, 3, 3 } },
	{ "conv1.weight", 4, { 96, 96, 1, 1 } },
	{ "decoder.head.2.weight", 4, { 12, 48, 3, 3 } },
};
static const struct mini_tensor clip_tensors[] = {
	{ "visual.patch_embedding.weight", 4, { 32, 3, 14, 14 } },
	{ "visual.transformer.0.attn.to_qkv.weight", 2, { 96, 32 } },
	{ "textual.token_embedding.weight", 2, { 128, 32 } },
};
static const struct mini_tensor lora_tensors[] = {
	{ "blocks.0.self_attn.q.lora_down.weight", 2, { 4, 64 } },
	{ "blocks.0.self_attn.q.lora_up.weight", 2, { 64, 4 } },
};
static const struct mini_tensor generic_pth_tensors[] = {
	{ "weight", 2, { 16, 16 } },
	{ "bias", 1, { 16 } },
};

static int write_tokenizer_json(struct fx *f, const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	if (!strcmp(base, "special_tokens_map.json"))
		return write_json(f, rel, json_pack("{s:s, s:s, s:s}", "eos_token", "</s>",
						    "pad_token", "<pad>", "unk_token", "<unk>"));
	if (!strcmp(base, "tokenizer_config.json"))
		return write_json(f, rel, json_pack("{s:b, s:I, s:s}", "add_prefix_space", 1,
						    "model_max_length", (json_int_t)512,
						    "tokenizer_class", "T5Tokenizer"));
	return write_json(f, rel, json_pack("{s:s, s:{s:s, s:[[s,f],[s,f],[s,f]]}, s:[]}",
					    "version", "1.0", "model", "type", "Unigram",
					    "vocab", "<pad>", 0.0, "</s>", 0.0, "<unk>", 0.0,
					    "added_tokens"));
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static int write_spec_file(struct fx *f, const struct wan_spec_file *sf)
{
	const char *p = sf->path;
	char rel[WAN_PATH_MAX];
	int err;

	if (sf->flags & WAN_SF_DIR) {
		char abs[WAN_PATH_MAX];

		if ((err = fx_path(f, p, abs, sizeof(abs))) < 0 ||
		    (err = path_mkdirs(abs, 0755)) < 0)
			return err;
		if (!strcmp(p, "xlm-roberta-large")) {
			static const char *const tok[] = {
				"special_tokens_map.json", "tokenizer.json",
				"tokenizer_config.json",
			};

			for (size_t i = 0; i < ARRAY_SIZE(tok); i++) {
				snprintf(rel, sizeof(rel), "%s/%s", p, tok[i]);
				if ((err = write_tokenizer_json(f, rel)) < 0)
					return err;
			}
			snprintf(rel, sizeof(rel), "%s/sentencepiece.bpe.model", p);
			return write_random(f, rel, "\x0a\x0b", 3000);
		}
		if (!strcmp(p, "wav2vec2-large-xlsr-53-english")) {
			snprintf(rel, sizeof(rel), "%s/preprocessor_config.json", p);
			if ((err = write_json(f, rel, json_pack("{s:I, s:s}", "sampling_rate",
								(json_int_t)16000, "feature_extractor_type",
								"Wav2Vec2FeatureExtractor"))) < 0)
				return err;
			snprintf(rel, sizeof(rel), "%s/vocab.json", p);
			return write_json(f, rel, json_pack("{s:i, s:i, s:i}", "<pad>", 0, "<s>", 1, "</s>", 2));
		}
		if (!strcmp(p, "google/umt5-xxl") || !strcmp(p, "process_checkpoint"))
			return 0; /* their files are listed separately */
		/* a folder of a user spec: not empty */
		snprintf(rel, sizeof(rel), "%s/fixture.json", p);
		return write_json(f, rel, json_pack("{s:s}", "fixture", "wanctl"));
	}
	if (!strcmp(p, "models_t5_umt5-xxl-enc-bf16.pth"))
		return write_pth(f, p, "BF16", t5_tensors, ARRAY_SIZE(t5_tensors), 0);
	if (!strcmp(p, "Wan2.1_VAE.pth"))
		return write_pth(f, p, "F32", vae21_tensors, ARRAY_SIZE(vae21_tensors), 0);
	if (!strcmp(p, "Wan2.2_VAE.pth"))
		return write_pth(f, p, "F32", vae22_tensors, ARRAY_SIZE(vae22_tensors), 0);
	if (!strcmp(p, "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"))
		return write_pth(f, p, "F16", clip_tensors, ARRAY_SIZE(clip_tensors), 0);
	if (ends_with(p, ".ckpt"))
		return write_pth(f, p, "BF16", lora_tensors, ARRAY_SIZE(lora_tensors),
				 WAN_PTH_STATE_DICT);
	if (sf->flags & WAN_SF_PTH)
		return write_pth(f, p, "F32", generic_pth_tensors,
				 ARRAY_SIZE(generic_pth_tensors), 0);
	if (!strcmp(p, "configuration.json"))
		return write_json(f, p, json_pack("{s:s, s:s}", "framework", "Pytorch",
						  "task", f->spec->task ? f->spec->task : "video"));
	if (!strcmp(p, "model_index.json"))
		return 0; /* diffusers: written by write_diffusers */
	if (strstr(p, "wav2vec2") && ends_with(p, "config.json"))
		return write_json(f, p, json_pack("{s:[s], s:s, s:I, s:I}", "architectures",
						  "Wav2Vec2ForCTC", "model_type", "wav2vec2",
						  "hidden_size", (json_int_t)32,
						  "num_hidden_layers", (json_int_t)1));
	if (sf->flags & WAN_SF_SAFETENSORS) {
		struct wan_tensor_list *l = wan_tensor_list_new();
		static const uint64_t s1[] = { 32, 32 }, s2[] = { 32 };
		size_t idx[2] = { 0, 1 };
		uint64_t dummy;

		if (!l)
			return wan_err(WAN_ENOMEM, "out of memory");
		err = wan_tensor_list_add(l, "wav2vec2.encoder.layers.0.attention.q_proj.weight", s1, 2);
		if (!err)
			err = wan_tensor_list_add(l, "wav2vec2.encoder.layers.0.attention.q_proj.bias", s2, 1);
		if (!err)
			err = write_st(f, p, l, idx, 2, 0, NULL, &dummy);
		wan_tensor_list_free(l);
		return err;
	}
	if (sf->flags & WAN_SF_TOKENIZER) {
		if (ends_with(p, ".json"))
			return write_tokenizer_json(f, p);
		return write_random(f, p, "\x0a\x0b", 4096);
	}
	if (sf->flags & WAN_SF_JSON)
		return write_json(f, p, json_pack("{s:s}", "fixture", "wanctl"));
	if (sf->flags & WAN_SF_ONNX)
		return write_random(f, p, "\x08\x07\x12\x0ewanctl-fixture", 2048);
	return write_random(f, p, NULL, 1024);
}

/* Generic safetensors checkpoint: model-0000N-of-00002 + index. */
static int write_generic(struct fx *f)
{
	struct wan_tensor_list *l = wan_tensor_list_new();
	uint64_t dim = 64, total = 0, dummy;
	size_t idx[8];
	json_t *wm = json_object();
	char name[64];
	int err = 0;

	if (!l || !wm) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	if (f->o->shard_bytes) {
		/* 4 square BF16 layers per shard of dim x dim */
		while ((dim + 8) * (dim + 8) * 2 * 4 <= f->o->shard_bytes && dim < (1u << 17))
			dim += 8;
	}
	for (size_t i = 0; i < 8 && !err; i++) {
		uint64_t shape[2] = { dim, dim };

		snprintf(name, sizeof(name), "layers.%zu.weight", i);
		err = wan_tensor_list_add(l, name, shape, 2);
		idx[i] = i;
		total += dim * dim * 2;
	}
	for (size_t s = 0; s < 2 && !err; s++) {
		snprintf(name, sizeof(name), "model-%05zu-of-00002.safetensors", s + 1);
		err = write_st(f, name, l, idx + 4 * s, 4, s == 1 ? f->o->variant : 0,
			       NULL, &dummy);
		for (size_t i = 4 * s; i < 4 * s + 4; i++)
			json_object_set_new(wm, l->v[i].name, json_string(name));
	}
	if (!err) {
		err = write_json(f, "model.safetensors.index.json",
				 json_pack("{s:{s:I}, s:O}", "metadata", "total_size",
					   (json_int_t)total, "weight_map", wm));
	}
out:
	json_decref(wm);
	wan_tensor_list_free(l);
	return err;
}

/* A small *-Diffusers layout (model_index.json + transformer/ + vae/). */
static int write_diffusers(struct fx *f)
{
	struct wan_tensor_list *l = wan_tensor_list_new();
	static const uint64_t sq[] = { 64, 64 }, tab[] = { 1, 6, 64 }, po[] = { 64, 64 };
	size_t idx[3] = { 0, 1, 2 };
	uint64_t dummy;
	int err;

	if (!l)
		return wan_err(WAN_ENOMEM, "out of memory");
	err = write_json(f, "model_index.json",
			 json_pack("{s:s, s:s, s:[s,s], s:[s,s], s:[s,s], s:[s,s], s:[s,s]}",
				   "_class_name", "WanPipeline", "_diffusers_version", "0.33.0",
				   "scheduler", "diffusers", "UniPCMultistepScheduler",
				   "text_encoder", "transformers", "UMT5EncoderModel",
				   "tokenizer", "transformers", "T5TokenizerFast",
				   "transformer", "diffusers", "WanTransformer3DModel",
				   "vae", "diffusers", "AutoencoderKLWan"));
	if (!err)
		err = write_json(f, "transformer/config.json",
				 json_pack("{s:s, s:I, s:I}", "_class_name", "WanTransformer3DModel",
					   "num_attention_heads", (json_int_t)4,
					   "num_layers", (json_int_t)1));
	if (!err)
		err = wan_tensor_list_add(l, "blocks.0.attn1.to_q.weight", sq, 2);
	if (!err)
		err = wan_tensor_list_add(l, "scale_shift_table", tab, 3);
	if (!err)
		err = wan_tensor_list_add(l, "proj_out.weight", po, 2);
	if (!err)
		err = write_st(f, "transformer/diffusion_pytorch_model.safetensors", l, idx, 3,
			       f->o->variant, NULL, &dummy);
	if (!err)
		err = write_json(f, "vae/config.json",
				 json_pack("{s:s, s:I}", "_class_name", "AutoencoderKLWan",
					   "z_dim", (json_int_t)16));
	if (!err)
		err = write_st(f, "vae/diffusion_pytorch_model.safetensors", l, idx, 1, 0,
			       NULL, &dummy);
	wan_tensor_list_free(l);
	return err;
}

/* ---- defects applied after writing ----------------------------------------------- */

static int sha256_file(const char *path, char hex[WAN_SHA256_HEX], uint64_t *size,
		       unsigned char *buf)
{
	struct wan_sha256 h;
	ssize_t n;
	int fd = xopen(path, O_RDONLY, 0), err = 0;

	*size = 0;
	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s'", path);
	if ((err = wan_sha256_init(&h)) < 0) {
		xclose(fd);
		return err;
	}
	while ((n = xread(fd, buf, GEN_BUF)) > 0) {
		wan_sha256_update(&h, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	if (n < 0) {
		err = wan_err_sys(0, "cannot read '%s'", path);
		wan_sha256_release(&h);
	} else {
		wan_sha256_final_hex(&h, hex);
	}
	xclose(fd);
	return err;
}

static int truncate_file(const char *path, uint64_t size)
{
	int fd = xopen(path, O_WRONLY, 0), err = 0;

	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s'", path);
	if (ftruncate(fd, (off_t)size) < 0)
		err = wan_err_sys(0, "cannot truncate '%s'", path);
	if (xclose(fd) < 0 && !err)
		err = wan_err_sys(0, "cannot close '%s'", path);
	return err;
}

static int default_defect_file(const struct fx *f, char *out, size_t size)
{
	const struct wan_spec *s = f->spec;

	if (f->o->defect == WAN_DEFECT_MISSING_FILE) {
		for (size_t i = 0; i < s->nfiles; i++)
			if (ends_with(s->files[i].path, "_VAE.pth"))
				return wan_snprintf(out, size, "%s", s->files[i].path);
	}
	if (s->kind == WAN_SPEC_GENERIC)
		return wan_snprintf(out, size, "model-00001-of-00002.safetensors");
	if (s->kind == WAN_SPEC_DIFFUSERS)
		return wan_snprintf(out, size, "transformer/diffusion_pytorch_model.safetensors");
	if (!s->ndits)
		return wan_err(WAN_EINVAL, "spec '%s' has no DiT file to damage", s->name);
	if (s->dits[0].shards == WAN_SHARDS_SINGLE) {
		rel_in(out, size, s->dits[0].folder, "diffusion_pytorch_model.safetensors");
	} else {
		char name[96];
		uint32_t n = s->dits[0].shards == WAN_SHARDS_ANY ? 4 : s->dits[0].shards;

		snprintf(name, sizeof(name),
			 "diffusion_pytorch_model-00001-of-%05u.safetensors", n);
		rel_in(out, size, s->dits[0].folder, name);
	}
	return 0;
}

static int apply_file_defect(struct fx *f)
{
	enum wan_fixture_defect d = f->o->defect;
	char rel[WAN_PATH_MAX], p[WAN_PATH_MAX], hex[WAN_SHA256_HEX];
	struct stat st;
	uint64_t size;
	int err;

	if (f->o->defect_file) {
		if ((err = path_check_relative(f->o->defect_file)) < 0)
			return err;
		err = wan_snprintf(rel, sizeof(rel), "%s", f->o->defect_file);
	} else {
		err = default_defect_file(f, rel, sizeof(rel));
	}
	if (err < 0 || (err = fx_path(f, rel, p, sizeof(p))) < 0)
		return err;
	if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
		return wan_err(WAN_EINVAL, "cannot plant '%s' defect: the fixture has no file '%s'",
			       wan_fixture_defect_name(d), rel);
	set_str(f->res->defect_path, sizeof(f->res->defect_path), rel);
	switch (d) {
	case WAN_DEFECT_LFS_POINTER: {
		char text[256];

		if ((err = sha256_file(p, hex, &size, f->buf)) < 0)
			return err;
		snprintf(text, sizeof(text),
			 "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %llu\n",
			 hex, (unsigned long long)size);
		return write_file(f, rel, text, strlen(text));
	}
	case WAN_DEFECT_ZERO_BYTE:
		return truncate_file(p, 0);
	case WAN_DEFECT_TRUNCATED: {
		unsigned char h[8];
		uint64_t n = 0, cut;
		ssize_t got;
		int fd = xopen(p, O_RDONLY, 0);

		if (fd < 0)
			return wan_err_sys(0, "cannot open '%s'", p);
		got = xread(fd, h, 8);
		xclose(fd);
		for (int i = 0; got == 8 && i < 8; i++)
			n |= (uint64_t)h[i] << (8 * i);
		if (ends_with(rel, ".safetensors") && got == 8 &&
		    n + 8 < (uint64_t)st.st_size)
			cut = 8 + n + ((uint64_t)st.st_size - 8 - n) / 2;
		else
			cut = (uint64_t)st.st_size / 2;
		return truncate_file(p, cut);
	}
	case WAN_DEFECT_MISSING_FILE:
		if (xunlinkat(AT_FDCWD, p, 0) < 0)
			return wan_err_sys(0, "cannot remove '%s'", p);
		f->res->files--;
		return 0;
	default:
		return 0;
	}
}

int wan_fixture_write(const char *dir, const char *spec_name,
		      const struct wan_fixture_opts *opts,
		      struct wan_fixture_result *res)
{
	static const struct wan_fixture_opts defaults = { 0 };
	struct wan_fixture_result dummy;
	const struct wan_spec *s = wan_catalog_find(spec_name);
	struct fx f;
	struct wan_arch arch;
	int err;

	if (!s)
		return wan_err(WAN_ENOTFOUND, "unknown model spec '%s'", spec_name);
	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	f.dir = dir;
	f.spec = s;
	f.o = opts ? opts : &defaults;
	f.res = res;
	if ((f.o->defect == WAN_DEFECT_BAD_INDEX_SHARD ||
	     f.o->defect == WAN_DEFECT_BAD_INDEX_SIZE) &&
	    (s->kind != WAN_SPEC_WAN || !s->ndits || s->dits[0].shards == WAN_SHARDS_SINGLE))
		return wan_err(WAN_EINVAL, "cannot plant '%s' in '%s': its DiT has no shard index",
			       wan_fixture_defect_name(f.o->defect), s->name);
	if ((f.o->defect == WAN_DEFECT_WRONG_ARCH || f.o->defect == WAN_DEFECT_NAN ||
	     f.o->defect == WAN_DEFECT_MISSING_BLOCK) &&
	    (s->kind != WAN_SPEC_WAN || !s->ndits))
		return wan_err(WAN_EINVAL, "cannot plant '%s' in '%s': it has no Wan DiT",
			       wan_fixture_defect_name(f.o->defect), s->name);
	if (s->kind == WAN_SPEC_WAN && s->ndits && !s->arch.model_type)
		return wan_err(WAN_EINVAL, "cannot write a fixture of '%s': the spec has no architecture (add \"base\")",
			       s->name);
	f.buf = aligned_alloc(4096, GEN_BUF);
	f.buf2 = aligned_alloc(4096, GEN_BUF);
	if (!f.buf || !f.buf2) {
		free(f.buf);
		free(f.buf2);
		return wan_err(WAN_ENOMEM, "out of memory");
	}
	if ((err = path_mkdirs(dir, 0755)) < 0)
		goto out;
	wan_fixture_arch(s, f.o->shard_bytes, &arch);
	res->dim = s->arch.model_type ? arch.dim : 0;
	for (size_t i = 0; i < s->nfiles; i++)
		if ((err = write_spec_file(&f, &s->files[i])) < 0)
			goto out;
	if (s->kind == WAN_SPEC_GENERIC)
		err = write_generic(&f);
	else if (s->kind == WAN_SPEC_DIFFUSERS)
		err = write_diffusers(&f);
	for (size_t d = 0; d < s->ndits && !err; d++)
		err = write_dit(&f, &s->dits[d], d == 0, &arch);
	if (err)
		goto out;
	switch (f.o->defect) {
	case WAN_DEFECT_LFS_POINTER:
	case WAN_DEFECT_ZERO_BYTE:
	case WAN_DEFECT_TRUNCATED:
	case WAN_DEFECT_MISSING_FILE:
		err = apply_file_defect(&f);
		break;
	default:
		break;
	}
out:
	free(f.buf);
	free(f.buf2);
	return err;
}
