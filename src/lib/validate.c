/*
 * Pre- and post-deployment checks (SPEC.md "Checks").
 *
 * Staging checks read headers only (safetensors headers, zip central
 * directories, the first bytes of small files), so they take
 * milliseconds on a 100 GB model; the data is read only when a full scan is
 * asked (tensors.finite on staging, .pth CRCs). Each check id appears once
 * per model and place; its message names the file, tensor or byte offset
 * and what to do, its details carry the lists (at most LIST_MAX entries
 * each, with counts).
 */
#include "util/common.h"
#include "util/buf.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "wanctl/catalog.h"
#include "wanctl/formats.h"
#include "wanctl/log.h"
#include "wanctl/monitor.h"
#include "wanctl/nvml.h"
#include "wanctl/runcmd.h"
#include "wanctl/store.h"
#include "wanctl/validate.h"
#include "lib/db.h"
#include "lib/ingest.h"
#include "lib/source.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIST_MAX 20
#define GB 1e9
#define JSON_SMALL_MAX (1u << 20)     /* JSON files parsed whole */
#define SCAN_BUF (4u << 20)           /* streaming buffer of scans */
#define SMOKE_OUTPUT_CAP (16u << 10)  /* output tail kept from the smoke run */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static bool is_pth_name(const char *p)
{
	return ends_with(p, ".pth") || ends_with(p, ".pt") || ends_with(p, ".ckpt");
}

static void human(char *dst, size_t size, uint64_t bytes)
{
	wan_human_size(dst, size, bytes);
}

/* Read up to max bytes of path at offset 0 into buf (NUL-terminated). */
static int read_head(const char *path, void *buf, size_t max, size_t *len)
{
	int fd = xopen(path, O_RDONLY, 0);
	ssize_t n;

	*len = 0;
	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s'", path);
	n = xread(fd, buf, max);
	xclose(fd);
	if (n < 0)
		return wan_err_sys(0, "cannot read '%s'", path);
	*len = (size_t)n;
	return 0;
}

/* A small JSON file, parsed with duplicate keys rejected. */
static int load_json_small(const char *path, const char *name, json_t **out)
{
	char *buf = NULL;
	size_t len = 0;
	json_error_t je;
	struct stat sb;
	int err;

	*out = NULL;
	if (stat(path, &sb) < 0)
		return wan_err_sys(0, "cannot stat '%s'", name);
	if ((uint64_t)sb.st_size > JSON_SMALL_MAX)
		return wan_err(WAN_ECORRUPT, "'%s' is %lld bytes, more than the %u bytes a JSON file of this kind may have",
			       name, (long long)sb.st_size, JSON_SMALL_MAX);
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		return wan_err(WAN_ENOMEM, "out of memory reading '%s'", name);
	err = read_head(path, buf, (size_t)sb.st_size, &len);
	if (err < 0) {
		free(buf);
		return err;
	}
	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!*out)
		return wan_err(WAN_ECORRUPT, "'%s' is not valid JSON: %s at line %d column %d (byte %d)",
			       name, je.text, je.line, je.column, je.position);
	return 0;
}

static bool printable_text(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') ||
		    p[i] >= 0x7f)
			return false;
	return true;
}

/* "starts with '...'" text of the first bytes, for messages. */
static void head_text(char *dst, size_t size, const unsigned char *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && i < 40 && o + 5 < size; i++) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
	}
	dst[o < size ? o : size - 1] = '\0';
}

/* ---- the staging tree ------------------------------------------------------- */

enum fclass { FC_OK, FC_EMPTY, FC_LFS, FC_PLACEHOLDER };

struct stg {
	const struct wan_config *cfg;
	const char *model;
	const struct wan_spec *spec;
	unsigned flags;
	struct wan_report *rep;
	struct src_tree tree;
	bool scanned;
	unsigned char *cls;             /* enum fclass per file */
	struct wan_st_header **hdr;     /* parsed safetensors headers */
	bool *hdr_bad;                  /* header present but invalid */
};

static long stg_find(const struct stg *s, const char *rel)
{
	for (size_t i = 0; i < s->tree.n; i++)
		if (!strcmp(s->tree.files[i].rel, rel))
			return (long)i;
	return -1;
}

/* Any file under folder rel ("" is the root). */
static bool stg_dir_nonempty(const struct stg *s, const char *rel)
{
	size_t l = strlen(rel);

	for (size_t i = 0; i < s->tree.n; i++)
		if (!strncmp(s->tree.files[i].rel, rel, l) && s->tree.files[i].rel[l] == '/')
			return true;
	return false;
}

/* ---- staging.placeholder and staging.lfs_pointer ------------------------------ */

/* Decide whether the content of a file is the format its name says. Fills
 * why (empty when it is, or when it cannot tell). */
static int classify_content(const struct src_file *f, char *why, size_t wsz)
{
	unsigned char head[64], txt[200];
	size_t n = 0;
	int err;

	why[0] = '\0';
	if (!ends_with(f->rel, ".safetensors") && !is_pth_name(f->rel) &&
	    !ends_with(f->rel, ".json"))
		return 0;
	if ((err = read_head(f->abs, head, sizeof(head), &n)) < 0)
		return err;
	head_text((char *)txt, sizeof(txt), head, n);
	if (ends_with(f->rel, ".safetensors")) {
		uint64_t hl = 0;

		if (n < 8) {
			snprintf(why, wsz, "%zu bytes, too small for a safetensors file (8-byte header length first)", n);
			return 0;
		}
		for (int i = 7; i >= 0; i--)
			hl = (hl << 8) | head[i];
		/* A text file named .safetensors (an HTML error page, "Entry
		 * not found", a placeholder note): its first 8 bytes, read as
		 * the header length, point past the end of the file. */
		if (printable_text(head, n < 16 ? n : 16) &&
		    (hl > f->size - 8 || n < 9 || head[8] != '{'))
			snprintf(why, wsz, "text, not safetensors: starts with '%s'", txt);
	} else if (is_pth_name(f->rel)) {
		if (n >= 4 && head[0] == 'P' && head[1] == 'K' &&
		    ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
			return 0;
		if (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5)
			return 0;   /* legacy pickle: staging.pth says so */
		snprintf(why, wsz, "neither a zip archive (torch.save) nor a pickle: starts with '%s'",
			 txt);
	} else {
		size_t i = 0;

		while (i < n && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' ||
				 head[i] == '\t'))
			i++;
		if (i < n && head[i] != '{' && head[i] != '[')
			snprintf(why, wsz, "not JSON: starts with '%s'", txt);
		else if (f->size <= JSON_SMALL_MAX) {
			json_t *j = NULL;

			if (load_json_small(f->abs, f->rel, &j) < 0) {
				snprintf(why, wsz, "%s", wan_errmsg());
				wan_err_clear();
			}
			json_decref(j);
		}
	}
	return 0;
}

static int check_files(struct stg *s)
{
	json_t *lfs = json_array(), *empty = json_array(), *ph = json_array();
	json_t *sizew = json_array(), *d;
	size_t nlfs = 0, nempty = 0, nph = 0, nsize = 0;
	char first_lfs[600] = "", first_ph[900] = "", first_size[600] = "";
	struct wan_spec_path *sp = NULL;
	size_t nsp = 0;
	int err = 0;

	if (!lfs || !empty || !ph || !sizew) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->tree.n; i++) {
		const struct src_file *f = &s->tree.files[i];
		char why[700];

		if (f->size == 0) {
			s->cls[i] = FC_EMPTY;
			if (nempty++ < LIST_MAX)
				json_array_append_new(empty, json_string(f->rel));
			continue;
		}
		if (f->size <= WAN_LFS_POINTER_MAX) {
			unsigned char buf[WAN_LFS_POINTER_MAX];
			char oid[65];
			uint64_t sz = 0;
			size_t n = 0;

			if ((err = read_head(f->abs, buf, sizeof(buf), &n)) < 0)
				goto out;
			if (wan_lfs_pointer_parse(buf, n, oid, &sz) == 1) {
				char hs[32];

				s->cls[i] = FC_LFS;
				human(hs, sizeof(hs), sz);
				if (!nlfs)
					snprintf(first_lfs, sizeof(first_lfs),
						 "'%s' is a git-lfs pointer (%llu bytes) standing for %s (%llu bytes, sha256 %s)",
						 f->rel, (unsigned long long)f->size, hs,
						 (unsigned long long)sz, oid);
				if (nlfs++ < LIST_MAX)
					json_array_append_new(lfs, json_pack("{s:s, s:I, s:I, s:s}",
						"file", f->rel, "pointer_bytes", (json_int_t)f->size,
						"size", (json_int_t)sz, "oid", oid));
				continue;
			}
		}
		if ((err = classify_content(f, why, sizeof(why))) < 0)
			goto out;
		if (why[0]) {
			s->cls[i] = FC_PLACEHOLDER;
			if (!nph)
				snprintf(first_ph, sizeof(first_ph), "'%s' is %s", f->rel, why);
			if (nph++ < LIST_MAX)
				json_array_append_new(ph, json_pack("{s:s, s:I, s:s}", "file", f->rel,
					"size", (json_int_t)f->size, "reason", why));
		}
	}
	/* Sizes against the published figures of the spec. */
	if ((err = wan_spec_files(s->spec, &sp, &nsp)) < 0)
		goto out;
	for (size_t k = 0; k < nsp; k++) {
		long i;
		const struct src_file *f;

		if (!sp[k].size || (sp[k].flags & WAN_SF_DIR))
			continue;
		if ((i = stg_find(s, sp[k].path)) < 0 || s->cls[i] != FC_OK)
			continue;
		f = &s->tree.files[i];
		if (f->size == sp[k].size)
			continue;
		if (!nsize) {
			char a[32], b[32];

			human(a, sizeof(a), f->size);
			human(b, sizeof(b), sp[k].size);
			snprintf(first_size, sizeof(first_size),
				 "'%s' is %s (%llu bytes), the published file is %s (%llu bytes)%s",
				 f->rel, a, (unsigned long long)f->size, b,
				 (unsigned long long)sp[k].size,
				 f->size < sp[k].size / 2 ? ": far smaller (a miniature, another revision, or a partial copy)" : "");
		}
		if (nsize++ < LIST_MAX)
			json_array_append_new(sizew, json_pack("{s:s, s:I, s:I}", "file", f->rel,
				"size", (json_int_t)f->size, "published_size", (json_int_t)sp[k].size));
	}

	/* staging.lfs_pointer */
	d = json_pack("{s:I, s:o}", "count", (json_int_t)nlfs, "pointers", lfs);
	lfs = NULL;
	if (nlfs)
		err = wan_report_add(s->rep, "staging.lfs_pointer", s->model, WAN_CHECK_FAIL, d,
				     "%s%s; fetch the real files (git lfs pull, or huggingface-cli download)",
				     first_lfs, nlfs > 1 ? " (and more, see details)" : "");
	else
		err = wan_report_add(s->rep, "staging.lfs_pointer", s->model, WAN_CHECK_PASS, d,
				     "no git-lfs pointer files among %zu files", s->tree.n);
	if (err < 0)
		goto out;

	/* staging.placeholder */
	d = json_pack("{s:I, s:o, s:I, s:o, s:I, s:o}", "empty_count", (json_int_t)nempty,
		      "empty", empty, "placeholder_count", (json_int_t)nph, "placeholders", ph,
		      "size_mismatch_count", (json_int_t)nsize, "size_mismatch", sizew);
	empty = ph = sizew = NULL;
	if (nempty || nph) {
		struct buf m = BUF_INIT;

		if (nempty)
			buf_printf(&m, "%zu empty file%s (first '%s')", nempty, nempty > 1 ? "s" : "",
				   json_string_value(json_array_get(json_object_get(d, "empty"), 0)));
		if (nph)
			buf_printf(&m, "%s%s%s", nempty ? "; " : "", first_ph,
				   nph > 1 ? " (and more, see details)" : "");
		buf_adds(&m, "; replace them with the real files");
		err = wan_report_add(s->rep, "staging.placeholder", s->model, WAN_CHECK_FAIL, d,
				     "%s", buf_str(&m));
		buf_release(&m);
	} else if (nsize) {
		err = wan_report_add(s->rep, "staging.placeholder", s->model, WAN_CHECK_WARN, d,
				     "%s%s", first_size,
				     nsize > 1 ? " (and more, see details)" : "");
	} else {
		err = wan_report_add(s->rep, "staging.placeholder", s->model, WAN_CHECK_PASS, d,
				     "no empty or placeholder files");
	}
