/* consumer.h - durable consumers (consumer.c). */
#ifndef BUS_JOURNAL_CONSUMER_H
#define BUS_JOURNAL_CONSUMER_H

struct durable;

/* Stops and frees the consumers left (the topic is being freed). */
void bus__consumers_free(struct durable *d);

#endif
