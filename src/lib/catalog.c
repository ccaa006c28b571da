#include "util/common.h"
#include "util/buf.h"
#include "util/path.h"
#include "util/xio.h"
#include "wanctl/catalog.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Built-in specs. Sources (../shared/reference/wan-models.md):
 *  - file names, shard counts, sizes, hashes: §1, §2, §6 (HF pages, [V]/[V3]);
 *    animate-14B's 4 shards: DiffSynth-Studio scripts naming
 *    Wan2.2-Animate-14B/diffusion_pytorch_model-0000N-of-00004 [V3];
 *  - dims: §3 (wan/configs/ [V]); VACE layer lists [V3];
 *  - GPU memory: §5 README statements; figures marked [I] are inferences;
 *  - smoke templates: §5 README single-GPU lines + the smoke recipe.
 */

#define T5_PTH "models_t5_umt5-xxl-enc-bf16.pth"
#define CLIP_PTH "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"

#define F_T5 { T5_PTH, WAN_SF_PTH, 11361920418ull, \
	"7cace0da2b446bbbbc57d031ab6cf163a3d59b366da94e5afe36745b746fd81d" }
#define F_TOK \
	{ "google/umt5-xxl", WAN_SF_DIR, 0, NULL }, \
	{ "google/umt5-xxl/special_tokens_map.json", WAN_SF_JSON | WAN_SF_TOKENIZER, 0, NULL }, \
	{ "google/umt5-xxl/spiece.model", WAN_SF_TOKENIZER, 0, NULL }, \
	{ "google/umt5-xxl/tokenizer.json", WAN_SF_JSON | WAN_SF_TOKENIZER, 0, NULL }, \
	{ "google/umt5-xxl/tokenizer_config.json", WAN_SF_JSON | WAN_SF_TOKENIZER, 0, NULL }
#define F_VAE21 { "Wan2.1_VAE.pth", WAN_SF_PTH, 507609880ull, \
	"38071ab59bd94681c686fa51d75a1968f64e470262043be31f7a094e442fd981" }
#define F_VAE22 { "Wan2.2_VAE.pth", WAN_SF_PTH, 2818839170ull, \
	"20eb789667fa5e60e7516bf509512f6cb61f01b0aa0695eadaea930c13892b36" }
#define F_CLIP \
	{ CLIP_PTH, WAN_SF_PTH, 4772359047ull, \
	  "628c9998b613391f193eb67ff68da9667d75f492911e4eb3decf23460a158c38" }, \
	{ "xlm-roberta-large", WAN_SF_DIR, 0, NULL }
#define F_CONFIGURATION { "configuration.json", WAN_SF_JSON | WAN_SF_OPTIONAL, 0, NULL }

static const struct wan_spec_file files_base21[] = {
	F_T5, F_TOK, F_VAE21, F_CONFIGURATION,
};
static const struct wan_spec_file files_ti2v[] = {
	F_T5, F_TOK, F_VAE22, F_CONFIGURATION,
};
static const struct wan_spec_file files_clip[] = {
	F_T5, F_TOK, F_VAE21, F_CLIP, F_CONFIGURATION,
};
static const struct wan_spec_file files_s2v[] = {
	F_T5, F_TOK, F_VAE21,
	{ "wav2vec2-large-xlsr-53-english", WAN_SF_DIR, 0, NULL },
	{ "wav2vec2-large-xlsr-53-english/config.json", WAN_SF_JSON, 0, NULL },
	{ "wav2vec2-large-xlsr-53-english/model.safetensors", WAN_SF_SAFETENSORS, 0, NULL },
	F_CONFIGURATION,
};
static const struct wan_spec_file files_animate[] = {
	F_T5, F_TOK, F_VAE21, F_CLIP,
	{ "relighting_lora.ckpt", WAN_SF_PTH, 0, NULL },
	{ "process_checkpoint", WAN_SF_DIR, 0, NULL },
	{ "process_checkpoint/det/yolov10m.onnx", WAN_SF_ONNX, 0,
	  "89b526498a6d55f869a6ab52e3a2eb20ad45b3711c1f7de3dd9ca0b399dfd6d7" },
	{ "process_checkpoint/pose2d/vitpose_h_wholebody.onnx", WAN_SF_ONNX, 0, NULL },
	/* sam2 is needed in replace mode only */
	{ "process_checkpoint/sam2/sam2_hiera_large.pt", WAN_SF_PTH | WAN_SF_OPTIONAL, 0, NULL },
	F_CONFIGURATION,
};
static const struct wan_spec_file files_diffusers[] = {
	{ "model_index.json", WAN_SF_JSON, 0, NULL },
};

static const struct wan_dit dit_experts6[] = {
	{ "high_noise_model", 6 }, { "low_noise_model", 6 },
};
static const struct wan_dit dit_root3[] = { { "", 3 } };
static const struct wan_dit dit_root4[] = { { "", 4 } };
static const struct wan_dit dit_root6[] = { { "", 6 } };
static const struct wan_dit dit_root7[] = { { "", 7 } };
static const struct wan_dit dit_single[] = { { "", WAN_SHARDS_SINGLE } };

#define ARCH14(type, in, v) \
	.class_name = "WanModel", .diffusers_version = (v), \
	.model_type = (type), .dim = 5120, .ffn_dim = 13824, \
	.num_heads = 40, .num_layers = 40, .in_dim = (in), .out_dim = 16, \
	.freq_dim = 256, .text_len = 512
#define ARCH13(type) \
	.class_name = "WanModel", .diffusers_version = "0.30.0", \
	.model_type = (type), .dim = 1536, .ffn_dim = 8960, \
	.num_heads = 12, .num_layers = 30, .in_dim = 16, .out_dim = 16, \
	.freq_dim = 256, .text_len = 512

#define SMOKE_TAIL " --frame_num 5 --sample_steps 2 --base_seed 0 --save_file {output}"
#define P_CATS "\"Two anthropomorphic cats in comfy boxing gear and bright gloves fight intensely on a spotlighted stage.\""
#define SIZES14 "720*1280 1280*720 480*832 832*480"
#define SRC_80 "README: single-GPU command 'can run on a GPU with at least 80GB VRAM' (--offload_model True --convert_model_dtype)"
#define SRC_80_21 "inferred: same 14B DiT as the Wan2.2 experts, for which the README states 80 GB single-GPU; Wan2.1#205 reports OOM on 48 GB with offload"

