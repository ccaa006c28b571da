#ifndef WANCTL_CATALOG_H
#define WANCTL_CATALOG_H
/*
 * The model catalog: what a Wan checkpoint folder must hold, and the
 * architecture rules that tie its config.json to tensor names and shapes.
 *
 * Facts come from ../shared/reference/wan-models.md (Wan-Video/Wan2.1 and
 * Wan2.2 code and READMEs, Hugging Face pages); each figure in catalog.c
 * names its source. Built-in specs are static; user specs are loaded from
 * JSON files (validation.spec_paths) and live until
 * wan_catalog_unload_user(). Not thread-safe while user specs are loaded.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct wan_report;

enum wan_spec_kind {
	WAN_SPEC_WAN,        /* original-format Wan checkpoint (generate.py) */
	WAN_SPEC_DIFFUSERS,  /* a *-Diffusers repo (model_index.json) */
	WAN_SPEC_GENERIC,    /* any folder of safetensors (+ index) files */
};

enum wan_spec_file_flags {
	WAN_SF_DIR = 1 << 0,        /* a folder that must exist, not be empty */
	WAN_SF_OPTIONAL = 1 << 1,   /* checked when present, never required */
	WAN_SF_PTH = 1 << 2,        /* torch.save zip archive */
	WAN_SF_SAFETENSORS = 1 << 3,
	WAN_SF_JSON = 1 << 4,
	WAN_SF_ONNX = 1 << 5,
	WAN_SF_TOKENIZER = 1 << 6,  /* tokenizer file (json/spiece model) */
};

/* A required (or optional) file or folder, relative to the model folder.
 * DiT files (config.json, index, shards) are not listed here: see
 * wan_spec_files(). */
struct wan_spec_file {
	const char *path;
	unsigned flags;             /* enum wan_spec_file_flags */
	uint64_t size;              /* published exact size, 0: unknown */
	const char *sha256;         /* published sha256 (LFS oid), NULL: unknown */
};

/* Shard count of a DiT folder. */
#define WAN_SHARDS_SINGLE 0u        /* one diffusion_pytorch_model.safetensors */
#define WAN_SHARDS_ANY UINT32_MAX   /* a complete -NNNNN-of-MMMMM series */

/* A folder holding one DiT (config.json + safetensors). */
struct wan_dit {
	const char *folder;         /* "" (model root) or "high_noise_model" */
	uint32_t shards;            /* count, WAN_SHARDS_SINGLE or _ANY */
};

#define WAN_MAX_VACE_LAYERS 64

/* Architecture of the DiT as written to config.json (WanModel keys). */
struct wan_arch {
	const char *class_name;     /* "WanModel", "WanAnimateModel", ... */
	const char *diffusers_version; /* "0.30.0" (2.1) or "0.33.0" (2.2) */
	const char *model_type;     /* t2v i2v ti2v s2v flf2v vace animate */
	uint32_t dim, ffn_dim, num_heads, num_layers, in_dim, out_dim;
	uint32_t freq_dim, text_len;
	uint32_t vace_in_dim;       /* vace only */
	uint32_t nvace_layers;
	uint32_t vace_layers[WAN_MAX_VACE_LAYERS];
	uint32_t cond_dim;          /* s2v only */
	bool img_cross;             /* 2.1 i2v/flf2v, animate: k_img + img_emb */
};

struct wan_spec {
	const char *name;           /* "t2v-A14B": the generate.py task id */
	const char *version;        /* "2.1", "2.2", or free text for user specs */
	const char *task;           /* "text-to-video" ... */
	const char *repo;           /* "Wan-AI/Wan2.2-T2V-A14B" */
	const char *description;
	enum wan_spec_kind kind;
	const struct wan_spec_file *files;
	size_t nfiles;
	const struct wan_dit *dits;
	size_t ndits;
	struct wan_arch arch;       /* real dims (fixtures scale them down) */
	uint64_t approx_bytes;      /* whole folder, decimal bytes */
	const char *size_source;    /* where approx_bytes comes from */
	double gpu_memory_gb;       /* single-GPU need; 0: unknown */
	const char *gpu_memory_source;
	const char *sizes;          /* generate.py --size choices, space separated */
	const char *default_size;
	/* Smoke command template: {ckpt_dir} {size} {output} {model} are
	 * filled in by validation. NULL: none known. */
	const char *smoke_template;
	const char *source;         /* NULL: built in; else the user spec file */
};

/* The built-in spec or loaded user spec named name, or NULL. */
const struct wan_spec *wan_catalog_find(const char *name);
/* Number of specs (built-in first, then user specs) and the i-th one. */
size_t wan_catalog_count(void);
const struct wan_spec *wan_catalog_at(size_t i);
/* The spec name closest to name (edit distance <= 3), or NULL. */
const char *wan_catalog_suggest(const char *name);

/*
 * Load every *.json file of the given folders as a user spec (sorted by
 * file name). A folder that does not exist is an error. Each file holds one
 * object:
 *   {"name": "my-t2v", "base": "t2v-14B",            base optional
 *    "version": "...", "task": "...", "repo": "...", "description": "...",
 *    "files": ["a.pth", "tok/", {"path": "b.pth", "size": 1, "sha256": "..",
 *              "optional": true}],
 *    "dits": [{"folder": "", "shards": 6}],          shards 0: single file
 *    "approx_size_bytes": 1, "gpu_memory_gb": 24, "sizes": ["832*480"],
 *    "smoke_command": "python generate.py ... {ckpt_dir} ... {output}"}
 * Without "base", the spec is generic safetensors unless "dits" is given.
 * Limits: 1 MiB per file, 4096 files per spec, 64 DiT folders, 256 spec
 * files. Duplicate keys, unknown keys, wrong types, unsafe paths and a
 * name already taken are errors (WAN_ECONFIG) naming the file and the key.
 * Replaces previously loaded user specs only on success.
 */
