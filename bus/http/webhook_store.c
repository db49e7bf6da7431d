/* webhook_store.c - webhooks that survive a restart ([webhooks] state_dir).
 *
 * Two files in the directory:
 * - webhooks.json: the posted endpoints (id, pattern, url, secret, ...),
 *   rewritten whole (temporary file, fsync, rename) at each create and
 *   delete; mode 0600, it holds the secrets. Declared ones come from the
 *   config, not from here.
 * - deliveries.log: one line per queued delivery ("Q hook n seq topic
 *   base64-body", and its webhook-id when it came from a durable topic) and
 *   one per finished one ("D hook n"), appended under the
 *   registry's lock with write(2), never fsynced: it survives a kill of the
 *   process (the page cache keeps it), not a power loss. At start the lines
 *   are replayed (a last line without its newline was cut by the kill: it
 *   is ignored), what is queued and not finished is queued again with its
 *   webhook-id, and the log is rewritten with those only. It is emptied
 *   whenever nothing is pending and it has grown past LOG_RESET_BYTES.
 * Attempts start again from the first after a restart. */
#include "webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../clock.h"

#define LOG_RESET_BYTES (1u << 20)

static char *path_of(const struct webhooks *w, const char *name)
{
    size_t n = strlen(w->dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", w->dir, name);
    return p;
}

/* Writes @len bytes to @name through a temporary file, fsync and rename:
 * the file is the old or the new one, whole, after any crash. */
static int replace_file(const struct webhooks *w, const char *name, const char *text,
                        size_t len)
{
    char *path = path_of(w, name), *tmp = path_of(w, "tmp");
    int rc = -ENOMEM;
    if (path && tmp) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        rc = fd < 0 ? -errno : 0;
        if (!rc && (write(fd, text, len) != (ssize_t)len || fsync(fd)))
            rc = -EIO;
        if (fd >= 0)
            close(fd);
        if (!rc && rename(tmp, path))
            rc = -errno;
        int dir = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            fsync(dir);
            close(dir);
        }
    }
    free(path);
    free(tmp);
    return rc;
}

int store_save_definitions(struct webhooks *w)
{
    if (!w->dir || w->loading)
        return 0;
    json_t *all = json_array();
    for (const struct webhook *h = w->list; h && all; h = h->next) {
        if (h->declared)
            continue;
        char secret[96] = "whsec_";
        EVP_EncodeBlock((unsigned char *)secret + 6, h->key, (int)h->klen);
        json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "id", h->id,
                                             "pattern", h->pattern, "url", h->url, "secret",
                                             secret, "ordered", h->ordered, "max_in_flight",
                                             (json_int_t)h->max_in_flight));
    }
    char *text = all ? json_dumps(all, JSON_INDENT(1)) : NULL;
    json_decref(all);
    int rc = text ? replace_file(w, "webhooks.json", text, strlen(text)) : -ENOMEM;
    free(text);
    return rc;
}

static int log_line(struct webhooks *w, struct strbuf *b)
{
    int rc = 0;
    if (b->failed || write(w->log_fd, b->p, b->len) != (ssize_t)b->len) {
        w->log_errors++; /* shown nowhere else: the delivery goes on */
        rc = -EIO;
    } else {
        w->log_bytes += b->len;
    }
    sb_free(b);
    return rc;
}

static void render_queued(struct strbuf *b, const struct delivery *d)
{
    sb_printf(b, "Q %s %" PRIu64 " %" PRIu64 " %s ", d->hook->id, d->msg_no, d->seq,
              d->topic);
    if (d->len)
        sb_base64(b, d->body, d->len);
    else
        sb_puts(b, "-");
    if (d->durable) /* its id is not made of msg_no */
        sb_printf(b, " %s", d->id);
    sb_puts(b, "\n");
}

int store_queued(struct webhooks *w, const struct delivery *d)
{
    if (w->log_fd < 0)
        return 0;
    struct strbuf b = {0};
    render_queued(&b, d);
    return log_line(w, &b);
}

void store_done(struct webhooks *w, const struct delivery *d)
{
    if (w->log_fd < 0)
        return;
    struct strbuf b = {0};
    sb_printf(&b, "D %s %" PRIu64 "\n", d->hook->id, d->msg_no);
    log_line(w, &b);
}

void store_maybe_reset(struct webhooks *w)
{
    if (w->log_fd < 0 || w->log_bytes < LOG_RESET_BYTES)
        return;
    for (const struct webhook *h = w->list; h; h = h->next)
        if (h->pending)
            return;
    if (ftruncate(w->log_fd, 0) == 0)
        w->log_bytes = 0;
}

static struct webhook *find_hook(struct webhooks *w, const char *id)
{
    for (struct webhook *h = w->list; h; h = h->next)
        if (!strcmp(h->id, id))
            return h;
    return NULL;
}

/* The line's next space-separated field; NULL at its end. */
static const char *field(char **save)
{
    return strtok_r(NULL, " ", save);
}

static struct webhook *hook_of_line(struct webhooks *w, char **save)
{
    const char *id = field(save);
    return id ? find_hook(w, id) : NULL;
}

