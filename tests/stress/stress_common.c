/* stress_common.c - see stress_common.h. */
#include "stress_common.h"

#include <dirent.h>
#include <malloc.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { MAX_PRINTED_FAILURES = 20 };

static void usage(const char *name)
{
    fprintf(stderr,
            "usage: %s [--seconds N] [--threads N] [--workers N] [--cycles N] [--seed N]\n",
            name);
    exit(2);
}

static unsigned long parse_unsigned(const char *name, const char *text, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 0);
    if (errno || *end || end == text || v > max)
        usage(name);
    return v;
}

void stress_parse(int argc, char **argv, const char *name, struct stress_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            usage(name);
        const char *val = argv[++i];
        if (strcmp(opt, "--seconds") == 0) {
            char *end;
            o->seconds = strtod(val, &end);
            if (*end || o->seconds <= 0)
                usage(name);
        } else if (strcmp(opt, "--threads") == 0) {
            o->threads = (unsigned)parse_unsigned(name, val, 1024);
        } else if (strcmp(opt, "--workers") == 0) {
            o->workers = (unsigned)parse_unsigned(name, val, 1024);
        } else if (strcmp(opt, "--cycles") == 0) {
            o->cycles = (unsigned)parse_unsigned(name, val, 100000000);
        } else if (strcmp(opt, "--seed") == 0) {
            o->seed = parse_unsigned(name, val, ~0ul);
        } else {
            usage(name);
        }
    }
    if (o->threads == 0 || o->workers == 0)
        usage(name);
    if (o->seed == 0)
        o->seed = (uint64_t)time(NULL);
    printf("%s: seconds=%.1f threads=%u workers=%u cycles=%u seed=%llu\n", name, o->seconds,
           o->threads, o->workers, o->cycles, (unsigned long long)o->seed);
    fflush(stdout);
}

uint64_t stress_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t stress_deadline_ns(double seconds)
{
    return stress_now_ns() + (uint64_t)(seconds * 1e9);
}

void stress_sleep_us(unsigned us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

uint64_t stress_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

uint32_t stress_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)((stress_rand(state) >> 32) % n);
}

uint64_t stress_seed_for(uint64_t seed, uint64_t index)
{
    /* splitmix64 step: distinct, well-mixed, never 0 in practice. */
    uint64_t z = seed + (index + 1) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return z ? z : 1;
}

/* relaxed: a counter read only after every thread has been joined (join
 * orders it) or as a progress hint. */
static atomic_ulong failures;

void stress_fail(const char *fmt, ...)
{
    unsigned long n = atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
    if (n >= MAX_PRINTED_FAILURES)
        return;
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}

unsigned long stress_failures(void)
{
    return atomic_load_explicit(&failures, memory_order_relaxed);
}

void stress_must(int rc, const char *what)
{
    if (rc == 0)
        return;
    fprintf(stderr, "FATAL: %s: %s (%d)\n", what, bus_strerror(rc), rc);
    abort();
}

int stress_finish(const char *name)
{
    unsigned long n = stress_failures();
    printf("%s: %s (%lu failed checks)\n", name, n ? "FAILED" : "PASSED", n);
    fflush(stdout);
    return n ? 1 : 0;
}

/* FNV-1a, 64-bit, continuing from @h: cheap, and any torn byte changes it. */
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    return h;
}

static uint64_t payload_checksum(const unsigned char *buf, size_t size)
{
    /* The stamp's checksum field counts as zero. */
    struct stress_stamp head;
    memcpy(&head, buf, sizeof(head));
    head.checksum = 0;
    uint64_t h = fnv1a(UINT64_C(14695981039346656037), (const unsigned char *)&head,
                       sizeof(head));
    return fnv1a(h, buf + sizeof(head), size - sizeof(head));
}

void stress_stamp_fill(void *buf, size_t size, uint32_t producer, uint32_t topic, uint64_t seq)
{
    struct stress_stamp head = {producer, topic, seq, (uint32_t)size, 0, 0};
    unsigned char *p = buf;
    memcpy(p, &head, sizeof(head));
    uint64_t rng = stress_seed_for(seq, ((uint64_t)producer << 32) | topic);
    for (size_t i = sizeof(head); i < size; i++)
        p[i] = (unsigned char)(stress_rand(&rng) >> 56);
    head.checksum = payload_checksum(p, size);
    memcpy(p, &head, sizeof(head));
}

bool stress_stamp_check(const bus_event_t *ev, struct stress_stamp *out)
{
    struct stress_stamp head;
    if (ev->size < sizeof(head))
        return false;
    memcpy(&head, ev->data, sizeof(head));
    if (head.size != ev->size || head.reserved != 0 ||
        head.checksum != payload_checksum(ev->data, ev->size))
        return false;
    *out = head;
    return true;
}

long stress_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long pages_total, pages_resident;
    int n = fscanf(f, "%ld %ld", &pages_total, &pages_resident);
    fclose(f);
    if (n != 2)
        return -1;
    return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Entries of a /proc directory, "." and ".." excluded. */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int stress_count_fds(void)
{
    /* Minus one: the directory stream's own descriptor. */
    return count_entries("/proc/self/fd") - 1;
}

int stress_count_threads(void)
{
    return count_entries("/proc/self/task");
}

int stress_settle_threads(int expected, unsigned timeout_ms)
{
    int n = stress_count_threads();
    for (unsigned waited = 0; n > expected && waited < timeout_ms; waited++) {
        stress_sleep_us(1000);
        n = stress_count_threads();
    }
    return n;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRESS_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STRESS_SANITIZER_ALLOCATOR 1
#endif
#endif

#ifdef STRESS_SANITIZER_ALLOCATOR
/* From <sanitizer/allocator_interface.h>, which gcc does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);

size_t stress_heap_bytes(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
size_t stress_heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd; /* arena chunks in use + mmapped chunks */
}
#endif

bool stress_under_sanitizer(void)
{
#ifdef STRESS_SANITIZER_ALLOCATOR
    return true;
#else
    return false;
#endif
}

bus_t *stress_bus(unsigned workers)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = workers;
    bus_t *bus = NULL;
    stress_must(bus_create(&bus, &cfg), "bus_create");
    return bus;
}

bus_topic_t *stress_topic(bus_t *bus, const char *name, uint32_t capacity,
                          uint32_t max_payload, int policy, unsigned flags)
{
    bus_topic_config_t cfg = {capacity, max_payload, policy, flags};
    bus_topic_t *t = NULL;
    stress_must(bus_topic_open(bus, name, &cfg, &t), name);
    return t;
}

void stress_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    if (pthread_create(t, NULL, fn, arg) != 0)
        stress_must(-EAGAIN, "pthread_create");
}

void *stress_map_lazy(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        abort();
    }
    return p;
}

void stress_unmap(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

void stress_overlap_enter(struct stress_overlap *o)
{
    /* relaxed: see the header; the RMW alone makes the count exact. */
    int now = atomic_fetch_add_explicit(&o->running, 1, memory_order_relaxed) + 1;
    int max = atomic_load_explicit(&o->max_running, memory_order_relaxed);
    while (now > max && !atomic_compare_exchange_weak_explicit(
                            &o->max_running, &max, now, memory_order_relaxed,
                            memory_order_relaxed))
        ;
}

void stress_overlap_leave(struct stress_overlap *o)
{
    atomic_fetch_sub_explicit(&o->running, 1, memory_order_relaxed);
}

int stress_overlap_max(const struct stress_overlap *o)
{
    /* relaxed: read after the calls are over, ordered by a flush or join. */
    return atomic_load_explicit(&o->max_running, memory_order_relaxed);
}
