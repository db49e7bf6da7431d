/* test_journal_store.c - the journal's storage layer (bus/journal/): framing
 * and CRC, reopening, torn tails cut at every byte, one damaged byte
 * anywhere, retention, position files, group commit, and disk full / write
 * errors through the I/O fault hook. Linked with the static library. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable_helpers.h"
#include "../bus/journal/crc32c.h"
#include "../bus/journal/io.h"
#include "../bus/journal/journal.h"
#include "../bus/journal/position.h"
#include "../bus/journal/reader.h"
#include "../bus/journal/record.h"

static char dir[64];

static bus_journal_config_t config(int sync, uint64_t segment_bytes)
{
    bus_journal_config_t cfg;
    bus_journal_config_init(&cfg);
    cfg.dir = dir;
    cfg.sync = sync;
    cfg.segment_bytes = segment_bytes;
    return cfg;
}

/* A journal opened in a new temporary dir, with *@cfg its config(). */
static struct journal *open_new_journal(bus_journal_config_t *cfg, int sync,
                                        uint64_t segment_bytes)
{
    temp_dir(dir);
    *cfg = config(sync, segment_bytes);
    struct journal *j;
    ck_assert_ok(journal_open(cfg, &j));
    return j;
}

/* Closes @j and removes its dir. */
static void close_and_remove(struct journal *j)
{
    journal_close(j);
    remove_dir(dir);
}

/* Event @i's payload: its number and a length that varies with it. */
static size_t payload(uint64_t i, char buf[64])
{
    size_t n = (size_t)(i * 7 % 41);
    for (size_t k = 0; k < n; k++)
        buf[k] = (char)(i + k);
    return n;
}

/* Appends events [from, to) as a publisher would: 0 or the first error. */
static int append(struct journal *j, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++) {
        char buf[64];
        bus_msg_t m = {buf, payload(i, buf)};
        int rc = journal_lock(j);
        if (rc)
            return rc;
        int64_t n = journal_fit(j, &m, 1);
        if (n < 0) {
            journal_unlock(j);
            return (int)n;
        }
        ck_assert_uint_eq(j->next_seq, i);
        journal_put(j, i * 1000, m.data, m.size);
        journal_unlock_written(j);
        if ((rc = journal_wait_synced(j, i)))
            return rc;
    }
    return 0;
}

/* Reads from @from on and checks each event against payload(); returns the
 * seq after the last one read. */
static uint64_t read_all(struct journal *j, uint64_t from)
{
    struct journal_reader r;
    journal_reader_init(&r, j, from);
    struct journal_entry e;
    uint64_t skipped, next = from;
    while (journal_read(&r, &e, &skipped)) {
        ck_assert_uint_eq(skipped, 0);
        ck_assert_uint_eq(e.seq, next);
        char buf[64];
        size_t n = payload(e.seq, buf);
        ck_assert_uint_eq(e.size, n);
        ck_assert_int_eq(memcmp(e.data, buf, n), 0);
        ck_assert_uint_eq(e.time_ns, e.seq * 1000);
        next++;
    }
    journal_reader_close(&r);
    return next;
}

/* Reads a salvaged journal from seq 1: every record read is intact and in
 * seq order; returns how many were read, with *@skipped the seqs skipped. */
static uint64_t read_salvaged(struct journal *j, uint64_t *skipped)
{
    struct journal_reader r;
    journal_reader_init(&r, j, 1);
    struct journal_entry e;
    uint64_t gap, next = 1, read = 0;
    *skipped = 0;
    while (journal_read(&r, &e, &gap)) {
        *skipped += gap;
        ck_assert_uint_eq(e.seq, next + gap);
        char buf[64];
        size_t n = payload(e.seq, buf);
        ck_assert_uint_eq(e.size, n);
        ck_assert_int_eq(memcmp(e.data, buf, n), 0);
        next = e.seq + 1;
        read++;
    }
    journal_reader_close(&r);
    return read;
}