out:
	wan_spec_files_free(sp, nsp);
	json_decref(lfs);
	json_decref(empty);
	json_decref(ph);
	json_decref(sizew);
	return err;
}

/* ---- staging.layout ------------------------------------------------------------ */

/* "<stem>-NNNNN-of-MMMMM.safetensors" -> stem length, k, m. */
static bool shard_name(const char *rel, size_t *stem_len, unsigned *k, unsigned *m)
{
	const char *b = base_name(rel);
	size_t l = strlen(b);
	const char *p;

	if (!ends_with(b, ".safetensors") || l < 12 + 15)
		return false;
	p = b + l - 12 - 15;   /* "-NNNNN-of-MMMMM" */
	if (p[0] != '-' || strncmp(p + 6, "-of-", 4))
		return false;
	for (int i = 1; i < 6; i++)
		if (p[i] < '0' || p[i] > '9' || p[i + 9] < '0' || p[i + 9] > '9')
			return false;
	*k = (unsigned)strtoul(p + 1, NULL, 10);
	*m = (unsigned)strtoul(p + 10, NULL, 10);
	*stem_len = (size_t)(p - rel);
	return *k >= 1 && *m >= 1;
}

/* Shard series found in the tree that miss members: appended to missing. */
static int check_shard_series(const struct stg *s, json_t *missing, size_t *nmissing,
			      size_t *nseries)
{
	for (size_t i = 0; i < s->tree.n; i++) {
		size_t sl, sl2;
		unsigned k, m, k2, m2;
		bool first = true;
		char *seen;

		if (!shard_name(s->tree.files[i].rel, &sl, &k, &m))
			continue;
		/* Handle each series once: at its first member in the list. */
		for (size_t j = 0; j < i && first; j++)
			if (shard_name(s->tree.files[j].rel, &sl2, &k2, &m2) && sl2 == sl &&
			    m2 == m && !strncmp(s->tree.files[j].rel, s->tree.files[i].rel, sl))
				first = false;
		if (!first)
			continue;
		(*nseries)++;
		seen = calloc((size_t)m + 1, 1);
		if (!seen)
			return wan_err(WAN_ENOMEM, "out of memory");
		for (size_t j = 0; j < s->tree.n; j++)
			if (shard_name(s->tree.files[j].rel, &sl2, &k2, &m2) && sl2 == sl &&
			    m2 == m && !strncmp(s->tree.files[j].rel, s->tree.files[i].rel, sl) &&
			    k2 <= m)
				seen[k2] = 1;
		for (unsigned q = 1; q <= m; q++) {
			char name[WAN_PATH_MAX];

			if (seen[q])
				continue;
			snprintf(name, sizeof(name), "%.*s-%05u-of-%05u.safetensors",
				 (int)sl, s->tree.files[i].rel, q, m);
			if ((*nmissing)++ < LIST_MAX)
				json_array_append_new(missing, json_string(name));
		}
		free(seen);
	}
	return 0;
}

static int check_layout(struct stg *s)
{
	const struct wan_spec *sp = s->spec;
	struct wan_spec_path *req = NULL;
	size_t nreq = 0, nmiss = 0, npresent = 0, nseries = 0, nsafe = 0, ntorch = 0;
	json_t *missing = json_array(), *d = NULL;
	bool diffusers_here = stg_find(s, "model_index.json") >= 0;
	char tot[32];
	int err;

	if (!missing)
		return wan_err(WAN_ENOMEM, "out of memory");
	human(tot, sizeof(tot), s->tree.bytes);
	for (size_t i = 0; i < s->tree.n; i++) {
		if (ends_with(s->tree.files[i].rel, ".safetensors"))
			nsafe++;
		else if (is_pth_name(s->tree.files[i].rel) || ends_with(s->tree.files[i].rel, ".bin"))
			ntorch++;
	}
	if (sp->kind == WAN_SPEC_WAN && diffusers_here) {
		d = json_pack("{s:s, s:s, s:o}", "spec", sp->name, "layout", "diffusers",
			      "missing", missing);
		return wan_report_add(s->rep, "staging.layout", s->model, WAN_CHECK_FAIL, d,
				      "staging holds a Diffusers layout (model_index.json), not the original Wan layout spec '%s' needs; download %s (not the -Diffusers repo) or use spec 'diffusers'",
				      sp->name, sp->repo ? sp->repo : "the original repository");
	}
	if ((err = wan_spec_files(sp, &req, &nreq)) < 0) {
		json_decref(missing);
		return err;
	}
	for (size_t k = 0; k < nreq; k++) {
		bool ok;

		if (req[k].flags & WAN_SF_OPTIONAL)
			continue;
		ok = (req[k].flags & WAN_SF_DIR) ? stg_dir_nonempty(s, req[k].path) :
						   stg_find(s, req[k].path) >= 0;
		if (ok) {
			npresent++;
		} else if (nmiss++ < LIST_MAX) {
			char p[WAN_PATH_MAX];

			snprintf(p, sizeof(p), "%s%s", req[k].path,
				 (req[k].flags & WAN_SF_DIR) ? "/" : "");
			json_array_append_new(missing, json_string(p));
		}
	}
	wan_spec_files_free(req, nreq);
	if ((err = check_shard_series(s, missing, &nmiss, &nseries)) < 0) {
		json_decref(missing);
		return err;
	}
	d = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "spec", sp->name,
		      "layout", wan_spec_kind_name(sp->kind),
		      "files", (json_int_t)s->tree.n, "bytes", (json_int_t)s->tree.bytes,
		      "required_present", (json_int_t)npresent,
		      "shard_series", (json_int_t)nseries,
		      "missing_count", (json_int_t)nmiss, "missing", missing);
	if (!d)
		return wan_err(WAN_ENOMEM, "out of memory");
	if (s->tree.hf)
		json_object_set_new(d, "hub_snapshot", json_string(s->tree.root));
	if (nmiss) {
		const struct wan_spec *det = NULL;
		char hint[200] = "";

		if (wan_catalog_detect(s->tree.root, &det) == 0 && det && det != sp &&
		    det->kind == WAN_SPEC_WAN) {
			snprintf(hint, sizeof(hint), "; the folder looks like '%s'", det->name);
			json_object_set_new(d, "looks_like", json_string(det->name));
		}
		wan_err_clear();
		return wan_report_add(s->rep, "staging.layout", s->model, WAN_CHECK_FAIL, d,
				      "%zu required file%s missing for spec '%s' (first '%s')%s",
				      nmiss, nmiss > 1 ? "s" : "", sp->name,
				      json_string_value(json_array_get(missing, 0)), hint);
	}
	if (sp->kind == WAN_SPEC_DIFFUSERS)
		return wan_report_add(s->rep, "staging.layout", s->model, WAN_CHECK_WARN, d,
				      "a Diffusers layout (model_index.json, %zu files, %s): loadable with diffusers, not by Wan's generate.py",
				      s->tree.n, tot);
	if (sp->kind == WAN_SPEC_GENERIC && !nsafe && !ntorch)
		return wan_report_add(s->rep, "staging.layout", s->model, WAN_CHECK_FAIL, d,
				      "no checkpoint files (.safetensors, .pth, .pt, .ckpt, .bin) in '%s' and no catalog spec fits it; name the spec in the configuration (models.%s.spec)",
				      s->tree.root, s->model ? s->model : "MODEL");
	if (sp->kind == WAN_SPEC_GENERIC)
		return wan_report_add(s->rep, "staging.layout", s->model, WAN_CHECK_PASS, d,
				      "generic checkpoint: %zu safetensors and %zu torch file%s, %zu shard series complete (%zu files, %s)",
				      nsafe, ntorch, ntorch == 1 ? "" : "s", nseries, s->tree.n, tot);
	if (nseries)
		return wan_report_add(s->rep, "staging.layout", s->model, WAN_CHECK_PASS, d,
				      "matches spec '%s': %zu required files and folders present, %zu shard series complete (%zu files, %s)",
				      sp->name, npresent, nseries, s->tree.n, tot);
	return wan_report_add(s->rep, "staging.layout", s->model, WAN_CHECK_PASS, d,
			      "matches spec '%s': %zu required files and folders present (%zu files, %s)",
			      sp->name, npresent, s->tree.n, tot);
}