static const struct wan_spec builtin[] = {
{
	.name = "t2v-A14B", .version = "2.2", .task = "text-to-video",
	.repo = "Wan-AI/Wan2.2-T2V-A14B",
	.description = "Wan2.2 MoE text-to-video, two 14B experts (high/low noise)",
	.kind = WAN_SPEC_WAN,
	.files = files_base21, .nfiles = ARRAY_SIZE(files_base21),
	.dits = dit_experts6, .ndits = 2,
	.arch = { ARCH14("t2v", 16, "0.33.0") },
	.approx_bytes = 126000000000ull,
	.size_source = "2 x 57.2 GB experts + T5 11.4 GB + VAE 0.5 GB (inferred)",
	.gpu_memory_gb = 80, .gpu_memory_source = SRC_80,
	.sizes = SIZES14, .default_size = "1280*720",
	.smoke_template = "python generate.py --task t2v-A14B --size {size} --ckpt_dir {ckpt_dir} --offload_model True --convert_model_dtype --prompt " P_CATS SMOKE_TAIL,
},
{
	.name = "i2v-A14B", .version = "2.2", .task = "image-to-video",
	.repo = "Wan-AI/Wan2.2-I2V-A14B",
	.description = "Wan2.2 MoE image-to-video, two 14B experts, no CLIP encoder",
	.kind = WAN_SPEC_WAN,
	.files = files_base21, .nfiles = ARRAY_SIZE(files_base21),
	.dits = dit_experts6, .ndits = 2,
	.arch = { ARCH14("i2v", 36, "0.33.0") },
	.approx_bytes = 126000000000ull,
	.size_source = "HF listing: 57.2 GB per expert + T5 + VAE",
	.gpu_memory_gb = 80, .gpu_memory_source = SRC_80,
	.sizes = SIZES14, .default_size = "1280*720",
	.smoke_template = "python generate.py --task i2v-A14B --size {size} --ckpt_dir {ckpt_dir} --offload_model True --convert_model_dtype --image examples/i2v_input.JPG --prompt \"Summer beach vacation style, a white cat wearing sunglasses sits on a surfboard.\"" SMOKE_TAIL,
},
{
	.name = "ti2v-5B", .version = "2.2", .task = "text/image-to-video",
	.repo = "Wan-AI/Wan2.2-TI2V-5B",
	.description = "Wan2.2 5B dense text+image-to-video at 720P/24fps, Wan2.2 VAE",
	.kind = WAN_SPEC_WAN,
	.files = files_ti2v, .nfiles = ARRAY_SIZE(files_ti2v),
	.dits = dit_root3, .ndits = 1,
	.arch = { .class_name = "WanModel", .diffusers_version = "0.33.0",
		  .model_type = "ti2v", .dim = 3072, .ffn_dim = 14336,
		  .num_heads = 24, .num_layers = 30, .in_dim = 48,
		  .out_dim = 48, .freq_dim = 256, .text_len = 512 },
	.approx_bytes = 34000000000ull,
	.size_source = "DiT index total_size 19,999,150,848 B + T5 + Wan2.2 VAE 2.8 GB",
	.gpu_memory_gb = 24,
	.gpu_memory_source = "README: 'at least 24GB VRAM (e.g, RTX 4090)' with --offload_model True --convert_model_dtype --t5_cpu",
	.sizes = "704*1280 1280*704", .default_size = "1280*704",
	.smoke_template = "python generate.py --task ti2v-5B --size {size} --ckpt_dir {ckpt_dir} --offload_model True --convert_model_dtype --t5_cpu --prompt " P_CATS SMOKE_TAIL,
},
{
	.name = "s2v-14B", .version = "2.2", .task = "speech-to-video",
	.repo = "Wan-AI/Wan2.2-S2V-14B",
	.description = "Wan2.2 14B audio-driven video, needs wav2vec2 for audio",
	.kind = WAN_SPEC_WAN,
	.files = files_s2v, .nfiles = ARRAY_SIZE(files_s2v),
	.dits = dit_root4, .ndits = 1,
	.arch = { .class_name = "WanModel_S2V", .diffusers_version = "0.33.0",
		  .model_type = "s2v", .dim = 5120, .ffn_dim = 13824,
		  .num_heads = 40, .num_layers = 40, .in_dim = 16,
		  .out_dim = 16, .freq_dim = 256, .text_len = 512,
		  .cond_dim = 16 },
	.approx_bytes = 48000000000ull,
	.size_source = "4 shards (shard 1 9.97 GB) + T5 + VAE + wav2vec2 (inferred 45-50 GB)",
	.gpu_memory_gb = 80, .gpu_memory_source = SRC_80,
	.sizes = SIZES14 " 1024*704 704*1024", .default_size = "1024*704",
	.smoke_template = "python generate.py --task s2v-14B --size {size} --ckpt_dir {ckpt_dir} --offload_model True --convert_model_dtype --prompt \"Summer beach vacation style, a white cat wearing sunglasses sits on a surfboard.\" --image examples/i2v_input.JPG --audio examples/talk.wav --num_clip 1" SMOKE_TAIL,
},
{
	.name = "animate-14B", .version = "2.2", .task = "character animation",
	.repo = "Wan-AI/Wan2.2-Animate-14B",
	.description = "Wan2.2 14B character animation/replacement; needs preprocessing checkpoints",
	.kind = WAN_SPEC_WAN,
	.files = files_animate, .nfiles = ARRAY_SIZE(files_animate),
	.dits = dit_root4, .ndits = 1,
	.arch = { .class_name = "WanAnimateModel", .diffusers_version = "0.33.0",
		  .model_type = "animate", .dim = 5120, .ffn_dim = 13824,
		  .num_heads = 40, .num_layers = 40, .in_dim = 36,
		  .out_dim = 16, .freq_dim = 256, .text_len = 512,
		  .img_cross = true },
	.approx_bytes = 56000000000ull,
	.size_source = "inferred: bf16 DiT ~35 GB + T5 11.4 + CLIP 4.8 + VAE 0.5 + process_checkpoint ~3 GB",
	.gpu_memory_gb = 80,
	.gpu_memory_source = "inferred: 14B DiT like the other Wan2.2 14B models (README: 80 GB single-GPU)",
	.sizes = "720*1280 1280*720", .default_size = "1280*720",
	/* README line; needs preprocessed inputs (preprocess_data.py). */
	.smoke_template = "python generate.py --task animate-14B --ckpt_dir {ckpt_dir} --src_root_path ./examples/wan_animate/animate/process_results/ --refert_num 1" SMOKE_TAIL,
},
{
	.name = "t2v-14B", .version = "2.1", .task = "text-to-video",
	.repo = "Wan-AI/Wan2.1-T2V-14B",
	.description = "Wan2.1 14B text-to-video (also used by t2i-14B)",
	.kind = WAN_SPEC_WAN,
	.files = files_base21, .nfiles = ARRAY_SIZE(files_base21),
	.dits = dit_root6, .ndits = 1,
	.arch = { ARCH14("t2v", 16, "0.30.0") },
	.approx_bytes = 69000000000ull,
	.size_source = "DiT 57.15 GB (fp32, 14.288 B params) + T5 + VAE (inferred; users report 77 GB repo)",
	.gpu_memory_gb = 80, .gpu_memory_source = SRC_80_21,
	.sizes = SIZES14, .default_size = "1280*720",
	.smoke_template = "python generate.py --task t2v-14B --size {size} --ckpt_dir {ckpt_dir} --prompt " P_CATS SMOKE_TAIL,
},
{
	.name = "t2v-1.3B", .version = "2.1", .task = "text-to-video",
	.repo = "Wan-AI/Wan2.1-T2V-1.3B",
	.description = "Wan2.1 1.3B text-to-video at 480P, consumer GPUs",
	.kind = WAN_SPEC_WAN,
	.files = files_base21, .nfiles = ARRAY_SIZE(files_base21),
	.dits = dit_single, .ndits = 1,
	.arch = { ARCH13("t2v") },
	.approx_bytes = 17600000000ull,
	.size_source = "DiT 5.68 GB single file + T5 11.4 GB + VAE 0.5 GB",
	.gpu_memory_gb = 8.19,
	.gpu_memory_source = "README: 'requires only 8.19 GB VRAM' (--offload_model True --t5_cpu)",
	.sizes = "480*832 832*480", .default_size = "832*480",
	.smoke_template = "python generate.py --task t2v-1.3B --size {size} --ckpt_dir {ckpt_dir} --offload_model True --t5_cpu --sample_shift 8 --sample_guide_scale 6 --prompt " P_CATS SMOKE_TAIL,
},
{
	.name = "i2v-14B", .version = "2.1", .task = "image-to-video",
	.repo = "Wan-AI/Wan2.1-I2V-14B-720P",
	.description = "Wan2.1 14B image-to-video (480P and 720P repos), CLIP encoder",
	.kind = WAN_SPEC_WAN,
	.files = files_clip, .nfiles = ARRAY_SIZE(files_clip),
	.dits = dit_root7, .ndits = 1,
	.arch = { ARCH14("i2v", 36, "0.30.0"), .img_cross = true },
	.approx_bytes = 82000000000ull,
	.size_source = "DiT 65.6 GB (fp32, 16.395 B params) + T5 + CLIP 4.8 GB + VAE (inferred)",
	.gpu_memory_gb = 80, .gpu_memory_source = SRC_80_21,
	.sizes = SIZES14, .default_size = "1280*720",
	.smoke_template = "python generate.py --task i2v-14B --size {size} --ckpt_dir {ckpt_dir} --image examples/i2v_input.JPG --prompt \"Summer beach vacation style, a white cat wearing sunglasses sits on a surfboard.\"" SMOKE_TAIL,
},
{
	.name = "flf2v-14B", .version = "2.1", .task = "first-last-frame-to-video",
	.repo = "Wan-AI/Wan2.1-FLF2V-14B-720P",
	.description = "Wan2.1 14B first/last frame to video, CLIP encoder",
	.kind = WAN_SPEC_WAN,
	.files = files_clip, .nfiles = ARRAY_SIZE(files_clip),
	.dits = dit_root7, .ndits = 1,
	.arch = { ARCH14("flf2v", 36, "0.30.0"), .img_cross = true },
	.approx_bytes = 82000000000ull,
	.size_source = "as i2v-14B plus img_emb.emb_pos (inferred)",
	.gpu_memory_gb = 80, .gpu_memory_source = SRC_80_21,
	.sizes = SIZES14, .default_size = "1280*720",
	.smoke_template = "python generate.py --task flf2v-14B --size {size} --ckpt_dir {ckpt_dir} --first_frame examples/flf2v_input_first_frame.png --last_frame examples/flf2v_input_last_frame.png --prompt \"CG animation style, a small blue bird takes off from the ground, flapping its wings.\"" SMOKE_TAIL,
},
{
	.name = "vace-14B", .version = "2.1", .task = "video creation and editing",
	.repo = "Wan-AI/Wan2.1-VACE-14B",
	.description = "Wan2.1 VACE 14B all-in-one video creation/editing",
	.kind = WAN_SPEC_WAN,
	.files = files_base21, .nfiles = ARRAY_SIZE(files_base21),
	.dits = dit_root7, .ndits = 1,
	.arch = { ARCH14("vace", 16, "0.30.0"), .vace_in_dim = 96,
		  .nvace_layers = 8,
		  .vace_layers = { 0, 5, 10, 15, 20, 25, 30, 35 } },
	.approx_bytes = 81000000000ull,
	.size_source = "DiT 69.35 GB (fp32, 17.34 B params) + T5 + VAE (inferred)",
	.gpu_memory_gb = 80, .gpu_memory_source = SRC_80_21,
	.sizes = SIZES14, .default_size = "1280*720",
	.smoke_template = "python generate.py --task vace-14B --size {size} --ckpt_dir {ckpt_dir} --src_ref_images examples/girl.png,examples/snake.png --prompt \"In an enchanted forest, a girl and a snake.\"" SMOKE_TAIL,
},
{
	.name = "vace-1.3B", .version = "2.1", .task = "video creation and editing",
	.repo = "Wan-AI/Wan2.1-VACE-1.3B",
	.description = "Wan2.1 VACE 1.3B all-in-one video creation/editing at 480P",
	.kind = WAN_SPEC_WAN,
	.files = files_base21, .nfiles = ARRAY_SIZE(files_base21),
	.dits = dit_single, .ndits = 1,
	.arch = { ARCH13("vace"), .vace_in_dim = 96, .nvace_layers = 15,
		  .vace_layers = { 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
				   22, 24, 26, 28 } },
	.approx_bytes = 20600000000ull,
	.size_source = "DiT 8.6 GB (fp32, 2.154 B params, inferred) + T5 + VAE",
	.gpu_memory_gb = 8.19,
	.gpu_memory_source = "inferred lower bound: the README's t2v-1.3B figure; VACE adds 0.7 B parameters",
	.sizes = "480*832 832*480", .default_size = "832*480",
	.smoke_template = "python generate.py --task vace-1.3B --size {size} --ckpt_dir {ckpt_dir} --src_ref_images examples/girl.png,examples/snake.png --prompt \"In an enchanted forest, a girl and a snake.\"" SMOKE_TAIL,
},
{
	.name = "diffusers", .version = "-", .task = "Diffusers pipeline",
	.repo = "Wan-AI/*-Diffusers",
	.description = "a *-Diffusers repo (model_index.json, transformer/, vae/...): loadable by diffusers, not by generate.py",
	.kind = WAN_SPEC_DIFFUSERS,
	.files = files_diffusers, .nfiles = ARRAY_SIZE(files_diffusers),
	.size_source = "-",
	.gpu_memory_source = "-",
},
{
	.name = "safetensors", .version = "-", .task = "generic checkpoint",
	.description = "any folder of safetensors files (+ *.safetensors.index.json); format checks only",
	.kind = WAN_SPEC_GENERIC,
	.size_source = "-",
	.gpu_memory_source = "-",
},
};

