/*
 * Alert handlers. Sampling never waits on them: log is immediate, every
 * other handler has its own worker thread and a bounded queue.
 *
 *   exec          /bin/sh -c COMMAND, the alert JSON on stdin, a timeout
 *   webhook       POST of the alert JSON, retried with backoff
 *   alertmanager  POST <url>/api/v2/alerts, re-sent while firing
 */
#include "util/common.h"
#include "wanctl/log.h"
#include "wanctl/monitor.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NOTIFY_QUEUE_MAX 256
#define NOTIFY_ATTEMPTS 4

struct nitem {
	char *payload;
	char *what;        /* "ModelUnavailable firing" for messages */
};

struct nworker {
	struct wan_notifier *nf;
	enum wan_handler_type type;
	char *command, *url;
	double timeout;
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct nitem q[NOTIFY_QUEUE_MAX];
	size_t head, len;
	bool stop;
	double drain_until;
	bool busy;
};

struct wan_notifier {
	struct nworker *w;
	size_t n;
	char *generator_url;
};

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int wan_shell_run(const char *cmd, const char *input, size_t inlen,
		  double timeout, int out_fd, struct wan_shell_result *res)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def, block, old;
	int in[2] = { -1, -1 }, devnull = -1, status = 0, err = 0;
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	double start = wan_now_mono(), killed_at = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	if (pipe2(in, O_CLOEXEC) < 0)
		return wan_err_sys(0, "cannot run '%s': pipe", cmd);
	if (out_fd < 0) {
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		out_fd = devnull;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	if (out_fd >= 0) {
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
		posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	}
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGINT);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	err = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(in[0]);
	if (devnull >= 0)
		close(devnull);
	if (err) {
		close(in[1]);
		errno = err;
		return wan_err_sys(0, "cannot run '%s'", cmd);
	}
	/* Feed stdin without blocking and without dying of SIGPIPE when the
	 * command does not read it. */
	if (input && inlen) {
		sigemptyset(&block);
		sigaddset(&block, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &block, &old);
		fcntl(in[1], F_SETFL, O_NONBLOCK);
		while (inlen) {
			ssize_t w = write(in[1], input, inlen);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			input += w;
			inlen -= (size_t)w;
		}
		{
			struct timespec zero = { 0, 0 };
			while (sigtimedwait(&block, NULL, &zero) > 0)
				;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	close(in[1]);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		double now = wan_now_mono();

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			err = wan_err_sys(0, "cannot wait for '%s'", cmd);
			break;
		}
		if (timeout > 0 && now - start > timeout && !killed_at) {
			res->timed_out = true;
			kill(-pid, SIGTERM);
			killed_at = now;
		} else if (killed_at && now - killed_at > 1.0) {
			kill(-pid, SIGKILL);
			killed_at = now + 3600;
		}
		sleep_s(now - start < 0.1 ? 0.002 : 0.02);
	}
	res->wall = wan_now_mono() - start;
	if (err)
		return err;
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->signal = WTERMSIG(status);
	return 0;
}

static size_t curl_discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

/* One POST; 0 on a 2xx answer, else a message in err. */
static int http_post(const char *url, const char *body, double timeout,
		     char *err, size_t esz)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode rc;

	if (!c) {
		snprintf(err, esz, "cannot initialise libcurl");
		return -1;
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "wanctl-monitor");
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(err, esz, "%s", *ebuf ? ebuf : curl_easy_strerror(rc));
		return -1;
	}
	if (code < 200 || code > 299) {
		snprintf(err, esz, "HTTP status %ld", code);
		return -1;
	}
	return 0;
}

static bool worker_stopping(struct nworker *w)
{
	bool s;

	pthread_mutex_lock(&w->mu);
	s = w->stop && wan_now_mono() > w->drain_until;
	pthread_mutex_unlock(&w->mu);
	return s;
}

static void worker_do(struct nworker *w, struct nitem *it)
{
	char err[512];

	if (w->type == WAN_HANDLER_EXEC) {
		struct wan_shell_result r;
		if (wan_shell_run(w->command, it->payload, strlen(it->payload),
				  w->timeout, STDERR_FILENO, &r) < 0)
			wan_log(WAN_LOG_WARN, "alert handler exec (%s): %s", it->what, wan_errmsg());
		else if (r.timed_out)
			wan_log(WAN_LOG_WARN, "alert handler exec '%s' (%s) killed after %.0f s",
				w->command, it->what, w->timeout);
		else if (r.exit_code != 0)
			wan_log(WAN_LOG_WARN, "alert handler exec '%s' (%s) exited with %d",
				w->command, it->what, r.exit_code);
		return;
	}
	for (int attempt = 1; attempt <= NOTIFY_ATTEMPTS; attempt++) {
		char url[2048];
		const char *u = w->url;
		if (w->type == WAN_HANDLER_ALERTMANAGER) {
			size_t l = strlen(w->url);
			snprintf(url, sizeof(url), "%.*s/api/v2/alerts",
				 (int)(l && w->url[l - 1] == '/' ? l - 1 : l), w->url);
			u = url;
		}
		if (http_post(u, it->payload, w->timeout, err, sizeof(err)) == 0)
			return;
		if (attempt == NOTIFY_ATTEMPTS || worker_stopping(w))
			break;
		/* Backoff 1, 2, 4 s, cut short by a stop. */
		for (double waited = 0, d = (double)(1 << (attempt - 1));
		     waited < d && !worker_stopping(w); waited += 0.1)
			sleep_s(0.1);
	}
	wan_log(WAN_LOG_WARN, "alert handler %s '%s' (%s): %s; giving up",
		w->type == WAN_HANDLER_WEBHOOK ? "webhook" : "alertmanager", w->url,
		it->what, err);
}