/* ---- staging.safetensors ----------------------------------------------------- */

static int check_safetensors(struct stg *s)
{
	json_t *bad = json_array(), *d;
	size_t nbad = 0, nfiles = 0, ntensors = 0;
	uint64_t data = 0;
	char first[1200] = "";
	int err = 0;

	if (!bad)
		return wan_err(WAN_ENOMEM, "out of memory");
	for (size_t i = 0; i < s->tree.n; i++) {
		const struct src_file *f = &s->tree.files[i];
		int fd;

		if (!ends_with(f->rel, ".safetensors") || s->cls[i] != FC_OK)
			continue;
		nfiles++;
		fd = xopen(f->abs, O_RDONLY, 0);
		if (fd < 0) {
			err = wan_err_sys(WAN_EIO, "cannot open '%s'", f->rel);
		} else {
			err = wan_st_parse_fd(&s->hdr[i], fd, f->size, f->rel);
			xclose(fd);
		}
		if (err == WAN_ENOMEM)
			goto out;
		if (err < 0) {
			s->hdr_bad[i] = true;
			if (!nbad)
				snprintf(first, sizeof(first), "%s", wan_errmsg());
			if (nbad++ < LIST_MAX)
				json_array_append_new(bad, json_pack("{s:s, s:s}", "file", f->rel,
								     "error", wan_errmsg()));
			wan_err_clear();
			err = 0;
			continue;
		}
		ntensors += s->hdr[i]->ntensors;
		data += s->hdr[i]->file_size - s->hdr[i]->data_start;
	}
	d = json_pack("{s:I, s:I, s:I, s:I, s:o}", "files", (json_int_t)nfiles,
		      "tensors", (json_int_t)ntensors, "data_bytes", (json_int_t)data,
		      "invalid_count", (json_int_t)nbad, "invalid", bad);
	bad = NULL;
	if (nbad)
		err = wan_report_add(s->rep, "staging.safetensors", s->model, WAN_CHECK_FAIL, d,
				     "%zu of %zu safetensors files invalid: %s%s", nbad, nfiles, first,
				     nbad > 1 ? " (and more, see details)" : "");
	else if (!nfiles)
		err = wan_report_add(s->rep, "staging.safetensors", s->model, WAN_CHECK_SKIP, d,
				     "no safetensors files to check");
	else
		err = wan_report_add(s->rep, "staging.safetensors", s->model, WAN_CHECK_PASS, d,
				     "%zu safetensors header%s valid (%zu tensors)", nfiles,
				     nfiles == 1 ? "" : "s", ntensors);
out:
	json_decref(bad);
	return err;
}

/* ---- staging.index ------------------------------------------------------------- */

static int check_index(struct stg *s)
{
	size_t n = 0;
	int err;

	for (size_t i = 0; i < s->tree.n; i++) {
		const struct src_file *f = &s->tree.files[i];

		if (!ends_with(f->rel, ".safetensors.index.json"))
			continue;
		n++;
		if (s->cls[i] != FC_OK) {
			err = wan_report_add(s->rep, "staging.index", s->model, WAN_CHECK_FAIL,
					     json_pack("{s:s}", "file", f->rel),
					     "'%s' is not an index (see staging.lfs_pointer / staging.placeholder)",
					     f->rel);
		} else {
			err = wan_st_index_check(s->tree.root, f->rel, s->model, s->rep);
		}
		if (err < 0)
			return err;
	}
	if (!n)
		return wan_report_add(s->rep, "staging.index", s->model, WAN_CHECK_SKIP, NULL,
				      "no sharded checkpoints (*.safetensors.index.json)");
	return 0;
}

/* ---- staging.architecture --------------------------------------------------- */

static bool dit_weight_file(const char *rel, const char *folder)
{
	size_t l = strlen(folder);
	const char *b;

	if (l) {
		if (strncmp(rel, folder, l) || rel[l] != '/')
			return false;
		rel += l + 1;
	}
	if (strchr(rel, '/'))
		return false;
	b = rel;
	return !strncmp(b, "diffusion_pytorch_model", 23) && ends_with(b, ".safetensors");
}

static int check_arch_dit(struct stg *s, const char *folder)
{
	const char *where = *folder ? folder : ".";
	char cfgrel[WAN_PATH_MAX];
	struct wan_tensor_list *exp = NULL, *act = NULL;
	json_t *config = NULL;
	const char *mt;
	size_t nweights = 0;
	long ci;
	int err = 0;

	if (*folder)
		snprintf(cfgrel, sizeof(cfgrel), "%s/config.json", folder);
	else
		snprintf(cfgrel, sizeof(cfgrel), "config.json");
	ci = stg_find(s, cfgrel);
	if (ci < 0 || s->cls[ci] != FC_OK)
		return wan_report_add(s->rep, "staging.architecture", s->model, WAN_CHECK_SKIP,
				      json_pack("{s:s}", "where", where),
				      "%s: no usable config.json (see staging.layout)", where);
	for (size_t i = 0; i < s->tree.n; i++) {
		if (!dit_weight_file(s->tree.files[i].rel, folder))
			continue;
		nweights++;
		if (s->cls[i] != FC_OK || s->hdr_bad[i] || !s->hdr[i])
			return wan_report_add(s->rep, "staging.architecture", s->model,
					      WAN_CHECK_SKIP, json_pack("{s:s}", "where", where),
					      "%s: not checked: '%s' is unreadable (see staging.safetensors)",
					      where, s->tree.files[i].rel);
	}
	if (!nweights)
		return wan_report_add(s->rep, "staging.architecture", s->model, WAN_CHECK_SKIP,
				      json_pack("{s:s}", "where", where),
				      "%s: no diffusion_pytorch_model*.safetensors files (see staging.layout)",
				      where);
	if ((err = load_json_small(s->tree.files[ci].abs, cfgrel, &config)) < 0) {
		if (err == WAN_ENOMEM)
			return err;
		err = wan_report_add(s->rep, "staging.architecture", s->model, WAN_CHECK_FAIL,
				     json_pack("{s:s}", "where", where), "%s", wan_errmsg());
		wan_err_clear();
		return err;
	}
	mt = json_string_value(json_object_get(config, "model_type"));
	if (mt && s->spec->arch.model_type && s->spec->arch.model_type[0] &&
	    strcmp(mt, s->spec->arch.model_type)) {
		err = wan_report_add(s->rep, "staging.architecture", s->model, WAN_CHECK_FAIL,
				     json_pack("{s:s, s:s, s:s}", "where", where,
					       "config_model_type", mt,
					       "spec_model_type", s->spec->arch.model_type),
				     "%s: config.json says model_type '%s' but spec '%s' is a '%s' model: the wrong model in this folder?",
				     where, mt, s->spec->name, s->spec->arch.model_type);
		goto out;
	}
	err = wan_arch_expected(config, wan_arch_flags_for(s->spec), &exp);
	if (err == WAN_ENOMEM)
		goto out;
	if (err < 0) {
		err = wan_report_add(s->rep, "staging.architecture", s->model, WAN_CHECK_FAIL,
				     json_pack("{s:s}", "where", where), "%s: '%s': %s", where,
				     cfgrel, wan_errmsg());
		wan_err_clear();
		goto out;
	}
	if (!(act = wan_tensor_list_new())) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->tree.n; i++) {
		const struct wan_st_header *h = s->hdr[i];

		if (!h || !dit_weight_file(s->tree.files[i].rel, folder))
			continue;
		for (size_t t = 0; t < h->ntensors; t++) {
			const struct wan_st_tensor *tt = &h->tensors[t];
			uint64_t shape[WAN_TENSOR_MAXDIM];
			uint32_t nd = tt->ndim;

			if (nd > WAN_TENSOR_MAXDIM) {
				err = wan_report_add(s->rep, "staging.architecture", s->model,
						     WAN_CHECK_FAIL, json_pack("{s:s, s:s}", "where", where,
									      "tensor", tt->name),
						     "%s: tensor '%s' in '%s' has %u dimensions; no Wan tensor has more than %d",
						     where, tt->name, s->tree.files[i].rel, nd,
						     WAN_TENSOR_MAXDIM);
				goto out;
			}
			memcpy(shape, tt->shape, nd * sizeof(shape[0]));
			if ((err = wan_tensor_list_add(act, tt->name, shape, nd)) < 0)
				goto out;
		}
	}
	err = wan_arch_compare(exp, act, s->rep, s->model, where);
	if (err == WAN_ECHECK)
		err = 0;
out:
	json_decref(config);
	wan_tensor_list_free(exp);
	wan_tensor_list_free(act);
	return err;
}

static int check_architecture(struct stg *s)
{
	int err;

	if (s->spec->kind != WAN_SPEC_WAN || !s->spec->ndits)
		return wan_report_add(s->rep, "staging.architecture", s->model, WAN_CHECK_SKIP,
				      NULL, "no architecture rules for spec '%s' (%s)",
				      s->spec->name, wan_spec_kind_name(s->spec->kind));
	for (size_t d = 0; d < s->spec->ndits; d++)
		if ((err = check_arch_dit(s, s->spec->dits[d].folder)) < 0)
			return err;
	return 0;
}

/* ---- staging.pth ------------------------------------------------------------------ */

