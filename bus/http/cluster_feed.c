/* cluster_feed.c - the topics a gateway imports from NATS, into their
 * replay windows. A topic is created by the bridge when its first message
 * arrives, so a subscription made when a client first asks for it (as
 * served.c does for the others) would miss what came before. Instead each
 * import has a pattern subscription, made before the bridge starts: the
 * bus attaches it to every matching topic at its creation, and its handler
 * serves the topic (auto_create and max_topics permitting) and fills the
 * window. These topics take no subscription of their own (cluster_feeds()).
 * An imported event carries no content type: it shows as JSON in a long
 * poll or stream when its bytes are one JSON value, else as base64. */
#include "gateway.h"

/* The first import whose pattern matches @name; nimports if none. */
static unsigned first_import(const bus_nats_config_t *n, const char *name)
{
    unsigned i = 0;
    while (i < n->n_imports && !subject_matches(n->imports[i].pattern, name))
        i++;
    return i;
}

bool cluster_feeds(const struct bus_http *gw, const char *name)
{
    const struct cluster_cfg *c = gw->cfg.nats;
    return c && first_import(&c->nats, name) < c->nats.n_imports;
}

static int feed(const bus_event_t *ev, void *ctx)
{
    struct cluster_feed *f = ctx;
    struct bus_http *gw = f->gw;
    const char *name = bus_topic_name(ev->topic);
    /* Overlapping imports: the first one's feed alone fills the window. */
    if (first_import(&gw->cfg.nats->nats, name) != f->index || topic_name_reserved(name))
        return 0;
    struct served *s;
    if (served_get(gw, name, gw->cfg.auto_create, &s) != 0)
        return 0; /* not served here (auto_create off, max_topics): not kept */
    window_append(&s->win, ev->seq, wall_time_of(ev->publish_ns), ev->data, ev->size,
                  json_valid(ev->data, ev->size));
    return 0;
}

int cluster_feed_start(struct bus_http *gw)
{
    struct cluster *cl = gw->cluster;
    const bus_nats_config_t *n = &gw->cfg.nats->nats;
    for (unsigned i = 0; i < n->n_imports; i++) {
        struct cluster_feed *f = &cl->feeds[i];
        f->gw = gw;
        f->index = i;
        int rc = bus_subscribe_pattern(gw->bus, n->imports[i].pattern, feed, f, NULL, &f->sub);
        if (rc)
            return rc;
        cl->nfeeds++;
    }
    return 0;
}

void cluster_feed_stop(struct bus_http *gw)
{
    for (unsigned i = 0; i < gw->cluster->nfeeds; i++)
        bus_unsubscribe(gw->cluster->feeds[i].sub); /* waits for a feed in progress */
}
