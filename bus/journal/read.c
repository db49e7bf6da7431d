/* read.c - bus_journal_read(): a durable topic's events read from its
 * journal by a caller that keeps no position (bus/journal.h). */
#include <errno.h>
#include <limits.h>

#include "../lasterr.h"
#include "durable.h"
#include "journal.h"
#include "reader.h"

int bus_journal_read(bus_topic_t *topic, uint64_t seq, uint32_t max, bus_journal_read_fn fn,
                     void *ctx)
{
    if (!topic || !fn || !topic->durable || seq == 0)
        return bus__fail(-EINVAL, "bus_journal_read: NULL argument, seq 0, or not a durable "
                                  "topic");
    struct journal *j = topic->durable->journal;
    /* The oldest event left when @seq was deleted by retention: the reader
     * starts there (it skips, and says so, rather than fail). */
    bus_journal_stats_t st;
    journal_stats(j, &st);
    if (seq < st.first_seq)
        seq = st.first_seq;
    if (seq > st.last_seq)
        return 0;
    struct journal_reader r;
    journal_reader_init(&r, j, seq);
    struct journal_entry e;
    uint64_t skipped;
    int n = 0;
    while ((uint32_t)n < max && n < INT_MAX && journal_read(&r, &e, &skipped) == 1) {
        n++;
        bus_journal_record_t rec = {.seq = e.seq, .time_ns = e.time_ns, .data = e.data,
                                    .size = e.size};
        if (fn(&rec, ctx))
            break;
    }
    journal_reader_close(&r);
    return n;
}
