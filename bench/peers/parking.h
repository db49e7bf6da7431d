/* parking.h - how the polling peers (ck_ring floor, wfcqueue) wait for work:
 * spin, yield, or spin briefly then sleep on a futex, per enum sut_wait.
 * The futex side is an eventcount: a waker costs one fence and one load
 * while nobody sleeps. */
#ifndef BENCH_PARKING_H
#define BENCH_PARKING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../sut.h"

struct parking {
    alignas(64) _Atomic uint32_t seq; /* futex word, bumped to wake */
    _Atomic uint32_t sleepers;        /* threads asleep or about to be */
    enum sut_wait wait;
};

void parking_init(struct parking *pk, enum sut_wait wait);

/* Call after making work visible: wakes one sleeper if there is one. */
void parking_notify(struct parking *pk);

/* Wakes every sleeper (shutdown). */
void parking_notify_all(struct parking *pk);

/* One idle step of a worker that found nothing; *rounds counts the steps
 * since it last found work. Sleeps only if @has_work(@arg) is false after it
 * announced itself, so a notify cannot be missed. */
void parking_idle(struct parking *pk, unsigned *rounds, bool (*has_work)(void *), void *arg);

#endif