int wan_catalog_load_user(const char *const *dirs, size_t n);
void wan_catalog_unload_user(void);

/*
 * Every file a spec requires, DiT files expanded: for each DiT folder
 * config.json, and either diffusion_pytorch_model.safetensors or the index
 * plus its N shards (WAN_SHARDS_ANY: the index only). *out is a malloc'd
 * array of malloc'd paths (free with wan_spec_files_free). Flags as above.
 */
struct wan_spec_path {
	char *path;
	unsigned flags;
	uint64_t size;
	const char *sha256;
};
int wan_spec_files(const struct wan_spec *s, struct wan_spec_path **out,
		   size_t *n);
void wan_spec_files_free(struct wan_spec_path *v, size_t n);

/* The spec as JSON (new reference; NULL on ENOMEM). */
json_t *wan_spec_json(const struct wan_spec *s);
const char *wan_spec_kind_name(enum wan_spec_kind k);

/*
 * Guess the spec of a model folder from its layout: model_index.json ->
 * "diffusers"; high/low_noise_model/config.json -> t2v-A14B or i2v-A14B;
 * a root config.json by _class_name/model_type/dim and shard layout; else
 * any safetensors file -> "safetensors". WAN_ENOTFOUND when nothing fits.
 */
int wan_catalog_detect(const char *dir, const struct wan_spec **out);

/* ---- architecture ------------------------------------------------------ */

#define WAN_TENSOR_MAXDIM 8

struct wan_tensor {
	char *name;
	uint32_t ndim;
	uint64_t shape[WAN_TENSOR_MAXDIM];
};

/* A list of tensor names and shapes. open_prefixes: name prefixes whose
 * tensors the catalog does not derive (e.g. animate's motion_encoder.):
 * wan_arch_compare accepts anything under them. */
struct wan_tensor_list {
	struct wan_tensor *v;
	size_t n, cap;
	char **open_prefixes;
	size_t nopen;
};

struct wan_tensor_list *wan_tensor_list_new(void);
void wan_tensor_list_free(struct wan_tensor_list *l);
/* Append (name copied). WAN_EINVAL when ndim > WAN_TENSOR_MAXDIM. */
int wan_tensor_list_add(struct wan_tensor_list *l, const char *name,
			const uint64_t *shape, uint32_t ndim);
/* Number of elements of t (0 for an overflow, which cannot happen for
 * lists built by wan_arch_expected). */
uint64_t wan_tensor_numel(const struct wan_tensor *t);
/* Sum of elements over the list (saturating). */
uint64_t wan_tensor_list_numel(const struct wan_tensor_list *l);

/* Flags of wan_arch_expected. */
enum wan_arch_flags {
	WAN_ARCH_WAN21 = 1 << 0,  /* force Wan2.1 reading of model_type i2v */
	WAN_ARCH_WAN22 = 1 << 1,  /* force Wan2.2 (i2v without CLIP branch) */
};

/*
 * The tensor names and shapes a WanModel with this config.json has, in
 * module order (the naming of wan/modules/model.py: patch_embedding,
 * text_embedding.{0,2}, time_embedding.{0,2}, time_projection.1,
 * blocks.{i}.{self_attn,cross_attn}.{q,k,v,o}.{weight,bias} + norm_q/norm_k,
 * 2.1 i2v/flf2v cross_attn.{k_img,v_img}, norm_k_img, norm3, ffn.{0,2},
 * modulation, head.head, head.modulation, img_emb.proj.{0,1,3,4},
 * img_emb.emb_pos, vace_blocks.{j} + before_proj/after_proj,
 * vace_patch_embedding; s2v cond_encoder + trainable_cond_mask; animate
 * pose_patch_embedding). Model type "i2v" means Wan2.1 (with the CLIP
 * branch) when _diffusers_version starts with "0.30" or flags say
 * WAN_ARCH_WAN21, else Wan2.2. WAN_EINVAL names the config key at fault.
 */
int wan_arch_expected(const json_t *config, unsigned flags,
		      struct wan_tensor_list **out);
/* Flags for a spec: WAN_ARCH_WAN21 or WAN_ARCH_WAN22 by its version. */
unsigned wan_arch_flags_for(const struct wan_spec *s);

/* The config.json object of an architecture (new reference). */
json_t *wan_arch_config_json(const struct wan_arch *a);

/*
 * Compare the tensors found in a DiT folder (actual, all shards together)
 * with the expected list and add one check "staging.architecture" to rep
 * for model, naming where (e.g. "high_noise_model"): pass, or fail with
 * the missing tensors (and whole blocks), unexpected tensors and shape
 * mismatches in details, and a hint when the weights look like another
 * model type (i2v weights in a t2v folder). Returns 0 when they agree,
 * WAN_ECHECK when they do not (the check is added either way), WAN_ENOMEM.
 */
int wan_arch_compare(const struct wan_tensor_list *expected,
		     const struct wan_tensor_list *actual,
		     struct wan_report *rep, const char *model,
		     const char *where);

#endif
