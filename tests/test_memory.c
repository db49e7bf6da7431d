/* test_memory.c - BUS_TOPIC_PRETOUCH and BUS_TOPIC_LOCKED: a topic's ring is
 * resident once bus_topic_open returns, and a lock the limits refuse is
 * reported with -EPERM. */
#include <linux/capability.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* The sanitizers' allocators write what calloc returns (so no ring is
 * lazy), and their runtimes turn mlock into a no-op that succeeds. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

enum {
    BIG_CAPACITY = 16384,
    BIG_PAYLOAD = 256,
    /* A slot's header is 64 bytes (bus.h): 16384 * 320 = 5 MiB of ring. */
    BIG_RING_KB = BIG_CAPACITY * (64 + BIG_PAYLOAD) / 1024,
};

/* Resident memory of this process in KiB (/proc/self/statm). */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static bus_topic_config_t big_config(unsigned flags)
{
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = BIG_CAPACITY;
    cfg.max_payload = BIG_PAYLOAD;
    cfg.flags = flags;
    return cfg;
}

/* RSS growth, in KiB, of opening a big topic with @flags. */
static long open_growth_kb(bus_t *bus, const char *name, unsigned flags)
{
    bus_topic_config_t cfg = big_config(flags);
    bus_topic_t *t;
    long before = rss_kb();
    ck_assert_ok(bus_topic_open(bus, name, &cfg, &t));
    return rss_kb() - before;
}

START_TEST(pretouch_makes_the_ring_resident)
{
    /* meson test sets MALLOC_PERTURB_, which makes calloc write every
     * byte: the untouched ring would look touched. */
    mallopt(M_PERTURB, 0);
    bus_t *bus = new_bus(1);
    long lazy = open_growth_kb(bus, "lazy", 0);
    long touched = open_growth_kb(bus, "touched", BUS_TOPIC_PRETOUCH);
    long locked = open_growth_kb(bus, "locked", BUS_TOPIC_LOCKED);
    /* Without the flag the pages wait for the first lap. */
    if (!SANITIZED)
        ck_assert_int_lt(lazy, BIG_RING_KB / 2);
    ck_assert_int_ge(touched, BIG_RING_KB * 9 / 10);
    ck_assert_int_ge(locked, BIG_RING_KB * 9 / 10);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Events flow through touched and locked rings, ordered and parallel, over
 * several laps. */
START_TEST(prepared_topics_deliver)
{
    static const unsigned flags[] = {
        BUS_TOPIC_PRETOUCH,
        BUS_TOPIC_LOCKED,
        BUS_TOPIC_PRETOUCH | BUS_TOPIC_PARALLEL,
        BUS_TOPIC_LOCKED | BUS_TOPIC_PARALLEL,
        BUS_TOPIC_LOCKED | BUS_TOPIC_KEYED,
    };
    enum { N = sizeof(flags) / sizeof(flags[0]), EVENTS = 1000 };
    bus_t *bus = new_bus(2);
    struct counter c[N];
    memset(c, 0, sizeof(c));
    for (unsigned i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t.%u", i);
        bus_topic_t *t = new_topic(bus, name, 64, BUS_FULL_BLOCK, flags[i]);
        subscribe(t, count_only, &c[i]);
        for (uint32_t e = 0; e < EVENTS; e++)
            ck_assert_ok(bus_publish(t, &e, sizeof(e)));
    }
    ck_assert_ok(bus_flush(bus));
    for (unsigned i = 0; i < N; i++)
        ck_assert_uint_eq(atomic_load(&c[i].calls), EVENTS);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Drops CAP_IPC_LOCK from the effective set: with it, mlock ignores
 * RLIMIT_MEMLOCK (tests often run as root). */
static void drop_ipc_lock(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    ck_assert_int_eq(syscall(SYS_capget, &hdr, data), 0);
    data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
    ck_assert_int_eq(syscall(SYS_capset, &hdr, data), 0);
}

/* In a child process (the limit and the capability are the process's):
 * with RLIMIT_MEMLOCK 0, a locked topic is refused with -EPERM and the
 * failed open has no effect; the same topic without the lock opens. */
static int lock_refused_child(void)
{
    drop_ipc_lock();
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_MEMLOCK, &none) != 0)
        return 10;
    bus_t *bus = NULL;
    if (bus_create(&bus, NULL) != 0)
        return 11;
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    bus_topic_t *t = NULL;
    int rc = 0;
    static const unsigned modes[] = {0, BUS_TOPIC_PARALLEL, BUS_TOPIC_KEYED};
    for (unsigned i = 0; i < 3 && rc == 0 && !SANITIZED; i++) {
        cfg.flags = BUS_TOPIC_LOCKED | modes[i];
        if (bus_topic_open(bus, "locked", &cfg, &t) != -EPERM)
            rc = 20 + (int)i;
    }
    cfg.flags = 0;
    if (rc == 0 && bus_topic_open(bus, "locked", &cfg, &t) != 0)
        rc = 30;
    if (rc == 0 && bus_publish(t, "x", 1) != 0)
        rc = 31;
    if (bus_destroy(bus) != 0 && rc == 0)
        rc = 32;
    return rc;
}

START_TEST(lock_beyond_memlock_limit_is_eperm)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(lock_refused_child());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_str_ne(bus_strerror(-EPERM), bus_strerror(-12345));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("memory");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pretouch_makes_the_ring_resident);
    tcase_add_test(tc, prepared_topics_deliver);
    tcase_add_test(tc, lock_beyond_memlock_limit_is_eperm);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
