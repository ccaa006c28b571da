/*
 * The monitor's HTTP listener (libmicrohttpd in its own polling thread).
 * Read-only: GET and HEAD of /metrics, /healthz, /readyz, /api/v1/status.
 * A connection limit, a per-IP limit, an idle timeout and a memory cap
 * per connection keep slow or hostile clients from piling up; responses
 * are copies of the last snapshot, so no client ever waits on sampling
 * and sampling never waits on a client.
 */
#include "util/common.h"
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define HTTP_CONNECTIONS 32
#define HTTP_PER_IP 16
#define HTTP_TIMEOUT_S 5

struct wan_http {
	struct MHD_Daemon *d;
	struct wan_snapshot *snap;
	unsigned port;
};

static enum MHD_Result http_reply(struct MHD_Connection *c, unsigned code,
				  const char *type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body),
		(void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (code == 405)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *c,
				    const char *url, const char *method,
				    const char *version, const char *upload,
				    size_t *upload_size, void **con_cls)
{
	struct wan_http *h = cls;
	struct wan_snapshot *s = h->snap;
	enum MHD_Result ret;
	char *copy = NULL;
	unsigned code = 200;
	const char *type = "text/plain; charset=utf-8";

	(void)version;
	(void)upload;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		/* Read-only: refuse bodies before MHD buffers them. */
		*upload_size = 0;
		return http_reply(c, 405, type, "method not allowed: the monitor is read-only\n");
	}
	(void)con_cls;
	if (!strcmp(url, "/healthz"))
		return http_reply(c, 200, type, "ok\n");
	pthread_mutex_lock(&s->mu);
	if (!strcmp(url, "/metrics")) {
		copy = wan_strdup(s->metrics ? s->metrics : "");
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else if (!strcmp(url, "/readyz")) {
		size_t sz = sizeof(s->reason) + 32;
		copy = malloc(sz);
		if (copy)
			snprintf(copy, sz, s->ready ? "ready\n" : "not ready: %s\n", s->reason);
		code = s->ready ? 200 : 503;
	} else if (!strcmp(url, "/api/v1/status")) {
		copy = wan_strdup(s->status ? s->status : "{}");
		type = "application/json";
	} else if (!strcmp(url, "/")) {
		copy = wan_strdup("wanctl monitor: /metrics /healthz /readyz /api/v1/status\n");
	} else {
		code = 404;
		copy = wan_strdup("not found\n");
	}
	pthread_mutex_unlock(&s->mu);
	if (!copy)
		return http_reply(c, 500, "text/plain", "out of memory\n");
	ret = http_reply(c, code, type, copy);
	free(copy);
	return ret;
}

static int http_parse(const char *listen, struct sockaddr_storage *ss,
		      socklen_t *len, bool *v6)
{
	char host[256];
	const char *colon, *port_s;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof(host))
			goto bad;
		memcpy(host, listen + 1, (size_t)(rb - listen - 1));
		host[rb - listen - 1] = '\0';
		port_s = rb + 2;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || (size_t)(colon - listen) >= sizeof(host))
			goto bad;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
		port_s = colon + 1;
		if (!host[0])
			snprintf(host, sizeof(host), "127.0.0.1");
	}
	port = strtol(port_s, &end, 10);
	if (!*port_s || *end || port < 0 || port > 65535)
		goto bad;
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		*len = sizeof(*a);
		*v6 = true;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (!strcmp(host, "localhost"))
			snprintf(host, sizeof(host), "127.0.0.1");
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		*len = sizeof(*a);
		*v6 = false;
	}
	return 0;
bad:
	return wan_err(WAN_EINVAL, "cannot parse monitoring.listen '%s': want HOST:PORT "
		       "with a numeric address (127.0.0.1:9731, [::1]:9731)", listen);
}

int wan_http_start(struct wan_http **out, const char *listen,
		   struct wan_snapshot *snap)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	bool v6 = false;
	struct wan_http *h;
	const union MHD_DaemonInfo *info;
	int err;

	*out = NULL;
	if ((err = http_parse(listen, &ss, &len, &v6)) < 0)
		return err;
	h = calloc(1, sizeof(*h));
	if (!h)
		return wan_err(WAN_ENOMEM, "out of memory");
	h->snap = snap;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
				(v6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, http_handler, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)HTTP_PER_IP,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return wan_err(WAN_EIO, "cannot listen on '%s' (address in use, or not "
			       "an address of this machine)", listen);
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	*out = h;
	return 0;
}

unsigned wan_http_port(const struct wan_http *h)
{
	return h->port;
}

void wan_http_stop(struct wan_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