static void *worker_main(void *arg)
{
	struct nworker *w = arg;

	for (;;) {
		struct nitem it;

		pthread_mutex_lock(&w->mu);
		while (!w->len && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->len || (w->stop && wan_now_mono() > w->drain_until)) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		it = w->q[w->head];
		w->head = (w->head + 1) % NOTIFY_QUEUE_MAX;
		w->len--;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);
		worker_do(w, &it);
		free(it.payload);
		free(it.what);
		pthread_mutex_lock(&w->mu);
		w->busy = false;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int wan_notifier_new(struct wan_notifier **out,
		     const struct wan_alert_handler *h, size_t n,
		     const char *generator_url)
{
	struct wan_notifier *nf = calloc(1, sizeof(*nf));

	*out = NULL;
	if (!nf)
		return wan_err(WAN_ENOMEM, "out of memory for alert handlers");
	pthread_once(&curl_once, curl_init_once);
	nf->generator_url = wan_strdup(generator_url ? generator_url : "");
	nf->w = calloc(n ? n : 1, sizeof(*nf->w));
	if (!nf->w || !nf->generator_url) {
		free(nf->w);
		free(nf->generator_url);
		free(nf);
		return wan_err(WAN_ENOMEM, "out of memory for alert handlers");
	}
	nf->n = n;
	for (size_t i = 0; i < n; i++) {
		struct nworker *w = &nf->w[i];
		w->nf = nf;
		w->type = h[i].type;
		w->command = wan_strdup(h[i].command);
		w->url = wan_strdup(h[i].url);
		w->timeout = h[i].timeout_seconds > 0 ? (double)h[i].timeout_seconds : 10;
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		if (w->type == WAN_HANDLER_LOG)
			continue;
		if ((w->type == WAN_HANDLER_EXEC && !w->command) ||
		    (w->type != WAN_HANDLER_EXEC && !w->url)) {
			wan_log(WAN_LOG_WARN, "alert handler %zu has no %s; ignored", i,
				w->type == WAN_HANDLER_EXEC ? "command" : "url");
			continue;
		}
		if (pthread_create(&w->th, NULL, worker_main, w) == 0)
			w->started = true;
		else
			wan_log(WAN_LOG_ERROR, "cannot start alert handler thread %zu", i);
	}
	*out = nf;
	return 0;
}

static void worker_push(struct nworker *w, char *payload, const char *what)
{
	pthread_mutex_lock(&w->mu);
	if (w->len == NOTIFY_QUEUE_MAX) {
		struct nitem *old = &w->q[w->head];
		wan_log(WAN_LOG_WARN, "alert handler queue full; dropping '%s'", old->what);
		free(old->payload);
		free(old->what);
		w->head = (w->head + 1) % NOTIFY_QUEUE_MAX;
		w->len--;
	}
	w->q[(w->head + w->len) % NOTIFY_QUEUE_MAX] = (struct nitem){
		payload, wan_strdup(what) };
	w->len++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void wan_notifier_send(struct wan_notifier *nf,
		       const struct wan_alert_notice *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct wan_alert_notice *a = &v[i];
		const char *state = a->kind == WAN_NOTICE_RESOLVED ? "resolved" :
				    a->kind == WAN_NOTICE_FIRING ? "firing" : "still firing";
		char what[512];

		snprintf(what, sizeof(what), "%s%s%s %s", a->name,
			 a->ltext && *a->ltext ? " " : "", a->ltext ? a->ltext : "", state);
		for (size_t j = 0; j < nf->n; j++) {
			struct nworker *w = &nf->w[j];
			json_t *doc;
			char *text;

			if (w->type == WAN_HANDLER_LOG) {
				if (a->kind != WAN_NOTICE_REFRESH)
					wan_log(a->kind == WAN_NOTICE_FIRING ? WAN_LOG_WARN : WAN_LOG_INFO,
						"alert %s [%s]: %s", what,
						wan_severity_name(a->severity),
						a->summary ? a->summary : "");
				continue;
			}
			if (!w->started)
				continue;
			if (w->type != WAN_HANDLER_ALERTMANAGER && a->kind == WAN_NOTICE_REFRESH)
				continue;
			doc = w->type == WAN_HANDLER_ALERTMANAGER ?
				wan_alert_notice_am(a, nf->generator_url) :
				wan_alert_notice_json(a);
			text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
			json_decref(doc);
			if (text)
				worker_push(w, text, what);
		}
	}
}

void wan_notifier_free(struct wan_notifier *nf, double drain_seconds)
{
	if (!nf)
		return;
	for (size_t i = 0; i < nf->n; i++) {
		struct nworker *w = &nf->w[i];
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		w->drain_until = wan_now_mono() + drain_seconds;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	for (size_t i = 0; i < nf->n; i++) {
		struct nworker *w = &nf->w[i];
		if (w->started)
			pthread_join(w->th, NULL);
		while (w->len) {
			free(w->q[w->head].payload);
			free(w->q[w->head].what);
			w->head = (w->head + 1) % NOTIFY_QUEUE_MAX;
			w->len--;
		}
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w->command);
		free(w->url);
	}
	free(nf->w);
	free(nf->generator_url);
	free(nf);
}
