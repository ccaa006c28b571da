#ifndef WAN_UTIL_BUF_H
#define WAN_UTIL_BUF_H
/* Growable NUL-terminated byte buffer (git strbuf). */
#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *p;     /* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
};
#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_release(struct buf *b);
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addch(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);
/* Detach the string; the buffer is reset. Never NULL unless out of memory. */
char *buf_detach(struct buf *b);
/* The string, "" when empty. */
const char *buf_str(const struct buf *b);

#endif