/* ---- user specs ---------------------------------------------------------- */

struct user_spec {
	struct wan_spec spec;
	struct wan_spec_file *files;
	struct wan_dit *dits;
	char **strings;           /* everything allocated for this spec */
	size_t nstrings;
};

static struct user_spec *user_specs;
static size_t nuser_specs;

static void user_spec_release(struct user_spec *u)
{
	for (size_t i = 0; i < u->nstrings; i++)
		free(u->strings[i]);
	free(u->strings);
	free(u->files);
	free(u->dits);
	memset(u, 0, sizeof(*u));
}

static void user_specs_free(struct user_spec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		user_spec_release(&v[i]);
	free(v);
}

void wan_catalog_unload_user(void)
{
	user_specs_free(user_specs, nuser_specs);
	user_specs = NULL;
	nuser_specs = 0;
}

size_t wan_catalog_count(void)
{
	return ARRAY_SIZE(builtin) + nuser_specs;
}

const struct wan_spec *wan_catalog_at(size_t i)
{
	if (i < ARRAY_SIZE(builtin))
		return &builtin[i];
	i -= ARRAY_SIZE(builtin);
	return i < nuser_specs ? &user_specs[i].spec : NULL;
}

const struct wan_spec *wan_catalog_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < wan_catalog_count(); i++) {
		const struct wan_spec *s = wan_catalog_at(i);

		if (!strcmp(s->name, name))
			return s;
	}
	return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] +
				(tolower((unsigned char)a[i - 1]) !=
				 tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? sub : del;
			if (ins < cur[j])
				cur[j] = ins;
		}
		memcpy(prev, cur, sizeof(size_t) * (lb + 1));
	}
	return prev[lb];
}

