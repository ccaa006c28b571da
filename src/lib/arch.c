#include "util/common.h"
#include "util/buf.h"
#include "wanctl/catalog.h"
#include "wanctl/report.h"

/*
 * Tensor names and shapes of a WanModel from its config.json, after
 * wan/modules/model.py (Wan2.1 and Wan2.2), vace_model.py and
 * animate/model_animate.py. Checked against the real Wan2.2-TI2V-5B index
 * (825 names, total_size 19,999,150,848 B at fp32) and the parameter counts
 * of wan-models.md §3 (t2v-14B 1095 tensors / 14.288 B, i2v-14B 1303 /
 * 16.395 B, vace-14B 17.34 B, t2v-1.3B 825 / 1.419 B).
 *
 * Fixed by the code, not by config.json: text_dim 4096 (ignore_for_config),
 * patch (1,2,2), CLIP width 1280 and 257*2 FLF2V position tokens.
 */

#define TEXT_DIM 4096
#define CLIP_DIM 1280
#define FLF_TOKENS 514

struct wan_tensor_list *wan_tensor_list_new(void)
{
	return calloc(1, sizeof(struct wan_tensor_list));
}

void wan_tensor_list_free(struct wan_tensor_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	for (size_t i = 0; i < l->nopen; i++)
		free(l->open_prefixes[i]);
	free(l->open_prefixes);
	free(l->v);
	free(l);
}

int wan_tensor_list_add(struct wan_tensor_list *l, const char *name,
			const uint64_t *shape, uint32_t ndim)
{
	struct wan_tensor *t;

	if (ndim > WAN_TENSOR_MAXDIM)
		return wan_err(WAN_EINVAL, "tensor '%s' has %u dimensions, more than %d",
			       name, ndim, WAN_TENSOR_MAXDIM);
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		struct wan_tensor *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return wan_err(WAN_ENOMEM, "out of memory listing tensors");
		l->v = nv;
		l->cap = nc;
	}
	t = &l->v[l->n];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	if (!t->name)
		return wan_err(WAN_ENOMEM, "out of memory listing tensors");
	t->ndim = ndim;
	if (ndim)
		memcpy(t->shape, shape, ndim * sizeof(*shape));
	l->n++;
	return 0;
}

static int list_add_open(struct wan_tensor_list *l, const char *prefix)
{
	char **nv = realloc(l->open_prefixes, (l->nopen + 1) * sizeof(*nv));

	if (!nv)
		return wan_err(WAN_ENOMEM, "out of memory");
	l->open_prefixes = nv;
	nv[l->nopen] = strdup(prefix);
	if (!nv[l->nopen])
		return wan_err(WAN_ENOMEM, "out of memory");
	l->nopen++;
	return 0;
}

uint64_t wan_tensor_numel(const struct wan_tensor *t)
{
	uint64_t n = 1;

	for (uint32_t i = 0; i < t->ndim; i++)
		if (__builtin_mul_overflow(n, t->shape[i], &n))
			return 0;
	return n;
}

uint64_t wan_tensor_list_numel(const struct wan_tensor_list *l)
{
	uint64_t s = 0;

	for (size_t i = 0; i < l->n; i++)
		if (__builtin_add_overflow(s, wan_tensor_numel(&l->v[i]), &s))
			return UINT64_MAX;
	return s;
}

/* ---- derivation ------------------------------------------------------------ */

struct gen {
	struct wan_tensor_list *l;
	int err;
};

static void gadd(struct gen *g, const char *name, uint32_t ndim, uint64_t a,
		 uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	uint64_t shape[5] = { a, b, c, d, e };

	if (!g->err)
		g->err = wan_tensor_list_add(g->l, name, shape, ndim);
}

