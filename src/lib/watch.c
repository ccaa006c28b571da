/*
 * What the monitor watches: the models named in the configuration plus
 * every production link into the release store; whether each is available
 * (its link resolves to a release whose files are present with their
 * manifest sizes, each the very store object that was hashed when it was
 * written); and the rolling integrity scrub that re-hashes production
 * under a bandwidth cap.
 */
#include "util/common.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xio.h"
#include "wanctl/log.h"
#include "wanctl/monitor.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_MANIFEST_MAX (256u << 20)
#define SCRUB_CHUNK (1u << 20)

static const char *watch_state(const struct wan_config *cfg, char *buf, size_t size)
{
	if (cfg->state_path)
		return cfg->state_path;
	if (path_join(buf, size, cfg->target_models_path, ".wanctl") < 0)
		return NULL;
	return buf;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_add(char ***v, size_t *n, size_t *cap, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], s))
			return 0;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		char **nv = realloc(*v, c * sizeof(*nv));
		if (!nv)
			return wan_err(WAN_ENOMEM, "out of memory listing models");
		*v = nv;
		*cap = c;
	}
	if (!((*v)[*n] = strdup(s)))
		return wan_err(WAN_ENOMEM, "out of memory listing models");
	(*n)++;
	return 0;
}

void wan_watch_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int wan_watch_list(const struct wan_config *cfg, char ***names, size_t *n)
{
	char sbuf[WAN_PATH_MAX], rel[WAN_PATH_MAX], relreal[PATH_MAX];
	const char *state = watch_state(cfg, sbuf, sizeof(sbuf));
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	DIR *d;
	struct dirent *de;
	int err = 0;

	*names = NULL;
	*n = 0;
	for (size_t i = 0; i < cfg->nmodels; i++)
		if ((err = names_add(&v, &cnt, &cap, cfg->models[i].name)) < 0)
			goto fail;
	if (state && cfg->target_models_path &&
	    path_join(rel, sizeof(rel), state, "releases") == 0 &&
	    realpath(rel, relreal) && (d = opendir(cfg->target_models_path))) {
		size_t rl = strlen(relreal);
		while ((de = readdir(d))) {
			char link[WAN_PATH_MAX], real[PATH_MAX];
			struct stat lst;

			if (de->d_name[0] == '.' ||
			    path_join(link, sizeof(link), cfg->target_models_path, de->d_name) < 0 ||
			    lstat(link, &lst) < 0 || !S_ISLNK(lst.st_mode))
				continue;
			/* A deployed model: a link into <state>/releases/<model>/. A
			 * dangling one counts too (it is then unavailable). */
			if (realpath(link, real)) {
				if (strncmp(real, relreal, rl) || real[rl] != '/')
					continue;
			} else {
				char t[WAN_PATH_MAX];
				ssize_t l = readlink(link, t, sizeof(t) - 1);
				if (l <= 0)
					continue;
				t[l] = '\0';
				if (!strstr(t, "releases/"))
					continue;
			}
			if ((err = names_add(&v, &cnt, &cap, de->d_name)) < 0) {
				closedir(d);
				goto fail;
			}
		}
		closedir(d);
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), name_cmp);
	*names = v;
	*n = cnt;
	return 0;
fail:
	wan_watch_names_free(v, cnt);
	return err;
}

