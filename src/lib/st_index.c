#include "util/common.h"
#include "util/buf.h"
#include "util/path.h"
#include "util/xio.h"
#include "wanctl/formats.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

/*
 * Sharded safetensors checkpoints: <stem>.safetensors.index.json next to
 * <stem>-00001-of-0000M.safetensors ... (huggingface_hub / transformers /
 * diffusers layout).
 */

#define IDX_MAX_PROBLEMS 20

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void wan_st_index_free(struct wan_st_index *ix)
{
	if (!ix)
		return;
	json_decref(ix->root);
	free(ix->shards);   /* strings borrowed from root */
	free(ix);
}

int wan_st_index_parse(struct wan_st_index **out, const void *buf, size_t len,
		       const char *name)
{
	struct wan_st_index *ix;
	json_error_t jerr;
	json_t *meta, *v;
	const char *key;
	size_t n = 0;
	int err = 0;

	*out = NULL;
	if (len > WAN_ST_INDEX_MAX)
		return wan_err(WAN_ECORRUPT, "invalid index '%s': %zu bytes, more than the limit of %llu",
			       name, len, (unsigned long long)WAN_ST_INDEX_MAX);
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return wan_err(WAN_ENOMEM, "out of memory");
	ix->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!ix->root) {
		err = wan_err(WAN_ECORRUPT, "invalid index '%s': %s (line %d, column %d, byte %d)",
			      name, jerr.text, jerr.line, jerr.column, jerr.position);
		goto fail;
	}
	if (!json_is_object(ix->root)) {
		err = wan_err(WAN_ECORRUPT, "invalid index '%s': not a JSON object", name);
		goto fail;
	}
	ix->weight_map = json_object_get(ix->root, "weight_map");
	if (!json_is_object(ix->weight_map)) {
		err = wan_err(WAN_ECORRUPT, "invalid index '%s': no \"weight_map\" object", name);
		goto fail;
	}
	meta = json_object_get(ix->root, "metadata");
	if (meta && !json_is_object(meta) && !json_is_null(meta)) {
		err = wan_err(WAN_ECORRUPT, "invalid index '%s': \"metadata\" is not an object", name);
		goto fail;
	}
	v = json_is_object(meta) ? json_object_get(meta, "total_size") : NULL;
	if (v) {
		if (json_is_integer(v) && json_integer_value(v) >= 0) {
			ix->total_size = (uint64_t)json_integer_value(v);
		} else if (json_is_real(v) && json_real_value(v) >= 0 &&
			   json_real_value(v) < 9.2e18 &&
			   (double)(uint64_t)json_real_value(v) == json_real_value(v)) {
			ix->total_size = (uint64_t)json_real_value(v);
		} else {
			err = wan_err(WAN_ECORRUPT,
				      "invalid index '%s': metadata.total_size is not a non-negative integer",
				      name);
			goto fail;
		}
		ix->has_total_size = 1;
	}
	ix->shards = malloc((json_object_size(ix->weight_map) + 1) * sizeof(char *));
	if (!ix->shards) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto fail;
	}
	json_object_foreach(ix->weight_map, key, v) {
		if (!json_is_string(v)) {
			err = wan_err(WAN_ECORRUPT,
				      "invalid index '%s': weight_map entry '%s' is not a file name",
				      name, key);
			goto fail;
		}
		if (path_check_relative(json_string_value(v)) < 0) {
			err = wan_err(WAN_ECORRUPT,
				      "invalid index '%s': weight_map entry '%s' names an unsafe path: %s",
				      name, key, wan_errmsg());
			goto fail;
		}
		ix->shards[n++] = (char *)json_string_value(v);
	}
	qsort(ix->shards, n, sizeof(char *), cmp_str);
	ix->nshards = 0;
	for (size_t i = 0; i < n; i++)
		if (!ix->nshards || strcmp(ix->shards[ix->nshards - 1], ix->shards[i]))
			ix->shards[ix->nshards++] = ix->shards[i];
	*out = ix;
	return 0;
