/* sign.h - Standard Webhooks v1 signatures (sign.c); the public calls are
 * in bus/http.h. */
#ifndef BUS_HTTP_SIGN_H
#define BUS_HTTP_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "bus/http.h"

#define SECRET_MAX 64 /* key bytes */

/* Standard base64 (padded) of @n chars into at most @cap bytes: 0, or
 * -EINVAL (not base64, or too long). */
int base64_decode(const char *b64, size_t n, unsigned char *out, size_t cap, size_t *len);

/* The key bytes of "whsec_<base64>": 0, or -EINVAL. */
int secret_decode(const char *secret, unsigned char key[SECRET_MAX], size_t *len);

/* bus_http_webhook_sign() with the key decoded already. */
int sign_with_key(const unsigned char *key, size_t klen, const char *msg_id,
                  int64_t timestamp, const void *body, size_t len, char *out, size_t cap);

#endif /* BUS_HTTP_SIGN_H */
