/* sign.c - Standard Webhooks v1 signatures: HMAC-SHA256 with OpenSSL, the
 * secret "whsec_<base64>" decoded with OpenSSL's base64. */
#include "sign.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int base64_decode(const char *b64, size_t n, unsigned char *out, size_t cap, size_t *len)
{
    if (n % 4 || n / 4 * 3 > cap)
        return -EINVAL;
    if (n == 0) {
        *len = 0;
        return 0;
    }
    int got = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    if (got < 0)
        return -EINVAL;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    *len = (size_t)got - (b64[n - 1] == '=') - (b64[n - 2] == '=');
    return 0;
}

int secret_decode(const char *secret, unsigned char key[SECRET_MAX], size_t *len)
{
    static const char prefix[] = "whsec_";
    if (!secret || strncmp(secret, prefix, sizeof(prefix) - 1) != 0)
        return -EINVAL;
    const char *b64 = secret + sizeof(prefix) - 1;
    unsigned char buf[(SECRET_MAX + 2) / 3 * 3];
    size_t bytes;
    if (base64_decode(b64, strlen(b64), buf, sizeof(buf), &bytes) || bytes == 0 ||
        bytes > SECRET_MAX)
        return -EINVAL;
    memcpy(key, buf, bytes);
    *len = bytes;
    return 0;
}

/* The raw HMAC of "id.timestamp.body" (OpenSSL 3's EVP_MAC). */
static void mac_of(const unsigned char *key, size_t klen, const char *msg_id,
                   const char *timestamp, const void *body, size_t len,
                   unsigned char mac[32])
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    if (!ctx || !EVP_MAC_init(ctx, key, klen, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update(ctx, body, len) || !EVP_MAC_final(ctx, mac, &n, 32))
        memset(mac, 0, 32); /* matches nothing a sender made */
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
}

int sign_with_key(const unsigned char *key, size_t klen, const char *msg_id,
                  int64_t timestamp, const void *body, size_t len, char *out, size_t cap)
{
    if (!msg_id || !*msg_id || strchr(msg_id, '.') || (!body && len))
        return -EINVAL;
    if (cap < BUS_HTTP_WEBHOOK_SIGNATURE_MAX)
        return -ENOSPC;
    char ts[24];
    snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
    unsigned char mac[32];
    mac_of(key, klen, msg_id, ts, body ? body : "", len, mac);
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, sizeof(mac)); /* 44 chars + NUL */
    return 0;
}

int bus_http_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp,
                          const void *body, size_t len, char *out, size_t cap)
{
    unsigned char key[SECRET_MAX];
    size_t klen;
    if (!out || secret_decode(secret, key, &klen))
        return -EINVAL;
    return sign_with_key(key, klen, msg_id, timestamp, body, len, out, cap);
}

int bus_http_webhook_verify(const char *secret, const char *msg_id, const char *timestamp,
                            const char *signatures, const void *body, size_t len,
                            int64_t now, uint32_t tolerance_s)
{
    uint64_t ts;
    unsigned char key[SECRET_MAX];
    size_t klen;
    if (!msg_id || !timestamp || !signatures || (!body && len) ||
        secret_decode(secret, key, &klen) || parse_u64(timestamp, INT64_MAX, &ts))
        return -EINVAL;
    if ((int64_t)ts < now - (int64_t)tolerance_s || (int64_t)ts > now + (int64_t)tolerance_s)
        return -ERANGE;
    char want[BUS_HTTP_WEBHOOK_SIGNATURE_MAX];
    if (sign_with_key(key, klen, msg_id, (int64_t)ts, body, len, want, sizeof(want)))
        return -EBADMSG; /* an id no sender could have signed */
    size_t wlen = strlen(want);
    /* Every entry is compared, in time independent of where they differ. */
    bool match = false;
    for (const char *p = signatures; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == wlen && CRYPTO_memcmp(p, want, wlen) == 0)
            match = true;
        p += n;
    }
    return match ? 0 : -EBADMSG;
}