START_TEST(crc32c_known_values)
{
    ck_assert_uint_eq(journal_crc32c(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(journal__crc32c_table(0, "123456789", 9), 0xe3069283u);
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 31 + 7);
    for (size_t len = 0; len < sizeof(buf); len += 37) {
        uint32_t whole = journal_crc32c(0, buf, len);
        ck_assert_uint_eq(whole, journal__crc32c_table(0, buf, len));
        /* Extending in two pieces gives the CRC of the whole. */
        ck_assert_uint_eq(journal_crc32c(journal_crc32c(0, buf, len / 3), buf + len / 3,
                                         len - len / 3),
                          whole);
    }
}
END_TEST

START_TEST(reopen_continues_seqs)
{
    bus_journal_config_t cfg;
    struct journal *j = open_new_journal(&cfg, BUS_SYNC_NONE, 4096);
    ck_assert_uint_eq(j->next_seq, 1);
    ck_assert_ok(append(j, 1, 500)); /* several segments of 4 KiB */
    ck_assert_uint_gt(j->nsegs, 3);
    ck_assert_uint_eq(read_all(j, 1), 500);
    ck_assert_uint_eq(read_all(j, 321), 500); /* from the middle */
    journal_close(j);
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert_uint_eq(j->next_seq, 500);
    ck_assert_uint_eq(j->torn_bytes, 0);
    ck_assert_ok(append(j, 500, 600));
    ck_assert_uint_eq(read_all(j, 1), 600);
    /* A second open of the same directory is refused while it is open. */
    struct journal *again;
    ck_assert_int_eq(journal_open(&cfg, &again), -EBUSY);
    close_and_remove(j);
}
END_TEST

/* The files of the journal, to put back between trials. */
struct saved {
    char name[256];
    unsigned char *bytes;
    size_t size;
};

static int save_files(struct saved *out, int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".seg"))
            continue;
        ck_assert_int_lt(n, max);
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        fseek(f, 0, SEEK_END);
        out[n].size = (size_t)ftell(f);
        rewind(f);
        out[n].bytes = malloc(out[n].size);
        ck_assert_uint_eq(fread(out[n].bytes, 1, out[n].size, f), out[n].size);
        fclose(f);
        snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* Writes the saved files back, the one called @cut cut to @len bytes. */
static void restore_files(const struct saved *files, int n, const char *cut, size_t len)
{
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
        FILE *f = fopen(path, "wb");
        size_t size = cut && strcmp(files[i].name, cut) == 0 ? len : files[i].size;
        ck_assert_uint_eq(fwrite(files[i].bytes, 1, size, f), size);
        fclose(f);
    }
}

/* Writes back the saved files the journal changed (a torn tail cut, a
 * header rewritten), and only those: the damage tests open the journal
 * thousands of times, and rewriting every file each time made them take
 * minutes under TSan on a loaded machine. */
static void restore_changed(const struct saved *files, int n)
{
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%.255s", dir, files[i].name);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        unsigned char *now = malloc(files[i].size + 1);
        size_t got = fread(now, 1, files[i].size + 1, f);
        fclose(f);
        bool same = got == files[i].size && memcmp(now, files[i].bytes, got) == 0;
        free(now);
        if (!same)
            restore_files(&files[i], 1, NULL, 0);
    }
}

/* Frees what save_files() read. */
static void free_files(struct saved *files, int n)
{
    for (int i = 0; i < n; i++)
        free(files[i].bytes);
}

static const struct saved *last_file(const struct saved *files, int n)
{
    const struct saved *last = &files[0];
    for (int i = 1; i < n; i++)
        if (strcmp(files[i].name, last->name) > 0)
            last = &files[i];
    return last;
}

/* The offset where record @seq starts in a saved segment. */
static size_t record_offset(const struct saved *f, uint64_t seq)
{
    size_t off = SEGMENT_HEADER;
    for (;;) {
        struct record_header h;
        if (off + sizeof(h) > f->size)
            return off;
        memcpy(&h, f->bytes + off, sizeof(h));
        if (h.seq == seq)
            return off;
        ck_assert_uint_ne(h.seq, 0);
        off += record_frame(h.len);
    }
}