const char *wan_catalog_suggest(const char *name)
{
	const char *best = NULL;
	size_t bestd = 4;

	if (!name)
		return NULL;
	for (size_t i = 0; i < wan_catalog_count(); i++) {
		const struct wan_spec *s = wan_catalog_at(i);
		size_t d = edit_distance(name, s->name);

		if (d < bestd) {
			bestd = d;
			best = s->name;
		}
	}
	return best;
}

const char *wan_spec_kind_name(enum wan_spec_kind k)
{
	switch (k) {
	case WAN_SPEC_WAN:
		return "wan";
	case WAN_SPEC_DIFFUSERS:
		return "diffusers";
	case WAN_SPEC_GENERIC:
		return "safetensors";
	}
	return "?";
}

/* ---- expanded file lists --------------------------------------------------- */

static int files_push(struct wan_spec_path **v, size_t *n, size_t *cap,
		      const char *path, unsigned flags, uint64_t size,
		      const char *sha)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		struct wan_spec_path *nv = realloc(*v, nc * sizeof(**v));

		if (!nv)
			return wan_err(WAN_ENOMEM, "out of memory listing spec files");
		*v = nv;
		*cap = nc;
	}
	(*v)[*n].path = strdup(path);
	if (!(*v)[*n].path)
		return wan_err(WAN_ENOMEM, "out of memory listing spec files");
	(*v)[*n].flags = flags;
	(*v)[*n].size = size;
	(*v)[*n].sha256 = sha;
	(*n)++;
	return 0;
}

void wan_spec_files_free(struct wan_spec_path *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].path);
	free(v);
}

