/* textbuf.c - see textbuf.h. */
#include "textbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void bus__textbuf_put(struct textbuf *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

int bus__textbuf_end(const struct textbuf *o, size_t *len)
{
    *len = o->len;
    return o->len < o->cap ? 0 : -ENOSPC; /* *len: the room needed, the NUL aside */
}