/* One "Q" line: the delivery queued again on its endpoint. */
static void replay_queued(struct webhooks *w, char *save)
{
    struct webhook *h = hook_of_line(w, &save);
    const char *no = field(&save), *seq = field(&save);
    const char *topic = field(&save), *b64 = field(&save), *id = field(&save);
    if (!h || !no || !seq || !topic || !b64)
        return; /* an endpoint deleted since, or a line cut */
    if (id && strlen(id) >= WEBHOOK_DELIVERY_ID_MAX)
        return;
    size_t n = strcmp(b64, "-") ? strlen(b64) : 0;
    struct delivery *d = malloc(sizeof(*d) + n / 4 * 3 + 1);
    if (!d)
        return;
    *d = (struct delivery){.hook = h, .msg_no = strtoull(no, NULL, 10),
                           .seq = strtoull(seq, NULL, 10), .topic = strdup(topic),
                           .due_ns = clock_now_ns()};
    if (!d->topic || base64_decode(b64, n, d->body, n / 4 * 3 + 1, &d->len)) {
        free(d->topic);
        free(d);
        return;
    }
    if (id) { /* from a durable consumer, which may deliver it again */
        strcpy(d->id, id);
        d->durable = d->replayed = true;
        h->replayed++;
    } else {
        snprintf(d->id, sizeof(d->id), "msg_%s_%" PRIu64, h->id, d->msg_no);
    }
    if (d->msg_no > h->next_msg)
        h->next_msg = d->msg_no;
    delivery_append(d);
}

/* One "D" line: its delivery is no longer pending. */
static void replay_done(struct webhooks *w, char *save)
{
    struct webhook *h = hook_of_line(w, &save);
    const char *no = field(&save);
    if (!h || !no)
        return;
    uint64_t n = strtoull(no, NULL, 10);
    for (struct delivery *d = h->head; d; d = d->next) {
        if (d->msg_no == n) {
            delivery_drop(d);
            return;
        }
    }
}

static void replay_log(struct webhooks *w, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* cut by a kill in the middle of its write */
        line[len - 1] = '\0';
        char *save = NULL;
        const char *kind = strtok_r(line, " ", &save);
        if (kind && !strcmp(kind, "Q"))
            replay_queued(w, save);
        else if (kind && !strcmp(kind, "D"))
            replay_done(w, save);
    }
    free(line);
}

/* The log rewritten with the deliveries pending only. */
static int compact_log(struct webhooks *w)
{
    struct strbuf b = {0};
    for (const struct webhook *h = w->list; h; h = h->next)
        for (const struct delivery *d = h->head; d; d = d->next)
            render_queued(&b, d);
    sb_puts(&b, "");
    size_t len;
    char *text = sb_take(&b, &len);
    int rc = text ? replace_file(w, "deliveries.log", text, len) : -ENOMEM;
    free(text);
    w->log_bytes = len;
    return rc;
}

static int load_definitions(struct webhooks *w, char *why, size_t why_size)
{
    char *path = path_of(w, "webhooks.json");
    if (!path)
        return -ENOMEM;
    json_error_t err;
    json_t *all = access(path, F_OK) == 0 ? json_load_file(path, 0, &err) : json_array();
    int rc = json_is_array(all) ? 0 : -EINVAL;
    if (rc)
        snprintf(why, why_size, "%s: not a JSON array of webhooks", path);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        if (rc)
            break;
        struct webhook_cfg def = {0};
        int ordered = 0;
        json_int_t max = 0;
        if (json_unpack(v, "{s:s, s:s, s:s, s:s, s:b, s:I}", "id", &def.name, "pattern",
                        &def.pattern, "url", &def.url, "secret", &def.secret, "ordered",
                        &ordered, "max_in_flight", &max)) {
            snprintf(why, why_size, "%s: entry %zu is not a webhook", path, i);
            rc = -EINVAL;
            break;
        }
        def.ordered = ordered;
        def.max_in_flight = (uint32_t)max;
        if (find_hook(w, def.name))
            continue; /* declared in the config since: the config wins */
        struct webhook_problem p;
        rc = webhook_add(w, &def, &p, NULL, NULL);
        if (rc)
            snprintf(why, why_size, "%s: webhook %s: %s", path, def.name,
                     p.msg ? p.msg : "cannot be added");
    }
    json_decref(all);
    free(path);
    return rc;
}

/* The sender and the bus's handlers run already: every field they read
 * under the lock is written under it. */
int store_open(struct webhooks *w, const char *dir, char *why, size_t why_size)
{
    if (!dir)
        return 0;
    char *copy = strdup(dir);
    if (!copy)
        return -ENOMEM;
    pthread_mutex_lock(&w->lock);
    w->dir = copy;
    pthread_mutex_unlock(&w->lock);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(why, why_size, "[webhooks] state_dir %s: cannot be created", dir);
        return -errno;
    }
    int rc = load_definitions(w, why, why_size);
    char *path = path_of(w, "deliveries.log");
    if (!rc && !path)
        rc = -ENOMEM;
    pthread_mutex_lock(&w->lock);
    if (!rc) {
        FILE *f = fopen(path, "re");
        if (f) {
            replay_log(w, f);
            fclose(f);
        }
        rc = compact_log(w);
    }
    if (!rc) {
        w->log_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (w->log_fd < 0)
            rc = -errno;
    }
    w->loading = false;
    pthread_mutex_unlock(&w->lock);
    if (rc && !why[0])
        snprintf(why, why_size, "[webhooks] state_dir %s: %s", dir, bus_strerror(rc));
    free(path);
    return rc;
}

void store_close(struct webhooks *w)
{
    if (w->log_fd >= 0)
        close(w->log_fd);
    free(w->dir);
}
