/* recover.h - reopening a journal (recover.c). */
#ifndef BUS_JOURNAL_RECOVER_H
#define BUS_JOURNAL_RECOVER_H

struct journal;

/* Fills j->segs from j->dirfd, checked and with the torn tail cut, or
 * creates the first segment: 0, or -errno with bus__fail's reason. */
int journal_recover(struct journal *j);

#endif