/* Whether damaging byte @at of @f tells something new. Every byte of the
 * segment header, and of the record headers of the first two and last two
 * records; elsewhere the first and last byte of each header field (len,
 * crc, seq, time). Of each payload its first, last and every 8th byte: a
 * payload byte is only ever checked by the record's CRC, wherever it is.
 * (Every byte of every record made the test take minutes under TSan.) */
static bool worth_damaging(const struct saved *f, size_t at)
{
    static const bool field_edge[sizeof(struct record_header)] = {
        [0] = true, [3] = true, [4] = true, [7] = true,
        [8] = true, [15] = true, [16] = true, [23] = true};
    _Static_assert(sizeof(struct record_header) == 24, "the fields above");
    if (at < SEGMENT_HEADER)
        return true;
    size_t records = 0, end_of_records = record_offset(f, 0);
    for (size_t off = SEGMENT_HEADER; off < end_of_records; records++) {
        struct record_header h;
        memcpy(&h, f->bytes + off, sizeof(h));
        off += record_frame(h.len);
    }
    size_t off = SEGMENT_HEADER;
    for (size_t k = 0;; k++) {
        struct record_header h;
        memcpy(&h, f->bytes + off, sizeof(h));
        size_t payload = off + sizeof(h), end = off + record_frame(h.len);
        if (at < payload)
            return k < 2 || k + 2 >= records || field_edge[at - off];
        if (at < end)
            return (at - payload) % 8 == 0 || at - payload + 1 >= h.len;
        off = end;
    }
}

/* A crash cuts the last segment anywhere in its last three records: the
 * journal reopens with exactly the whole records before the cut, reports
 * the torn bytes, and appends after them. */
START_TEST(torn_tail_cut_at_every_byte)
{
    bus_journal_config_t cfg;
    struct journal *j = open_new_journal(&cfg, BUS_SYNC_NONE, 4096);
    ck_assert_ok(append(j, 1, 200));
    journal_close(j);
    struct saved files[16];
    int n = save_files(files, 16);
    const struct saved *last = last_file(files, n);
    size_t from = record_offset(last, 197);
    size_t end = record_offset(last, 199) + record_frame(199 * 7 % 41);
    for (size_t cut = from; cut <= end; cut++) {
        restore_files(files, n, last->name, cut);
        ck_assert_ok(journal_open(&cfg, &j));
        uint64_t whole = 196;
        for (uint64_t seq = 197; seq <= 199; seq++)
            whole += cut >= record_offset(last, seq) + record_frame(seq * 7 % 41);
        ck_assert_uint_eq(j->next_seq, whole + 1);
        ck_assert_uint_eq(read_all(j, 1), whole + 1);
        /* Appending goes on where the whole records end. */
        ck_assert_ok(append(j, whole + 1, 205));
        ck_assert_uint_eq(read_all(j, 1), 205);
        journal_close(j);
        ck_assert_ok(journal_open(&cfg, &j));
        ck_assert_uint_eq(j->next_seq, 205);
        ck_assert_uint_eq(j->torn_bytes, 0);
        journal_close(j);
    }
    free_files(files, n);
    remove_dir(dir);
}
END_TEST

/* One damaged byte in the records (every header byte, payload bytes
 * sampled: see worth_damaging()): the open fails with -EBADMSG
 * naming the segment and the offset, or (the last record: a torn tail) the
 * record is dropped; a damaged event is never read back. Opened with
 * salvage, the journal refused gives back every other event. */