fail:
	wan_st_index_free(ix);
	return err;
}

/* "<stem>-<i>-of-<m>.safetensors" -> 1 with i, m; else 0. */
static int shard_series(const char *file, const char *stem, unsigned long *i,
			unsigned long *m)
{
	size_t sl = strlen(stem);
	const char *p = file;
	char *e;

	if (strncmp(p, stem, sl) || p[sl] != '-')
		return 0;
	p += sl + 1;
	if (*p < '0' || *p > '9')
		return 0;
	*i = strtoul(p, &e, 10);
	if (strncmp(e, "-of-", 4))
		return 0;
	p = e + 4;
	if (*p < '0' || *p > '9')
		return 0;
	*m = strtoul(p, &e, 10);
	return !strcmp(e, ".safetensors");
}

struct idx_ctx {
	struct wan_report *rep;
	const char *model;
	const char *index;
	unsigned problems;
	int err;
};

static void __attribute__((format(printf, 3, 4)))
idx_problem(struct idx_ctx *c, json_t *details, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	c->problems++;
	if (c->problems > IDX_MAX_PROBLEMS) {
		json_decref(details);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (wan_report_add(c->rep, "staging.index", c->model, WAN_CHECK_FAIL,
			   details, "%s: %s", c->index, msg) < 0)
		c->err = WAN_ENOMEM;
}

static int read_small(int dirfd, const char *rel, size_t max, char **out,
		      size_t *len, const char *what)
{
	struct stat sb;
	char *b;
	ssize_t r;
	int fd = path_open_beneath(dirfd, rel, O_RDONLY, 0);

	*out = NULL;
	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s'", what);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		xclose(fd);
		return wan_err(WAN_EINVAL, "'%s' is not a regular file", what);
	}
	if ((uint64_t)sb.st_size > max) {
		xclose(fd);
		return wan_err(WAN_ECORRUPT, "'%s' is %llu bytes, more than the limit of %zu",
			       what, (unsigned long long)sb.st_size, max);
	}
	b = malloc((size_t)sb.st_size + 1);
	if (!b) {
		xclose(fd);
		return wan_err(WAN_ENOMEM, "out of memory");
	}
	r = xpread(fd, b, (size_t)sb.st_size, 0);
	xclose(fd);
	if (r != (ssize_t)sb.st_size) {
		free(b);
		return wan_err(WAN_EIO, "cannot read '%s'", what);
	}
	b[r] = '\0';
	*out = b;
	*len = (size_t)r;
	return 0;
}

