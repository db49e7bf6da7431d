/* deadletter.c - routing failed handler calls to the dead-letter topic. */
#include <string.h>

#include "internal.h"

static const char DEAD_LETTER_TOPIC[] = "bus.dead_letter";

int bus_dead_letter_topic(bus_t *bus, const bus_topic_config_t *cfg, bus_topic_t **out)
{
    if (!bus || !out)
        return -EINVAL;
    bus_topic_config_t c;
    if (cfg) {
        c = *cfg;
    } else {
        bus_topic_config_init(&c);
        c.capacity = 1024;
        c.max_payload = 256 + sizeof(bus_dead_letter_t);
    }
    c.full_policy = BUS_FULL_DROP;
    if (c.max_payload < sizeof(bus_dead_letter_t))
        return -EINVAL;
    bus_topic_t *t;
    int rc = bus_topic_open(bus, DEAD_LETTER_TOPIC, &c, &t);
    if (rc)
        return rc;
    /* release: pairs with the acquire in bus__dead_letter; the topic is
     * fully built before a worker routes to it. */
    atomic_store_explicit(&bus->dead_letters, t, memory_order_release);
    *out = t;
    return 0;
}

void bus__dead_letter(const bus_event_t *ev, int error)
{
    struct bus_topic *from = ev->topic;
    /* acquire: pairs with the release in bus_dead_letter_topic. */
    struct bus_topic *to = atomic_load_explicit(&from->bus->dead_letters, memory_order_acquire);
    if (!to || to == from)
        return; /* no dead-letter topic, or a dead letter of a dead letter */
    size_t room = to->cfg.max_payload - sizeof(bus_dead_letter_t);
    bus_dead_letter_t letter = {
        .topic = from,
        .seq = ev->seq,
        .error = error,
        .copied = (uint32_t)(ev->size < room ? ev->size : room),
        .size = ev->size,
    };
    /* A full dead-letter ring drops and counts: workers never wait. */
    bus__publish_two(to, &letter, sizeof(letter), ev->data, letter.copied);
}