static int check_pth(struct stg *s)
{
	json_t *bad = json_array(), *legacy = json_array(), *d;
	size_t nbad = 0, nfiles = 0, nlegacy = 0;
	char first[1200] = "";
	bool full = s->flags & WAN_VALIDATE_FULL;
	int err = 0;

	if (!bad || !legacy) {
		json_decref(bad);
		json_decref(legacy);
		return wan_err(WAN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < s->tree.n; i++) {
		const struct src_file *f = &s->tree.files[i];
		unsigned char head[4];
		size_t n = 0;
		int fd;

		if (s->cls[i] != FC_OK)
			continue;
		if (!is_pth_name(f->rel)) {
			/* pytorch_model.bin and friends: torch.save zips too,
			 * checked when they start like one. */
			if (!ends_with(f->rel, ".bin") || f->size < 4 ||
			    read_head(f->abs, head, 4, &n) < 0 || n < 4 ||
			    memcmp(head, "PK\3\4", 4)) {
				wan_err_clear();
				continue;
			}
		}
		nfiles++;
		if (read_head(f->abs, head, 2, &n) == 0 && n == 2 && head[0] == 0x80) {
			if (nlegacy++ < LIST_MAX)
				json_array_append_new(legacy, json_string(f->rel));
			continue;
		}
		wan_err_clear();
		fd = xopen(f->abs, O_RDONLY, 0);
		if (fd < 0) {
			err = wan_err_sys(WAN_EIO, "cannot open '%s'", f->rel);
		} else {
			err = wan_pth_check_fd(fd, f->size, full, f->rel, NULL);
			xclose(fd);
		}
		if (err == WAN_ENOMEM)
			goto out;
		if (err < 0) {
			if (!nbad)
				snprintf(first, sizeof(first), "%s", wan_errmsg());
			if (nbad++ < LIST_MAX)
				json_array_append_new(bad, json_pack("{s:s, s:s}", "file", f->rel,
								     "error", wan_errmsg()));
			wan_err_clear();
			err = 0;
		}
	}
	d = json_pack("{s:I, s:b, s:I, s:o, s:I, s:o}", "files", (json_int_t)nfiles,
		      "crc_checked", full, "invalid_count", (json_int_t)nbad, "invalid", bad,
		      "legacy_count", (json_int_t)nlegacy, "legacy", legacy);
	bad = legacy = NULL;
	if (nbad)
		err = wan_report_add(s->rep, "staging.pth", s->model, WAN_CHECK_FAIL, d,
				     "%zu of %zu .pth files are not intact zip archives: %s%s",
				     nbad, nfiles, first, nbad > 1 ? " (and more, see details)" : "");
	else if (nlegacy)
		err = wan_report_add(s->rep, "staging.pth", s->model, WAN_CHECK_WARN, d,
				     "'%s' is a legacy (pre-1.6, non-zip) torch file: loadable, but its structure cannot be checked",
				     json_string_value(json_array_get(json_object_get(d, "legacy"), 0)));
	else if (!nfiles)
		err = wan_report_add(s->rep, "staging.pth", s->model, WAN_CHECK_SKIP, d,
				     "no .pth/.pt/.ckpt (or zip .bin) files to check");
	else
		err = wan_report_add(s->rep, "staging.pth", s->model, WAN_CHECK_PASS, d,
				     "%zu .pth file%s intact (zip structure%s)", nfiles,
				     nfiles == 1 ? "" : "s", full ? " and CRC-32 of every entry" : "");
out:
	json_decref(bad);
	json_decref(legacy);
	return err;
}

/* ---- tensors.finite ------------------------------------------------------------- */

/* Stream one safetensors file through the tensor scan. Returns 0 (finite),
 * WAN_ECORRUPT (NaN/Inf or a short file, message set), or an error. */
static int scan_file(const char *abs, const char *rel, uint64_t size,
		     const struct wan_st_header *h, unsigned char *buf)
{
	struct wan_tscan *ts = NULL;
	uint64_t off = 0;
	int fd = -1, err;

	if ((err = wan_tscan_new(&ts, h, rel)) < 0)
		return err;
	fd = xopen(abs, O_RDONLY, 0);
	if (fd < 0) {
		err = wan_err_sys(WAN_EIO, "cannot open '%s'", rel);
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (off < size) {
		size_t want = size - off < SCAN_BUF ? (size_t)(size - off) : SCAN_BUF;
		ssize_t n = xread(fd, buf, want);

		if (n < 0) {
			err = wan_err_sys(WAN_EIO, "cannot read '%s' at byte %llu", rel,
					  (unsigned long long)off);
			goto out;
		}
		if (n == 0)
			break;
		if ((err = wan_tscan_feed(ts, buf, (size_t)n)) < 0)
			goto out;
		off += (uint64_t)n;
	}
	err = wan_tscan_finish(ts, NULL);
out:
	if (fd >= 0)
		xclose(fd);
	wan_tscan_free(ts);
	return err;
}

/* tensors.finite over the safetensors files of a tree; hdr may be NULL
 * (headers are parsed here) or hold the parsed headers of each file. */
static int check_finite(struct src_tree *t, struct wan_st_header **hdr,
			const unsigned char *cls, const char *model,
			const char *where, struct wan_report *rep)
{
	unsigned char *buf = NULL;
	json_t *bad = json_array(), *d;
	size_t nbad = 0, nfiles = 0;
	uint64_t bytes = 0;
	double t0 = wan_now_mono();
	char first[1200] = "";
	int err = 0;

	buf = malloc(SCAN_BUF);
	if (!buf || !bad) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct src_file *f = &t->files[i];
		struct wan_st_header *own = NULL;
		const struct wan_st_header *h = hdr ? hdr[i] : NULL;

		if (!ends_with(f->rel, ".safetensors") || (cls && cls[i] != FC_OK))
			continue;
		if (!h && hdr)
			continue;   /* invalid header: staging.safetensors says so */
		if (!h) {
			int fd = xopen(f->abs, O_RDONLY, 0);

			if (fd < 0) {
				err = wan_err_sys(WAN_EIO, "cannot open '%s'", f->rel);
			} else {
				err = wan_st_parse_fd(&own, fd, f->size, f->rel);
				xclose(fd);
			}
			h = own;
		}
		if (!err) {
			nfiles++;
			bytes += f->size;
			err = scan_file(f->abs, f->rel, f->size, h, buf);
		}
		wan_st_header_free(own);
		if (err == WAN_ENOMEM)
			goto out;
		if (err < 0) {
			if (!nbad)
				snprintf(first, sizeof(first), "%s", wan_errmsg());
			if (nbad++ < LIST_MAX)
				json_array_append_new(bad, json_pack("{s:s, s:s}", "file", f->rel,
								     "error", wan_errmsg()));
			wan_err_clear();
			err = 0;
		}
	}
	d = json_pack("{s:s, s:I, s:I, s:f, s:I, s:o}", "where", where,
		      "files", (json_int_t)nfiles, "bytes", (json_int_t)bytes,
		      "seconds", wan_now_mono() - t0, "failed_count", (json_int_t)nbad,
		      "failed", bad);
	bad = NULL;
	if (nbad)
		err = wan_report_add(rep, "tensors.finite", model, WAN_CHECK_FAIL, d, "%s%s",
				     first, nbad > 1 ? " (and more files, see details)" : "");
	else if (!nfiles)
		err = wan_report_add(rep, "tensors.finite", model, WAN_CHECK_SKIP, d,
				     "no safetensors files to scan in %s", where);
	else
		err = wan_report_add(rep, "tensors.finite", model, WAN_CHECK_PASS, d,
				     "every float tensor of %zu file%s in %s is finite", nfiles,
				     nfiles == 1 ? "" : "s", where);
out:
	free(buf);
	json_decref(bad);
	return err;
}

/* Whether rep already holds a check id for model. */
static bool report_has(const struct wan_report *rep, const char *id, const char *model)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(wan_report_json(rep), "checks"), i, c) {
		const char *m = json_string_value(json_object_get(c, "model"));

		if (!strcmp(json_string_value(json_object_get(c, "id")), id) &&
		    ((!m && !model) || (m && model && !strcmp(m, model))))
			return true;
	}
	return false;
}

/* ---- wan_validate_staging ------------------------------------------------------- */

static const struct wan_spec *resolve_spec(const char *model, const char *spec,
					   const char *dir, bool *unknown)
{
	const struct wan_spec *s = NULL;

	*unknown = false;
	if (spec && (s = wan_catalog_find(spec)))
		return s;
	if (spec && (!model || strcmp(spec, model))) {
		*unknown = true;
		return NULL;
	}
	/* No spec, or the model's own name that the catalog does not know:
	 * tell it from the layout, else the generic safetensors spec. */
	if (wan_catalog_detect(dir, &s) < 0 || !s)
		s = wan_catalog_find("safetensors");
	wan_err_clear();
	return s;
}

static int staging_run(const struct wan_config *cfg, const char *model,
		       const char *spec, const char *staging, unsigned flags,
		       struct wan_report *rep, uint64_t *bytes,
		       const struct wan_spec **resolved)
{
	struct stg s;
	struct stat sb;
	bool unknown;
	int err = 0;

	if (bytes)
		*bytes = 0;
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.model = model;
	s.flags = flags;
	s.rep = rep;
	if (stat(staging, &sb) < 0) {
		int e = errno;

		return wan_report_add(rep, "staging.exists", model, WAN_CHECK_FAIL,
				      json_pack("{s:s}", "path", staging),
				      "staging folder '%s' %s; copy the model there or set source_models_path / models.%s.source",
				      staging, e == ENOENT ? "does not exist" : strerror(e),
				      model ? model : "MODEL");
	}
	if (!S_ISDIR(sb.st_mode))
		return wan_report_add(rep, "staging.exists", model, WAN_CHECK_FAIL,
				      json_pack("{s:s}", "path", staging),
				      "staging '%s' is not a folder", staging);
	err = source_scan(staging, &s.tree);
	if (err == WAN_ENOMEM)
		return err;
	if (err < 0) {
		err = wan_report_add(rep, "staging.exists", model, WAN_CHECK_FAIL,
				     json_pack("{s:s}", "path", staging),
				     "cannot read staging: %s", wan_errmsg());
		wan_err_clear();
		return err;
	}
	s.scanned = true;
	if (bytes)
		*bytes = s.tree.bytes;
	if (s.tree.n && report_has(rep, "staging.exists", model)) {
		err = 0;
	} else {
		char tot[32];

		human(tot, sizeof(tot), s.tree.bytes);
		err = wan_report_add(rep, "staging.exists", model,
				     s.tree.n ? WAN_CHECK_PASS : WAN_CHECK_FAIL,
				     json_pack("{s:s, s:I, s:I}", "path", s.tree.root,
					       "files", (json_int_t)s.tree.n,
					       "bytes", (json_int_t)s.tree.bytes),
				     s.tree.n ? "'%s': %zu files, %s" : "'%s' is empty (%zu files, %s)",
				     s.tree.root, s.tree.n, tot);
		if (err < 0 || !s.tree.n)
			goto out;
	}
	s.spec = resolve_spec(model, spec, s.tree.root, &unknown);
	if (resolved)
		*resolved = s.spec;
	if (unknown) {
		const char *sug = wan_catalog_suggest(spec);

		err = wan_report_add(rep, "staging.layout", model, WAN_CHECK_FAIL,
				     json_pack("{s:s}", "spec", spec),
				     "unknown model spec '%s'%s%s%s; `wanctl models` lists the known ones",
				     spec, sug ? " (did you mean '" : "", sug ? sug : "",
				     sug ? "'?)" : "");
		goto out;
	}
	s.cls = calloc(s.tree.n, sizeof(*s.cls));
	s.hdr = calloc(s.tree.n, sizeof(*s.hdr));
	s.hdr_bad = calloc(s.tree.n, sizeof(*s.hdr_bad));
	if (!s.cls || !s.hdr || !s.hdr_bad) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = check_layout(&s)) < 0 ||
	    (err = check_files(&s)) < 0 ||
	    (err = check_safetensors(&s)) < 0 ||
	    (err = check_index(&s)) < 0 ||
	    (err = check_architecture(&s)) < 0 ||
	    (err = check_pth(&s)) < 0)
		goto out;
	if (flags & WAN_VALIDATE_FULL)
		err = check_finite(&s.tree, s.hdr, s.cls, model, "staging", rep);
