/* strbuf.h - a growing text buffer for response bodies. */
#ifndef BUS_HTTP_STRBUF_H
#define BUS_HTTP_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* A buffer that grows on demand; `failed` sticks once memory ran out, so
 * that a body is built without a check per append and checked once. */
struct strbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

void sb_put(struct strbuf *b, const void *data, size_t n);
void sb_puts(struct strbuf *b, const char *s);
void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* @n bytes as a JSON string (quotes included), escaped as RFC 8259 asks. */
void sb_json_string(struct strbuf *b, const char *s, size_t n);
/* @n bytes as standard base64 (RFC 4648, padded), without quotes. */
void sb_base64(struct strbuf *b, const unsigned char *data, size_t n);
/* Hands the text over (NUL-terminated) and empties @b; NULL if it failed. */
char *sb_take(struct strbuf *b, size_t *len);
void sb_free(struct strbuf *b);

#endif /* BUS_HTTP_STRBUF_H */
