/* error.c - bus_nats_last_error() and the errno of a cnats status. */
#include <errno.h>
#include <stdio.h>

#include "bridge.h"

static _Thread_local char last_error[512];

const char *bus_nats_last_error(void)
{
    return last_error;
}

int bus__nats_fail_text(int err, const char *what)
{
    snprintf(last_error, sizeof(last_error), "%s", what);
    return err;
}

static int errno_of(natsStatus s)
{
    switch (s) {
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
        return -ECONNREFUSED;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_QUEUE_NAME:
    case NATS_ADDRESS_MISSING:
        return -EINVAL;
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
    case NATS_SSL_ERROR:
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
        return -EACCES;
    case NATS_NO_MEMORY:
        return -ENOMEM;
    case NATS_TIMEOUT:
        return -ETIMEDOUT;
    default:
        return -EIO;
    }
}

int bus__nats_fail(natsStatus s, const char *what)
{
    /* cnats' own words (e.g. "Authorization Violation", the URL it could
     * not parse) are more precise than the status's text. */
    natsStatus last = NATS_OK;
    const char *detail = nats_GetLastError(&last);
    snprintf(last_error, sizeof(last_error), "%s: %s%s%s", what, natsStatus_GetText(s),
             detail && *detail ? ": " : "", detail ? detail : "");
    return errno_of(s);
}
