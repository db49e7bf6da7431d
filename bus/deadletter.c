/* deadletter.c - routing failed handler calls to the dead-letter topic. */
#include <string.h>

#include "internal.h"

static const char DEAD_LETTER_TOPIC[] = "bus.dead_letter";

/* Serializes bus_dead_letter_topic() (of every bus: the calls are rare), so
 * that opening the topic and making it the bus's dead-letter topic are one
 * step: a caller passing NULL then finds the topic another caller opened
 * with its own configuration, instead of failing with -EEXIST. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* A dead letter has no key to pick a keyed topic's lane with; parallel and
 * priority topics are fine (letters handled concurrently, or at a level). */
static int resolve_config(const bus_topic_config_t *cfg, bus_topic_config_t *out)
{
    if (cfg) {
        *out = *cfg;
    } else {
        bus_topic_config_init(out);
        out->capacity = 1024;
        out->max_payload = 256 + sizeof(bus_dead_letter_t);
    }
    out->full_policy = BUS_FULL_DROP;
    if (out->max_payload < sizeof(bus_dead_letter_t) || (out->flags & BUS_TOPIC_KEYED))
        return -EINVAL;
    return 0;
}

int bus_dead_letter_topic(bus_t *bus, const bus_topic_config_t *cfg, bus_topic_t **out)
{
    if (!bus || !out)
        return -EINVAL;
    bus_topic_config_t c;
    int rc = resolve_config(cfg, &c);
    if (rc)
        return rc;
    pthread_mutex_lock(&open_lock);
    /* The topic a concurrent close unregisters is freed only after this
     * section: reading its `closed` below is safe. */
    rcu_read_lock();
    /* relaxed: open_lock orders it after the store of an earlier call. */
    bus_topic_t *t = atomic_load_explicit(&bus->dead_letters, memory_order_relaxed);
    if (!t || cfg)
        rc = bus_topic_open(bus, DEAD_LETTER_TOPIC, &c, &t);
    if (rc == 0)
        rc = bus__dead_letters_install(bus, t);
    bus__read_unlock();
    pthread_mutex_unlock(&open_lock);
    if (rc == 0)
        *out = t;
    return rc;
}

void bus__dead_letter(const bus_event_t *ev, int error, uint32_t attempts)
{
    struct bus_topic *from = ev->topic;
    /* acquire: pairs with the release in bus_dead_letter_topic. */
    struct bus_topic *to = atomic_load_explicit(&from->bus->dead_letters, memory_order_acquire);
    if (!to || to == from)
        return; /* no dead-letter topic, or a dead letter of a dead letter */
    /* A redelivered event's letter ends with its attempts, if they fit:
     * room for them first, the payload gets the rest. A letter of one
     * delivery is as it always was. */
    size_t room = to->cfg.max_payload - sizeof(bus_dead_letter_t);
    size_t trailer = attempts > 1 && room >= sizeof(attempts) ? sizeof(attempts) : 0;
    room -= trailer;
    bus_dead_letter_t letter = {
        .topic = from,
        .seq = ev->seq,
        .error = error,
        .copied = (uint32_t)(ev->size < room ? ev->size : room),
        .size = ev->size,
    };
    bus_msg_t parts[] = {
        {&letter, sizeof(letter)},
        {ev->data, letter.copied},
        {&attempts, trailer},
    };
    /* A full dead-letter ring drops and counts: workers never wait. */
    bus__publish_parts(to, parts, 3);
}

uint32_t bus_dead_letter_attempts(const bus_event_t *letter)
{
    bus_dead_letter_t head;
    uint32_t attempts;
    if (!letter || letter->size < sizeof(head))
        return 0;
    memcpy(&head, letter->data, sizeof(head));
    uint64_t after = letter->size - sizeof(head); /* payload and trailer */
    if (after == head.copied)
        return 1;
    if (after != (uint64_t)head.copied + sizeof(attempts))
        return 0;
    memcpy(&attempts, (const char *)letter->data + sizeof(head) + head.copied, sizeof(attempts));
    return attempts;
}
