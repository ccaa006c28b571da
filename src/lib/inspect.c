#include "util/common.h"
#include "util/xio.h"
#include "wanctl/formats.h"
#include <errno.h>
#include <unistd.h>

/*
 * One file: detect the format from name and first bytes, check it, and
 * summarise. Used by `wanctl inspect` and by validation.
 */

#define INSPECT_CHUNK (1u << 20)
#define INSPECT_JSON_MAX (64u << 20)

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcasecmp(s + a - b, suf);
}

static int set(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) < 0 ? WAN_ENOMEM : 0;
}

/* Record invalidity in the summary; returns WAN_ECORRUPT. */
static int invalid(json_t *sum, const char *fmt_name, const char *msg)
{
	json_object_set_new(sum, "format", json_string(fmt_name));
	json_object_set_new(sum, "valid", json_false());
	json_object_set_new(sum, "error", json_string(msg));
	return wan_err(WAN_ECORRUPT, "%s", msg);
}

static int inspect_safetensors(int fd, const char *path, uint64_t size,
			       const unsigned char *head, size_t hlen, int full,
			       json_t *sum)
{
	struct wan_st_header *h = NULL;
	struct wan_tscan *ts = NULL;
	unsigned char *buf = NULL;
	json_t *dtypes, *stats = NULL;
	uint64_t params = 0;
	char msg[1024];
	int err;

	if (hlen >= 4 && !memcmp(head, "PK\3\4", 4)) {
		snprintf(msg, sizeof(msg),
			 "invalid safetensors file '%s': it is a zip archive (a PyTorch checkpoint named .safetensors?)",
			 path);
		return invalid(sum, "safetensors", msg);
	}
	if (hlen >= 1 && head[0] == '<') {
		snprintf(msg, sizeof(msg),
			 "invalid safetensors file '%s': it holds HTML/XML text (a saved download error page?)",
			 path);
		return invalid(sum, "safetensors", msg);
	}
	err = wan_st_parse_fd(&h, fd, size, path);
	if (err == WAN_ECORRUPT)
		return invalid(sum, "safetensors", wan_errmsg());
	if (err < 0)
		return err;
	dtypes = json_object();
	if (!dtypes) {
		err = WAN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < h->ntensors; i++) {
		const char *dn = h->tensors[i].dtype->name;
		json_t *c = json_object_get(dtypes, dn);

		params += wan_st_tensor_elements(&h->tensors[i]);
		if (c)
			json_integer_set(c, json_integer_value(c) + 1);
		else
			json_object_set_new(dtypes, dn, json_integer(1));
	}
	if ((err = set(sum, "format", json_string("safetensors"))) < 0 ||
	    (err = set(sum, "tensors", json_integer((json_int_t)h->ntensors))) < 0 ||
	    (err = set(sum, "dtypes", dtypes)) < 0 ||
	    (err = set(sum, "parameters", json_integer((json_int_t)params))) < 0 ||
	    (err = set(sum, "data_bytes", json_integer((json_int_t)(size - h->data_start)))) < 0 ||
	    (err = set(sum, "header_bytes", json_integer((json_int_t)h->header_len))) < 0 ||
	    (err = set(sum, "metadata", h->metadata ? json_incref(h->metadata) : json_null())) < 0)
		goto out;
	if (full) {
		uint64_t off = 0;

		buf = malloc(INSPECT_CHUNK);
		if (!buf) {
			err = WAN_ENOMEM;
			goto out;
		}
		if ((err = wan_tscan_new(&ts, h, path)) < 0)
			goto out;
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		while (off < size) {
			size_t n = size - off < INSPECT_CHUNK ? (size_t)(size - off) : INSPECT_CHUNK;
			ssize_t r = xpread(fd, buf, n, (off_t)off);
			if (r < 0) {
				err = wan_err_sys(WAN_EIO, "cannot read '%s' at byte %llu", path,
						  (unsigned long long)off);
				goto out;
			}
			if (r == 0)
				break;  /* shrank: finish() reports it */
			wan_tscan_feed(ts, buf, (size_t)r);
			off += (uint64_t)r;
		}
		err = wan_tscan_finish(ts, &stats);
		if (stats)
			json_object_set_new(sum, "stats", stats);
		if (err == WAN_ECORRUPT) {
			err = invalid(sum, "safetensors", wan_errmsg());
			goto out;
		}
		if (err < 0)
			goto out;
		json_object_set_new(sum, "finite", json_true());
	}
	err = 0;
out:
	wan_tscan_free(ts);
	free(buf);
	wan_st_header_free(h);
	if (err == WAN_ENOMEM)
		err = wan_err(WAN_ENOMEM, "out of memory inspecting '%s'", path);
	return err;
}

