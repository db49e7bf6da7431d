/* clock.h - the monotonic clock events are stamped with. */
#ifndef BUS_CLOCK_H
#define BUS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns; served by the vDSO on Linux, no syscall. */
static inline uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A deadline that never comes. */
#define CLOCK_NEVER UINT64_MAX

/* The deadline @timeout_ns from now. Saturates at CLOCK_NEVER: a huge
 * timeout means "wait forever", it must not wrap into the past. */
static inline uint64_t clock_deadline_ns(uint64_t timeout_ns)
{
    uint64_t deadline;
    if (timeout_ns == CLOCK_NEVER ||
        __builtin_add_overflow(clock_now_ns(), timeout_ns, &deadline))
        return CLOCK_NEVER;
    return deadline;
}

#endif
