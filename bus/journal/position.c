/* position.c - durable consumers' position files (position.h). */
#include "position.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "io.h"

struct slot {
    uint64_t seq;
    uint32_t generation;
    uint32_t crc;
};

static uint32_t slot_crc(const struct slot *s)
{
    return journal_crc32c(0, s, offsetof(struct slot, crc));
}

int position_open(int dirfd, const char *name, struct position *p, uint64_t *seq)
{
    if (mkdirat(dirfd, "consumers", 0755) && errno != EEXIST)
        return -errno;
    int cdir = openat(dirfd, "consumers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cdir < 0)
        return -errno;
    p->fd = openat(cdir, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int rc = p->fd < 0 ? -errno : 0;
    close(cdir);
    if (rc)
        return rc;
    struct slot slots[2];
    ssize_t got = pread(p->fd, slots, sizeof(slots), 0);
    *seq = 0;
    p->generation = 0;
    for (int i = 0; got > 0 && i < 2; i++) {
        if ((size_t)got < (i + 1) * sizeof(slots[0]) || slot_crc(&slots[i]) != slots[i].crc)
            continue;
        /* The later generation (serial arithmetic: it wraps). */
        if (*seq == 0 || (int32_t)(slots[i].generation - p->generation) > 0) {
            *seq = slots[i].seq;
            p->generation = slots[i].generation;
        }
    }
    return 0;
}

int position_store(struct position *p, uint64_t seq)
{
    struct slot s = {.seq = seq, .generation = p->generation + 1};
    s.crc = slot_crc(&s);
    ssize_t put = pwrite(p->fd, &s, sizeof(s), (off_t)(s.generation & 1) * (off_t)sizeof(s));
    if (put != (ssize_t)sizeof(s))
        return put < 0 ? -errno : -EIO;
    p->generation = s.generation;
    return 0;
}

void position_sync(struct position *p)
{
    journal_io_sync(p->fd);
}

void position_close(struct position *p)
{
    close(p->fd);
}

int position_remove(int dirfd, const char *name)
{
    int cdir = openat(dirfd, "consumers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cdir < 0)
        return -errno;
    int rc = unlinkat(cdir, name, 0) ? -errno : 0;
    close(cdir);
    return rc;
}