void wan_watch_model_release(struct wan_watch_model *m)
{
	for (size_t i = 0; i < m->nf; i++)
		free(m->fv[i].path);
	free(m->fv);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

static void unavailable(struct wan_watch_model *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void unavailable(struct wan_watch_model *m, const char *fmt, ...)
{
	va_list ap;

	m->available = false;
	va_start(ap, fmt);
	vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
	va_end(ap);
}

/* Load the files of a manifest (bounded; duplicate keys rejected). */
static int watch_manifest(const char *path, struct wan_watch_model *m)
{
	json_error_t je;
	json_t *doc = NULL, *files, *f;
	struct stat st;
	size_t i;
	int err = 0;

	if (stat(path, &st) < 0)
		return wan_err_sys(0, "cannot read manifest '%s'", path);
	if (st.st_size > (off_t)WATCH_MANIFEST_MAX)
		return wan_err(WAN_EINVAL, "manifest '%s' is too large (%lld bytes)", path,
			       (long long)st.st_size);
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return wan_err(WAN_EINVAL, "cannot parse manifest '%s': line %d: %s", path,
			       je.line, je.text);
	files = json_object_get(doc, "files");
	if (!json_is_array(files)) {
		err = wan_err(WAN_EINVAL, "manifest '%s' has no 'files' array", path);
		goto out;
	}
	m->fv = calloc(json_array_size(files) + 1, sizeof(*m->fv));
	if (!m->fv) {
		err = wan_err(WAN_ENOMEM, "out of memory for manifest '%s'", path);
		goto out;
	}
	json_array_foreach(files, i, f) {
		const char *p = json_string_value(json_object_get(f, "path"));
		const char *h = json_string_value(json_object_get(f, "sha256"));
		json_t *sz = json_object_get(f, "size");

		if (!p || path_check_relative(p) < 0 || !h || !wan_sha256_is_hex(h) ||
		    !json_is_integer(sz) || json_integer_value(sz) < 0) {
			err = wan_err(WAN_EINVAL, "manifest '%s': bad entry %zu in 'files'",
				      path, i);
			goto out;
		}
		m->fv[m->nf].path = strdup(p);
		if (!m->fv[m->nf].path) {
			err = wan_err(WAN_ENOMEM, "out of memory for manifest '%s'", path);
			goto out;
		}
		m->fv[m->nf].size = (uint64_t)json_integer_value(sz);
		memcpy(m->fv[m->nf].sha256, h, 65);
		m->nf++;
		m->files++;
		if (__builtin_add_overflow(m->bytes, m->fv[m->nf - 1].size, &m->bytes)) {
			err = wan_err(WAN_EINVAL, "manifest '%s': sizes overflow", path);
			goto out;
		}
	}
out:
	json_decref(doc);
	return err;
}

int wan_watch_check(const struct wan_config *cfg, const char *model,
		    struct wan_watch_model *m)
{
	char sbuf[WAN_PATH_MAX], link[WAN_PATH_MAX], reldir[WAN_PATH_MAX];
	char real[PATH_MAX], relreal[PATH_MAX], mpath[WAN_PATH_MAX];
	const char *state = watch_state(cfg, sbuf, sizeof(sbuf));
	const char *id;
	struct stat lst;
	int dfd = -1;

	memset(m, 0, sizeof(*m));
	m->name = strdup(model);
	if (!m->name)
		return wan_err(WAN_ENOMEM, "out of memory");
	m->available = false;
	if (!state || path_join(link, sizeof(link), cfg->target_models_path, model) < 0 ||
	    path_join(mpath, sizeof(mpath), state, "releases") < 0 ||
	    path_join(reldir, sizeof(reldir), mpath, model) < 0) {
		unavailable(m, "path of model '%s' is too long", model);
		return 0;
	}
	if (lstat(link, &lst) < 0) {
		unavailable(m, "'%s' does not exist (not deployed)", link);
		return 0;
	}
	if (!S_ISLNK(lst.st_mode)) {
		unavailable(m, "'%s' is not a wanctl release link (unmanaged %s)", link,
			    S_ISDIR(lst.st_mode) ? "folder" : "file");
		return 0;
	}
	if (!realpath(link, real)) {
		unavailable(m, "'%s' does not resolve: %s", link, strerror(errno));
		return 0;
	}
	if (!realpath(reldir, relreal) || strncmp(real, relreal, strlen(relreal)) ||
	    real[strlen(relreal)] != '/' || strchr(real + strlen(relreal) + 1, '/')) {
		unavailable(m, "'%s' resolves to '%s', outside the releases of '%s'", link,
			    real, model);
		return 0;
	}
	id = real + strlen(relreal) + 1;
	snprintf(m->release, sizeof(m->release), "%s", id);
	if (wan_snprintf(mpath, sizeof(mpath), "%s/%s.json", relreal, id) < 0 ||
	    watch_manifest(mpath, m) < 0) {
		unavailable(m, "release '%s': %s", id, wan_errmsg());
		return 0;
	}
	dfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		unavailable(m, "cannot open release '%s': %s", real, strerror(errno));
		return 0;
	}
	for (size_t i = 0; i < m->nf; i++) {
		const struct wan_watch_file *f = &m->fv[i];
		char obj[WAN_PATH_MAX];
		struct stat fs, os;

		if (fstatat(dfd, f->path, &fs, AT_SYMLINK_NOFOLLOW) < 0) {
			unavailable(m, "'%s/%s' is missing: %s", link, f->path, strerror(errno));
			goto out;
		}
		if (!S_ISREG(fs.st_mode)) {
			unavailable(m, "'%s/%s' is not a regular file", link, f->path);
			goto out;
		}
		if ((uint64_t)fs.st_size != f->size) {
			unavailable(m, "'%s/%s' has %llu bytes, the manifest says %llu", link,
				    f->path, (unsigned long long)fs.st_size,
				    (unsigned long long)f->size);
			goto out;
		}
		if (wan_snprintf(obj, sizeof(obj), "%s/objects/sha256/%.2s/%s", state,
				 f->sha256, f->sha256 + 2) < 0)
			continue;
		if (stat(obj, &os) < 0) {
			unavailable(m, "store object of '%s/%s' (%s) is missing", link, f->path,
				    f->sha256);
			goto out;
		}
		if (os.st_ino != fs.st_ino || os.st_dev != fs.st_dev) {
			unavailable(m, "'%s/%s' is not the store object %s (replaced)", link,
				    f->path, f->sha256);
			goto out;
		}
	}
	m->available = true;
	m->reason[0] = '\0';
out:
	close(dfd);
	return 0;
}

/* ---- scrub ---------------------------------------------------------- */

struct scrub_model {
	char *name;
	char release[128];
	struct wan_watch_file *fv;
	size_t nf;
	size_t fi;                /* file being hashed */
	int dirfd, fd;
	uint64_t off;
	struct wan_sha256 h;
	bool hashing, in_pass, pass_bad;
	double pass_started;      /* monotonic; the next pass waits min_pass */
	struct wan_scrub_status st;
};

struct wan_scrub {
	pthread_mutex_t mu;
	char target[WAN_PATH_MAX];
	struct scrub_model *m;
	size_t n, cur;
	double min_pass;
	uint64_t bytes_total;
	unsigned char *buf;
};

static void scrub_model_free(struct scrub_model *m)
{
	if (m->hashing)
		wan_sha256_release(&m->h);
	if (m->fd >= 0)
		close(m->fd);
	if (m->dirfd >= 0)
		close(m->dirfd);
	for (size_t i = 0; i < m->nf; i++)
		free(m->fv[i].path);
	free(m->fv);
	free(m->name);
}

int wan_scrub_new(struct wan_scrub **out, const struct wan_config *cfg)
{
	struct wan_scrub *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s || !(s->buf = malloc(SCRUB_CHUNK))) {
		free(s);
		return wan_err(WAN_ENOMEM, "out of memory for the scrub");
	}
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->target, sizeof(s->target), "%s", cfg->target_models_path);
	*out = s;
	return 0;
}

