#ifndef WAN_UTIL_SHA256_H
#define WAN_UTIL_SHA256_H
/* SHA-256 through OpenSSL's EVP (uses the CPU's SHA extensions). */
#include <stddef.h>
#include <stdint.h>

#define WAN_SHA256_LEN 32
#define WAN_SHA256_HEX 65 /* 64 hex digits + NUL */

struct wan_sha256 {
	void *evp; /* EVP_MD_CTX * */
};

/* Fetch OpenSSL's implementation once (called by wan_sha256_init; the
 * CLI calls it first thing). */
int wan_sha256_global_init(void);
int wan_sha256_init(struct wan_sha256 *h);
void wan_sha256_update(struct wan_sha256 *h, const void *data, size_t len);
/* Writes the 64-hex digest and frees the context. */
void wan_sha256_final_hex(struct wan_sha256 *h, char hex[WAN_SHA256_HEX]);
void wan_sha256_release(struct wan_sha256 *h);
void wan_sha256_hex(const void *data, size_t len, char hex[WAN_SHA256_HEX]);
/*
 * Hash an open file from its current offset to EOF with buf as the read
 * buffer, dropping read pages from the cache; tick (may be NULL) is called
 * with each chunk's size. Returns 0, or -1 with errno on a read error
 * (WAN_ENOMEM when the hash cannot start).
 */
int wan_sha256_fd(int fd, char *buf, size_t bufsize, char hex[WAN_SHA256_HEX],
		  void (*tick)(void *ud, size_t n), void *ud);
/* True when s is exactly 64 lowercase hex digits. */
int wan_sha256_is_hex(const char *s);

#endif
