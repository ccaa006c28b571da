#include "util/common.h"
#include "util/sha256.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>

#include "util/xio.h"

/*
 * OpenSSL 3 fetches the digest implementation lazily, and an allocation
 * failure inside that first fetch leaves it with a NULL lock that crashes
 * the next caller (found by tests/crash/t_oom.sh). So the implementation is
 * fetched once, up front, and a failure there is an ordinary error.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	if (OPENSSL_init_crypto(0, NULL) == 1)
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int wan_sha256_global_init(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md ? 0 : wan_err(WAN_ENOMEM, "cannot initialise OpenSSL's SHA-256");
}

int wan_sha256_init(struct wan_sha256 *h)
{
	EVP_MD_CTX *c;

	h->evp = NULL;
	if (wan_sha256_global_init() < 0)
		return WAN_ENOMEM;
	c = EVP_MD_CTX_new();
	if (!c)
		return wan_err(WAN_ENOMEM, "cannot allocate a SHA-256 context");
	if (EVP_DigestInit_ex(c, sha256_md, NULL) != 1) {
		EVP_MD_CTX_free(c);
		return wan_err(WAN_ERROR, "cannot initialise SHA-256");
	}
	h->evp = c;
	return 0;
}

void wan_sha256_update(struct wan_sha256 *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->evp, data, len);
}

void wan_sha256_final_hex(struct wan_sha256 *h, char hex[WAN_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->evp, md, &n);
	for (unsigned int i = 0; i < n && i < WAN_SHA256_LEN; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	wan_sha256_release(h);
}

void wan_sha256_release(struct wan_sha256 *h)
{
	EVP_MD_CTX_free(h->evp);
	h->evp = NULL;
}

void wan_sha256_hex(const void *data, size_t len, char hex[WAN_SHA256_HEX])
{
	struct wan_sha256 h;

	if (wan_sha256_init(&h) < 0) {
		memset(hex, '0', 64);
		hex[64] = '\0';
		return;
	}
	wan_sha256_update(&h, data, len);
	wan_sha256_final_hex(&h, hex);
}

int wan_sha256_fd(int fd, char *buf, size_t bufsize, char hex[WAN_SHA256_HEX],
		  void (*tick)(void *ud, size_t n), void *ud)
{
	struct wan_sha256 h;
	off_t off = 0;
	ssize_t n;

	if (wan_sha256_init(&h) < 0)
		return WAN_ENOMEM;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while ((n = xread(fd, buf, bufsize)) > 0) {
		wan_sha256_update(&h, buf, (size_t)n);
		posix_fadvise(fd, off, n, POSIX_FADV_DONTNEED);
		off += n;
		if (tick)
			tick(ud, (size_t)n);
	}
	if (n < 0) {
		int e = errno;
		wan_sha256_release(&h);
		errno = e;
		return -1;
	}
	wan_sha256_final_hex(&h, hex);
	return 0;
}

int wan_sha256_is_hex(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}
