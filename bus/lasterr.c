/* lasterr.c - the calling thread's last error detail. Written only on error
 * branches, so successful calls (the publish fast path) never touch it. */
#include "lasterr.h"

#include <stdarg.h>
#include <stdio.h>

#include "bus.h"

static _Thread_local const char *last_error;

int bus__fail(int err, const char *why)
{
    last_error = why;
    return err;
}

int bus__failf(int err, const char *fmt, ...)
{
    static _Thread_local char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    return bus__fail(err, text);
}

const char *bus_last_error(void)
{
    return last_error ? last_error : "";
}
