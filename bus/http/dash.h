/* dash.h - the dashboard's files (bus/http/dashboard/, embedded by
 * embed.py at build time). */
#ifndef BUS_HTTP_DASH_H
#define BUS_HTTP_DASH_H

#include <stddef.h>

struct dash_file {
    const char *name, *type;
    const unsigned char *data;
    size_t size;
};

/* Ends with an entry whose name is NULL. */
extern const struct dash_file dash_files[];

#endif /* BUS_HTTP_DASH_H */
