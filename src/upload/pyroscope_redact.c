/*
 * pyroscope_redact.c - a failed request described without its secrets (see pyroscope_redact.h).
 *
 * A server's answer may echo what it received: the Basic credentials (base64 of user:password,
 * as sent), the password itself, a header value. The message is first reduced to printable
 * ASCII with runs of white space as one space (so nothing it holds can forge a log line), then
 * every occurrence of each secret is replaced by <hidden>, then it is cut to 200 characters.
 * Redaction comes before the cut, so that a secret cut in half is never shown either.
 *
 * Thread-safety: pure; no global state, no allocation (stack buffers only).
 */
#include "pyroscope_redact.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HS_MESSAGE_SHOWN_MAX 200

static void base64(const char *in, size_t n, char *out, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* Replace every occurrence of secret in buf (NUL-terminated, capacity len) by <hidden>. */
static void redact(char *buf, size_t len, const char *secret, size_t n)
{
    static const char mark[] = "<hidden>";
    if (n == 0)
        return;
    char *p = buf;
    while ((p = strstr(p, secret)) != NULL) {
        size_t tail = strlen(p + n);
        if ((size_t)(p - buf) + sizeof mark - 1 + tail + 1 > len)
            tail = len - (size_t)(p - buf) - sizeof mark; /* truncate what follows */
        memmove(p + sizeof mark - 1, p + n, tail);
        memcpy(p, mark, sizeof mark - 1);
        p[sizeof mark - 1 + tail] = '\0';
        p += sizeof mark - 1;
    }
}

void hs_pyroscope_redact_describe(const hs_pyroscope_target_t *t, const hs_pyroscope_result_t *res,
                                  char *buf, size_t len)
{
    char msg[HS_PYROSCOPE_MESSAGE_MAX * 2];
    const char *src = res->curl_code ? res->curl_error : res->message;
    /* Printable ASCII only, runs of white space as one space, at most 200 characters. */
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; src[i] && o < sizeof msg - 4; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = o > 0;
            continue;
        }
        if (space)
            msg[o++] = ' ';
        space = false;
        msg[o++] = c >= 0x21 && c < 0x7f ? (char)c : '?';
    }
    msg[o] = '\0';
    if (t->password)
        redact(msg, sizeof msg, t->password, strlen(t->password));
    if (t->user) {
        char cred[2 * HS_CONFIG_STR_MAX + 2], b64[sizeof cred * 4 / 3 + 8];
        int n = snprintf(cred, sizeof cred, "%s:%s", t->user, t->password ? t->password : "");
        base64(cred, (size_t)n, b64, sizeof b64);
        redact(msg, sizeof msg, b64, strlen(b64));
        memset(cred, 0, sizeof cred);
    }
    for (size_t i = 0; i < t->nheaders; i++) {
        const char *v = strstr(t->headers[i], ": ");
        if (v)
            redact(msg, sizeof msg, v + 2, strlen(v + 2));
    }
    if (strlen(msg) > HS_MESSAGE_SHOWN_MAX)
        memcpy(msg + HS_MESSAGE_SHOWN_MAX - 3, "...", 4);

    if (res->curl_code) {
        snprintf(buf, len, "%s", msg[0] ? msg : "network error");
    } else if (res->status >= 300 && res->status < 400) {
        snprintf(buf, len,
                 "HTTP %ld: a redirect, not followed (set HEAPSAMPLER_PYROSCOPE_URL to the final "
                 "address)",
                 res->status);
    } else {
        snprintf(buf, len, "HTTP %ld%s%s", res->status, msg[0] ? ": " : "", msg);
    }
}
