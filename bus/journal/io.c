/* io.c - allocation and sync, with the tests' fault hook (io.h). */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int (*journal__io_fault)(enum journal_io_op op);

static int injected(enum journal_io_op op)
{
    return journal__io_fault ? journal__io_fault(op) : 0;
}

int journal_io_allocate(int fd, unsigned long long size)
{
    int rc = injected(JOURNAL_IO_ALLOCATE);
    if (rc)
        return rc;
    rc = posix_fallocate(fd, 0, (off_t)size);
    return rc ? -rc : 0;
}

int journal_io_sync(int fd)
{
    int rc = injected(JOURNAL_IO_SYNC);
    if (rc)
        return rc;
    return fdatasync(fd) ? -errno : 0;
}