START_TEST(one_damaged_byte_is_never_read)
{
    bus_journal_config_t cfg;
    struct journal *j = open_new_journal(&cfg, BUS_SYNC_NONE, 4096);
    ck_assert_ok(append(j, 1, 150)); /* two segments and a bit */
    ck_assert_uint_ge(j->nsegs, 2);
    journal_close(j);
    struct saved files[16];
    int n = save_files(files, 16);
    int refused = 0, torn = 0;
    uint64_t salvaged_reads = 0;
    for (int f = 0; f < n; f++) {
        size_t used = record_offset(&files[f], 0); /* the end of its records */
        for (size_t at = 0; at < used; at++) {
            if (!worth_damaging(&files[f], at))
                continue;
            restore_changed(files, n);
            char path[512];
            snprintf(path, sizeof(path), "%s/%.255s", dir, files[f].name);
            int fd = open(path, O_WRONLY);
            unsigned char b = files[f].bytes[at] ^ 0x10;
            ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)at), 1);
            close(fd);
            int rc = journal_open(&cfg, &j);
            if (rc) {
                ck_assert_int_eq(rc, -EBADMSG);
                ck_assert_ptr_nonnull(strstr(bus_last_error(), files[f].name));
                refused++;
                /* Salvaged, the rest stays readable: every event but the
                 * damaged ones, each intact, the lost ones counted. */
                bus_journal_config_t salvage = cfg;
                salvage.salvage = true;
                ck_assert_ok(journal_open(&salvage, &j));
                uint64_t skipped, read = read_salvaged(j, &skipped);
                ck_assert_uint_eq(skipped, j->damaged_events);
                ck_assert_uint_eq(read + skipped, j->next_seq - 1);
                ck_assert_uint_le(skipped, 40); /* at most a segment's worth */
                salvaged_reads += read;
                journal_close(j);
                continue;
            }
            /* Only the very last record may go, as a torn tail. */
            ck_assert_uint_eq(read_all(j, 1), j->next_seq);
            ck_assert_uint_ge(j->next_seq, 149);
            torn += j->next_seq == 149;
            journal_close(j);
        }
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_gt(torn, 0);
    ck_assert_uint_gt(salvaged_reads, (uint64_t)refused * 100);
    free_files(files, n);
    remove_dir(dir);
}
END_TEST

START_TEST(retention_deletes_whole_old_segments)
{
    temp_dir(dir);
    bus_journal_config_t cfg = config(BUS_SYNC_NONE, 4096);
    cfg.retain_bytes = 3 * 4096;
    struct journal *j;
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert_ok(append(j, 1, 1000));
    ck_assert_uint_le(j->nsegs, 3);
    bus_journal_stats_t st;
    journal_stats(j, &st);
    ck_assert_uint_gt(st.deleted_segments, 5);
    ck_assert_uint_gt(st.first_seq, 1);
    ck_assert_uint_eq(st.last_seq, 999);
    /* A reader from seq 1 is told how many events it lost. */
    struct journal_reader r;
    journal_reader_init(&r, j, 1);
    struct journal_entry e;
    uint64_t skipped;
    ck_assert_int_eq(journal_read(&r, &e, &skipped), 1);
    ck_assert_uint_eq(skipped, st.first_seq - 1);
    ck_assert_uint_eq(e.seq, st.first_seq);
    journal_reader_close(&r);
    ck_assert_uint_eq(read_all(j, st.first_seq), 1000);
    journal_close(j);
    /* Reopened, the journal starts at the oldest segment left. */
    ck_assert_ok(journal_open(&cfg, &j));
    journal_stats(j, &st);
    ck_assert_uint_eq(j->next_seq, 1000);
    ck_assert_uint_eq(read_all(j, st.first_seq), 1000);
    close_and_remove(j);
}
END_TEST

START_TEST(retention_by_age)
{
    temp_dir(dir);
    bus_journal_config_t cfg = config(BUS_SYNC_NONE, 4096);
    cfg.retain_ns = 1; /* every sealed segment is too old (time_ns is tiny) */
    struct journal *j;
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert_ok(append(j, 1, 1000));
    ck_assert_uint_eq(j->nsegs, 1);
    close_and_remove(j);
}
END_TEST