int wan_spec_files(const struct wan_spec *s, struct wan_spec_path **out,
		   size_t *nout)
{
	struct wan_spec_path *v = NULL;
	size_t n = 0, cap = 0;
	char p[WAN_PATH_MAX], name[128];
	int err = 0;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < s->nfiles && !err; i++)
		err = files_push(&v, &n, &cap, s->files[i].path,
				 s->files[i].flags, s->files[i].size,
				 s->files[i].sha256);
	for (size_t d = 0; d < s->ndits && !err; d++) {
		const struct wan_dit *dit = &s->dits[d];
		const char *f = dit->folder;

		if (*f)
			err = files_push(&v, &n, &cap, f, WAN_SF_DIR, 0, NULL);
		if (!err)
			err = path_join(p, sizeof(p), *f ? f : ".", "config.json");
		if (!err)
			err = files_push(&v, &n, &cap, *f ? p : "config.json",
					 WAN_SF_JSON, 0, NULL);
		if (err)
			break;
		if (dit->shards == WAN_SHARDS_SINGLE) {
			err = wan_snprintf(name, sizeof(name),
					   "diffusion_pytorch_model.safetensors");
		} else {
			err = wan_snprintf(name, sizeof(name),
					   "diffusion_pytorch_model.safetensors.index.json");
		}
		if (!err && *f)
			err = path_join(p, sizeof(p), f, name);
		if (!err)
			err = files_push(&v, &n, &cap, *f ? p : name,
					 dit->shards == WAN_SHARDS_SINGLE ?
					 WAN_SF_SAFETENSORS : WAN_SF_JSON, 0, NULL);
		if (dit->shards == WAN_SHARDS_SINGLE || dit->shards == WAN_SHARDS_ANY)
			continue;
		for (uint32_t k = 1; k <= dit->shards && !err; k++) {
			err = wan_snprintf(name, sizeof(name),
					   "diffusion_pytorch_model-%05u-of-%05u.safetensors",
					   k, dit->shards);
			if (!err && *f)
				err = path_join(p, sizeof(p), f, name);
			if (!err)
				err = files_push(&v, &n, &cap, *f ? p : name,
						 WAN_SF_SAFETENSORS, 0, NULL);
		}
	}
	if (err) {
		wan_spec_files_free(v, n);
		return err;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* ---- JSON ------------------------------------------------------------------ */

json_t *wan_spec_json(const struct wan_spec *s)
{
	json_t *o = json_object(), *files = json_array(), *dits = json_array();
	json_t *sizes = json_array();
	struct wan_spec_path *v = NULL;
	size_t n = 0;

	if (!o || !files || !dits || !sizes)
		goto fail;
	if (wan_spec_files(s, &v, &n) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		json_t *f = json_pack("{s:s, s:s, s:b}", "path", v[i].path,
				      "kind", (v[i].flags & WAN_SF_DIR) ? "dir" : "file",
				      "required", !(v[i].flags & WAN_SF_OPTIONAL));

		if (!f)
			goto fail;
		if (v[i].size)
			json_object_set_new(f, "size", json_integer((json_int_t)v[i].size));
		if (v[i].sha256)
			json_object_set_new(f, "sha256", json_string(v[i].sha256));
		json_array_append_new(files, f);
	}
	wan_spec_files_free(v, n);
	v = NULL;
	for (size_t d = 0; d < s->ndits; d++) {
		json_t *cfg = wan_arch_config_json(&s->arch);
		json_t *dj = json_pack("{s:s, s:o}", "folder", s->dits[d].folder,
				       "config", cfg ? cfg : json_null());

		if (!dj)
			goto fail;
		if (s->dits[d].shards == WAN_SHARDS_ANY)
			json_object_set_new(dj, "shards", json_string("any"));
		else
			json_object_set_new(dj, "shards", json_integer(s->dits[d].shards));
		json_array_append_new(dits, dj);
	}
	if (s->sizes) {
		const char *p = s->sizes;

		while (*p) {
			size_t l = strcspn(p, " ");

			if (l)
				json_array_append_new(sizes, json_stringn(p, l));
			p += l;
			while (*p == ' ')
				p++;
		}
	}
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "version", json_string(s->version ? s->version : ""));
	json_object_set_new(o, "task", json_string(s->task ? s->task : ""));
	json_object_set_new(o, "kind", json_string(wan_spec_kind_name(s->kind)));
	json_object_set_new(o, "repo", s->repo ? json_string(s->repo) : json_null());
	json_object_set_new(o, "description",
			    json_string(s->description ? s->description : ""));
	json_object_set_new(o, "approx_size_bytes",
			    json_integer((json_int_t)s->approx_bytes));
	json_object_set_new(o, "size_source",
			    s->size_source ? json_string(s->size_source) : json_null());
	json_object_set_new(o, "gpu_memory_gb",
			    s->gpu_memory_gb > 0 ? json_real(s->gpu_memory_gb) : json_null());
	json_object_set_new(o, "gpu_memory_source",
			    s->gpu_memory_source ? json_string(s->gpu_memory_source) : json_null());
	json_object_set_new(o, "sizes", sizes);
	sizes = NULL;
	json_object_set_new(o, "default_size",
			    s->default_size ? json_string(s->default_size) : json_null());
	json_object_set_new(o, "smoke_command",
			    s->smoke_template ? json_string(s->smoke_template) : json_null());
	json_object_set_new(o, "files", files);
	files = NULL;
	json_object_set_new(o, "dits", dits);
	dits = NULL;
	json_object_set_new(o, "source", s->source ? json_string(s->source) : json_null());
	return o;
fail:
	wan_spec_files_free(v, n);
	json_decref(o);
	json_decref(files);
	json_decref(dits);
	json_decref(sizes);
	return NULL;
}

/* ---- loading JSON files (bounded) ------------------------------------------- */

#define SPEC_FILE_MAX (1u << 20)
#define CONFIG_FILE_MAX (1u << 20)
#define USER_MAX_FILES 4096
#define USER_MAX_DITS 64
#define USER_MAX_SPECS 256

/* Read a small file whole (bounded by max) and parse it as JSON, rejecting
 * duplicate keys. */
