/* systems.c - the list of systems this build can measure. Optional peers
 * are compiled in only when meson found their library. */
#include <string.h>

#include "../sut.h"

extern const struct sut_ops sut_bus_ops, sut_bus_untimed_ops, sut_bus_timed_all_ops,
    sut_bus_slow_check_ops, sut_floor_ops, sut_mutex_ops, sut_wfcq_ops;
#ifdef HAVE_GLIB
extern const struct sut_ops sut_glib_ops;
#endif
#ifdef HAVE_ZMQ
extern const struct sut_ops sut_zmq_ops;
#endif

const struct sut_ops *const sut_systems[] = {
    &sut_bus_ops,
    &sut_bus_untimed_ops,
    &sut_bus_timed_all_ops,
    &sut_bus_slow_check_ops,
    &sut_floor_ops,
    &sut_mutex_ops,
#ifdef HAVE_GLIB
    &sut_glib_ops,
#endif
#ifdef HAVE_ZMQ
    &sut_zmq_ops,
#endif
    &sut_wfcq_ops,
    NULL,
};

const struct sut_ops *sut_find(const char *name)
{
    for (const struct sut_ops *const *s = sut_systems; *s; s++)
        if (strcmp((*s)->name, name) == 0)
            return *s;
    return NULL;
}

int sut_publish_batch(const struct sut_ops *ops, void *sys, void *topic,
                      const struct sut_msg *msgs, size_t count)
{
    if (ops->publish_batch)
        return ops->publish_batch(sys, topic, msgs, count);
    for (size_t i = 0; i < count; i++) {
        int rc = ops->publish(sys, topic, msgs[i].data, msgs[i].size);
        if (rc)
            return rc;
    }
    return 0;
}