START_TEST(position_survives_a_torn_slot)
{
    temp_dir(dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    struct position p;
    uint64_t seq;
    ck_assert_ok(position_open(dfd, "c1", &p, &seq));
    ck_assert_uint_eq(seq, 0);
    ck_assert_ok(position_store(&p, 10));
    ck_assert_ok(position_store(&p, 11));
    position_close(&p);
    ck_assert_ok(position_open(dfd, "c1", &p, &seq));
    ck_assert_uint_eq(seq, 11);
    ck_assert_ok(position_store(&p, 12)); /* into the slot of 10 */
    /* Damage the slot just written: the other one (11) wins. */
    unsigned char junk = 0xff;
    ck_assert_int_eq(pwrite(p.fd, &junk, 1, (off_t)((p.generation & 1) * 16 + 3)), 1);
    position_close(&p);
    ck_assert_ok(position_open(dfd, "c1", &p, &seq));
    ck_assert_uint_eq(seq, 11);
    position_close(&p);
    close(dfd);
    remove_dir(dir);
}
END_TEST

struct appender {
    struct journal *j;
    atomic_int errors;
};

static void *append_many(void *arg)
{
    struct appender *a = arg;
    for (int i = 0; i < 500; i++) {
        char buf[64] = "event";
        bus_msg_t m = {buf, 64};
        ck_assert_ok(journal_lock(a->j));
        ck_assert_int_eq(journal_fit(a->j, &m, 1), 1);
        uint64_t seq = a->j->next_seq;
        journal_put(a->j, 1, m.data, m.size);
        journal_unlock_written(a->j);
        if (journal_wait_synced(a->j, seq))
            atomic_fetch_add(&a->errors, 1);
        ck_assert_uint_ge(atomic_load(&a->j->synced), seq);
    }
    return NULL;
}

/* BUS_SYNC_ALWAYS with 4 appenders: every append returns synced, and
 * fewer fdatasyncs than appends are made once they overlap. */
START_TEST(group_commit_shares_syncs)
{
    temp_dir(dir);
    bus_journal_config_t cfg = config(BUS_SYNC_ALWAYS, 1 << 20);
    struct appender a = {0};
    ck_assert_ok(journal_open(&cfg, &a.j));
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, append_many, &a);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&a.errors), 0);
    bus_journal_stats_t st;
    journal_stats(a.j, &st);
    ck_assert_uint_eq(st.synced_seq, 2000);
    ck_assert_uint_lt(st.syncs, 2000);
    close_and_remove(a.j);
}
END_TEST

static bool journal_huge(struct journal *j)
{
    pthread_mutex_lock(&j->lock);
    bool huge = j->huge;
    pthread_mutex_unlock(&j->lock);
    return huge;
}

/* Page size (segment.h): huge pages under BUS_SYNC_INTERVAL from the open,
 * 4 KiB ones once a tick sees less than 4 MiB written (the last huge page,
 * written and synced, dropped from the page cache: its records must stay
 * whole, and later ones go on after them); never under BUS_SYNC_ALWAYS. */
START_TEST(page_size_follows_the_rate)
{
    temp_dir(dir);
    bus_journal_config_t cfg = config(BUS_SYNC_INTERVAL, 16 << 20);
    cfg.sync_interval_ms = 10;
    struct journal *j;
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert(journal_huge(j));
    ck_assert_ok(append(j, 1, 1000));
    for (int i = 0; i < 200 && journal_huge(j); i++)
        usleep(10000);
    ck_assert(!journal_huge(j)); /* slow: 4 KiB pages */
    ck_assert_uint_eq(read_all(j, 1), 1000);
    ck_assert_ok(append(j, 1000, 2000));
    ck_assert_uint_eq(read_all(j, 1), 2000);
    journal_close(j);
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert(journal_huge(j)); /* a new open starts fast */
    ck_assert_uint_eq(read_all(j, 1), 2000);
    journal_close(j);
    cfg.sync = BUS_SYNC_ALWAYS;
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert(!journal_huge(j));
    close_and_remove(j);
}
END_TEST