static int load_json_file(const char *path, size_t max, json_t **out)
{
	struct stat st;
	char *data = NULL;
	json_error_t jerr;
	ssize_t got;
	int fd, err = 0;

	*out = NULL;
	fd = xopen(path, O_RDONLY, 0);
	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		err = wan_err_sys(0, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = wan_err(WAN_EINVAL, "cannot read '%s': not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = wan_err(WAN_EINVAL, "cannot read '%s': %lld bytes, more than the limit of %zu",
			      path, (long long)st.st_size, max);
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		err = wan_err(WAN_ENOMEM, "out of memory reading '%s'", path);
		goto out;
	}
	got = xread(fd, data, (size_t)st.st_size + 1);
	if (got < 0) {
		err = wan_err_sys(0, "cannot read '%s'", path);
		goto out;
	}
	if ((size_t)got > (size_t)st.st_size) {
		err = wan_err(WAN_EINVAL, "cannot read '%s': file grew while reading", path);
		goto out;
	}
	*out = json_loadb(data, (size_t)got, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		err = wan_err(WAN_EINVAL, "cannot parse '%s': line %d column %d: %s",
			      path, jerr.line, jerr.column, jerr.text);
out:
	free(data);
	xclose(fd);
	return err;
}

static char *user_str(struct user_spec *u, const char *s)
{
	char *c, **nv;

	if (!s)
		return NULL;
	nv = realloc(u->strings, (u->nstrings + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	u->strings = nv;
	c = strdup(s);
	if (c)
		u->strings[u->nstrings++] = c;
	return c;
}

#define UERR(...) wan_err(WAN_ECONFIG, __VA_ARGS__)

static int user_get_string(struct user_spec *u, const char *file, json_t *o,
			   const char *key, const char **dst)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return UERR("spec file '%s': key '%s': expected a string", file, key);
	*dst = user_str(u, json_string_value(v));
	return *dst ? 0 : wan_err(WAN_ENOMEM, "out of memory loading '%s'", file);
}

static int user_check_path(const char *file, const char *key, const char *p)
{
	if (path_check_relative(p) < 0)
		return UERR("spec file '%s': key '%s': unsafe path '%s' (must be relative, no '..')",
			    file, key, p);
	return 0;
}

static int user_parse_files(struct user_spec *u, const char *file, json_t *arr)
{
	size_t n = json_array_size(arr);
	char key[64];

	if (!json_is_array(arr))
		return UERR("spec file '%s': key 'files': expected an array", file);
	if (n > USER_MAX_FILES)
		return UERR("spec file '%s': key 'files': %zu entries, more than the limit of %d",
			    file, n, USER_MAX_FILES);
	u->files = calloc(n ? n : 1, sizeof(*u->files));
	if (!u->files)
		return wan_err(WAN_ENOMEM, "out of memory loading '%s'", file);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i), *v;
		struct wan_spec_file *f = &u->files[i];
		const char *path, *k;
		char *copy;
		size_t l;

		snprintf(key, sizeof(key), "files[%zu]", i);
		if (json_is_string(e)) {
			path = json_string_value(e);
		} else if (json_is_object(e)) {
			json_object_foreach(e, k, v) {
				if (strcmp(k, "path") && strcmp(k, "size") &&
				    strcmp(k, "sha256") && strcmp(k, "optional") &&
				    strcmp(k, "dir"))
					return UERR("spec file '%s': key '%s.%s': unknown key",
						    file, key, k);
			}
			v = json_object_get(e, "path");
			if (!json_is_string(v))
				return UERR("spec file '%s': key '%s.path': expected a string",
					    file, key);
			path = json_string_value(v);
			v = json_object_get(e, "size");
			if (v) {
				if (!json_is_integer(v) || json_integer_value(v) < 0)
					return UERR("spec file '%s': key '%s.size': expected a non-negative integer",
						    file, key);
				f->size = (uint64_t)json_integer_value(v);
			}
			v = json_object_get(e, "sha256");
			if (v) {
				const char *h = json_string_value(v);
				size_t j;

				if (!h || strlen(h) != 64)
					return UERR("spec file '%s': key '%s.sha256': expected 64 hex digits",
						    file, key);
				for (j = 0; j < 64; j++)
					if (!isxdigit((unsigned char)h[j]) ||
					    isupper((unsigned char)h[j]))
						return UERR("spec file '%s': key '%s.sha256': expected 64 lowercase hex digits",
							    file, key);
				f->sha256 = user_str(u, h);
				if (!f->sha256)
					return wan_err(WAN_ENOMEM, "out of memory");
			}
			v = json_object_get(e, "optional");
			if (v) {
				if (!json_is_boolean(v))
					return UERR("spec file '%s': key '%s.optional': expected true or false",
						    file, key);
				if (json_is_true(v))
					f->flags |= WAN_SF_OPTIONAL;
			}
			v = json_object_get(e, "dir");
			if (v) {
				if (!json_is_boolean(v))
					return UERR("spec file '%s': key '%s.dir': expected true or false",
						    file, key);
				if (json_is_true(v))
					f->flags |= WAN_SF_DIR;
			}
		} else {
			return UERR("spec file '%s': key '%s': expected a path string or an object",
				    file, key);
		}
		copy = user_str(u, path);
		if (!copy)
			return wan_err(WAN_ENOMEM, "out of memory");
		l = strlen(copy);
		if (l > 1 && copy[l - 1] == '/') {
			copy[l - 1] = '\0';
			f->flags |= WAN_SF_DIR;
		}
		if (user_check_path(file, key, copy) < 0)
			return WAN_ECONFIG;
		l = strlen(copy);
		if (l > 4 && (!strcmp(copy + l - 4, ".pth") || !strcmp(copy + l - 3, ".pt") ||
			      (l > 5 && !strcmp(copy + l - 5, ".ckpt"))))
			f->flags |= WAN_SF_PTH;
		else if (l > 12 && !strcmp(copy + l - 12, ".safetensors"))
			f->flags |= WAN_SF_SAFETENSORS;
		else if (l > 5 && !strcmp(copy + l - 5, ".json"))
			f->flags |= WAN_SF_JSON;
		f->path = copy;
	}
	u->spec.files = u->files;
	u->spec.nfiles = n;
	return 0;
}

static int user_parse_dits(struct user_spec *u, const char *file, json_t *arr)
{
	size_t n = json_array_size(arr);
	char key[64];

	if (!json_is_array(arr))
		return UERR("spec file '%s': key 'dits': expected an array", file);
	if (n > USER_MAX_DITS)
		return UERR("spec file '%s': key 'dits': %zu entries, more than the limit of %d",
			    file, n, USER_MAX_DITS);
	u->dits = calloc(n ? n : 1, sizeof(*u->dits));
	if (!u->dits)
		return wan_err(WAN_ENOMEM, "out of memory loading '%s'", file);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i), *v;
		const char *k, *folder = "";

		snprintf(key, sizeof(key), "dits[%zu]", i);
		if (!json_is_object(e))
			return UERR("spec file '%s': key '%s': expected an object", file, key);
		json_object_foreach(e, k, v) {
			if (strcmp(k, "folder") && strcmp(k, "shards"))
				return UERR("spec file '%s': key '%s.%s': unknown key",
					    file, key, k);
		}
		v = json_object_get(e, "folder");
		if (v) {
			if (!json_is_string(v))
				return UERR("spec file '%s': key '%s.folder': expected a string",
					    file, key);
			folder = json_string_value(v);
			if (*folder && user_check_path(file, key, folder) < 0)
				return WAN_ECONFIG;
		}
		u->dits[i].folder = user_str(u, folder);
		if (!u->dits[i].folder)
			return wan_err(WAN_ENOMEM, "out of memory");
		v = json_object_get(e, "shards");
		if (!v) {
			u->dits[i].shards = WAN_SHARDS_ANY;
		} else if (json_is_string(v) && !strcmp(json_string_value(v), "any")) {
			u->dits[i].shards = WAN_SHARDS_ANY;
		} else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
			   json_integer_value(v) <= 99999) {
			u->dits[i].shards = (uint32_t)json_integer_value(v);
		} else {
			return UERR("spec file '%s': key '%s.shards': expected 0 (single file), a count up to 99999 or \"any\"",
				    file, key);
		}
	}
	u->spec.dits = u->dits;
	u->spec.ndits = n;
	return 0;
}

