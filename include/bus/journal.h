/*
 * bus/journal.h - durable topics: every event also goes to an append-only
 * journal on disk, so that it survives the process, and named durable
 * consumers resume where they stopped. Part of the core library (libbus),
 * no other dependency; include <bus.h> first or let this header do it.
 *
 * What survives what (docs/design.md, "Durable topics"):
 *  - A process kill (kill -9, a crash) at any moment: every event whose
 *    publish returned 0, under every sync policy: the journal is a mapped
 *    file, so a returned publish has its record in the kernel's page cache.
 *  - Power loss or a kernel crash: under BUS_SYNC_ALWAYS every event whose
 *    publish returned 0 (fdatasync before the return, one for many
 *    concurrent publishers), except a bus_publish_ex() with on_durable
 *    (bus_publish_options_t): that one once its on_durable was called
 *    with status 0; under BUS_SYNC_INTERVAL the events published up
 *    to sync_interval_ms before (plus the time one fdatasync takes); under
 *    BUS_SYNC_NONE what the kernel happened to write back (Linux: dirty
 *    pages older than 30 s by default). Recovery then drops the torn tail.
 * Reopening a journal after either: its records are checked (CRC-32C); a
 * record cut by the crash at the end is dropped (counted in
 * bus_journal_stats_t.torn_bytes), damage before the end refuses the open
 * with -EBADMSG and says where (bus_last_error()).
 */
#ifndef BUS_JOURNAL_H
#define BUS_JOURNAL_H

#include <bus.h>