static int fault;
static enum journal_io_op fault_op;

static int inject(enum journal_io_op op)
{
    return op == fault_op ? fault : 0;
}

/* From now on the I/O operation @op fails with @error. */
static void inject_fault(enum journal_io_op op, int error)
{
    fault_op = op;
    fault = error;
    journal__io_fault = inject;
}

/* A full disk when a new segment is needed: -ENOSPC, nothing written, the
 * journal takes events again once there is room, and reopens whole. */
START_TEST(disk_full_writes_nothing)
{
    bus_journal_config_t cfg;
    struct journal *j = open_new_journal(&cfg, BUS_SYNC_INTERVAL, 4096);
    ck_assert_ok(append(j, 1, 60));
    inject_fault(JOURNAL_IO_ALLOCATE, -ENOSPC);
    int rc = append(j, 60, 400);
    ck_assert_int_eq(rc, -ENOSPC);
    uint64_t next = j->next_seq; /* the events before the full segment went in */
    ck_assert_uint_eq(read_all(j, 1), next);
    journal__io_fault = NULL;
    ck_assert_ok(append(j, next, 400));
    journal_close(j);
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert_uint_eq(read_all(j, 1), 400);
    close_and_remove(j);
}
END_TEST

/* A failed fdatasync: that append and every later one fail with -EIO, no
 * event is reported synced that was not, and the journal reopens cleanly. */
START_TEST(sync_error_is_sticky)
{
    bus_journal_config_t cfg;
    struct journal *j = open_new_journal(&cfg, BUS_SYNC_ALWAYS, 1 << 16);
    ck_assert_ok(append(j, 1, 10));
    inject_fault(JOURNAL_IO_SYNC, -EIO);
    ck_assert_int_eq(append(j, 10, 11), -EIO);
    ck_assert_uint_eq(atomic_load(&j->synced), 9);
    ck_assert_uint_eq(journal_visible(j), 9); /* readers never see seq 10 */
    journal__io_fault = NULL;
    ck_assert_int_eq(append(j, 11, 12), -EIO);
    journal_close(j);
    ck_assert_ok(journal_open(&cfg, &j));
    ck_assert_uint_ge(j->next_seq, 10);
    ck_assert_uint_eq(read_all(j, 1), j->next_seq);
    close_and_remove(j);
}
END_TEST

static int count_calls(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    atomic_fetch_add((atomic_int *)ctx, 1);
    return 0;
}

/* Durable topic "t" with @calls counting its subscriber's calls. */
static bus_topic_t *counted_topic(bus_t *bus, const bus_journal_config_t *cfg, atomic_int *calls)
{
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open_durable(bus, "t", NULL, cfg, &t));
    subscribe(t, count_calls, calls);
    return t;
}

/* Through the public API: a publish whose sync fails returns -EIO and its
 * event reaches no subscriber (its slot is void: counted dropped); every
 * later publish fails too; the journal reopens with what was synced. */
START_TEST(failed_sync_publishes_nothing)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_journal_config_t cfg = config(BUS_SYNC_ALWAYS, 1 << 16);
    atomic_int calls = 0;
    bus_topic_t *t = counted_topic(bus, &cfg, &calls);
    ck_assert_ok(bus_publish(t, "a", 1));
    inject_fault(JOURNAL_IO_SYNC, -EIO);
    ck_assert_int_eq(bus_publish(t, "b", 1), -EIO);
    journal__io_fault = NULL;
    ck_assert_int_eq(bus_publish(t, "c", 1), -EIO);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&calls), 1);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, 2);
    ck_assert_uint_eq(st.dropped, 1);
    ck_assert_uint_eq(st.delivered, 1);
    ck_assert_ok(bus_topic_close(t, BUS_CLOSE_DRAIN, NULL));
    ck_assert_ok(bus_topic_open_durable(bus, "t", NULL, &cfg, &t));
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    ck_assert_uint_ge(js.last_seq, 1); /* "b" may be there: its fate was unknown */
    ck_assert_ok(bus_publish(t, "d", 1));
    destroy_bus_and_dir(bus, dir);
}
END_TEST

