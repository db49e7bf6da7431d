/* hiccup.c - how much the machine itself stalls a running thread.
 *
 * Every online CPU gets a thread that does nothing but read the clock for a
 * few seconds; any gap between two reads is time the thread did not run
 * (preemption, interrupts, or in a VM the host taking the virtual CPU away).
 * Latency percentiles of the benchmarks cannot be better than what this
 * shows: a thread stalled for 1% of the time puts a tail on p99 whatever the
 * code under test does (the idea of jHiccup).
 * usage: bus-hiccup [SECONDS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

struct meter {
    unsigned cpu;
    double seconds;
    uint64_t gaps_50us, gaps_1ms, max_ns, stalled_ns;
};

static void *measure(void *arg)
{
    struct meter *m = arg;
    pin_thread(m->cpu);
    uint64_t last = now_ns(), end = last + (uint64_t)(m->seconds * 1e9);
    for (uint64_t t; (t = now_ns()) < end; last = t) {
        uint64_t gap = t - last;
        if (gap > 50000) {
            m->gaps_50us++;
            m->stalled_ns += gap;
        }
        m->gaps_1ms += gap > 1000000;
        if (gap > m->max_ns)
            m->max_ns = gap;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (seconds <= 0 || cpus < 1) {
        fprintf(stderr, "usage: bus-hiccup [SECONDS > 0]\n");
        return 2;
    }
    struct meter *meters = calloc((size_t)cpus, sizeof(*meters));
    pthread_t *threads = calloc((size_t)cpus, sizeof(*threads));
    if (!meters || !threads)
        return 1;
    for (long i = 0; i < cpus; i++) {
        meters[i] = (struct meter){.cpu = (unsigned)i, .seconds = seconds};
        if (pthread_create(&threads[i], NULL, measure, &meters[i]))
            return 1;
    }
    printf("cpu  gaps>50us  gaps>1ms   max us  stalled %%\n");
    for (long i = 0; i < cpus; i++) {
        pthread_join(threads[i], NULL);
        const struct meter *m = &meters[i];
        printf("%3ld %10llu %9llu %8.1f %9.3f\n", i, (unsigned long long)m->gaps_50us,
               (unsigned long long)m->gaps_1ms, (double)m->max_ns / 1e3,
               (double)m->stalled_ns / (seconds * 1e9) * 100);
    }
    free(meters);
    free(threads);
    return 0;
}