static int inspect_pth(int fd, const char *path, uint64_t size, int full, json_t *sum)
{
	json_t *ps = NULL;
	int err = wan_pth_check_fd(fd, size, full, path, &ps);

	if (err == WAN_ECORRUPT)
		return invalid(sum, strstr(wan_errmsg(), "legacy") ? "pth-legacy" : "pth",
			       wan_errmsg());
	if (err < 0)
		return err;
	json_object_set_new(sum, "format", json_string("pth"));
	json_object_update(sum, ps);
	json_decref(ps);
	return 0;
}

static char *read_all(int fd, const char *path, uint64_t size, int *err)
{
	char *b;
	ssize_t r;

	*err = 0;
	if (size > INSPECT_JSON_MAX) {
		*err = wan_err(WAN_ECORRUPT, "'%s' is %llu bytes, more than the %u-byte limit for JSON",
			       path, (unsigned long long)size, INSPECT_JSON_MAX);
		return NULL;
	}
	b = malloc((size_t)size + 1);
	if (!b) {
		*err = wan_err(WAN_ENOMEM, "out of memory");
		return NULL;
	}
	r = xpread(fd, b, (size_t)size, 0);
	if (r != (ssize_t)size) {
		free(b);
		*err = wan_err_sys(WAN_EIO, "cannot read '%s'", path);
		return NULL;
	}
	b[size] = '\0';
	return b;
}

static int inspect_index(int fd, const char *path, uint64_t size, json_t *sum)
{
	struct wan_st_index *ix = NULL;
	struct wan_report *rep = NULL;
	char dir[4096];
	const char *slash = strrchr(path, '/');
	json_t *shards;
	int err;
	char *text = read_all(fd, path, size, &err);

	if (!text)
		return err == WAN_ECORRUPT ? invalid(sum, "index", wan_errmsg()) : err;
	err = wan_st_index_parse(&ix, text, (size_t)size, path);
	free(text);
	if (err == WAN_ECORRUPT)
		return invalid(sum, "index", wan_errmsg());
	if (err < 0)
		return err;
	shards = json_array();
	for (size_t i = 0; i < ix->nshards; i++)
		json_array_append_new(shards, json_string(ix->shards[i]));
	json_object_set_new(sum, "format", json_string("index"));
	json_object_set_new(sum, "weight_map_entries",
			    json_integer((json_int_t)json_object_size(ix->weight_map)));
	json_object_set_new(sum, "shards", shards);
	json_object_set_new(sum, "total_size", ix->has_total_size
			    ? json_integer((json_int_t)ix->total_size) : json_null());
	wan_st_index_free(ix);

	/* The shards next to it, through the full index check. */
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof(dir), ".");
	rep = wan_report_new();
	if (!rep)
		return wan_err(WAN_ENOMEM, "out of memory");
	err = wan_st_index_check(slash && slash == path ? "/" : dir,
				 slash ? slash + 1 : path, NULL, rep);
	if (err < 0) {
		wan_report_free(rep);
		return err;
	}
	json_object_set(sum, "checks", json_object_get(wan_report_json(rep), "checks"));
	if (wan_report_worst(rep) == WAN_CHECK_FAIL) {
		err = invalid(sum, "index", wan_report_first_failure(rep));
		wan_report_free(rep);
		return err;
	}
	wan_report_free(rep);
	return 0;
}

