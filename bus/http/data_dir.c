/* data_dir.c - the gateway's data directory (data_dir.h). */
#include "data_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *join(const char *dir, const char *a, const char *b)
{
    size_t n = strlen(dir) + strlen(a) + (b ? strlen(b) + 1 : 0) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s%s", dir, a, b ? "/" : "", b ? b : "");
    return p;
}

static int make_dir(const char *path, char *why, size_t why_size)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    int rc = -errno;
    snprintf(why, why_size, "data directory %s: cannot be created (%s)", path, strerror(-rc));
    return rc;
}

int data_dir_prepare(struct gw_config *c, const char *flag, char *why, size_t why_size)
{
    if (flag) {
        free(c->data_dir);
        c->data_dir = strdup(flag);
        if (!c->data_dir)
            return -ENOMEM;
    }
    if (!c->data_dir) {
        for (size_t i = 0; i < c->ntopics; i++) {
            if (c->topics[i].durable) {
                snprintf(why, why_size,
                         "[topic %s] is durable: its journal needs a data directory "
                         "([gateway] data_dir or --data-dir)",
                         c->topics[i].name);
                return -EINVAL;
            }
        }
        return 0;
    }
    char *topics = join(c->data_dir, "topics", NULL);
    if (!topics)
        return -ENOMEM;
    int rc = make_dir(c->data_dir, why, why_size);
    if (!rc)
        rc = make_dir(topics, why, why_size);
    free(topics);
    if (!rc && !c->hooks.state_dir) {
        c->hooks.state_dir = join(c->data_dir, "webhooks", NULL);
        if (!c->hooks.state_dir)
            rc = -ENOMEM;
    }
    return rc;
}

char *data_dir_journal(const struct gw_config *c, const char *name)
{
    return join(c->data_dir, "topics", name);
}
