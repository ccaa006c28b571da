#ifndef WAN_DAEMON_DAEMON_H
#define WAN_DAEMON_DAEMON_H
/* Internal to the monitor daemon: the snapshot the listener serves. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * What the HTTP listener serves, rendered by the sampler after every
 * sample and swapped in under mu; handlers only copy it, so a slow
 * client never holds up sampling.
 */
struct wan_snapshot {
	pthread_mutex_t mu;
	char *metrics;          /* Prometheus text */
	char *status;           /* JSON of /api/v1/status */
	bool ready;
	char reason[1024];      /* why not ready */
};

struct wan_http;

/* Listen on "HOST:PORT" ("127.0.0.1:9731", "[::1]:9731"); serve snap.
 * Returns 0, WAN_EINVAL (bad address) or WAN_EIO (cannot bind). */
int wan_http_start(struct wan_http **out, const char *listen,
		   struct wan_snapshot *snap);
/* The port actually bound (useful with port 0). */
unsigned wan_http_port(const struct wan_http *h);
void wan_http_stop(struct wan_http *h);

#endif