void wan_scrub_free(struct wan_scrub *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		scrub_model_free(&s->m[i]);
	free(s->m);
	free(s->buf);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int wan_scrub_set_models(struct wan_scrub *s, const struct wan_watch_model *m,
			 size_t n, double min_pass_seconds)
{
	struct scrub_model *nv = calloc(n ? n : 1, sizeof(*nv));
	size_t k = 0;

	if (!nv)
		return wan_err(WAN_ENOMEM, "out of memory for the scrub");
	pthread_mutex_lock(&s->mu);
	s->min_pass = min_pass_seconds;
	for (size_t i = 0; i < n; i++) {
		struct scrub_model *old = NULL, *x = &nv[k];

		if (!m[i].release[0] || !m[i].nf)
			continue;
		for (size_t j = 0; j < s->n; j++)
			if (s->m[j].name && !strcmp(s->m[j].name, m[i].name) &&
			    !strcmp(s->m[j].release, m[i].release))
				old = &s->m[j];
		if (old) {
			*x = *old;
			memset(old, 0, sizeof(*old));
			old->fd = old->dirfd = -1;
			k++;
			continue;
		}
		x->name = strdup(m[i].name);
		x->fv = calloc(m[i].nf, sizeof(*x->fv));
		x->fd = x->dirfd = -1;
		if (!x->name || !x->fv) {
			scrub_model_free(x);
			continue;
		}
		for (size_t f = 0; f < m[i].nf; f++) {
			x->fv[f] = m[i].fv[f];
			x->fv[f].path = strdup(m[i].fv[f].path);
			x->nf++;
			if (!x->fv[f].path) {
				x->nf--;
				break;
			}
		}
		snprintf(x->release, sizeof(x->release), "%s", m[i].release);
		x->st.ok = true;
		snprintf(x->st.release, sizeof(x->st.release), "%s", m[i].release);
		k++;
	}
	for (size_t j = 0; j < s->n; j++)
		scrub_model_free(&s->m[j]);
	free(s->m);
	s->m = nv;
	s->n = k;
	if (s->cur >= k)
		s->cur = 0;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void scrub_mismatch(struct scrub_model *m, const char *path, double now)
{
	if (m->st.ok || !m->st.bad_file[0]) {
		wan_log(WAN_LOG_WARN, "integrity scrub: '%s/%s' (release %s) does not match "
			"its manifest", m->name, path, m->release);
		snprintf(m->st.bad_file, sizeof(m->st.bad_file), "%s", path);
		m->st.bad_since = wan_now_wall();
		(void)now;
	}
	m->st.ok = false;
	m->pass_bad = true;
}

/* Advance m by at most budget bytes; returns bytes read. Locked. */
static uint64_t scrub_model_step(struct wan_scrub *s, struct scrub_model *m,
				 uint64_t budget, double now)
{
	const struct wan_watch_file *f;
	uint64_t done = 0;

	if (!m->in_pass) {
		char dir[WAN_PATH_MAX];
		if (m->st.passes && now < m->pass_started + s->min_pass)
			return 0;
		if (path_join(dir, sizeof(dir), s->target, m->name) < 0)
			return 0;
		m->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		m->in_pass = true;
		m->pass_bad = false;
		m->pass_started = now;
		m->fi = 0;
	}
	while (done < budget && m->fi < m->nf) {
		ssize_t r;
		size_t want;

		f = &m->fv[m->fi];
		if (m->fd < 0) {
			m->fd = m->dirfd < 0 ? -1 :
				path_open_beneath(m->dirfd, f->path, O_RDONLY, 0);
			if (m->fd < 0 || wan_sha256_init(&m->h) < 0) {
				if (m->fd >= 0)
					close(m->fd);
				m->fd = -1;
				scrub_mismatch(m, f->path, now);
				m->fi++;
				continue;
			}
			m->hashing = true;
			m->off = 0;
		}
		want = budget - done < SCRUB_CHUNK ? (size_t)(budget - done) : SCRUB_CHUNK;
		r = xpread(m->fd, s->buf, want, (off_t)m->off);
		if (r > 0) {
			wan_sha256_update(&m->h, s->buf, (size_t)r);
#ifdef POSIX_FADV_DONTNEED
			posix_fadvise(m->fd, (off_t)m->off, r, POSIX_FADV_DONTNEED);
#endif
			m->off += (uint64_t)r;
			done += (uint64_t)r;
			s->bytes_total += (uint64_t)r;
			if ((size_t)r == want)
				continue;
		}
		/* End of file (or a read error): compare. */
		{
			char hex[WAN_SHA256_HEX];
			wan_sha256_final_hex(&m->h, hex);
			m->hashing = false;
			if (r < 0 || m->off != f->size || strcmp(hex, f->sha256))
				scrub_mismatch(m, f->path, now);
		}
		close(m->fd);
		m->fd = -1;
		m->fi++;
	}
	if (m->fi >= m->nf) {
		m->in_pass = false;
		if (m->dirfd >= 0)
			close(m->dirfd);
		m->dirfd = -1;
		m->st.checked = true;
		m->st.passes++;
		m->st.last_pass = wan_now_wall();
		if (!m->pass_bad) {
			m->st.ok = true;
			m->st.bad_file[0] = '\0';
			m->st.bad_since = 0;
		}
	}
	return done;
}

uint64_t wan_scrub_step(struct wan_scrub *s, uint64_t budget, double *idle_for)
{
	uint64_t done = 0;
	double now = wan_now_mono(), wait = 3600;

	pthread_mutex_lock(&s->mu);
	for (size_t tries = 0; tries < s->n && done < budget; ) {
		struct scrub_model *m = &s->m[s->cur];
		uint64_t d = scrub_model_step(s, m, budget - done, now);

		done += d;
		if (m->in_pass && done >= budget)
			break;
		if (!m->in_pass) {
			/* This model is between passes: try the next one. */
			if (m->pass_started + s->min_pass - now < wait)
				wait = m->pass_started + s->min_pass - now;
			s->cur = (s->cur + 1) % s->n;
			if (!d)
				tries++;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (idle_for)
		*idle_for = done ? 0 : (wait > 0 ? wait : 0);
	return done;
}

int wan_scrub_status(struct wan_scrub *s, const char *model,
		     struct wan_scrub_status *st)
{
	int err = WAN_ENOTFOUND;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->m[i].name, model)) {
			*st = s->m[i].st;
			err = 0;
		}
	pthread_mutex_unlock(&s->mu);
	return err;
}

uint64_t wan_scrub_bytes_total(struct wan_scrub *s)
{
	uint64_t b;

	pthread_mutex_lock(&s->mu);
	b = s->bytes_total;
	pthread_mutex_unlock(&s->mu);
	return b;
}