out:
	if (s.hdr)
		for (size_t i = 0; i < s.tree.n; i++)
			wan_st_header_free(s.hdr[i]);
	free(s.hdr);
	free(s.hdr_bad);
	free(s.cls);
	if (s.scanned)
		source_tree_release(&s.tree);
	return err;
}

int wan_validate_staging_ex(const struct wan_config *cfg, const char *model,
			    const char *spec, const char *staging, unsigned flags,
			    struct wan_report *rep, uint64_t *bytes)
{
	return staging_run(cfg, model, spec, staging, flags, rep, bytes, NULL);
}

int wan_validate_staging(const struct wan_config *cfg, const char *model,
			 const char *spec, const char *staging,
			 struct wan_report *rep)
{
	return staging_run(cfg, model, spec, staging, 0, rep, NULL, NULL);
}

/* ---- system checks --------------------------------------------------------------- */

/* The nearest existing ancestor of path (path itself when it exists). */
static int nearest_existing(const char *path, char *buf, size_t size, struct stat *sb)
{
	char *s;
	int err;

	if ((err = wan_snprintf(buf, size, "%s", path)) < 0)
		return err;
	for (;;) {
		if (stat(buf, sb) == 0)
			return 0;
		if (errno != ENOENT && errno != ENOTDIR)
			return wan_err_sys(0, "cannot stat '%s'", buf);
		s = strrchr(buf, '/');
		if (!s)
			return wan_err(WAN_ENOTFOUND, "no existing folder above '%s'", path);
		if (s == buf) {
			buf[1] = '\0';
		} else {
			*s = '\0';
		}
	}
}

static int check_disk(const struct wan_config *cfg, const char *state_path,
		      uint64_t bytes, struct wan_report *rep)
{
	char at[WAN_PATH_MAX], a[32], b[32], c[32];
	double margin = cfg->validation.disk_margin_percent;
	struct wan_diskinfo di;
	struct stat sb;
	long double needf;
	uint64_t need;
	json_t *d;
	int err;

	if ((err = nearest_existing(state_path, at, sizeof(at), &sb)) < 0 ||
	    (err = wan_sys_disk(at, &di)) < 0) {
		err = wan_report_add(rep, "system.disk", NULL, WAN_CHECK_FAIL,
				     json_pack("{s:s}", "path", state_path),
				     "cannot check free disk space: %s", wan_errmsg());
		wan_err_clear();
		return err;
	}
	if (margin < 0)
		margin = 0;
	needf = (long double)bytes * (1.0L + (long double)margin / 100.0L);
	need = needf >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)ceill(needf);
	human(a, sizeof(a), need);
	human(b, sizeof(b), bytes);
	human(c, sizeof(c), di.avail);
	d = json_pack("{s:s, s:s, s:I, s:f, s:I, s:I, s:I}", "path", state_path,
		      "filesystem_path", at, "bytes_to_copy", (json_int_t)(bytes > INT64_MAX ? INT64_MAX : bytes),
		      "margin_percent", margin,
		      "needed_bytes", (json_int_t)(need > INT64_MAX ? INT64_MAX : need),
		      "available_bytes", (json_int_t)(di.avail > INT64_MAX ? INT64_MAX : di.avail),
		      "total_bytes", (json_int_t)(di.total > INT64_MAX ? INT64_MAX : di.total));
	if (di.avail < need) {
		char m[32];

		human(m, sizeof(m), need - di.avail);
		json_object_set_new(d, "missing_bytes", json_integer((json_int_t)
			(need - di.avail > INT64_MAX ? INT64_MAX : need - di.avail)));
		return wan_report_add(rep, "system.disk", NULL, WAN_CHECK_FAIL, d,
				      "not enough free disk on '%s': needs %s (%s to copy + %g%% margin), %s available: %s missing",
				      at, a, b, margin, c, m);
	}
	return wan_report_add(rep, "system.disk", NULL, WAN_CHECK_PASS, d,
			      "%s available on '%s' covers %s (%s to copy + %g%% margin)",
			      c, at, a, b, margin);
}

static int check_memory(const struct wan_config *cfg, struct wan_report *rep)
{
	double need_gb = cfg->validation.min_ram_gb;
	struct wan_meminfo mi;
	json_t *d;
	int err;

	if ((err = wan_sys_meminfo(&mi)) < 0) {
		err = wan_report_add(rep, "system.memory", NULL, WAN_CHECK_WARN, NULL,
				     "cannot read memory figures: %s", wan_errmsg());
		wan_err_clear();
		return err;
	}
	d = json_pack("{s:I, s:I, s:f}", "total_bytes", (json_int_t)mi.total,
		      "available_bytes", (json_int_t)mi.available, "min_ram_gb", need_gb);
	if (need_gb <= 0)
		return wan_report_add(rep, "system.memory", NULL, WAN_CHECK_PASS, d,
				      "%.1f GB RAM, %.1f GB available (no minimum configured)",
				      (double)mi.total / GB, (double)mi.available / GB);
	if ((double)mi.total < need_gb * GB)
		return wan_report_add(rep, "system.memory", NULL, WAN_CHECK_FAIL, d,
				      "%.1f GB RAM, less than the %.1f GB needed (validation.min_ram_gb): %.1f GB short",
				      (double)mi.total / GB, need_gb, need_gb - (double)mi.total / GB);
	if ((double)mi.available < need_gb * GB)
		return wan_report_add(rep, "system.memory", NULL, WAN_CHECK_WARN, d,
				      "only %.1f GB of %.1f GB RAM available now, less than the %.1f GB needed (validation.min_ram_gb); other processes hold the rest",
				      (double)mi.available / GB, (double)mi.total / GB, need_gb);
	return wan_report_add(rep, "system.memory", NULL, WAN_CHECK_PASS, d,
			      "%.1f GB available of %.1f GB RAM (needs %.1f GB)",
			      (double)mi.available / GB, (double)mi.total / GB, need_gb);
}

static int check_gpu(const struct wan_config *cfg, const char *const *specs, size_t n,
		     struct wan_report *rep)
{
	struct wan_gpu_info *g = NULL;
	size_t ng = 0, best = 0;
	char driver[128] = "";
	double need = cfg->validation.min_vram_gb;
	const char *need_from = "validation.min_vram_gb";
	char from_buf[200];
	json_t *d = NULL, *arr;
	int err;

	if (need <= 0) {
		need = 0;
		need_from = NULL;
		for (size_t i = 0; i < n; i++) {
			const struct wan_spec *s = specs[i] ? wan_catalog_find(specs[i]) : NULL;

			if (s && s->gpu_memory_gb > need) {
				need = s->gpu_memory_gb;
				snprintf(from_buf, sizeof(from_buf), "spec '%s'", s->name);
				need_from = from_buf;
			}
		}
	}
	if ((err = wan_nvml_query(&g, &ng, driver, sizeof(driver))) < 0)
		return err;
	if (!ng) {
		const char *why = driver[0] ? driver : wan_nvml_reason();

		d = json_pack("{s:I, s:s, s:b, s:f}", "count", (json_int_t)0, "reason", why,
			      "require_gpu", cfg->validation.require_gpu, "need_gb", need);
		return wan_report_add(rep, "system.gpu", NULL,
				      cfg->validation.require_gpu ? WAN_CHECK_FAIL : WAN_CHECK_WARN, d,
				      "%s%s%s", strncmp(why, "no GPU visible", 14) ? "no GPU visible: " : "",
				      why, cfg->validation.require_gpu ?
				      " (validation.require_gpu is true)" : "");
	}
	arr = json_array();
	for (size_t i = 0; i < ng; i++) {
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}",
			"index", (json_int_t)g[i].index, "name", g[i].name, "uuid", g[i].uuid,
			"memory_total", (json_int_t)g[i].mem_total,
			"memory_free", (json_int_t)g[i].mem_free,
			"memory_used", (json_int_t)g[i].mem_used));
		if (g[i].mem_total > g[best].mem_total)
			best = i;
	}
	d = json_pack("{s:I, s:s, s:o, s:f}", "count", (json_int_t)ng, "driver", driver,
		      "gpus", arr, "need_gb", need);
	if (need_from)
		json_object_set_new(d, "need_from", json_string(need_from));
	if (need > 0 && (double)g[best].mem_total < need * GB) {
		err = wan_report_add(rep, "system.gpu", NULL, WAN_CHECK_FAIL, d,
				     "largest GPU '%s' (#%u) has %.1f GB of memory, less than the %.1f GB needed (%s)",
				     g[best].name, g[best].index, (double)g[best].mem_total / GB,
				     need, need_from);
	} else if (need > 0) {
		size_t bf = 0;

		for (size_t i = 0; i < ng; i++)
			if (g[i].mem_free > g[bf].mem_free)
				bf = i;
		if ((double)g[bf].mem_free < need * GB)
			err = wan_report_add(rep, "system.gpu", NULL, WAN_CHECK_WARN, d,
					     "GPU '%s' (#%u) has %.1f GB, enough for the %.1f GB needed (%s), but only %.1f GB is free now",
					     g[bf].name, g[bf].index, (double)g[bf].mem_total / GB, need,
					     need_from, (double)g[bf].mem_free / GB);
		else
			err = wan_report_add(rep, "system.gpu", NULL, WAN_CHECK_PASS, d,
					     "%zu GPU%s (driver %s), '%s' has %.1f GB free of %.1f GB (needs %.1f GB, %s)",
					     ng, ng == 1 ? "" : "s", driver, g[bf].name,
					     (double)g[bf].mem_free / GB, (double)g[bf].mem_total / GB,
					     need, need_from);
	} else {
		err = wan_report_add(rep, "system.gpu", NULL, WAN_CHECK_PASS, d,
				     "%zu GPU%s (driver %s), largest '%s' with %.1f GB",
				     ng, ng == 1 ? "" : "s", driver, g[best].name,
				     (double)g[best].mem_total / GB);
	}
	free(g);
	return err;
}

