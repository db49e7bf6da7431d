/* lasterr.h - the calling thread's last error detail (bus_last_error). */
#ifndef BUS_LASTERR_H
#define BUS_LASTERR_H

/* Records @why (a string literal) as the calling thread's last error detail
 * and returns @err, so that a failing check stays one line:
 * `return bus__fail(-EINVAL, "bus_create: batch is 0 or over 65536");`. */
int bus__fail(int err, const char *why);

/* bus__fail() with a message formatted into a buffer of the calling thread
 * (cut at 511 bytes), for details known at run time (dlerror()'s text). */
int bus__failf(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* BUS_LASTERR_H */
