/* load.c - producer threads for throughput-style scenarios. */
#include "load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { DEADLINE_CHECK_EVERY = 64 };

struct producer {
    const struct fixture *f;
    const struct load_spec *spec;
    struct start_gate *gate;
    unsigned index;
    uint64_t quota; /* events to publish; UINT64_MAX = until deadline */
    uint64_t first_seq;
    uint64_t deadline_ns;
    uint64_t published;
    int error;
};

static bool time_is_up(const struct producer *pr, uint64_t done, uint64_t rounds)
{
    if (pr->quota != UINT64_MAX)
        return done >= pr->quota;
    return rounds % DEADLINE_CHECK_EVERY == 0 && now_ns() >= pr->deadline_ns;
}

/* Publishes @n events (one call, or one batch call) with their stamps. */
static int publish_burst(const struct producer *pr, void *topic, struct sut_msg *msgs,
                         unsigned char *payloads, unsigned n, uint64_t first_seq)
{
    const struct load_spec *s = pr->spec;
    size_t stamp = s->payload < sizeof(first_seq) ? s->payload : sizeof(first_seq);
    for (unsigned i = 0; i < n; i++) {
        uint64_t seq = first_seq + i;
        uint64_t value = s->keys ? seq << 8 | pr->index : seq;
        memcpy(payloads + (size_t)i * s->payload, &value, stamp);
    }
    if (s->keys) {
        uint64_t value = first_seq << 8 | pr->index;
        return pr->f->ops->publish_keyed(pr->f->sys, topic,
                                         load_key_of(value, s->producers, s->keys), payloads,
                                         s->payload);
    }
    if (s->burst == 1)
        return pr->f->ops->publish(pr->f->sys, topic, payloads, s->payload);
    return sut_publish_batch(pr->f->ops, pr->f->sys, topic, msgs, n);
}

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    const struct load_spec *s = pr->spec;
    if (s->pin)
        pin_thread(pr->index);
    unsigned char *payloads = calloc(s->burst, s->payload ? s->payload : 1);
    struct sut_msg *msgs = calloc(s->burst, sizeof(*msgs));
    if (!payloads || !msgs) {
        pr->error = -ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < s->burst; i++)
        msgs[i] = (struct sut_msg){payloads + (size_t)i * s->payload, s->payload};
    start_gate_wait(pr->gate);
    unsigned topic = pr->index % s->ntopics;
    uint64_t done = 0;
    for (uint64_t rounds = 0; !time_is_up(pr, done, rounds); rounds++) {
        uint64_t left = pr->quota - done;
        unsigned n = left < s->burst ? (unsigned)left : s->burst;
        pr->error = publish_burst(pr, pr->f->topics[s->first_topic + topic], msgs, payloads, n,
                                  pr->first_seq + done);
        if (pr->error)
            break;
        done += n;
        topic = (topic + 1) % s->ntopics;
    }
    pr->published = done;
out:
    free(payloads);
    free(msgs);
    return NULL;
}

/* One timed phase: producers through the gate, join, flush. */
static void run_phase(const struct fixture *f, const struct load_spec *spec, uint64_t first_seq,
                      struct load_outcome *out)
{
    memset(out, 0, sizeof(*out));
    struct producer *prs = calloc(spec->producers, sizeof(*prs));
    if (!prs) {
        out->error = -ENOMEM;
        return;
    }
    struct start_gate gate = {0};
    uint64_t deadline = now_ns() + (uint64_t)(spec->seconds * 1e9);
    for (unsigned i = 0; i < spec->producers; i++) {
        uint64_t share = spec->events / spec->producers;
        if (i < spec->events % spec->producers)
            share++;
        prs[i] = (struct producer){.f = f, .spec = spec, .gate = &gate, .index = i,
                                   .quota = spec->events ? share : UINT64_MAX,
                                   .first_seq = first_seq,
                                   .deadline_ns = deadline};
    }
    out->error = run_threads(spec->producers, producer_main, prs, sizeof(*prs), &gate);
    for (unsigned i = 0; i < spec->producers; i++) {
        out->published += prs[i].published;
        if (!out->error)
            out->error = prs[i].error;
    }
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < (spec->flushes ? spec->flushes : 1); i++)
        rc = f->ops->flush(f->sys);
    if (!out->error)
        out->error = rc;
    if (!out->error && spec->settle)
        out->error = spec->settle(spec->settle_ctx, out->published);
    out->seconds = (double)(now_ns() - gate.open_ns) / 1e9;
    free(prs);
}

void load_run(const struct fixture *f, const struct load_spec *spec, struct load_outcome *out)
{
    /* Warm-up: first-touch page faults of rings and heaps, thread pools
     * starting, frequency ramp-up; counted but not timed. */
    struct load_spec warm = *spec;
    warm.events = spec->events ? (spec->events / 10 > 1000 ? spec->events / 10 : 1000) : 0;
    warm.seconds = spec->seconds / 10;
    struct load_outcome warm_out;
    run_phase(f, &warm, 0, &warm_out);
    run_phase(f, spec, LOAD_TIMED_SEQ, out);
    out->warmup_published = warm_out.published;
    if (!out->error)
        out->error = warm_out.error;
}

double load_rate(const struct fixture *f, const struct load_spec *spec, uint64_t *published,
                 struct result *r)
{
    struct load_outcome out;
    load_run(f, spec, &out);
    *published += load_total(&out);
    r->seconds += out.seconds;
    if (out.error) {
        result_fail(r, "publish/flush: %d", out.error);
        return 0;
    }
    return (double)out.published / out.seconds;
}

struct load_spec load_spec_from(const struct run_params *p, unsigned ntopics, unsigned burst)
{
    return (struct load_spec){
        .producers = p->producers,
        .first_topic = 0,
        .ntopics = ntopics,
        .burst = burst,
        .events = p->events,
        .seconds = p->seconds,
        .payload = p->payload,
        .pin = p->pin,
    };
}