static int check_filesystem(const struct wan_config *cfg, const char *state_path,
			    struct wan_report *rep)
{
	char a[WAN_PATH_MAX], b[WAN_PATH_MAX];
	struct stat sa, sb;
	json_t *d;
	int err;

	if ((err = nearest_existing(state_path, a, sizeof(a), &sa)) < 0 ||
	    (err = nearest_existing(cfg->target_models_path, b, sizeof(b), &sb)) < 0) {
		err = wan_report_add(rep, "system.filesystem", NULL, WAN_CHECK_FAIL, NULL,
				     "cannot check the filesystems: %s", wan_errmsg());
		wan_err_clear();
		return err;
	}
	d = json_pack("{s:s, s:s, s:s, s:s}", "state_path", state_path,
		      "state_existing", a, "target_models_path", cfg->target_models_path,
		      "target_existing", b);
	if (sa.st_dev != sb.st_dev)
		return wan_report_add(rep, "system.filesystem", NULL, WAN_CHECK_FAIL, d,
				      "store '%s' and production '%s' are on different filesystems ('%s' and '%s'): releases are hard links and the switch is a rename; put state_path on the production filesystem",
				      state_path, cfg->target_models_path, a, b);
	return wan_report_add(rep, "system.filesystem", NULL, WAN_CHECK_PASS, d,
			      "store and production share one filesystem");
}

/* Whether cmd is an executable: absolute/relative path, or found on PATH. */
static bool find_command(const char *cmd, char *found, size_t size)
{
	const char *path = getenv("PATH");
	struct stat sb;

	found[0] = '\0';
	if (!*cmd)
		return false;
	if (strchr(cmd, '/')) {
		if (stat(cmd, &sb) == 0 && S_ISREG(sb.st_mode) && access(cmd, X_OK) == 0) {
			snprintf(found, size, "%s", cmd);
			return true;
		}
		return false;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t l = strcspn(path, ":");
		char p[WAN_PATH_MAX];

		if (snprintf(p, sizeof(p), "%.*s/%s", (int)(l ? l : 1), l ? path : ".", cmd) <
		    (int)sizeof(p) && stat(p, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    access(p, X_OK) == 0) {
			snprintf(found, size, "%s", p);
			return true;
		}
		path += l;
		if (*path == ':')
			path++;
	}
	return false;
}

static int check_dependencies(const struct wan_config *cfg, struct wan_report *rep)
{
	const struct wan_validation_cfg *v = &cfg->validation;
	json_t *found = json_object(), *missing = json_array(), *d;
	size_t nmiss = 0;

	if (!v->ndependencies) {
		json_decref(found);
		json_decref(missing);
		return wan_report_add(rep, "system.dependencies", NULL, WAN_CHECK_SKIP, NULL,
				      "no dependencies configured (validation.dependencies)");
	}
	for (size_t i = 0; i < v->ndependencies; i++) {
		char p[WAN_PATH_MAX];

		if (find_command(v->dependencies[i], p, sizeof(p))) {
			json_object_set_new(found, v->dependencies[i], json_string(p));
		} else {
			nmiss++;
			json_array_append_new(missing, json_string(v->dependencies[i]));
		}
	}
	d = json_pack("{s:o, s:o}", "found", found, "missing", missing);
	if (nmiss)
		return wan_report_add(rep, "system.dependencies", NULL, WAN_CHECK_FAIL, d,
				      "%zu of %zu configured command%s not found (first '%s'); install %s or fix validation.dependencies",
				      nmiss, v->ndependencies, v->ndependencies == 1 ? "" : "s",
				      json_string_value(json_array_get(missing, 0)),
				      nmiss == 1 ? "it" : "them");
	return wan_report_add(rep, "system.dependencies", NULL, WAN_CHECK_PASS, d,
			      "%zu configured command%s found", v->ndependencies,
			      v->ndependencies == 1 ? "" : "s");
}

int wan_validate_system(const struct wan_config *cfg, struct wan_state *st,
			const char *const *specs, size_t n,
			uint64_t bytes_to_copy, struct wan_report *rep)
{
	const char *sp = st ? wan_state_path(st) : cfg->state_path;
	int err;

	if ((err = check_disk(cfg, sp, bytes_to_copy, rep)) < 0 ||
	    (err = check_memory(cfg, rep)) < 0 ||
	    (err = check_gpu(cfg, specs, n, rep)) < 0 ||
	    (err = check_filesystem(cfg, sp, rep)) < 0 ||
	    (err = check_dependencies(cfg, rep)) < 0)
		return err;
	return 0;
}

/* ---- inference.smoke -------------------------------------------------------------- */

/* Characters that never need quoting in a shell word. */
static bool shell_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,:=@%+-", *s))
			return false;
	return true;
}

static int add_quoted(struct buf *b, const char *v)
{
	int err = 0;

	if (shell_safe(v))
		return buf_adds(b, v);
	err = buf_addch(b, '\'');
	for (; !err && *v; v++)
		err = *v == '\'' ? buf_adds(b, "'\\''") : buf_addch(b, *v);
	return err ? err : buf_addch(b, '\'');
}

int wan_validate_fill_template(const char *tpl, const char *model, const char *ckpt_dir,
			       const char *output, const char *size, char **out)
{
	struct buf b = BUF_INIT;
	int err = 0;

	*out = NULL;
	for (const char *p = tpl; *p && !err;) {
		static const char *const keys[] = { "{model}", "{ckpt_dir}", "{output}", "{size}" };
		const char *vals[] = { model, ckpt_dir, output, size };
		size_t k;

		for (k = 0; k < ARRAY_SIZE(keys); k++)
			if (!strncmp(p, keys[k], strlen(keys[k])))
				break;
		if (k < ARRAY_SIZE(keys)) {
			err = add_quoted(&b, vals[k] ? vals[k] : "");
			p += strlen(keys[k]);
		} else {
			err = buf_addch(&b, *p++);
		}
	}
	if (!err && !b.p)
		err = buf_adds(&b, "");
	if (err) {
		buf_release(&b);
		return wan_err(WAN_ENOMEM, "out of memory filling the smoke command");
	}
	*out = buf_detach(&b);
	return 0;
}

struct gpu_sampler {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool started;
	uint64_t baseline;   /* memory used on all GPUs before the run */
	uint64_t peak;       /* highest sum of memory used while it ran */
	unsigned samples;
};

static uint64_t gpu_used_now(bool *ok)
{
	struct wan_gpu_info *g = NULL;
	size_t n = 0;
	uint64_t used = 0;

	*ok = wan_nvml_query(&g, &n, NULL, 0) == 0 && n > 0;
	for (size_t i = 0; i < n; i++)
		used += g[i].mem_used;
	free(g);
	return used;
}

static void *gpu_sampler_main(void *arg)
{
	struct gpu_sampler *gs = arg;

	pthread_mutex_lock(&gs->mu);
	while (!gs->stop) {
		struct timespec ts;
		uint64_t used;
		bool ok;

		pthread_mutex_unlock(&gs->mu);
		used = gpu_used_now(&ok);
		pthread_mutex_lock(&gs->mu);
		if (ok) {
			gs->samples++;
			if (used > gs->peak)
				gs->peak = used;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!gs->stop)
			pthread_cond_timedwait(&gs->cv, &gs->mu, &ts);
	}
	pthread_mutex_unlock(&gs->mu);
	return NULL;
}

static void gpu_sampler_start(struct gpu_sampler *gs)
{
	bool ok;

	memset(gs, 0, sizeof(*gs));
	gs->baseline = gpu_used_now(&ok);
	wan_err_clear();
	if (!ok)
		return;
	gs->peak = gs->baseline;
	pthread_mutex_init(&gs->mu, NULL);
	pthread_cond_init(&gs->cv, NULL);
	if (pthread_create(&gs->th, NULL, gpu_sampler_main, gs) == 0) {
		gs->started = true;
	} else {
		pthread_mutex_destroy(&gs->mu);
		pthread_cond_destroy(&gs->cv);
	}
}

static void gpu_sampler_stop(struct gpu_sampler *gs)
{
	if (!gs->started)
		return;
	pthread_mutex_lock(&gs->mu);
	gs->stop = true;
	pthread_cond_signal(&gs->cv);
	pthread_mutex_unlock(&gs->mu);
	pthread_join(gs->th, NULL);
	pthread_mutex_destroy(&gs->mu);
	pthread_cond_destroy(&gs->cv);
}

/* The last non-empty line of text (for messages), at most 300 bytes. */
static void last_line(const char *text, char *dst, size_t size)
{
	const char *end, *start;

	dst[0] = '\0';
	if (!text)
		return;
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	if (end - start > 300)
		start = end - 300;
	snprintf(dst, size, "%.*s", (int)(end - start), start);
}

