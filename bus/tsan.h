/* tsan.h - ThreadSanitizer annotations for orderings it cannot see.
 *
 * liburcu is an uninstrumented shared library, so TSan does not see that an
 * RCU grace period orders a reader's critical section before the updater's
 * free. Readers announce the end of a section with TSAN_RELEASE and updaters
 * claim it after a grace period with TSAN_ACQUIRE, on one shared address. */
#ifndef BUS_TSAN_H
#define BUS_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define BUS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BUS_TSAN 1
#endif
#endif

#ifdef BUS_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#define TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#else
#define TSAN_ACQUIRE(addr) ((void)(addr))
#define TSAN_RELEASE(addr) ((void)(addr))
#endif

/* The address that stands for "an RCU grace period has elapsed". */
extern char bus__rcu_grace;

#endif
