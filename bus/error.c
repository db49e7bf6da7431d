/* error.c - text for the library's error codes. */
#include <errno.h>

#include "bus.h"

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
    case -EDEADLK: return "would wait for the calling handler's own worker";
    case -ETIMEDOUT: return "no reply before the timeout";
    case -ENOENT: return "no subscriber for the request";
    case -ENOMSG: return "handlers ran but none replied";
    case -EALREADY: return "request already answered";
    case -EPERM: return "not allowed to lock the topic's memory (RLIMIT_MEMLOCK)";
    default: return "unknown error";
    }
}
