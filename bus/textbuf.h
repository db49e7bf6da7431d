/* textbuf.h - text appended to a caller's buffer, for the exposition calls
 * (bus_metrics_prometheus, bus_metrics_json): what does not fit is counted,
 * so that the caller learns the length needed; nothing is allocated. */
#ifndef BUS_TEXTBUF_H
#define BUS_TEXTBUF_H

#include <stddef.h>

struct textbuf {
    char *buf;
    size_t cap, len; /* len: the text's whole length, cut or not */
};

__attribute__((format(printf, 2, 3))) void bus__textbuf_put(struct textbuf *o,
                                                            const char *fmt, ...);

/* 0 if the text fit with its NUL, else -ENOSPC; *@len: the text's length. */
int bus__textbuf_end(const struct textbuf *o, size_t *len);

#endif