/* The same with on_durable: the publish returns 0 (journaled), the failed
 * sync is reported to on_durable with -EIO, and the event reaches no
 * subscriber; later publishes fail. */
START_TEST(failed_sync_is_reported_to_on_durable)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_journal_config_t cfg = config(BUS_SYNC_ALWAYS, 1 << 16);
    atomic_int calls = 0;
    bus_topic_t *t = counted_topic(bus, &cfg, &calls);
    static struct durable_reports d;
    durable_reports_init(&d, t);
    publish_durable(t, 1, &d);
    await_reports(&d, 1);
    inject_fault(JOURNAL_IO_SYNC, -EIO);
    publish_durable(t, 2, &d);
    await_reports(&d, 2);
    journal__io_fault = NULL;
    ck_assert_int_eq(d.status[0], 0);
    ck_assert_uint_eq(d.seqs[1], 2);
    ck_assert_int_eq(d.status[1], -EIO);
    ck_assert_int_eq(bus_publish(t, "c", 1), -EIO);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&calls), 1);
    ck_assert_uint_eq(topic_stats(t).dropped, 1);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

/* Mounts a 256 KiB tmpfs on @path in a mount namespace of the test's own
 * process (Check forks one per test), so that it goes away with the process
 * even when an assertion ends it early. False when that is not allowed. */
static bool mount_small_tmpfs(const char *path)
{
    return geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount("bus-jtest", path, "tmpfs", 0, "size=256k") == 0;
}

/* A real full disk: a small tmpfs the test mounts when it runs as root and
 * may (else it says so and checks nothing: the hook tests above cover the
 * paths). Publish fails with -ENOSPC once no new segment fits, and the
 * journal reopens with exactly the events accepted. */
START_TEST(tmpfs_full_disk)
{
    temp_dir(dir);
    if (!mount_small_tmpfs(dir)) {
        fprintf(stderr, "tmpfs_full_disk: cannot mount a tmpfs here, nothing checked\n");
        remove_dir(dir);
        return;
    }
    bus_t *bus = new_bus(1);
    bus_journal_config_t cfg = config(BUS_SYNC_INTERVAL, 64 * 1024);
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open_durable(bus, "t", NULL, &cfg, &t));
    char payload[200] = "event";
    uint64_t accepted = 0;
    int rc;
    while ((rc = bus_publish(t, payload, sizeof(payload))) == 0)
        accepted++;
    ck_assert_int_eq(rc, -ENOSPC);
    ck_assert_uint_gt(accepted, 500);
    ck_assert_ok(bus_topic_close(t, BUS_CLOSE_DRAIN, NULL));
    ck_assert_ok(bus_topic_open_durable(bus, "t", NULL, &cfg, &t));
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    ck_assert_uint_eq(js.last_seq, accepted);
    ck_assert_uint_eq(js.torn_bytes, 0);
    ck_assert_ok(bus_destroy(bus));
    ck_assert_int_eq(umount(dir), 0);
    remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("journal_store");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, crc32c_known_values);
    tcase_add_test(tc, reopen_continues_seqs);
    tcase_add_test(tc, torn_tail_cut_at_every_byte);
    tcase_add_test(tc, one_damaged_byte_is_never_read);
    tcase_add_test(tc, retention_deletes_whole_old_segments);
    tcase_add_test(tc, retention_by_age);
    tcase_add_test(tc, position_survives_a_torn_slot);
    tcase_add_test(tc, group_commit_shares_syncs);
    tcase_add_test(tc, disk_full_writes_nothing);
    tcase_add_test(tc, sync_error_is_sticky);
    tcase_add_test(tc, page_size_follows_the_rate);
    tcase_add_test(tc, failed_sync_publishes_nothing);
    tcase_add_test(tc, failed_sync_is_reported_to_on_durable);
    tcase_add_test(tc, tmpfs_full_disk);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