static int check_smoke(const struct wan_config *cfg, const struct wan_post_ctx *c,
		       struct wan_report *rep, double *smoke_seconds)
{
	const struct wan_validation_cfg *v = &cfg->validation;
	const struct wan_spec *spec = c->spec ? wan_catalog_find(c->spec) : NULL;
	const char *size = spec && spec->default_size ? spec->default_size : "";
	char tmpl[WAN_PATH_MAX], output[WAN_PATH_MAX], line[400];
	char env_model[512], env_ckpt[WAN_PATH_MAX + 32], env_out[WAN_PATH_MAX + 32];
	char env_size[128], env_rel[128];
	const char *env[6];
	const char *tmpdir = getenv("TMPDIR");
	struct wan_cmd_result res;
	struct gpu_sampler gs;
	char *cmd = NULL;
	struct stat sb;
	bool have_output;
	uint64_t out_bytes = 0;
	double limit_prev = 0;
	json_t *d = NULL;
	int err;

	if (!v->inference_command || !*v->inference_command)
		return wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_SKIP, NULL,
				      "no smoke command configured (validation.inference_command)");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	if ((err = wan_snprintf(tmpl, sizeof(tmpl), "%s/wanctl-smoke-XXXXXX", tmpdir)) < 0)
		return err;
	if (!mkdtemp(tmpl))
		return wan_err_sys(0, "cannot create a folder for the smoke output in '%s'", tmpdir);
	if ((err = wan_snprintf(output, sizeof(output), "%s/output.mp4", tmpl)) < 0)
		goto out_dir;
	if ((err = wan_validate_fill_template(v->inference_command, c->model, c->ckpt_dir,
					      output, size, &cmd)) < 0)
		goto out_dir;
	snprintf(env_model, sizeof(env_model), "WANCTL_MODEL=%s", c->model ? c->model : "");
	snprintf(env_ckpt, sizeof(env_ckpt), "WANCTL_CKPT_DIR=%s", c->ckpt_dir ? c->ckpt_dir : "");
	snprintf(env_out, sizeof(env_out), "WANCTL_OUTPUT=%s", output);
	snprintf(env_size, sizeof(env_size), "WANCTL_SIZE=%s", size);
	snprintf(env_rel, sizeof(env_rel), "WANCTL_RELEASE=%s", c->release ? c->release : "");
	env[0] = env_model;
	env[1] = env_ckpt;
	env[2] = env_out;
	env[3] = env_size;
	env[4] = env_rel;
	env[5] = NULL;
	wan_log(WAN_LOG_INFO, "smoke test of '%s': %s", c->model ? c->model : "?", cmd);
	gpu_sampler_start(&gs);
	err = wan_run_command(cmd, env, NULL, (double)v->inference_timeout_seconds,
			      SMOKE_OUTPUT_CAP, &res);
	gpu_sampler_stop(&gs);
	if (err < 0) {
		err = wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_FAIL,
				     json_pack("{s:s}", "command", cmd),
				     "cannot run the smoke command: %s", wan_errmsg());
		wan_err_clear();
		goto out_dir;
	}
	have_output = stat(output, &sb) == 0 && S_ISREG(sb.st_mode);
	if (have_output)
		out_bytes = (uint64_t)sb.st_size;
	if (c->prev_smoke_seconds > 0)
		limit_prev = c->prev_smoke_seconds * (1.0 + v->max_regression_percent / 100.0);
	d = json_pack("{s:s, s:f, s:i, s:b, s:I, s:I, s:s, s:I}", "command", cmd,
		      "seconds", res.seconds, "exit_status", res.exit_status,
		      "timed_out", res.timed_out, "max_rss", (json_int_t)res.max_rss,
		      "output_bytes", (json_int_t)out_bytes,
		      "output_tail", res.output ? res.output : "",
		      "timeout_seconds", (json_int_t)v->inference_timeout_seconds);
	if (!d) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		wan_cmd_result_release(&res);
		goto out_dir;
	}
	if (gs.started && gs.samples) {
		json_object_set_new(d, "gpu_memory_peak", json_integer((json_int_t)gs.peak));
		json_object_set_new(d, "gpu_memory_baseline", json_integer((json_int_t)gs.baseline));
		json_object_set_new(d, "gpu_samples", json_integer(gs.samples));
	}
	if (v->max_inference_seconds > 0)
		json_object_set_new(d, "max_inference_seconds", json_real(v->max_inference_seconds));
	if (c->prev_smoke_seconds > 0) {
		json_object_set_new(d, "previous_seconds", json_real(c->prev_smoke_seconds));
		json_object_set_new(d, "regression_limit_seconds", json_real(limit_prev));
	}
	last_line(res.output, line, sizeof(line));
	if (res.timed_out)
		err = wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_FAIL, d,
				     "smoke command timed out after %.1f s (validation.inference_timeout_seconds %lld) and was killed%s%s",
				     res.seconds, (long long)v->inference_timeout_seconds,
				     line[0] ? "; last output: " : "", line);
	else if (res.exit_status != 0)
		err = wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_FAIL, d,
				     "smoke command exited with status %d after %.1f s%s%s",
				     res.exit_status, res.seconds, line[0] ? "; last output: " : "",
				     line);
	else if (!have_output || !out_bytes)
		err = wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_FAIL, d,
				     "smoke command exited 0 but %s output '%s' (the command must write the file named by {output}, also in $WANCTL_OUTPUT)",
				     have_output ? "wrote an empty" : "wrote no", output);
	else if (v->max_inference_seconds > 0 && res.seconds > v->max_inference_seconds)
		err = wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_FAIL, d,
				     "smoke inference took %.1f s, more than validation.max_inference_seconds %g",
				     res.seconds, v->max_inference_seconds);
	else if (limit_prev > 0 && res.seconds > limit_prev)
		err = wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_FAIL, d,
				     "smoke inference took %.1f s, %.0f%% slower than the previous release's %.1f s (validation.max_regression_percent %g)",
				     res.seconds, (res.seconds / c->prev_smoke_seconds - 1.0) * 100.0,
				     c->prev_smoke_seconds, v->max_regression_percent);
	else
		err = wan_report_add(rep, "inference.smoke", c->model, WAN_CHECK_PASS, d,
				     "smoke inference passed in %.1f s (output %llu bytes, peak RSS %.0f MB%s)",
				     res.seconds, (unsigned long long)out_bytes,
				     (double)res.max_rss / 1e6, gs.samples ? ", GPU memory sampled" : "");
	if (smoke_seconds && !res.timed_out && res.exit_status == 0)
		*smoke_seconds = res.seconds;
	wan_cmd_result_release(&res);
out_dir:
	free(cmd);
	(void)path_remove_tree(tmpl);
	return err;
}

/* ---- service.ready ----------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t curl_discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

static int check_ready(const struct wan_config *cfg, const char *model,
		       struct wan_report *rep)
{
	const struct wan_validation_cfg *v = &cfg->validation;
	double t0 = wan_now_mono(), timeout = (double)v->readiness_timeout_seconds;
	char last[CURL_ERROR_SIZE + 64] = "no attempt";
	long code = 0;
	unsigned attempts = 0;
	CURL *h;

	if (!v->readiness_url || !*v->readiness_url)
		return wan_report_add(rep, "service.ready", model, WAN_CHECK_SKIP, NULL,
				      "no readiness URL configured (validation.readiness_url)");
	if (timeout <= 0)
		timeout = 60;
	pthread_once(&curl_once, curl_init_once);
	h = curl_easy_init();
	if (!h)
		return wan_err(WAN_ENOMEM, "cannot initialise libcurl");
	for (;;) {
		char errbuf[CURL_ERROR_SIZE] = "";
		double left = timeout - (wan_now_mono() - t0);
		long ms = (long)(left * 1000);
		CURLcode rc;

		if (ms < 100)
			ms = 100;
		if (ms > 5000)
			ms = 5000;
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, v->readiness_url);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_discard);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "wanctl/" WANCTL_VERSION);
		attempts++;
		rc = curl_easy_perform(h);
		code = 0;
		if (rc == CURLE_OK) {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
			if (code >= 200 && code < 300)
				break;
			snprintf(last, sizeof(last), "HTTP %ld", code);
		} else {
			snprintf(last, sizeof(last), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		}
		if (wan_now_mono() - t0 + 0.25 >= timeout)
			break;
		usleep(250000);
	}
	curl_easy_cleanup(h);
	if (code >= 200 && code < 300)
		return wan_report_add(rep, "service.ready", model, WAN_CHECK_PASS,
				      json_pack("{s:s, s:i, s:f, s:i}", "url", v->readiness_url,
						"status", (int)code, "seconds", wan_now_mono() - t0,
						"attempts", (int)attempts),
				      "'%s' answered HTTP %ld after %.1f s", v->readiness_url, code,
				      wan_now_mono() - t0);
	return wan_report_add(rep, "service.ready", model, WAN_CHECK_FAIL,
			      json_pack("{s:s, s:s, s:f, s:i}", "url", v->readiness_url,
					"last", last, "timeout_seconds", timeout,
					"attempts", (int)attempts),
			      "'%s' did not answer 2xx within %.0f s (validation.readiness_timeout_seconds); last attempt: %s",
			      v->readiness_url, timeout, last);
}

/* ---- wan_validate_post ------------------------------------------------------------ */

int wan_validate_post(const struct wan_config *cfg, const struct wan_post_ctx *c,
		      struct wan_report *rep, double *smoke_seconds)
{
	int err;

	if (smoke_seconds)
		*smoke_seconds = -1;
	if (!c->scan_tensors) {
		/* Deploy scans while copying and reports that itself. */
		err = report_has(rep, "tensors.finite", c->model) ? 0 :
			wan_report_add(rep, "tensors.finite", c->model, WAN_CHECK_SKIP, NULL,
				       "tensor data of production not scanned (validate post --scan-tensors does)");
	} else {
		struct src_tree t;

		memset(&t, 0, sizeof(t));
		err = source_scan(c->ckpt_dir, &t);
		if (err == WAN_ENOMEM)
			return err;
		if (err < 0) {
			err = wan_report_add(rep, "tensors.finite", c->model, WAN_CHECK_FAIL,
					     json_pack("{s:s}", "path", c->ckpt_dir),
					     "cannot read production '%s': %s", c->ckpt_dir,
					     wan_errmsg());
			wan_err_clear();
		} else {
			err = check_finite(&t, NULL, NULL, c->model, "production", rep);
			source_tree_release(&t);
		}
	}
	if (err < 0)
		return err;
	if ((err = check_smoke(cfg, c, rep, smoke_seconds)) < 0)
		return err;
	return check_ready(cfg, c->model, rep);
}