#ifdef __cplusplus
extern "C" {
#endif

/* When a durable topic's journal is flushed to the disk (fdatasync). */
enum {
    BUS_SYNC_NONE = 0,     /* never: the kernel writes back when it likes */
    BUS_SYNC_INTERVAL = 1, /* a thread of the journal, every sync_interval_ms */
    BUS_SYNC_ALWAYS = 2    /* before each publish returns (group commit) */
};

/* Where a durable consumer starts (bus_sub_options_t.start). */
enum {
    BUS_START_STORED = 0, /* its stored position; a new name: the oldest event */
    BUS_START_NEWEST = 1, /* the events published from now on */
    BUS_START_SEQ = 2     /* bus_sub_options_t.start_seq (replay), or the
                             oldest event if that one is gone */
};

typedef struct bus_journal_config {
    const char *dir;           /* this topic's journal directory; created if missing */
    int sync;                  /* BUS_SYNC_*; default BUS_SYNC_INTERVAL */
    uint32_t sync_interval_ms; /* default 100 */
    uint64_t segment_bytes;    /* default 64 MiB */
    uint64_t retain_bytes;     /* 0 = no limit */
    uint64_t retain_ns;        /* 0 = no limit */
    /* Open a journal damaged before its end all the same (RocksDB's
     * kSkipAnyCorruptedRecords): the damaged records are stepped over and
     * counted (bus_journal_stats_t.damaged), durable consumers are told of
     * the lost seqs as of events deleted by retention, and the rest stays
     * readable. false (default): such an open fails with -EBADMSG. */
    bool salvage;
} bus_journal_config_t;

/**
 * bus_journal_config_init - fill @cfg with the defaults: dir NULL (to be
 * set), BUS_SYNC_INTERVAL every 100 ms, segments of 64 MiB, no retention
 * limit. Thread-safety: any thread. @cfg NULL is ignored.
 */
BUS_API void bus_journal_config_init(bus_journal_config_t *cfg);

/**
 * bus_topic_open_durable - open the topic called @name with a journal in
 * @jcfg->dir: the journal is recovered first (checked, its torn tail cut),
 * and seqs go on from its last event (the first event of a new journal has
 * seq 1).
 * From then on, bus_publish(), bus_publish_ex() and bus_publish_batch()
 * return 0 only once the event is in the journal with its seq (and, under
 * BUS_SYNC_ALWAYS, on the disk); plain subscribers (bus_subscribe*()) see
 * the events published from their subscription on, as on any topic;
 * durable consumers (bus_subscribe_durable()) see the journal.
 * The ring (@cfg) still bounds the events waiting for plain subscribers, and
 * its full_policy applies: BUS_FULL_DROP drops an event before the journal
 * (not journaled, as not published), BUS_FULL_FAIL refuses it.
 * Publishing onto a durable topic takes the journal's lock (one publisher
 * writes at a time, a memcpy into the mapped segment); under
 * BUS_SYNC_ALWAYS the publisher then waits for an fdatasync that covers its
 * event, shared with the publishers that wrote meanwhile; with
 * bus_publish_options_t.on_durable it does not wait (the journal's thread
 * syncs and calls on_durable), so one producer can have many events in
 * flight. Under BUS_SYNC_INTERVAL and BUS_SYNC_NONE a journal written
 * fast is mapped with huge pages (fewer page faults; under INTERVAL only
 * while at least 4 MiB are written per interval, as an fdatasync then
 * writes whole 2 MiB pages). A new segment
 * file (every segment_bytes) is allocated while the lock is held; the
 * sealed one is synced by the next sync. Events larger than a segment get
 * a segment of their own size (a zero-copy event over 4 GiB is refused:
 * -EMSGSIZE).
 * The topic is closed as any other (bus_topic_close(), bus_destroy()):
 * durable consumers are stopped, their positions and the journal synced
 * (unless BUS_SYNC_NONE) and the files closed. One open per directory: the
 * journal is locked (flock) while open.
 * Not with BUS_TOPIC_KEYED (its seqs count per lane).
 * @cfg: the ring, as bus_topic_open(); NULL = defaults.
 * @jcfg: copied (dir too); dir must be set.
 * Thread-safety: any thread except a handler (recovery reads the journal).
 * Errors: as bus_topic_open(), and -EEXIST (a topic called @name is open),
 * -EINVAL (jcfg or its dir NULL, sync unknown, segment_bytes under 4 KiB,
 * BUS_TOPIC_KEYED), -EBUSY (the journal is open elsewhere), -EBADMSG (a
 * damaged record before the end of the journal: bus_last_error() names the
 * segment file and the offset; nothing is changed; jcfg->salvage opens it
 * anyway), -ENOSPC, -EIO, or what mkdir/open/mmap return.
 */
BUS_API int bus_topic_open_durable(bus_t *bus, const char *name, const bus_topic_config_t *cfg,
                                   const bus_journal_config_t *jcfg, bus_topic_t **out);

/**
 * bus_subscribe_durable - call @fn(event, @ctx) for the events of durable
 * @topic from the journal, as the named consumer @consumer: from its stored
 * position, or, for a name the journal does not know, from the oldest event
 * the journal holds (opts->start: BUS_START_NEWEST for the events published
 * from now on, BUS_START_SEQ with opts->start_seq to replay from a seq;
 * either also moves a known consumer there).
 * An event is acknowledged once @fn returned 0 for it, or, when @fn failed
 * on every delivery @opts allow (max_deliver, backoff_ns: retried in place
 * on the consumer's thread after each delay, the later events waiting, so
 * order holds through retries; ev->attempt counts), once it went to the
 * dead letters (bus_dead_letter_topic()) with that count; its position
 * is stored in the journal's directory (consumers/<name>), written after
 * each batch of events, so that a consumer reopened after a crash resumes at
 * its first event not acknowledged: at least once (the events of the batch
 * the crash cut are delivered again), no gap, in seq order.
 * Under BUS_SYNC_ALWAYS a consumer sees an event once it is on the disk.
 * A consumer whose next event was deleted by retention skips to the oldest
 * event left (or, in a salvaged journal, whose next events were damaged
 * skips them): the skipped events are counted (bus_durable_stats_t.skipped)
 * and reported to opts->on_skip, never silently lost.
 * Calls run on a thread of the consumer's own (named "bus-d<topic>"), one
 * at a time; they may call what a handler may (bus_topic_close(),
 * bus_shutdown() and bus_destroy() of the bus return -EDEADLK there).
 * bus_unsubscribe() stops it (it waits for the call in progress; from the
 * consumer's own handler it does not wait, and the name stays taken until
 * the topic closes) and stores the position; so do bus_topic_close() and
 * bus_shutdown(). bus_flush() does not wait for durable consumers.
 * bus_sub_stats() counts its calls.
 * @consumer: 1 to 64 bytes of [A-Za-z0-9_.-]; one subscription per name.
 * @opts: NULL = defaults; group and pause_after are not supported (0/NULL);
 *   a filter counts rejected events as acknowledged; redeliver_in_order is
 *   implied. A consumer stopped while it waits to retry an event leaves it
 *   unacknowledged: it is delivered again, attempt 1, when it resumes.
 * Thread-safety: any thread.
 * Errors: -EINVAL (NULL argument, @topic not durable, malformed name, group
 * or pause_after set, start unknown, start_seq 0, redelivery options as
 * bus_subscribe_ex() checks them, called from a handler
 * module's code (bus/module.h): its unload could not stop the consumer), -EBUSY (the name is
 * subscribed), -ENOMEM, -EPIPE (topic closing), -ESHUTDOWN, or what
 * open/pwrite return for the position file.
 */
BUS_API int bus_subscribe_durable(bus_topic_t *topic, const char *consumer, bus_handler_fn fn,
                                  void *ctx, const bus_sub_options_t *opts, bus_sub_t **out);

/* A durable consumer's counters (bus_durable_stats()). */
typedef struct bus_durable_stats {
    uint64_t next_seq;  /* the first event not acknowledged */
    uint64_t acked;     /* events acknowledged by this subscription */
    uint64_t skipped;   /* events deleted by retention before it read them,
                           or lost to damage (salvage) */
} bus_durable_stats_t;

/**
 * bus_durable_stats - copy durable consumer @sub's counters to @out.
 * Thread-safety: any thread while @sub is valid.
 * Errors: -EINVAL (NULL argument, @sub not a durable consumer).
 */
BUS_API int bus_durable_stats(const bus_sub_t *sub, bus_durable_stats_t *out);

/* A durable topic's journal (bus_journal_stats()). */
typedef struct bus_journal_stats {
    uint64_t first_seq;   /* the oldest event held; last_seq + 1 when empty */
    uint64_t last_seq;    /* the newest event written */
    uint64_t synced_seq;  /* the newest event known on the disk */
    uint64_t segments;    /* segment files now */
    uint64_t bytes;       /* their size */
    uint64_t syncs;       /* fdatasync calls made */
    uint64_t sync_ns;     /* their total time */
    uint64_t torn_bytes;  /* bytes of a torn tail dropped by the recovery */
    uint64_t recovery_ns; /* how long the recovery took */
    uint64_t deleted_segments; /* by retention since the open */
    uint64_t damaged;     /* events lost to damage a salvage open stepped over */
} bus_journal_stats_t;

/**
 * bus_journal_stats - copy the counters of durable @topic's journal to @out.
 * Thread-safety: any thread while @topic is valid.
 * Errors: -EINVAL (NULL argument, @topic not durable).
 */
BUS_API int bus_journal_stats(const bus_topic_t *topic, bus_journal_stats_t *out);

/* One event of a journal as bus_journal_read() gives it. */
typedef struct bus_journal_record {
    uint64_t seq;
    uint64_t time_ns;  /* CLOCK_REALTIME ns at publish */
    const void *data;  /* valid during the call only */
    size_t size;
} bus_journal_record_t;

/* Called by bus_journal_read() for each record; non-zero stops the read. */
typedef int (*bus_journal_read_fn)(const bus_journal_record_t *rec, void *ctx);

/**
 * bus_journal_read - call @fn(record, @ctx) for the events of durable
 * @topic's journal from @seq on, in seq order, at most @max of them, up to
 * the newest one a durable consumer could read (under BUS_SYNC_ALWAYS: the
 * newest on the disk). For a reader that keeps no position and no thread
 * (an HTTP long poll reading behind its in-memory window): each call finds
 * @seq again (a binary search over the segments, then the records of one).
 * Events deleted by retention are not there: the first record then has a
 * later seq than @seq (compare it; bus_journal_stats().first_seq is the
 * oldest held). The calls run on the caller's thread, the journal's lock
 * not held (records are read through the mapping): @fn may take its own
 * locks and may publish.
 * Thread-safety: any thread while @topic is open, concurrently with
 * publishers, consumers and retention.
 * Returns the number of records given to @fn (0: none at or after @seq
 * yet), or -EINVAL (NULL @topic or @fn, @seq 0, @topic not durable).
 */
BUS_API int bus_journal_read(bus_topic_t *topic, uint64_t seq, uint32_t max,
                             bus_journal_read_fn fn, void *ctx);

/**
 * bus_durable_forget - delete the stored position of durable consumer
 * @consumer on @topic (its file consumers/<name> in the journal's
 * directory), so that the name starts again as a new consumer (at the
 * oldest event, or where its options say). For a consumer that will not
 * come back (an application deleting what it created).
 * Thread-safety: any thread.
 * Errors: -EINVAL (NULL argument, @topic not durable, malformed name),
 * -EBUSY (the name is subscribed: bus_unsubscribe() it first), -ENOENT (no
 * position stored under that name), or what unlink returns.
 */
BUS_API int bus_durable_forget(bus_topic_t *topic, const char *consumer);

#ifdef __cplusplus
}
#endif

#endif
