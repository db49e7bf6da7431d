/* lasterr.c - the calling thread's last error detail. Written only on error
 * branches, so successful calls (the publish fast path) never touch it. */
#include "lasterr.h"

#include "bus.h"

static _Thread_local const char *last_error;

int bus__fail(int err, const char *why)
{
    last_error = why;
    return err;
}

const char *bus_last_error(void)
{
    return last_error ? last_error : "";
}