/* ---- wan_validate_pre ------------------------------------------------------------ */

int wan_validate_pre(const struct wan_config *cfg, const char *const *models,
		     size_t n, const char *source, unsigned flags,
		     struct wan_report *rep)
{
	const char **specs = NULL;
	struct wan_state *st = NULL;
	uint64_t to_copy = 0;
	bool planned = st != NULL;
	int err = 0;

	specs = calloc(n ? n : 1, sizeof(*specs));
	if (!specs)
		return wan_err(WAN_ENOMEM, "out of memory");
	/* The store, when it exists, tells what is already stored. */
	if (wan_state_open(&st, cfg, WAN_STATE_READONLY | WAN_STATE_NO_RECOVER, 0,
			   "validate") < 0)
		st = NULL;
	wan_err_clear();
	planned = st != NULL;
	for (size_t i = 0; i < n; i++) {
		const struct wan_spec *resolved;
		char src[WAN_PATH_MAX];
		uint64_t bytes = 0;

		if ((err = wan_config_model(cfg, models[i], &specs[i], src, sizeof(src))) < 0)
			goto out;
		if (source && (err = path_absolute(src, sizeof(src), NULL, source)) < 0)
			goto out;
		resolved = NULL;
		if ((err = staging_run(cfg, models[i], specs[i], src, flags, rep, &bytes,
				       &resolved)) < 0)
			goto out;
		if (resolved)
			specs[i] = resolved->name;
		if (!(flags & WAN_VALIDATE_FULL) &&
		    (err = wan_report_add(rep, "tensors.finite", models[i], WAN_CHECK_SKIP, NULL,
					  "tensor data not read before deployment (headers only): --full scans it here, deploy scans it while copying")) < 0)
			goto out;
		if (st && bytes) {
			struct src_tree t;
			uint64_t c = 0;

			memset(&t, 0, sizeof(t));
			if (source_scan(src, &t) == 0 && ingest_plan(st, &t, false, &c) == 0) {
				to_copy += c;
			} else {
				to_copy += bytes;
				planned = false;
			}
			source_tree_release(&t);
			wan_err_clear();
		} else {
			to_copy += bytes;
		}
	}
	if (!planned)
		wan_log(WAN_LOG_DEBUG, "disk check counts every staging byte (no deduplication estimate)");
	err = wan_validate_system(cfg, st, specs, n, to_copy, rep);
out:
	wan_state_close(st);
	free(specs);
	return err;
}

/* ---- validate post ----------------------------------------------------------------- */

static bool release_id_ok(const char *id)
{
	if (strlen(id) != WAN_RELEASE_ID_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* release.link; *id receives the live release ("" when none). */
static int check_link(struct wan_state *st, const char *model, char id[WAN_RELEASE_ID_LEN + 1],
		      struct wan_report *rep)
{
	const struct wan_config *cfg = wan_state_config(st);
	char p[WAN_PATH_MAX], lt[WAN_PATH_MAX], rdir[WAN_PATH_MAX], mpath[WAN_PATH_MAX];
	char rp[PATH_MAX], rr[PATH_MAX];
	struct stat sb;
	ssize_t n;
	json_t *d;
	int err;

	id[0] = '\0';
	if ((err = path_join(p, sizeof(p), cfg->target_models_path, model)) < 0)
		return err;
	if (lstat(p, &sb) < 0)
		return wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL,
				      json_pack("{s:s}", "path", p),
				      "'%s' %s: model '%s' is not deployed", p,
				      errno == ENOENT ? "does not exist" : strerror(errno), model);
	if (S_ISDIR(sb.st_mode))
		return wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL,
				      json_pack("{s:s}", "path", p),
				      "'%s' is an unmanaged folder, not a link to a release: deploy once to adopt it",
				      p);
	if (!S_ISLNK(sb.st_mode))
		return wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL,
				      json_pack("{s:s}", "path", p),
				      "'%s' is neither a link to a release nor a folder", p);
	n = readlink(p, lt, sizeof(lt) - 1);
	if (n < 0)
		return wan_err_sys(0, "cannot read the link '%s'", p);
	lt[n] = '\0';
	d = json_pack("{s:s, s:s, s:s}", "path", p, "link", lt, "release", base_name(lt));
	if (!release_id_ok(base_name(lt))) {
		return wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL, d,
				      "'%s' points to '%s', which is not a wanctl release", p, lt);
	}
	memcpy(id, base_name(lt), WAN_RELEASE_ID_LEN + 1);
	/* Real paths here (realpath, stat), so too long is an error. */
	if ((err = wan_snprintf(rdir, sizeof(rdir), "%s/releases/%s/%s", wan_state_path(st),
				model, id)) < 0 ||
	    (err = wan_snprintf(mpath, sizeof(mpath), "%s.json", rdir)) < 0) {
		json_decref(d);
		return err;
	}
	if (!realpath(p, rp)) {
		int e = errno;

		id[0] = '\0';
		return wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL, d,
				      "'%s' -> '%s' does not resolve: %s", p, lt, strerror(e));
	}
	if (!realpath(rdir, rr) || strcmp(rp, rr)) {
		id[0] = '\0';
		return wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL, d,
				      "'%s' resolves to '%s', not to the release folder '%s'", p, rp, rdir);
	}
	if (stat(mpath, &sb) < 0) {
		id[0] = '\0';
		return wan_report_add(rep, "release.link", model, WAN_CHECK_FAIL, d,
				      "release %s of '%s' has no manifest '%s'", base_name(lt), model,
				      mpath);
	}
	return wan_report_add(rep, "release.link", model, WAN_CHECK_PASS, d,
			      "'%s' resolves to release %s", p, id);
}

static double prev_smoke(struct wan_state *st, const char *model, const char *id)
{
	sqlite3_stmt *q = NULL;
	double v = -1;

	if (wan_db_prepare(wan_state_db(st), &q,
			   "SELECT smoke_seconds FROM releases WHERE model = ? AND id <> ?"
			   " AND smoke_seconds IS NOT NULL ORDER BY created DESC LIMIT 1") < 0) {
		wan_err_clear();
		return -1;
	}
	sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_double(q, 0);
	sqlite3_finalize(q);
	return v;
}

int wan_validate_deployed(struct wan_state *st, const char *model, unsigned flags,
			  struct wan_report *rep)
{
	const struct wan_config *cfg = wan_state_config(st);
	char id[WAN_RELEASE_ID_LEN + 1], src[WAN_PATH_MAX], dir[WAN_PATH_MAX];
	const char *spec = NULL;
	struct wan_post_ctx pc;
	bool full = (flags & WAN_VALIDATE_FULL) || cfg->deployment.verify == WAN_VERIFY_FULL;
	int err;

	if ((err = wan_config_model(cfg, model, &spec, src, sizeof(src))) < 0)
		return err;
	if ((err = check_link(st, model, id, rep)) < 0)
		return err;
	if (!id[0])
		return wan_report_add(rep, "release.files", model, WAN_CHECK_SKIP, NULL,
				      "no release to verify (see release.link)");
	if ((err = wan_verify(st, &model, 1, !full, rep)) < 0)
		return err;
	if ((err = path_join(dir, sizeof(dir), cfg->target_models_path, model)) < 0)
		return err;
	memset(&pc, 0, sizeof(pc));
	pc.model = model;
	pc.spec = spec;
	pc.release = id;
	pc.ckpt_dir = dir;
	pc.prev_smoke_seconds = prev_smoke(st, model, id);
	pc.scan_tensors = flags & (WAN_VALIDATE_FULL | WAN_VALIDATE_SCAN);
	return wan_validate_post(cfg, &pc, rep, NULL);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int wan_validate_deployed_models(const struct wan_config *cfg, char ***names, size_t *n)
{
	char rel[WAN_PATH_MAX], relreal[PATH_MAX];
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	bool have_rel;

	*names = NULL;
	*n = 0;
	if (path_join(rel, sizeof(rel), cfg->state_path, "releases") < 0)
		return WAN_EINVAL;
	have_rel = realpath(rel, relreal) != NULL;
	d = opendir(cfg->target_models_path);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return wan_err_sys(0, "cannot list '%s'", cfg->target_models_path);
	}
	while ((de = readdir(d))) {
		char p[WAN_PATH_MAX], rp[PATH_MAX];
		struct stat sb;
		bool take = false;

		if (de->d_name[0] == '.' || path_join(p, sizeof(p), cfg->target_models_path,
						      de->d_name) < 0 || lstat(p, &sb) < 0)
			continue;
		if (S_ISLNK(sb.st_mode)) {
			size_t l = strlen(relreal);

			take = have_rel && realpath(p, rp) && !strncmp(rp, relreal, l) &&
			       rp[l] == '/';
		} else if (S_ISDIR(sb.st_mode)) {
			for (size_t i = 0; i < cfg->nmodels && !take; i++)
				take = !strcmp(cfg->models[i].name, de->d_name);
		}
		if (!take)
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 8;
			char **nv = realloc(v, nc * sizeof(*v));

			if (!nv)
				goto oom;
			v = nv;
			cap = nc;
		}
		if (!(v[cnt] = strdup(de->d_name)))
			goto oom;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*names = v;
	*n = cnt;
	return 0;
oom:
	closedir(d);
	for (size_t i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	return wan_err(WAN_ENOMEM, "out of memory");
}

int wan_validate_health(struct wan_state *st, const char *model, struct wan_report *rep)
{
	const struct wan_config *cfg = wan_state_config(st);
	char id[WAN_RELEASE_ID_LEN + 1], src[WAN_PATH_MAX];
	const char *spec = NULL;
	int err;

	if ((err = wan_config_model(cfg, model, &spec, src, sizeof(src))) < 0)
		return err;
	if ((err = check_link(st, model, id, rep)) < 0)
		return err;
	if (id[0] && (err = wan_verify(st, &model, 1, true, rep)) < 0)
		return err;
	if ((err = check_gpu(cfg, &spec, 1, rep)) < 0)
		return err;
	return check_ready(cfg, model, rep);
}
