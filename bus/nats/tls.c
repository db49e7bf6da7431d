/* tls.c - the TLS side of bus_nats_create(): the configuration's files
 * checked before any connection (readable, in pairs, loadable; the error
 * names the file), and the words for a server that refuses the client for
 * want of a certificate it trusts. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bridge.h"

/* "bus_nats_create: tls_cert_file /etc/x.pem: why" (and a second file). */
static int fail_files(int err, const char *key, const char *path, const char *key2,
                      const char *path2, const char *why)
{
    char text[1024];
    snprintf(text, sizeof(text), "bus_nats_create: %s %s%s%s%s%s: %s", key, path,
             key2 ? " and " : "", key2 ? key2 : "", key2 ? " " : "", key2 ? path2 : "", why);
    return bus__nats_fail_text(err, text);
}

static int check_readable(const char *key, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return fail_files(-err, key, path, NULL, NULL, strerror(err));
    }
    close(fd);
    return 0;
}

/* cnats loads the files (parses them, checks that the key is the
 * certificate's) into options of its own, thrown away: what it says of
 * them, with the file's name. */
static int check_loadable(const bus_nats_config_t *cfg)
{
    natsOptions *o = NULL;
    if (natsOptions_Create(&o) != NATS_OK)
        return -ENOMEM;
    natsStatus last = NATS_OK;
    int rc = 0;
    if (cfg->tls_ca_file && natsOptions_LoadCATrustedCertificates(o, cfg->tls_ca_file) != NATS_OK)
        rc = fail_files(-EINVAL, "tls_ca_file", cfg->tls_ca_file, NULL, NULL,
                        nats_GetLastError(&last));
    else if (cfg->tls_cert_file && natsOptions_LoadCertificatesChain(o, cfg->tls_cert_file,
                                                                     cfg->tls_key_file) != NATS_OK)
        rc = fail_files(-EINVAL, "tls_cert_file", cfg->tls_cert_file, "tls_key_file",
                        cfg->tls_key_file, nats_GetLastError(&last));
    natsOptions_Destroy(o);
    return rc;
}

int bus__nats_check_tls(const bus_nats_config_t *cfg)
{
    if (cfg->tls_cert_file && !cfg->tls_key_file)
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: tls_cert_file without tls_key_file");
    if (cfg->tls_key_file && !cfg->tls_cert_file)
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: tls_key_file without tls_cert_file");
    const struct {
        const char *key, *path;
    } files[] = {{"tls_ca_file", cfg->tls_ca_file},
                 {"tls_cert_file", cfg->tls_cert_file},
                 {"tls_key_file", cfg->tls_key_file}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int rc = files[i].path ? check_readable(files[i].key, files[i].path) : 0;
        if (rc)
            return rc;
    }
    return check_loadable(cfg);
}

/* Connects to @url's host and port (scheme, credentials skipped; 4222 by
 * default) and reads the server's first line, its INFO, sent in clear
 * before any TLS. */
static bool read_info(const char *url, uint32_t timeout_ms, char *line, size_t cap)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strrchr(host, '@');
    host = at ? at + 1 : host;
    char name[256], port[8] = "4222";
    const char *colon = strrchr(host, ':');
    if (host[0] == '[') /* IPv6: [addr]:port */
        colon = strstr(host, "]:") ? strstr(host, "]:") + 1 : NULL;
    size_t n = colon ? (size_t)(colon - host) : strlen(host);
    if (host[0] == '[' && n >= 2) {
        host++;
        n -= 2;
    }
    snprintf(name, sizeof(name), "%.*s", (int)n, host);
    if (colon)
        snprintf(port, sizeof(port), "%s", colon + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(name, port, &hints, &ai) != 0)
        return false;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    size_t len = 0;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 && /* bounds connect() */
        connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ssize_t got;
        while (len + 1 < cap && !memchr(line, '\n', len) &&
               (got = recv(fd, line + len, cap - 1 - len, 0)) > 0)
            len += (size_t)got;
    }
    line[len] = '\0';
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return len > 0;
}

bool bus__nats_server_verifies_clients(const bus_nats_config_t *cfg)
{
    char copy[sizeof(cfg->servers)];
    snprintf(copy, sizeof(copy), "%s", cfg->servers);
    char *save = NULL;
    for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        char info[4096];
        if (read_info(u, cfg->connect_timeout_ms, info, sizeof(info)))
            return strncmp(info, "INFO ", 5) == 0 && strstr(info, "\"tls_verify\":true");
    }
    return false;
}
