/* io.h - the journal's calls that can fail for lack of space or a broken
 * disk, behind one hook so that tests can make them fail (-ENOSPC, -EIO)
 * without a full or broken disk. */
#ifndef BUS_JOURNAL_IO_H
#define BUS_JOURNAL_IO_H

enum journal_io_op { JOURNAL_IO_ALLOCATE, JOURNAL_IO_SYNC };

/* Tests only: when set, called before each such call; a negative errno
 * makes the call fail with it. NULL in production. */
extern int (*journal__io_fault)(enum journal_io_op op);

/* posix_fallocate: reserves the segment's blocks, so that writes through the
 * mapping never meet a full disk (that would be SIGBUS). 0 or -errno. */
int journal_io_allocate(int fd, unsigned long long size);
/* fdatasync: 0 or -errno. */
int journal_io_sync(int fd);

#endif