static int inspect_json(int fd, const char *path, uint64_t size, json_t *sum)
{
	json_error_t jerr;
	json_t *doc;
	char msg[1024];
	int err;
	char *text = read_all(fd, path, size, &err);

	if (!text)
		return err == WAN_ECORRUPT ? invalid(sum, "json", wan_errmsg()) : err;
	doc = json_loadb(text, (size_t)size, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!doc) {
		snprintf(msg, sizeof(msg), "invalid JSON file '%s': %s (line %d, column %d)",
			 path, jerr.text, jerr.line, jerr.column);
		return invalid(sum, "json", msg);
	}
	json_decref(doc);
	json_object_set_new(sum, "format", json_string("json"));
	return 0;
}

int wan_inspect_file(const char *path, int full, json_t **summary)
{
	unsigned char head[WAN_LFS_POINTER_MAX];
	struct stat sb;
	json_t *sum = NULL;
	char oid[65], msg[1024];
	uint64_t size, lsize;
	ssize_t hlen;
	int fd, err;

	*summary = NULL;
	fd = xopen(path, O_RDONLY, 0);
	if (fd < 0)
		return wan_err_sys(0, "cannot open '%s'", path);
	if (fstat(fd, &sb) < 0) {
		err = wan_err_sys(0, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err = wan_err(WAN_EINVAL, "'%s' is not a regular file", path);
		goto out;
	}
	size = (uint64_t)sb.st_size;
	hlen = xpread(fd, head, sizeof(head), 0);
	if (hlen < 0) {
		err = wan_err_sys(WAN_EIO, "cannot read '%s'", path);
		goto out;
	}
	sum = json_pack("{s:s, s:s, s:b, s:n, s:I}", "file", path, "format", "unknown",
			"valid", 1, "error", "size", (json_int_t)size);
	if (!sum) {
		err = wan_err(WAN_ENOMEM, "out of memory");
		goto out;
	}
	if (size == 0) {
		snprintf(msg, sizeof(msg), "'%s' is empty (a placeholder?)", path);
		err = invalid(sum, "empty", msg);
		goto out;
	}
	if (size < WAN_LFS_POINTER_MAX &&
	    wan_lfs_pointer_parse(head, (size_t)hlen, oid, &lsize) == 1) {
		snprintf(msg, sizeof(msg),
			 "'%s' is a git-lfs pointer standing for %llu bytes (oid sha256:%s); the content was never fetched (git lfs pull)",
			 path, (unsigned long long)lsize, oid);
		json_object_set_new(sum, "lfs", json_pack("{s:s, s:I}", "oid", oid,
							  "size", (json_int_t)lsize));
		err = invalid(sum, "lfs-pointer", msg);
		goto out;
	}
	if (ends_with(path, ".safetensors")) {
		err = inspect_safetensors(fd, path, size, head, (size_t)hlen, full, sum);
	} else if (ends_with(path, ".pth") || ends_with(path, ".pt") ||
		   ends_with(path, ".ckpt") || ends_with(path, ".bin") ||
		   (hlen >= 4 && !memcmp(head, "PK\3\4", 4)) ||
		   (hlen >= 2 && head[0] == 0x80 && head[1] == 0x02)) {
		err = inspect_pth(fd, path, size, full, sum);
	} else if (ends_with(path, ".safetensors.index.json")) {
		err = inspect_index(fd, path, size, sum);
	} else if (ends_with(path, ".json")) {
		err = inspect_json(fd, path, size, sum);
	} else if (hlen >= 9 && (head[8] == '{' || head[8] == ' ')) {
		err = inspect_safetensors(fd, path, size, head, (size_t)hlen, full, sum);
	} else {
		snprintf(msg, sizeof(msg),
			 "'%s': unrecognised format (not safetensors, a PyTorch zip, a git-lfs pointer or JSON)",
			 path);
		err = invalid(sum, "unknown", msg);
	}
out:
	xclose(fd);
	if (err == 0 || err == WAN_ECORRUPT) {
		*summary = sum;
	} else {
		json_decref(sum);
	}
	return err;
}
