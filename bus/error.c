/* error.c - text for the library's error codes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"

/* Codes the library does not produce itself, such as a handler's own return
 * value in a dead letter: glibc's static description of the errno value, or
 * the number in a thread-local buffer (strerror() is not thread-safe). */
static const char *system_text(int err)
{
    const char *text = err < 0 && err != INT_MIN ? strerrordesc_np(-err) : NULL;
    if (text)
        return text;
    static _Thread_local char unknown[sizeof("unknown error -2147483648")];
    snprintf(unknown, sizeof(unknown), "unknown error %d", err);
    return unknown;
}

const char *bus_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case -EINVAL: return "invalid argument";
    case -EMSGSIZE: return "payload larger than the topic's max_payload";
    case -EAGAIN: return "topic ring is full";
    case -ESHUTDOWN: return "bus is shut down";
    case -ENOMEM: return "out of memory";
    case -ENOSPC: return "bus holds max_topics topics";
    case -EEXIST: return "topic exists with another configuration";
    case -EDEADLK: return "would wait for itself (a handler's own worker, the timer thread, or a cycle of full topics)";
    case -ETIMEDOUT: return "no reply before the timeout";
    case -ENOENT: return "no subscriber for the request";
    case -ENOMSG: return "handlers ran but none replied";
    case -EALREADY: return "request already answered or timed out";
    case -ENOBUFS: return "reply larger than the caller's buffer";
    case -EPIPE: return "topic is closed";
    case -EPERM: return "not allowed to lock the topic's memory (RLIMIT_MEMLOCK)";
    case -ELIBBAD: return "shared object could not be loaded (bus_last_error() says why)";
    case -ENOEXEC: return "not a bus module (bus_module_init or bus_module_fini missing)";
    case -EBUSY: return "module is being unloaded or reloaded";
    default: return system_text(err);
    }
}