static const char *const user_keys[] = {
	"name", "base", "version", "task", "repo", "description", "files",
	"dits", "approx_size_bytes", "gpu_memory_gb", "sizes", "default_size",
	"smoke_command",
};

static int user_parse(struct user_spec *u, const char *file, json_t *o,
		      const struct user_spec *done, size_t ndone)
{
	const struct wan_spec *base = NULL;
	const char *k, *name = NULL, *b = NULL;
	json_t *v;
	int err;

	if (!json_is_object(o))
		return UERR("spec file '%s': expected a JSON object", file);
	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(user_keys); i++)
			if (!strcmp(k, user_keys[i]))
				break;
		if (i == ARRAY_SIZE(user_keys))
			return UERR("spec file '%s': key '%s': unknown key", file, k);
	}
	v = json_object_get(o, "name");
	if (!json_is_string(v))
		return UERR("spec file '%s': key 'name': required, a string", file);
	name = json_string_value(v);
	if (!*name || strlen(name) > 64 || strspn(name,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(name) ||
	    name[0] == '.')
		return UERR("spec file '%s': key 'name': '%s' is not a valid name (letters, digits, '.', '_', '-'; at most 64)",
			    file, name);
	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		if (!strcmp(builtin[i].name, name))
			return UERR("spec file '%s': key 'name': '%s' is a built-in spec; use \"base\" to extend it under another name",
				    file, name);
	for (size_t i = 0; i < ndone; i++)
		if (!strcmp(done[i].spec.name, name))
			return UERR("spec file '%s': key 'name': '%s' is already defined in '%s'",
				    file, name, done[i].spec.source);
	v = json_object_get(o, "base");
	if (v) {
		if (!json_is_string(v))
			return UERR("spec file '%s': key 'base': expected a string", file);
		b = json_string_value(v);
		for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
			if (!strcmp(builtin[i].name, b))
				base = &builtin[i];
		if (!base)
			return UERR("spec file '%s': key 'base': '%s' is not a built-in spec",
				    file, b);
		u->spec = *base;
	} else {
		u->spec = builtin[ARRAY_SIZE(builtin) - 1]; /* safetensors */
		u->spec.description = NULL;
		u->spec.task = NULL;
	}
	u->spec.name = user_str(u, name);
	u->spec.source = user_str(u, file);
	if (!u->spec.name || !u->spec.source)
		return wan_err(WAN_ENOMEM, "out of memory");
	if ((err = user_get_string(u, file, o, "version", &u->spec.version)) < 0 ||
	    (err = user_get_string(u, file, o, "task", &u->spec.task)) < 0 ||
	    (err = user_get_string(u, file, o, "repo", &u->spec.repo)) < 0 ||
	    (err = user_get_string(u, file, o, "description", &u->spec.description)) < 0 ||
	    (err = user_get_string(u, file, o, "default_size", &u->spec.default_size)) < 0 ||
	    (err = user_get_string(u, file, o, "smoke_command", &u->spec.smoke_template)) < 0)
		return err;
	if (!u->spec.version)
		u->spec.version = "user";
	if (!u->spec.task)
		u->spec.task = "user spec";
	if ((v = json_object_get(o, "files")) && (err = user_parse_files(u, file, v)) < 0)
		return err;
	if ((v = json_object_get(o, "dits"))) {
		if ((err = user_parse_dits(u, file, v)) < 0)
			return err;
		if (!base && u->spec.ndits) {
			/* DiT folders without a base: WanModel config.json
			 * decides the architecture; the spec stays generic
			 * for the catalog's arch figures. */
			u->spec.kind = WAN_SPEC_WAN;
			memset(&u->spec.arch, 0, sizeof(u->spec.arch));
		}
	}
	if ((v = json_object_get(o, "approx_size_bytes"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return UERR("spec file '%s': key 'approx_size_bytes': expected a non-negative integer",
				    file);
		u->spec.approx_bytes = (uint64_t)json_integer_value(v);
		u->spec.size_source = u->spec.source;
	}
	if ((v = json_object_get(o, "gpu_memory_gb"))) {
		if (!json_is_number(v) || json_number_value(v) < 0 ||
		    json_number_value(v) > 1e6)
			return UERR("spec file '%s': key 'gpu_memory_gb': expected a number from 0 to 1000000",
				    file);
		u->spec.gpu_memory_gb = json_number_value(v);
		u->spec.gpu_memory_source = u->spec.source;
	}
	if ((v = json_object_get(o, "sizes"))) {
		struct buf sb = BUF_INIT;
		size_t i;
		json_t *e;

		if (!json_is_array(v) || json_array_size(v) > 64)
			return UERR("spec file '%s': key 'sizes': expected an array of at most 64 strings",
				    file);
		json_array_foreach(v, i, e) {
			const char *sz = json_string_value(e);

			if (!sz || !*sz || strchr(sz, ' ') || strlen(sz) > 32) {
				buf_release(&sb);
				return UERR("spec file '%s': key 'sizes[%zu]': expected a size like \"832*480\"",
					    file, i);
			}
			if ((i && buf_addch(&sb, ' ') < 0) || buf_adds(&sb, sz) < 0) {
				buf_release(&sb);
				return wan_err(WAN_ENOMEM, "out of memory");
			}
		}
		u->spec.sizes = user_str(u, buf_str(&sb));
		buf_release(&sb);
		if (!u->spec.sizes)
			return wan_err(WAN_ENOMEM, "out of memory");
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted *.json names of dir. */
static int list_json(const char *dir, char ***out, size_t *nout)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	int err = 0;

	*out = NULL;
	*nout = 0;
	if (!d)
		return wan_err_sys(WAN_ECONFIG, "cannot open spec folder '%s'", dir);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char **nv;

		if (l < 6 || strcmp(de->d_name + l - 5, ".json") || de->d_name[0] == '.')
			continue;
		if (n >= USER_MAX_SPECS) {
			err = UERR("spec folder '%s': more than %d spec files", dir,
				   USER_MAX_SPECS);
			break;
		}
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			v = nv ? nv : v;
			err = wan_err(WAN_ENOMEM, "out of memory listing '%s'", dir);
			break;
		}
		v = nv;
		n++;
	}
	closedir(d);
	if (err) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return err;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*nout = n;
	return 0;
}

int wan_catalog_load_user(const char *const *dirs, size_t ndirs)
{
	struct user_spec *v = NULL;
	size_t n = 0;
	int err = 0;

	for (size_t d = 0; d < ndirs && !err; d++) {
		char **names = NULL;
		size_t nn = 0;

		err = list_json(dirs[d], &names, &nn);
		for (size_t i = 0; i < nn && !err; i++) {
			char path[WAN_PATH_MAX];
			struct user_spec *nv;
			json_t *o = NULL;

			if (n >= USER_MAX_SPECS) {
				err = UERR("more than %d user spec files", USER_MAX_SPECS);
				break;
			}
			err = path_join(path, sizeof(path), dirs[d], names[i]);
			if (!err)
				err = load_json_file(path, SPEC_FILE_MAX, &o);
			if (err) {
				err = WAN_ECONFIG;
				break;
			}
			nv = realloc(v, (n + 1) * sizeof(*v));
			if (!nv) {
				json_decref(o);
				err = wan_err(WAN_ENOMEM, "out of memory loading specs");
				break;
			}
			v = nv;
			memset(&v[n], 0, sizeof(v[n]));
			err = user_parse(&v[n], path, o, v, n);
			json_decref(o);
			n++;
		}
		for (size_t i = 0; i < nn; i++)
			free(names[i]);
		free(names);
	}
	if (err) {
		user_specs_free(v, n);
		return err;
	}
	wan_catalog_unload_user();
	user_specs = v;
	nuser_specs = n;
	return 0;
}

/* ---- detection ----------------------------------------------------------- */

static bool exists_at(const char *dir, const char *rel, bool want_dir)
{
	char p[WAN_PATH_MAX];
	struct stat st;

	if (path_join(p, sizeof(p), dir, rel) < 0 || stat(p, &st) < 0)
		return false;
	return want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

static int read_config(const char *dir, const char *rel, json_t **out)
{
	char p[WAN_PATH_MAX];
	int err = path_join(p, sizeof(p), dir, rel);

	if (err < 0)
		return err;
	return load_json_file(p, CONFIG_FILE_MAX, out);
}

static const char *cfg_str(const json_t *c, const char *k)
{
	const char *s = json_string_value(json_object_get(c, k));

	return s ? s : "";
}

static bool has_safetensors(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if ((l > 12 && !strcmp(de->d_name + l - 12, ".safetensors")) ||
		    (l > 23 && !strcmp(de->d_name + l - 23, ".safetensors.index.json")))
			found = true;
	}
	closedir(d);
	return found;
}

int wan_catalog_detect(const char *dir, const struct wan_spec **out)
{
	json_t *c = NULL;
	const char *name = NULL, *mt;
	bool single;
	int err;

	*out = NULL;
	if (exists_at(dir, "model_index.json", false)) {
		*out = wan_catalog_find("diffusers");
		return 0;
	}
	if (exists_at(dir, "high_noise_model/config.json", false) ||
	    exists_at(dir, "low_noise_model/config.json", false)) {
		err = read_config(dir, exists_at(dir, "high_noise_model/config.json", false) ?
				  "high_noise_model/config.json" :
				  "low_noise_model/config.json", &c);
		if (err < 0)
			return err;
		mt = cfg_str(c, "model_type");
		name = !strcmp(mt, "i2v") ? "i2v-A14B" : !strcmp(mt, "t2v") ? "t2v-A14B" : NULL;
		if (!name)
			err = wan_err(WAN_ENOTFOUND,
				      "cannot tell the model of '%s': expert folders with model_type '%s'",
				      dir, mt);
		json_decref(c);
		if (err < 0)
			return err;
		*out = wan_catalog_find(name);
		return 0;
	}
	if (exists_at(dir, "config.json", false)) {
		json_int_t dim;

		err = read_config(dir, "config.json", &c);
		if (err < 0)
			return err;
		mt = cfg_str(c, "model_type");
		dim = json_integer_value(json_object_get(c, "dim"));
		single = exists_at(dir, "diffusion_pytorch_model.safetensors", false) &&
			!exists_at(dir, "diffusion_pytorch_model.safetensors.index.json", false);
		if (!strcmp(cfg_str(c, "_class_name"), "WanAnimateModel") ||
		    !strcmp(mt, "animate"))
			name = "animate-14B";
		else if (!strcmp(mt, "ti2v"))
			name = "ti2v-5B";
		else if (!strcmp(mt, "s2v") || !strcmp(cfg_str(c, "_class_name"), "WanModel_S2V"))
			name = "s2v-14B";
		else if (!strcmp(mt, "t2v"))
			name = (dim == 1536 || single) ? "t2v-1.3B" : "t2v-14B";
		else if (!strcmp(mt, "i2v"))
			name = "i2v-14B";
		else if (!strcmp(mt, "flf2v"))
			name = "flf2v-14B";
		else if (!strcmp(mt, "vace"))
			name = (dim == 1536 || single) ? "vace-1.3B" : "vace-14B";
		json_decref(c);
		if (name) {
			*out = wan_catalog_find(name);
			return 0;
		}
	}
	if (has_safetensors(dir)) {
		*out = wan_catalog_find("safetensors");
		return 0;
	}
	return wan_err(WAN_ENOTFOUND,
		       "cannot tell the model of '%s': no config.json, model_index.json or safetensors files",
		       dir);
}