static void gaddf(struct gen *g, uint32_t ndim, uint64_t a, uint64_t b,
		  uint64_t c, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void gaddf(struct gen *g, uint32_t ndim, uint64_t a, uint64_t b,
		  uint64_t c, const char *fmt, ...)
{
	char name[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	gadd(g, name, ndim, a, b, c, 0, 0);
}

/* nn.Linear(in, out): weight [out, in], bias [out]. */
static void linear(struct gen *g, const char *prefix, uint64_t out, uint64_t in)
{
	gaddf(g, 2, out, in, 0, "%s.weight", prefix);
	gaddf(g, 1, out, 0, 0, "%s.bias", prefix);
}

static void conv3d(struct gen *g, const char *prefix, uint64_t out, uint64_t in)
{
	char name[256];

	snprintf(name, sizeof(name), "%s.weight", prefix);
	gadd(g, name, 5, out, in, 1, 2, 2);
	gaddf(g, 1, out, 0, 0, "%s.bias", prefix);
}

static void attn(struct gen *g, const char *p, uint64_t dim, bool img)
{
	char q[256];
	static const char *const qkvo[] = { "q", "k", "v", "o" };

	for (size_t i = 0; i < 4; i++) {
		snprintf(q, sizeof(q), "%s.%s", p, qkvo[i]);
		linear(g, q, dim, dim);
	}
	gaddf(g, 1, dim, 0, 0, "%s.norm_q.weight", p);
	gaddf(g, 1, dim, 0, 0, "%s.norm_k.weight", p);
	if (img) {
		snprintf(q, sizeof(q), "%s.k_img", p);
		linear(g, q, dim, dim);
		snprintf(q, sizeof(q), "%s.v_img", p);
		linear(g, q, dim, dim);
		gaddf(g, 1, dim, 0, 0, "%s.norm_k_img.weight", p);
	}
}

/* WanAttentionBlock (qk_norm and cross_attn_norm are always True). */
static void block(struct gen *g, const char *p, uint64_t dim, uint64_t ffn,
		  bool img)
{
	char q[256];

	snprintf(q, sizeof(q), "%s.self_attn", p);
	attn(g, q, dim, false);
	snprintf(q, sizeof(q), "%s.cross_attn", p);
	attn(g, q, dim, img);
	gaddf(g, 1, dim, 0, 0, "%s.norm3.weight", p);
	gaddf(g, 1, dim, 0, 0, "%s.norm3.bias", p);
	snprintf(q, sizeof(q), "%s.ffn.0", p);
	linear(g, q, ffn, dim);
	snprintf(q, sizeof(q), "%s.ffn.2", p);
	linear(g, q, dim, ffn);
	gaddf(g, 3, 1, 6, dim, "%s.modulation", p);
}

static int cfg_uint(const json_t *c, const char *key, bool required,
		    uint64_t def, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(c, key);

	if (!v) {
		if (required)
			return wan_err(WAN_EINVAL, "config.json: key '%s' is missing", key);
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return wan_err(WAN_EINVAL,
			       "config.json: key '%s': expected an integer from 1 to %llu",
			       key, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int wan_arch_expected(const json_t *config, unsigned flags,
		      struct wan_tensor_list **out)
{
	uint64_t dim = 0, ffn = 0, heads = 1, layers = 0, in_dim = 0, out_dim = 0;
	uint64_t freq = 0;
	uint64_t vace_in = 0, cond_dim = 0;
	size_t nvace = 0;
	const char *mt, *cls, *ver;
	bool img = false, flf = false, vace = false, s2v = false, animate = false;
	struct gen g = { NULL, 0 };
	char p[64];
	int err;

	*out = NULL;
	if (!json_is_object(config))
		return wan_err(WAN_EINVAL, "config.json: expected a JSON object");
	if ((err = cfg_uint(config, "dim", true, 0, 1u << 20, &dim)) < 0 ||
	    (err = cfg_uint(config, "ffn_dim", true, 0, 1u << 22, &ffn)) < 0 ||
	    (err = cfg_uint(config, "num_heads", true, 0, 4096, &heads)) < 0 ||
	    (err = cfg_uint(config, "num_layers", true, 0, 4096, &layers)) < 0 ||
	    (err = cfg_uint(config, "in_dim", false, 16, 1u << 16, &in_dim)) < 0 ||
	    (err = cfg_uint(config, "out_dim", false, 16, 1u << 16, &out_dim)) < 0 ||
	    (err = cfg_uint(config, "freq_dim", false, 256, 1u << 16, &freq)) < 0)
		return err;
	if (dim % heads)
		return wan_err(WAN_EINVAL, "config.json: key 'dim': %llu is not a multiple of num_heads %llu",
			       (unsigned long long)dim, (unsigned long long)heads);
	mt = json_string_value(json_object_get(config, "model_type"));
	cls = json_string_value(json_object_get(config, "_class_name"));
	ver = json_string_value(json_object_get(config, "_diffusers_version"));
	if (cls && !strcmp(cls, "WanAnimateModel"))
		mt = "animate";
	if (!mt)
		mt = "t2v";
	if (!strcmp(mt, "t2v") || !strcmp(mt, "ti2v")) {
		/* plain */
	} else if (!strcmp(mt, "i2v")) {
		if (flags & WAN_ARCH_WAN21)
			img = true;
		else if (flags & WAN_ARCH_WAN22)
			img = false;
		else
			img = ver && !strncmp(ver, "0.30", 4);
	} else if (!strcmp(mt, "flf2v")) {
		img = flf = true;
	} else if (!strcmp(mt, "vace")) {
		json_t *vl = json_object_get(config, "vace_layers");

		vace = true;
		if (vl && !json_is_null(vl)) {
			size_t i;
			json_t *e;

			if (!json_is_array(vl) || json_array_size(vl) > WAN_MAX_VACE_LAYERS)
				return wan_err(WAN_EINVAL, "config.json: key 'vace_layers': expected an array of at most %d layer numbers",
					       WAN_MAX_VACE_LAYERS);
			json_array_foreach(vl, i, e) {
				if (!json_is_integer(e) || json_integer_value(e) < 0 ||
				    (uint64_t)json_integer_value(e) >= layers)
					return wan_err(WAN_EINVAL, "config.json: key 'vace_layers[%zu]': expected a layer number below num_layers %llu",
						       i, (unsigned long long)layers);
				nvace++;
			}
		} else {
			for (uint64_t i = 0; i < layers && nvace < WAN_MAX_VACE_LAYERS; i += 2)
				nvace++;
		}
		if (json_object_get(config, "vace_in_dim") &&
		    !json_is_null(json_object_get(config, "vace_in_dim"))) {
			if ((err = cfg_uint(config, "vace_in_dim", true, 0, 1u << 16, &vace_in)) < 0)
				return err;
		} else {
			vace_in = in_dim;
		}
	} else if (!strcmp(mt, "s2v")) {
		s2v = true;
		if ((err = cfg_uint(config, "cond_dim", false, 16, 1u << 16, &cond_dim)) < 0)
			return err;
	} else if (!strcmp(mt, "animate")) {
		json_t *u = json_object_get(config, "use_img_emb");

		animate = true;
		img = !u || json_is_true(u);
	} else {
		return wan_err(WAN_EINVAL, "config.json: key 'model_type': unknown value '%s' (t2v, i2v, ti2v, s2v, flf2v, vace)",
			       mt);
	}

	g.l = wan_tensor_list_new();
	if (!g.l)
		return wan_err(WAN_ENOMEM, "out of memory");
	conv3d(&g, "patch_embedding", dim, in_dim);
	if (animate)
		conv3d(&g, "pose_patch_embedding", dim, 16);
	linear(&g, "text_embedding.0", dim, TEXT_DIM);
	linear(&g, "text_embedding.2", dim, dim);
	linear(&g, "time_embedding.0", dim, freq);
	linear(&g, "time_embedding.2", dim, dim);
	linear(&g, "time_projection.1", 6 * dim, dim);
	for (uint64_t i = 0; i < layers; i++) {
		snprintf(p, sizeof(p), "blocks.%llu", (unsigned long long)i);
		block(&g, p, dim, ffn, img);
	}
	linear(&g, "head.head", 4 * out_dim, dim);
	gadd(&g, "head.modulation", 3, 1, 2, dim, 0, 0);
	if (img) {
		gadd(&g, "img_emb.proj.0.weight", 1, CLIP_DIM, 0, 0, 0, 0);
		gadd(&g, "img_emb.proj.0.bias", 1, CLIP_DIM, 0, 0, 0, 0);
		linear(&g, "img_emb.proj.1", CLIP_DIM, CLIP_DIM);
		linear(&g, "img_emb.proj.3", dim, CLIP_DIM);
		gadd(&g, "img_emb.proj.4.weight", 1, dim, 0, 0, 0, 0);
		gadd(&g, "img_emb.proj.4.bias", 1, dim, 0, 0, 0, 0);
		if (flf)
			gadd(&g, "img_emb.emb_pos", 3, 1, FLF_TOKENS, CLIP_DIM, 0, 0);
	}
	if (vace) {
		for (size_t j = 0; j < nvace; j++) {
			snprintf(p, sizeof(p), "vace_blocks.%zu", j);
			block(&g, p, dim, ffn, false);
			if (j == 0) {
				snprintf(p, sizeof(p), "vace_blocks.%zu.before_proj", j);
				linear(&g, p, dim, dim);
			}
			snprintf(p, sizeof(p), "vace_blocks.%zu.after_proj", j);
			linear(&g, p, dim, dim);
		}
		conv3d(&g, "vace_patch_embedding", dim, vace_in);
	}
	if (s2v) {
		/* Derived: cond_encoder (Conv3d cond_dim->dim) and
		 * trainable_cond_mask (Embedding(3, dim)); the audio modules
		 * are not derived (open prefixes). */
		conv3d(&g, "cond_encoder", dim, cond_dim);
		gadd(&g, "trainable_cond_mask.weight", 2, 3, dim, 0, 0, 0);
		if (!g.err)
			g.err = list_add_open(g.l, "casual_audio_encoder.");
		if (!g.err)
			g.err = list_add_open(g.l, "audio_injector.");
		if (!g.err)
			g.err = list_add_open(g.l, "frame_packer.");
	}
	if (animate) {
		if (!g.err)
			g.err = list_add_open(g.l, "motion_encoder.");
		if (!g.err)
			g.err = list_add_open(g.l, "face_adapter.");
		if (!g.err)
			g.err = list_add_open(g.l, "face_encoder.");
	}
	if (g.err) {
		wan_tensor_list_free(g.l);
		return g.err;
	}
	*out = g.l;
	return 0;
}

unsigned wan_arch_flags_for(const struct wan_spec *s)
{
	if (!s || !s->version)
		return 0;
	if (!strcmp(s->version, "2.1"))
		return WAN_ARCH_WAN21;
	if (!strcmp(s->version, "2.2"))
		return WAN_ARCH_WAN22;
	return 0;
}

json_t *wan_arch_config_json(const struct wan_arch *a)
{
	json_t *o;

	if (!a->dim)
		return json_null();
	o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "_class_name",
			    json_string(a->class_name ? a->class_name : "WanModel"));
	json_object_set_new(o, "_diffusers_version",
			    json_string(a->diffusers_version ? a->diffusers_version : "0.33.0"));
	json_object_set_new(o, "dim", json_integer(a->dim));
	json_object_set_new(o, "eps", json_real(1e-6));
	json_object_set_new(o, "ffn_dim", json_integer(a->ffn_dim));
	json_object_set_new(o, "freq_dim", json_integer(a->freq_dim ? a->freq_dim : 256));
	json_object_set_new(o, "in_dim", json_integer(a->in_dim));
	if (strcmp(a->model_type, "animate"))
		json_object_set_new(o, "model_type", json_string(a->model_type));
	json_object_set_new(o, "num_heads", json_integer(a->num_heads));
	json_object_set_new(o, "num_layers", json_integer(a->num_layers));
	json_object_set_new(o, "out_dim", json_integer(a->out_dim));
	json_object_set_new(o, "text_len", json_integer(a->text_len ? a->text_len : 512));
	if (!strcmp(a->model_type, "vace")) {
		json_t *vl = json_array();

		for (uint32_t i = 0; i < a->nvace_layers; i++)
			json_array_append_new(vl, json_integer(a->vace_layers[i]));
		json_object_set_new(o, "vace_layers", vl);
		json_object_set_new(o, "vace_in_dim", json_integer(a->vace_in_dim));
	}
	if (!strcmp(a->model_type, "s2v"))
		json_object_set_new(o, "cond_dim", json_integer(a->cond_dim ? a->cond_dim : 16));
	if (!strcmp(a->model_type, "animate"))
		json_object_set_new(o, "motion_encoder_dim", json_integer(512));
	return o;
}

/* ---- comparison --------------------------------------------------------------- */

static int cmp_tensor_ptr(const void *a, const void *b)
{
	const struct wan_tensor *x = *(const struct wan_tensor *const *)a;
	const struct wan_tensor *y = *(const struct wan_tensor *const *)b;

	return strcmp(x->name, y->name);
}

static const struct wan_tensor **sorted(const struct wan_tensor_list *l)
{
	const struct wan_tensor **v = malloc((l->n ? l->n : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		v[i] = &l->v[i];
	qsort(v, l->n, sizeof(*v), cmp_tensor_ptr);
	return v;
}

static bool is_open(const struct wan_tensor_list *l, const char *name)
{
	for (size_t i = 0; i < l->nopen; i++)
		if (!strncmp(name, l->open_prefixes[i], strlen(l->open_prefixes[i])))
			return true;
	return false;
}

static json_t *shape_json(const struct wan_tensor *t)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < t->ndim; i++)
		json_array_append_new(a, json_integer((json_int_t)t->shape[i]));
	return a;
}

static void shape_str(char *dst, size_t size, const struct wan_tensor *t)
{
	size_t o = 0;

	o += (size_t)snprintf(dst + o, size - o, "[");
	for (uint32_t i = 0; i < t->ndim && o < size; i++)
		o += (size_t)snprintf(dst + o, size - o, "%s%llu", i ? ", " : "",
				      (unsigned long long)t->shape[i]);
	if (o < size)
		snprintf(dst + o, size - o, "]");
}

/* "blocks.12." prefix of name -> block number, else -1. */
static long block_of(const char *name, const char *prefix)
{
	size_t l = strlen(prefix);
	char *end;
	long v;

	if (strncmp(name, prefix, l) || name[l] < '0' || name[l] > '9')
		return -1;
	v = strtol(name + l, &end, 10);
	return *end == '.' ? v : -1;
}

#define LIST_MAX 20

int wan_arch_compare(const struct wan_tensor_list *exp,
		     const struct wan_tensor_list *act, struct wan_report *rep,
		     const char *model, const char *where)
{
	const struct wan_tensor **e = NULL, **a = NULL;
	json_t *missing = NULL, *unexpected = NULL, *shapes = NULL, *blocks = NULL;
	json_t *details = NULL;
	size_t nmiss = 0, nunexp = 0, nshape = 0, i = 0, j = 0, nopen = 0;
	struct buf msg = BUF_INIT;
	const char *loc = (where && *where) ? where : ".";
	bool img_found = false, first_shape_patch = false;
	char es[128], as[128];
	long nblocks_exp = 0;
	int err = 0;

	e = sorted(exp);
	a = sorted(act);
	missing = json_array();
	unexpected = json_array();
	shapes = json_array();
	blocks = json_array();
	if (!e || !a || !missing || !unexpected || !shapes || !blocks) {
		err = wan_err(WAN_ENOMEM, "out of memory comparing tensors");
		goto out;
	}
	for (size_t k = 0; k < exp->n; k++) {
		long b = block_of(exp->v[k].name, "blocks.");

		if (b + 1 > nblocks_exp)
			nblocks_exp = b + 1;
	}
	/* Whole blocks missing: every expected blocks.N.* absent. */
	for (long b = 0; b < nblocks_exp; b++) {
		bool any = false;

		for (size_t k = 0; k < act->n && !any; k++)
			any = block_of(act->v[k].name, "blocks.") == b;
		if (!any)
			json_array_append_new(blocks, json_integer(b));
	}
	while (i < exp->n || j < act->n) {
		int c = i >= exp->n ? 1 : j >= act->n ? -1 :
			strcmp(e[i]->name, a[j]->name);

		if (c < 0) {
			if (nmiss++ < LIST_MAX)
				json_array_append_new(missing, json_string(e[i]->name));
			i++;
		} else if (c > 0) {
			if (is_open(exp, a[j]->name)) {
				nopen++;
			} else {
				if (strstr(a[j]->name, "k_img") || strstr(a[j]->name, "img_emb."))
					img_found = true;
				if (nunexp++ < LIST_MAX)
					json_array_append_new(unexpected, json_string(a[j]->name));
			}
			j++;
		} else {
			bool same = e[i]->ndim == a[j]->ndim &&
				!memcmp(e[i]->shape, a[j]->shape,
					e[i]->ndim * sizeof(e[i]->shape[0]));

			if (!same) {
				if (!nshape && !strcmp(e[i]->name, "patch_embedding.weight"))
					first_shape_patch = true;
				if (nshape++ < LIST_MAX)
					json_array_append_new(shapes,
						json_pack("{s:s, s:o, s:o}", "name", e[i]->name,
							  "expected", shape_json(e[i]),
							  "actual", shape_json(a[j])));
				if (nshape == 1) {
					shape_str(es, sizeof(es), e[i]);
					shape_str(as, sizeof(as), a[j]);
				}
			}
			i++;
			j++;
		}
	}
	details = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
			    "where", loc, "expected_tensors", (json_int_t)exp->n,
			    "actual_tensors", (json_int_t)act->n,
			    "missing_count", (json_int_t)nmiss,
			    "unexpected_count", (json_int_t)nunexp,
			    "shape_mismatch_count", (json_int_t)nshape,
			    "missing", missing, "unexpected", unexpected,
			    "shape_mismatch", shapes, "missing_blocks", blocks);
	missing = unexpected = shapes = blocks = NULL;
	if (!details) {
		err = wan_err(WAN_ENOMEM, "out of memory comparing tensors");
		goto out;
	}
	if (nopen)
		json_object_set_new(details, "unchecked_tensors", json_integer((json_int_t)nopen));
	if (!nmiss && !nunexp && !nshape) {
		err = wan_report_add(rep, "staging.architecture", model, WAN_CHECK_PASS,
				     details, "%s: %zu tensors match config.json%s",
				     loc, exp->n, nopen ? " (plus modules not derived by the catalog)" : "");
		details = NULL;
		goto out;
	}
	buf_printf(&msg, "%s: tensors do not match config.json:", loc);
	{
		json_t *mb = json_object_get(details, "missing_blocks");

		if (json_array_size(mb) == 1)
			buf_printf(&msg, " block %lld missing entirely;",
				   (long long)json_integer_value(json_array_get(mb, 0)));
		else if (json_array_size(mb) > 1)
			buf_printf(&msg, " %zu blocks missing entirely (first blocks.%lld);",
				   json_array_size(mb),
				   (long long)json_integer_value(json_array_get(mb, 0)));
	}
	if (nmiss)
		buf_printf(&msg, " %zu missing (first '%s');", nmiss,
			   json_string_value(json_array_get(json_object_get(details, "missing"), 0)));
	if (nunexp)
		buf_printf(&msg, " %zu unexpected (first '%s');", nunexp,
			   json_string_value(json_array_get(json_object_get(details, "unexpected"), 0)));
	if (nshape)
		buf_printf(&msg, " %zu with the wrong shape (first '%s': expected %s, found %s);",
			   nshape,
			   json_string_value(json_object_get(json_array_get(
				   json_object_get(details, "shape_mismatch"), 0), "name")),
			   es, as);
	if (msg.len && msg.p[msg.len - 1] == ';')
		msg.p[--msg.len] = '\0';
	if (img_found || first_shape_patch) {
		const char *hint = img_found ?
			"image-to-video weights (k_img/img_emb) in a folder whose config.json says otherwise" :
			"patch_embedding input channels differ: weights of another model type (t2v 16, i2v 36, ti2v 48)";

		buf_printf(&msg, "; looks like %s", hint);
		json_object_set_new(details, "hint", json_string(hint));
	}
	err = wan_report_add(rep, "staging.architecture", model, WAN_CHECK_FAIL,
			     details, "%s", buf_str(&msg));
	details = NULL;
	if (!err)
		err = WAN_ECHECK;
out:
	buf_release(&msg);
	json_decref(details);
	json_decref(missing);
	json_decref(unexpected);
	json_decref(shapes);
	json_decref(blocks);
	free(e);
	free(a);
	return err;
}