int wan_st_index_check(const char *dir, const char *index_relpath,
		       const char *model, struct wan_report *rep)
{
	struct idx_ctx c = { rep, model, index_relpath, 0, 0 };
	struct wan_st_index *ix = NULL;
	struct wan_st_header **hdrs = NULL;
	char shard_dir[WAN_PATH_MAX], stem[WAN_PATH_MAX];
	const char *base, *slash;
	json_t *where = NULL;       /* tensor -> shard index */
	char *text = NULL;
	size_t len = 0, blen;
	uint64_t sum = 0;
	unsigned long series_m = 0;
	int dirfd = -1, sdirfd = -1, err;
	static const char suffix[] = ".safetensors.index.json";

	dirfd = xopen(dir, O_RDONLY | O_DIRECTORY, 0);
	if (dirfd < 0) {
		idx_problem(&c, NULL, "cannot open folder '%s': %s", dir, strerror(errno));
		goto out;
	}
	err = read_small(dirfd, index_relpath, WAN_ST_INDEX_MAX, &text, &len, index_relpath);
	if (err == 0)
		err = wan_st_index_parse(&ix, text, len, index_relpath);
	if (err < 0) {
		if (err == WAN_ENOMEM)
			c.err = err;
		idx_problem(&c, NULL, "%s", wan_errmsg());
		goto out;
	}
	slash = strrchr(index_relpath, '/');
	base = slash ? slash + 1 : index_relpath;
	if (slash)
		snprintf(shard_dir, sizeof(shard_dir), "%.*s",
			 (int)(slash - index_relpath), index_relpath);
	else
		snprintf(shard_dir, sizeof(shard_dir), ".");
	stem[0] = '\0';
	blen = strlen(base);
	if (blen > sizeof(suffix) - 1 && !strcmp(base + blen - (sizeof(suffix) - 1), suffix))
		snprintf(stem, sizeof(stem), "%.*s", (int)(blen - (sizeof(suffix) - 1)), base);
	sdirfd = path_open_beneath(dirfd, shard_dir, O_RDONLY | O_DIRECTORY, 0);
	if (sdirfd < 0) {
		idx_problem(&c, NULL, "cannot open the shard folder '%s': %s", shard_dir,
			    strerror(errno));
		goto out;
	}

	/* Series: all <stem>-i-of-M named in the weight_map, 1..M complete. */
	if (stem[0]) {
		unsigned char *seen = NULL;
		for (size_t i = 0; i < ix->nshards; i++) {
			unsigned long si, sm;
			if (!shard_series(ix->shards[i], stem, &si, &sm))
				continue;
			if (sm == 0 || sm > 100000 || si == 0 || si > sm) {
				idx_problem(&c, NULL, "shard name '%s' has a bad number", ix->shards[i]);
				continue;
			}
			if (series_m && sm != series_m) {
				idx_problem(&c, NULL, "shard '%s' belongs to a series of %lu, others to %lu",
					    ix->shards[i], sm, series_m);
				continue;
			}
			if (!series_m) {
				series_m = sm;
				seen = calloc(sm + 1, 1);
				if (!seen) {
					c.err = WAN_ENOMEM;
					goto out;
				}
			}
			seen[si] = 1;
		}
		for (unsigned long k = 1; seen && k <= series_m; k++)
			if (!seen[k])
				idx_problem(&c, NULL, "shard %lu of %lu ('%s-%05lu-of-%05lu.safetensors') is not in the weight_map",
					    k, series_m, stem, k, series_m);
		free(seen);

		/* Shard files on disk that the index does not name. */
		int dfd = dup(sdirfd);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;
		if (!d && dfd >= 0)
			close(dfd);
		while (d && (de = readdir(d))) {
			unsigned long si, sm;
			const char *nm = de->d_name;
			if (!shard_series(nm, stem, &si, &sm))
				continue;
			if (!bsearch(&nm, ix->shards, ix->nshards, sizeof(char *), cmp_str))
				idx_problem(&c, json_pack("{s:s}", "shard", nm),
					    "shard file '%s' is not referenced by the index", nm);
		}
		if (d)
			closedir(d);
	}

	/* Shard headers; tensor -> shard map. */
	hdrs = calloc(ix->nshards ? ix->nshards : 1, sizeof(*hdrs));
	where = json_object();
	if (!hdrs || !where) {
		c.err = WAN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ix->nshards; i++) {
		struct stat sb;
		int fd = path_open_beneath(sdirfd, ix->shards[i], O_RDONLY, 0);

		if (fd < 0) {
			idx_problem(&c, json_pack("{s:s}", "shard", ix->shards[i]),
				    "shard '%s' named by the weight_map cannot be opened: %s",
				    ix->shards[i], strerror(errno));
			continue;
		}
		if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			xclose(fd);
			idx_problem(&c, NULL, "shard '%s' is not a regular file", ix->shards[i]);
			continue;
		}
		err = wan_st_parse_fd(&hdrs[i], fd, (uint64_t)sb.st_size, ix->shards[i]);
		xclose(fd);
		if (err < 0) {
			if (err == WAN_ENOMEM) {
				c.err = err;
				goto out;
			}
			idx_problem(&c, json_pack("{s:s}", "shard", ix->shards[i]),
				    "shard '%s' is not a valid safetensors file: %s",
				    ix->shards[i], wan_errmsg());
			continue;
		}
		for (size_t k = 0; k < hdrs[i]->ntensors; k++) {
			const struct wan_st_tensor *t = &hdrs[i]->tensors[k];
			json_t *prev = json_object_get(where, t->name);

			sum += t->end - t->begin;
			if (prev) {
				idx_problem(&c, json_pack("{s:s}", "tensor", t->name),
					    "tensor '%s' is in two shards: '%s' and '%s'", t->name,
					    ix->shards[json_integer_value(prev)], ix->shards[i]);
				continue;
			}
			if (json_object_set_new(where, t->name, json_integer((json_int_t)i)) < 0) {
				c.err = WAN_ENOMEM;
				goto out;
			}
			if (!json_object_get(ix->weight_map, t->name))
				idx_problem(&c, json_pack("{s:s,s:s}", "tensor", t->name,
							  "shard", ix->shards[i]),
					    "tensor '%s' of shard '%s' is not in the weight_map",
					    t->name, ix->shards[i]);
		}
	}
	{
		const char *key;
		json_t *v;
		json_object_foreach(ix->weight_map, key, v) {
			const char *sh = json_string_value(v);
			char **pos = bsearch(&sh, ix->shards, ix->nshards, sizeof(char *), cmp_str);
			json_t *w;
			size_t si;

			if (!pos)
				continue;
			si = (size_t)(pos - ix->shards);
			if (!hdrs[si])
				continue;   /* shard already reported */
			w = json_object_get(where, key);
			if (!w)
				idx_problem(&c, json_pack("{s:s,s:s}", "tensor", key, "shard", sh),
					    "tensor '%s' is mapped to shard '%s' but is in no shard",
					    key, sh);
			else if ((size_t)json_integer_value(w) != si)
				idx_problem(&c, json_pack("{s:s,s:s}", "tensor", key, "shard", sh),
					    "tensor '%s' is mapped to shard '%s' but is in '%s'",
					    key, sh, ix->shards[json_integer_value(w)]);
		}
	}
	if (c.problems == 0 && ix->has_total_size && ix->total_size != sum)
		idx_problem(&c, json_pack("{s:I,s:I}", "total_size", (json_int_t)ix->total_size,
					  "tensor_bytes", (json_int_t)sum),
			    "metadata.total_size is %llu but the shards hold %llu tensor bytes",
			    (unsigned long long)ix->total_size, (unsigned long long)sum);
	if (c.problems == 0) {
		if (wan_report_add(rep, "staging.index", model,
				   ix->has_total_size ? WAN_CHECK_PASS : WAN_CHECK_WARN,
				   json_pack("{s:I,s:I,s:I}", "tensors",
					     (json_int_t)json_object_size(ix->weight_map),
					     "shards", (json_int_t)ix->nshards,
					     "tensor_bytes", (json_int_t)sum),
				   ix->has_total_size
				   ? "%s: %zu tensors in %zu shards, %llu bytes, matching metadata.total_size"
				   : "%s: %zu tensors in %zu shards, %llu bytes; the index has no metadata.total_size",
				   index_relpath, json_object_size(ix->weight_map), ix->nshards,
				   (unsigned long long)sum) < 0)
			c.err = WAN_ENOMEM;
	}
out:
	if (c.problems > IDX_MAX_PROBLEMS &&
	    wan_report_add(rep, "staging.index", model, WAN_CHECK_FAIL, NULL,
			   "%s: %u more problems not listed", index_relpath,
			   c.problems - IDX_MAX_PROBLEMS) < 0)
		c.err = WAN_ENOMEM;
	if (hdrs)
		for (size_t i = 0; ix && i < ix->nshards; i++)
			wan_st_header_free(hdrs[i]);
	free(hdrs);
	json_decref(where);
	wan_st_index_free(ix);
	free(text);
	if (sdirfd >= 0)
		xclose(sdirfd);
	if (dirfd >= 0)
		xclose(dirfd);
	return c.err ? wan_err(c.err, "out of memory checking '%s'", index_relpath) : 0;
}
