/*
 * pyroscope_http.c - the /ingest request: configuration checks, libcurl loaded on demand, one
 * POST, the answer classified, and messages scrubbed of secrets (see pyroscope_http.h).
 *
 * Invariants:
 *   - libcurl is reached only through `curl` (function pointers filled by dlsym). It is loaded
 *     once per process image, inside the loader gate, and never unloaded (RTLD_NODELETE): the
 *     host program may load the same library itself, and curl_global_cleanup is never called.
 *   - No request follows a redirect, uses a protocol other than HTTP(S), keeps an idle
 *     connection (CURLOPT_FORBID_REUSE: a forked child must never share a live connection with
 *     its parent), or runs with CURLOPT_VERBOSE (which would print the Authorization header).
 *   - Host names are resolved here, with getaddrinfo in the calling thread, and handed to curl
 *     as CURLOPT_RESOLVE entries: curl then starts no resolver thread of its own, whose
 *     allocations would not run under the reentrancy guard and would be profiled as the
 *     program's. (The first lookup may load NSS modules outside the loader gate, as any
 *     threaded program's lookups do.)
 *   - Nothing this file prints or returns as a message contains the password, a header value
 *     or the Basic credentials: checks name headers but not their values, and server messages
 *     are redacted.
 *
 * Thread-safety: a target is immutable after init; a client is used by one thread at a time
 * (hs_pyroscope_http_abort excepted: an atomic flag). Loading is serialised by load_mu, which
 * a forked child re-initialises (hs_pyroscope_http_postfork_child). Everything here allocates: run
 * it under the reentrancy guard in the preloaded library.
 */
#include "pyroscope_http.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CURL_DISABLE_DEPRECATION 1 /* CURLOPT_PROTOCOLS, the fallback for libcurl < 7.85 */
#include <curl/curl.h>

#include "log.h"
#include "loader_gate.h"

#ifndef HS_VERSION
#define HS_VERSION "0.1.0"
#endif

#define HS_LIBCURL_SONAME    "libcurl.so.4"
#define HS_BACKOFF_CAP_NS    (300ull * 1000000000ull)
#define HS_URL_MAX           2048
#define HS_MESSAGE_SHOWN_MAX 200

/* Up to 64 characters of a user value for a message, non-printables as \xNN. */
static void quote(const char *s, char *buf, size_t len)
{
    size_t o = 0, i = 0;
    for (; s[i] && i < 64 && o + 5 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (s[i] && o + 4 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

/* ---- checks ------------------------------------------------------------------------------- */

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool app_char(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '.' || c == '-' || c == '/';
}

/* Valid UTF-8 (no overlongs, no surrogates) of length n. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

hs_err_t hs_pyroscope_http_check_app(const char *app, char *why, size_t why_len)
{
    char q[300];
    size_t n = strlen(app);
    if (n == 0) {
        hs_reason(why, why_len, "the application name is empty");
        return HS_ERR_INVALID;
    }
    if (n > HS_PYROSCOPE_MAX_VALUE_LEN) {
        hs_reason(why, why_len, "the application name is longer than %d characters",
                  HS_PYROSCOPE_MAX_VALUE_LEN);
        return HS_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        if (!app_char((unsigned char)app[i])) {
            quote(app, q, sizeof q);
            hs_reason(
                why, why_len,
                "the application name \"%s\" has a character Pyroscope refuses (only letters, "
                "digits and _ . - / are allowed)",
                q);
            return HS_ERR_INVALID;
        }
    }
    return HS_OK;
}

static hs_err_t check_tag_name(const char *name, size_t n, char *why, size_t why_len)
{
    char q[300], tmp[HS_PYROSCOPE_MAX_NAME_LEN + 1];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(n < HS_PYROSCOPE_MAX_NAME_LEN ? n : 64), name);
    quote(tmp, q, sizeof q);
    if (n == 0) {
        hs_reason(why, why_len, "a tag has an empty name (tags are k=v,k=v)");
        return HS_ERR_INVALID;
    }
    if (n > HS_PYROSCOPE_MAX_NAME_LEN) {
        hs_reason(why, why_len, "tag name \"%s\" is longer than %d characters", q,
                  HS_PYROSCOPE_MAX_NAME_LEN);
        return HS_ERR_INVALID;
    }
    bool ok = !(name[0] >= '0' && name[0] <= '9');
    for (size_t i = 0; ok && i < n; i++)
        ok = is_alnum((unsigned char)name[i]) || name[i] == '_';
    if (!ok) {
        hs_reason(why, why_len,
                  "tag name \"%s\" is not valid in Pyroscope (a letter or _, then letters, digits "
                  "and _)",
                  q);
        return HS_ERR_INVALID;
    }
    if (n >= 2 && name[0] == '_' && name[1] == '_') {
        hs_reason(why, why_len,
                  "tag name \"%s\" is reserved (names starting with __ are the server's)", q);
        return HS_ERR_INVALID;
    }
    if ((n == 12 && memcmp(name, "service_name", 12) == 0) ||
        (n == 13 && memcmp(name, "pyroscope_spy", 13) == 0)) {
        hs_reason(why, why_len, "tag name \"%s\" is reserved (the server sets it%s)", q,
                  n == 12 ? " from the application name: use HEAPSAMPLER_APP_NAME" : "");
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

static hs_err_t check_tag_value(const char *name, size_t nlen, const char *v, size_t n, char *why,
                                size_t why_len)
{
    char q[300], tmp[80];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(nlen < 64 ? nlen : 64), name);
    quote(tmp, q, sizeof q);
    if (n == 0) {
        hs_reason(why, why_len, "tag \"%s\" has an empty value", q);
        return HS_ERR_INVALID;
    }
    if (n > HS_PYROSCOPE_MAX_VALUE_LEN) {
        hs_reason(why, why_len, "the value of tag \"%s\" is longer than %d bytes", q,
                  HS_PYROSCOPE_MAX_VALUE_LEN);
        return HS_ERR_INVALID;
    }
    if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t') {
        hs_reason(why, why_len, "the value of tag \"%s\" starts or ends with a space", q);
        return HS_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f || c == '{' || c == '}' || c == '=' || c == ',') {
            hs_reason(
                why, why_len,
                "the value of tag \"%s\" has a character Pyroscope cannot take (no , { } = or "
                "control characters)",
                q);
            return HS_ERR_INVALID;
        }
    }
    if (!utf8_valid((const unsigned char *)v, n)) {
        hs_reason(why, why_len, "the value of tag \"%s\" is not valid UTF-8", q);
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

hs_err_t hs_pyroscope_http_check_tags(const char *tags, char *why, size_t why_len)
{
    if (!tags[0])
        return HS_OK;
    const char *names[HS_PYROSCOPE_MAX_TAGS];
    size_t lens[HS_PYROSCOPE_MAX_TAGS];
    size_t count = 0;
    const char *s = tags;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', n);
        if (!eq) {
            char q[300], tmp[80];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(n < 64 ? n : 64), s);
            quote(tmp, q, sizeof q);
            hs_reason(why, why_len,
                      n ? "tag \"%s\" has no value (tags are k=v,k=v)"
                        : "an empty tag%s (tags are k=v,k=v, without a trailing comma)",
                      q);
            return HS_ERR_INVALID;
        }
        size_t nlen = (size_t)(eq - s);
        hs_err_t err = check_tag_name(s, nlen, why, why_len);
        if (err == HS_OK)
            err = check_tag_value(s, nlen, eq + 1, n - nlen - 1, why, why_len);
        if (err != HS_OK)
            return err;
        for (size_t i = 0; i < count; i++) {
            if (lens[i] == nlen && memcmp(names[i], s, nlen) == 0) {
                char q[300], tmp[80];
                snprintf(tmp, sizeof tmp, "%.*s", (int)(nlen < 64 ? nlen : 64), s);
                quote(tmp, q, sizeof q);
                hs_reason(why, why_len, "tag \"%s\" is given twice", q);
                return HS_ERR_INVALID;
            }
        }
        if (count == HS_PYROSCOPE_MAX_TAGS) {
            hs_reason(why, why_len,
                      "more than %d tags (the server allows 30 labels, 4 of them its own)",
                      HS_PYROSCOPE_MAX_TAGS);
            return HS_ERR_INVALID;
        }
        names[count] = s;
        lens[count++] = nlen;
        if (!end)
            break;
        s = end + 1;
    }
    return HS_OK;
}

hs_err_t hs_pyroscope_http_append_tag(char **tags, const char *tag, char *why, size_t why_len)
{
    char q[300];
    if (!tag[0] || strchr(tag, ',')) {
        quote(tag, q, sizeof q);
        hs_reason(why, why_len, "\"%s\" is not one K=V", q);
        return HS_ERR_INVALID;
    }
    hs_err_t err = hs_pyroscope_http_check_tags(tag, why, why_len);
    if (err != HS_OK)
        return err;
    size_t old = *tags ? strlen(*tags) : 0, n = strlen(tag);
    char *t = realloc(*tags, old + n + 2);
    if (!t) {
        hs_reason(why, why_len, "out of memory");
        return HS_ERR_NOMEM;
    }
    if (old)
        t[old++] = ',';
    memcpy(t + old, tag, n + 1);
    *tags = t;
    return HS_OK;
}

/* Scheme, authority and host of an http(s) URL; *path_at is where the path starts. */
typedef struct url_parts {
    bool https;
    const char *host;
    size_t host_len;
    unsigned port;
    const char *path;
} url_parts_t;

static hs_err_t parse_url(const char *url, url_parts_t *u, char *why, size_t why_len)
{
    char q[300];
    memset(u, 0, sizeof *u);
    size_t n = strlen(url);
    if (n == 0) {
        hs_reason(why, why_len, "the Pyroscope URL is empty");
        return HS_ERR_INVALID;
    }
    if (n >= HS_URL_MAX) {
        hs_reason(why, why_len, "the Pyroscope URL is longer than %d characters", HS_URL_MAX - 1);
        return HS_ERR_INVALID;
    }
    const char *auth;
    if (strncasecmp(url, "http://", 7) == 0) {
        auth = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        auth = url + 8;
        u->https = true;
    } else {
        quote(url, q, sizeof q);
        hs_reason(why, why_len, "the Pyroscope URL \"%s\" does not start with http:// or https://",
                  q);
        return HS_ERR_INVALID;
    }
    const char *end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth))) {
        /* Not quoted: the part before @ is a credential. */
        hs_reason(why, why_len,
                  "the Pyroscope URL contains user:password@; give them in "
                  "HEAPSAMPLER_PYROSCOPE_USER and HEAPSAMPLER_PYROSCOPE_PASSWORD instead");
        return HS_ERR_INVALID;
    }
    quote(url, q, sizeof q);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) {
            hs_reason(why, why_len,
                      "the Pyroscope URL \"%s\" contains a space or a control character", q);
            return HS_ERR_INVALID;
        }
    }
    if (*end == '?' || *end == '#' || strpbrk(end, "?#")) {
        hs_reason(why, why_len,
                  "the Pyroscope URL \"%s\" has a query or fragment; give the server's "
                  "base address (the /ingest path and query are added)",
                  q);
        return HS_ERR_INVALID;
    }
    const char *host = auth, *host_end;
    const char *port = NULL;
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end) {
            hs_reason(why, why_len, "the Pyroscope URL \"%s\" has an unterminated [IPv6] host", q);
            return HS_ERR_INVALID;
        }
        host_end++;
        if (host_end < end && *host_end == ':')
            port = host_end + 1;
        else if (host_end != end)
            goto bad_host;
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end)
            port = host_end + 1;
        else
            host_end = end;
    }
    if (host_end == host)
        goto bad_host;
    u->host = host;
    u->host_len = (size_t)(host_end - host);
    u->port = u->https ? 443 : 80;
    if (port) {
        unsigned v = 0;
        if (port == end)
            goto bad_port;
        for (const char *p = port; p < end; p++) {
            if (*p < '0' || *p > '9' || v > 65535)
                goto bad_port;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v == 0 || v > 65535)
            goto bad_port;
        u->port = v;
    }
    u->path = end;
    return HS_OK;
bad_host:
    hs_reason(why, why_len, "the Pyroscope URL \"%s\" has no valid host", q);
    return HS_ERR_INVALID;
bad_port:
    hs_reason(why, why_len, "the Pyroscope URL \"%s\" has an invalid port", q);
    return HS_ERR_INVALID;
}

hs_err_t hs_pyroscope_http_check_url(const char *url, char *why, size_t why_len)
{
    url_parts_t u;
    return parse_url(url, &u, why, why_len);
}

void hs_pyroscope_http_default_app(char *buf, size_t len)
{
    const char *name = program_invocation_short_name;
    size_t o = 0;
    for (size_t i = 0; name && name[i] && o + 1 < len && o < HS_PYROSCOPE_MAX_VALUE_LEN; i++)
        buf[o++] = app_char((unsigned char)name[i]) ? name[i] : '_';
    if (o == 0)
        o = (size_t)snprintf(buf, len, "heapsampler");
    else
        buf[o] = '\0';
}

/* ---- headers ------------------------------------------------------------------------------ */

static bool token_char(unsigned char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Append a malloc'd line to t->headers. */
static hs_err_t add_header(hs_pyroscope_target_t *t, const char *name, size_t nlen,
                           const char *value, size_t vlen)
{
    if (t->nheaders >= HS_PYROSCOPE_MAX_HEADERS + 1)
        return HS_ERR_FULL;
    char *line = malloc(nlen + vlen + 3);
    if (!line)
        return HS_ERR_NOMEM;
    memcpy(line, name, nlen);
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, value, vlen);
    line[nlen + 2 + vlen] = '\0';
    t->headers[t->nheaders++] = line;
    return HS_OK;
}

/* A header value must not end the header early or smuggle another one. */
static bool value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/*
 * PYROSCOPE_HEADERS: Name=value,Name=value with percent-encoded values (the OTLP exporters'
 * convention). Messages name a header, never show a value.
 */
static hs_err_t parse_headers(hs_pyroscope_target_t *t, const char *spec, bool have_user,
                              bool have_tenant, char *why, size_t why_len)
{
    static const char *const forbidden[] = {"Content-Type",   "Content-Encoding",
                                            "Content-Length", "Transfer-Encoding",
                                            "Host",           "Expect",
                                            "Connection",     "TE",
                                            "Upgrade",        NULL};
    const char *s = spec;
    char q[300], tmp[80];
    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', n);
        size_t nlen = eq ? (size_t)(eq - s) : n;
        snprintf(tmp, sizeof tmp, "%.*s", (int)(nlen < 64 ? nlen : 64), s);
        quote(tmp, q, sizeof q);
        if (!eq || nlen == 0) {
            hs_reason(why, why_len,
                      "HEAPSAMPLER_PYROSCOPE_HEADERS: an entry is not Name=value (entries are "
                      "separated by commas)");
            return HS_ERR_INVALID;
        }
        for (size_t i = 0; i < nlen; i++) {
            if (!token_char((unsigned char)s[i])) {
                hs_reason(why, why_len,
                          "HEAPSAMPLER_PYROSCOPE_HEADERS: \"%s\" is not a header name", q);
                return HS_ERR_INVALID;
            }
        }
        for (size_t f = 0; forbidden[f]; f++) {
            if (strlen(forbidden[f]) == nlen && strncasecmp(forbidden[f], s, nlen) == 0) {
                hs_reason(why, why_len,
                          "HEAPSAMPLER_PYROSCOPE_HEADERS may not set %s (the uploader sets the "
                          "transport headers itself)",
                          forbidden[f]);
                return HS_ERR_INVALID;
            }
        }
        if (nlen == 13 && strncasecmp(s, "Authorization", 13) == 0 && have_user) {
            hs_reason(
                why, why_len,
                "HEAPSAMPLER_PYROSCOPE_HEADERS sets Authorization and HEAPSAMPLER_PYROSCOPE_USER "
                "is set too: choose one");
            return HS_ERR_INVALID;
        }
        if (nlen == 13 && strncasecmp(s, "X-Scope-OrgID", 13) == 0 && have_tenant) {
            hs_reason(why, why_len,
                      "HEAPSAMPLER_PYROSCOPE_HEADERS sets X-Scope-OrgID and "
                      "HEAPSAMPLER_PYROSCOPE_TENANT is set too: choose one");
            return HS_ERR_INVALID;
        }
        /* Percent-decode the value. */
        size_t vlen = n - nlen - 1;
        char *v = malloc(vlen + 1);
        if (!v)
            return HS_ERR_NOMEM;
        size_t o = 0;
        for (size_t i = 0; i < vlen; i++) {
            const char *c = eq + 1 + i;
            if (*c == '%') {
                int hi = i + 2 < vlen ? hex_digit(c[1]) : -1;
                int lo = hi >= 0 ? hex_digit(c[2]) : -1;
                if (lo < 0) {
                    free(v);
                    hs_reason(
                        why, why_len,
                        "HEAPSAMPLER_PYROSCOPE_HEADERS: the value of %s has a %% not followed by "
                        "two hex digits",
                        q);
                    return HS_ERR_INVALID;
                }
                v[o++] = (char)(hi * 16 + lo);
                i += 2;
            } else {
                v[o++] = *c;
            }
        }
        /* Header values have no surrounding spaces. */
        size_t b = 0;
        while (b < o && (v[b] == ' ' || v[b] == '\t'))
            b++;
        while (o > b && (v[o - 1] == ' ' || v[o - 1] == '\t'))
            o--;
        if (!value_ok(v + b, o - b)) {
            free(v);
            hs_reason(why, why_len,
                      "HEAPSAMPLER_PYROSCOPE_HEADERS: the value of %s contains a control character",
                      q);
            return HS_ERR_INVALID;
        }
        hs_err_t err = add_header(t, s, nlen, v + b, o - b);
        free(v);
        if (err == HS_ERR_FULL) {
            hs_reason(why, why_len, "HEAPSAMPLER_PYROSCOPE_HEADERS: more than %d headers",
                      HS_PYROSCOPE_MAX_HEADERS);
            return HS_ERR_INVALID;
        }
        if (err != HS_OK)
            return err;
        if (!end)
            break;
        s = end + 1;
    }
    return HS_OK;
}

/* ---- the target --------------------------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Percent-encode everything but RFC 3986's unreserved characters. */
static char *percent_encode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

hs_err_t hs_pyroscope_http_target_init(hs_pyroscope_target_t *t, const hs_config_t *cfg,
                                       const char *default_app, char *why, size_t why_len)
{
    memset(t, 0, sizeof *t);
    url_parts_t u;
    hs_err_t err = parse_url(cfg->pyroscope_url, &u, why, why_len);
    if (err != HS_OK)
        return err;
    char app[HS_PYROSCOPE_MAX_VALUE_LEN + 1];
    const char *given = cfg->app_name[0] ? cfg->app_name : default_app;
    if (given) {
        err = hs_pyroscope_http_check_app(given, why, why_len);
        if (err == HS_OK)
            memcpy(app, given, strlen(given) + 1); /* checked: at most the maximum length */
    } else {
        hs_pyroscope_http_default_app(app, sizeof app);
    }
    if (err == HS_OK)
        err = hs_pyroscope_http_check_tags(cfg->tags, why, why_len);
    if (err != HS_OK)
        return err;
    if (cfg->pyroscope_password[0] && !cfg->pyroscope_user[0]) {
        hs_reason(why, why_len,
                  "HEAPSAMPLER_PYROSCOPE_PASSWORD is set but HEAPSAMPLER_PYROSCOPE_USER is not");
        return HS_ERR_INVALID;
    }
    if (!value_ok(cfg->pyroscope_tenant, strlen(cfg->pyroscope_tenant)) ||
        !value_ok(cfg->pyroscope_user, strlen(cfg->pyroscope_user)) ||
        strchr(cfg->pyroscope_user, ':')) {
        hs_reason(why, why_len, "HEAPSAMPLER_PYROSCOPE_%s contains a control character%s",
                  value_ok(cfg->pyroscope_tenant, strlen(cfg->pyroscope_tenant)) ? "USER"
                                                                                 : "TENANT",
                  strchr(cfg->pyroscope_user, ':') ? " or a colon" : "");
        return HS_ERR_INVALID;
    }

    err = HS_ERR_NOMEM;
    size_t base_len = strlen(cfg->pyroscope_url);
    while (base_len > 0 && cfg->pyroscope_url[base_len - 1] == '/')
        base_len--;
    t->display_url = dup_n(cfg->pyroscope_url, base_len);
    t->ingest_url = malloc(base_len + sizeof "/ingest");
    t->app = dup_n(app, strlen(app));
    t->host = dup_n(u.host, u.host_len);
    t->headers = calloc(HS_PYROSCOPE_MAX_HEADERS + 1, sizeof *t->headers);
    size_t nlen = strlen(app) + strlen(cfg->tags) + 3;
    char *name = malloc(nlen);
    if (!t->display_url || !t->ingest_url || !t->app || !t->host || !t->headers || !name) {
        free(name);
        goto fail;
    }
    snprintf(t->ingest_url, base_len + sizeof "/ingest", "%.*s/ingest", (int)base_len,
             cfg->pyroscope_url);
    snprintf(name, nlen, "%s{%s}", app, cfg->tags);
    t->name_param = percent_encode(name);
    free(name);
    if (!t->name_param)
        goto fail;
    t->port = u.port;
    t->timeout_ns = cfg->upload_timeout_ns;
    if (cfg->pyroscope_user[0]) {
        t->user = dup_n(cfg->pyroscope_user, strlen(cfg->pyroscope_user));
        t->password = dup_n(cfg->pyroscope_password, strlen(cfg->pyroscope_password));
        if (!t->user || !t->password)
            goto fail;
    }
    if (cfg->pyroscope_tenant[0] && (err = add_header(t, "X-Scope-OrgID", 13, cfg->pyroscope_tenant,
                                                      strlen(cfg->pyroscope_tenant))) != HS_OK)
        goto fail;
    err = parse_headers(t, cfg->pyroscope_headers, cfg->pyroscope_user[0] != '\0',
                        cfg->pyroscope_tenant[0] != '\0', why, why_len);
    if (err != HS_OK)
        goto fail;
    return HS_OK;
fail:
    if (err == HS_ERR_NOMEM)
        hs_reason(why, why_len, "out of memory");
    hs_pyroscope_http_target_free(t);
    return err;
}

void hs_pyroscope_http_target_free(hs_pyroscope_target_t *t)
{
    free(t->ingest_url);
    free(t->display_url);
    free(t->name_param);
    free(t->app);
    free(t->user);
    if (t->password) {
        memset(t->password, 0, strlen(t->password));
        free(t->password);
    }
    for (size_t i = 0; i < t->nheaders; i++)
        free(t->headers[i]);
    free(t->headers);
    free(t->host);
    memset(t, 0, sizeof *t);
}

hs_err_t hs_pyroscope_http_request_url(const hs_pyroscope_target_t *t, uint64_t from_s,
                                       uint64_t until_s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s?name=%s&from=%llu&until=%llu&format=pprof&spyName=heapsampler",
                     t->ingest_url, t->name_param, (unsigned long long)from_s,
                     (unsigned long long)until_s);
    return n < 0 || (size_t)n >= len ? HS_ERR_INVALID : HS_OK;
}

/* ---- libcurl, loaded on demand ------------------------------------------------------------ */

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl;

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static int load_state; /* 0 not tried, 1 loaded, -1 failed */
static char load_why[256];

static hs_err_t load_locked(void)
{
    void *h = dlopen(HS_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_why, sizeof load_why, "cannot load %s (%s)", HS_LIBCURL_SONAME,
                 e ? e : "unknown error");
        return HS_ERR_NOTFOUND;
    }
#define HS_CURL_SYM(field, name)                                                                   \
    do {                                                                                           \
        *(void **)&curl.field = dlsym(h, name);                                                    \
        if (!curl.field) {                                                                         \
            snprintf(load_why, sizeof load_why, "%s has no %s", HS_LIBCURL_SONAME, name);          \
            return HS_ERR_NOTFOUND;                                                                \
        }                                                                                          \
    } while (0)
    HS_CURL_SYM(global_init, "curl_global_init");
    HS_CURL_SYM(easy_init, "curl_easy_init");
    HS_CURL_SYM(easy_setopt, "curl_easy_setopt");
    HS_CURL_SYM(easy_perform, "curl_easy_perform");
    HS_CURL_SYM(easy_getinfo, "curl_easy_getinfo");
    HS_CURL_SYM(easy_cleanup, "curl_easy_cleanup");
    HS_CURL_SYM(easy_strerror, "curl_easy_strerror");
    HS_CURL_SYM(slist_append, "curl_slist_append");
    HS_CURL_SYM(slist_free_all, "curl_slist_free_all");
#undef HS_CURL_SYM
    CURLcode rc = curl.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(load_why, sizeof load_why, "curl_global_init failed (%s)", curl.easy_strerror(rc));
        return HS_ERR_STATE;
    }
    return HS_OK;
}

hs_err_t hs_pyroscope_http_load(bool *first, char *why, size_t why_len)
{
    if (first)
        *first = false;
    pthread_mutex_lock(&load_mu);
    if (load_state == 0) {
        /* dlopen and the TLS library's initialisation take the loader lock: inside the gate. */
        while (!hs_loader_gate_enter())
            sched_yield();
        hs_err_t err = load_locked();
        hs_loader_gate_exit();
        load_state = err == HS_OK ? 1 : -1;
        if (first)
            *first = err == HS_OK;
    }
    int state = load_state;
    pthread_mutex_unlock(&load_mu);
    if (state < 0) {
        hs_reason(why, why_len, "%s", load_why);
        return HS_ERR_NOTFOUND;
    }
    return HS_OK;
}

void hs_pyroscope_http_postfork_child(void)
{
    pthread_mutex_init(&load_mu, NULL);
}

/* ---- a client ----------------------------------------------------------------------------- */

struct hs_pyroscope_client {
    const hs_pyroscope_target_t *t;
    CURL *h;
    struct curl_slist *headers;
    int abort; /* atomic */
    char body[HS_PYROSCOPE_MESSAGE_MAX];
    size_t body_len;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    hs_pyroscope_client_t *c = arg;
    size_t n = size * nmemb;
    size_t room = sizeof c->body - 1 - c->body_len;
    size_t take = n < room ? n : room;
    memcpy(c->body + c->body_len, data, take);
    c->body_len += take;
    c->body[c->body_len] = '\0';
    return n; /* the rest is read and discarded */
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    hs_pyroscope_client_t *c = arg;
    return __atomic_load_n(&c->abort, __ATOMIC_ACQUIRE) ? 1 : 0;
}

hs_err_t hs_pyroscope_http_client_new(const hs_pyroscope_target_t *t, hs_pyroscope_client_t **out,
                                      char *why, size_t why_len)
{
    *out = NULL;
    hs_err_t err = hs_pyroscope_http_load(NULL, why, why_len);
    if (err != HS_OK)
        return err;
    hs_pyroscope_client_t *c = calloc(1, sizeof *c);
    if (!c)
        goto fail_nomem;
    c->t = t;
    c->h = curl.easy_init();
    if (!c->h)
        goto fail_nomem;
    static const char *const fixed[] = {"Content-Type: application/octet-stream",
                                        "Expect:", /* no 100-continue round trip */
                                        NULL};
    for (size_t i = 0; fixed[i]; i++) {
        struct curl_slist *l = curl.slist_append(c->headers, fixed[i]);
        if (!l)
            goto fail_nomem;
        c->headers = l;
    }
    for (size_t i = 0; i < t->nheaders; i++) {
        struct curl_slist *l = curl.slist_append(c->headers, t->headers[i]);
        if (!l)
            goto fail_nomem;
        c->headers = l;
    }
    CURL *h = c->h;
    curl.easy_setopt(h, CURLOPT_VERBOSE, 0L);
    curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl.easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    if (curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
        curl.easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl.easy_setopt(h, CURLOPT_POST, 1L);
    curl.easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl.easy_setopt(h, CURLOPT_USERAGENT, "heapsampler/" HS_VERSION);
    if (t->user) {
        curl.easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl.easy_setopt(h, CURLOPT_USERNAME, t->user);
        curl.easy_setopt(h, CURLOPT_PASSWORD, t->password);
    }
    curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl.easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl.easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl.easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    *out = c;
    return HS_OK;

fail_nomem:
    hs_reason(why, why_len, "out of memory");
    hs_pyroscope_http_client_free(c);
    return HS_ERR_NOMEM;
}

void hs_pyroscope_http_client_free(hs_pyroscope_client_t *c)
{
    if (!c)
        return;
    if (c->h)
        curl.easy_cleanup(c->h);
    if (c->headers)
        curl.slist_free_all(c->headers);
    free(c);
}

void hs_pyroscope_http_abort(hs_pyroscope_client_t *c)
{
    if (c)
        __atomic_store_n(&c->abort, 1, __ATOMIC_RELEASE);
}

static bool host_is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return host[0] == '[' || inet_pton(AF_INET, host, buf) == 1;
}

/*
 * CURLOPT_RESOLVE entries for the target's host ("-host:port" drops what an earlier request
 * cached, "host:port:addr,addr" supplies the fresh addresses). NULL with res filled in when the
 * name does not resolve.
 */
static struct curl_slist *resolve(const hs_pyroscope_target_t *t, hs_pyroscope_result_t *res,
                                  hs_err_t *err)
{
    *err = HS_OK;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = getaddrinfo(t->host, NULL, &hints, &ai);
    if (rc != 0) {
        res->curl_code = CURLE_COULDNT_RESOLVE_HOST;
        snprintf(res->curl_error, sizeof res->curl_error, "cannot resolve host %s: %s", t->host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return NULL;
    }
    size_t cap = strlen(t->host) + 16;
    for (struct addrinfo *a = ai; a; a = a->ai_next)
        cap += INET6_ADDRSTRLEN + 3;
    char *line = malloc(cap), *drop = malloc(strlen(t->host) + 16);
    struct curl_slist *list = NULL, *l;
    if (!line || !drop)
        goto nomem;
    snprintf(drop, strlen(t->host) + 16, "-%s:%u", t->host, t->port);
    size_t o = (size_t)snprintf(line, cap, "%s:%u:", t->host, t->port);
    int n = 0;
    for (struct addrinfo *a = ai; a && n < 16; a = a->ai_next) {
        char addr[INET6_ADDRSTRLEN];
        const void *src = a->ai_family == AF_INET
                              ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                              : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            !inet_ntop(a->ai_family, src, addr, sizeof addr))
            continue;
        o += (size_t)snprintf(line + o, cap - o, a->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                              n ? "," : "", addr);
        n++;
    }
    if ((l = curl.slist_append(NULL, drop)) == NULL)
        goto nomem;
    list = l;
    if ((l = curl.slist_append(list, line)) == NULL)
        goto nomem;
    list = l;
    free(line);
    free(drop);
    freeaddrinfo(ai);
    return list;
nomem:
    if (list)
        curl.slist_free_all(list);
    free(line);
    free(drop);
    freeaddrinfo(ai);
    *err = HS_ERR_NOMEM;
    return NULL;
}

hs_err_t hs_pyroscope_http_post(hs_pyroscope_client_t *c, const uint8_t *body, size_t len,
                                uint64_t from_s, uint64_t until_s, uint64_t timeout_ns,
                                hs_pyroscope_result_t *res)
{
    memset(res, 0, sizeof *res);
    char url[HS_URL_MAX + 4 * HS_PYROSCOPE_MAX_VALUE_LEN + 256];
    char *big = NULL;
    const char *req = url;
    if (hs_pyroscope_http_request_url(c->t, from_s, until_s, url, sizeof url) != HS_OK) {
        size_t need = strlen(c->t->ingest_url) + strlen(c->t->name_param) + 160;
        big = malloc(need);
        if (!big || hs_pyroscope_http_request_url(c->t, from_s, until_s, big, need) != HS_OK) {
            free(big);
            return HS_ERR_NOMEM;
        }
        req = big;
    }
    struct curl_slist *resolved = NULL;
    if (!host_is_numeric(c->t->host)) {
        hs_err_t err;
        resolved = resolve(c->t, res, &err);
        if (!resolved) {
            free(big);
            return err; /* HS_OK with res filled in: a retryable lookup failure */
        }
    }
    CURL *h = c->h;
    c->body_len = 0;
    c->body[0] = '\0';
    c->errbuf[0] = '\0';
    long ms = (long)(timeout_ns / 1000000u);
    if (ms < 1)
        ms = 1;
    curl.easy_setopt(h, CURLOPT_URL, req);
    curl.easy_setopt(h, CURLOPT_RESOLVE, resolved);
    curl.easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body);
    curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
    curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
    CURLcode rc = __atomic_load_n(&c->abort, __ATOMIC_ACQUIRE) ? CURLE_ABORTED_BY_CALLBACK
                                                               : curl.easy_perform(h);
    curl.easy_setopt(h, CURLOPT_RESOLVE, (struct curl_slist *)NULL);
    curl.easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)NULL);
    if (resolved)
        curl.slist_free_all(resolved);
    free(big);

    res->curl_code = (int)rc;
    if (rc != CURLE_OK) {
        snprintf(res->curl_error, sizeof res->curl_error, "%s",
                 c->errbuf[0] ? c->errbuf : curl.easy_strerror(rc));
        return HS_OK;
    }
    long status = 0;
    curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    res->status = status;
    curl_off_t after = 0;
    if (curl.easy_getinfo(h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
        res->retry_after_s = (uint64_t)after;
    snprintf(res->message, sizeof res->message, "%s", c->body);
    return HS_OK;
}

/* ---- outcomes and messages ---------------------------------------------------------------- */

hs_pyroscope_outcome_t hs_pyroscope_http_classify(const hs_pyroscope_result_t *res)
{
    if (res->curl_code == CURLE_ABORTED_BY_CALLBACK)
        return HS_PYROSCOPE_FAIL; /* the exit deadline passed: nothing left to retry for */
    if (res->curl_code != 0)
        return HS_PYROSCOPE_RETRY;
    if (res->status >= 200 && res->status < 300)
        return HS_PYROSCOPE_SENT;
    if (res->status == 408 || res->status == 429 || (res->status >= 500 && res->status < 600))
        return HS_PYROSCOPE_RETRY;
    return HS_PYROSCOPE_FAIL;
}

int hs_pyroscope_http_kind(const hs_pyroscope_result_t *res)
{
    return res->curl_code ? -res->curl_code : (int)res->status;
}

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

void hs_pyroscope_http_describe(const hs_pyroscope_target_t *t, const hs_pyroscope_result_t *res,
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

uint64_t hs_pyroscope_http_backoff(uint64_t base_ns, uint32_t attempt, uint64_t retry_after_s,
                                   uint64_t random)
{
    uint64_t d = base_ns ? base_ns : 1;
    for (uint32_t i = 1; i < attempt && d < HS_BACKOFF_CAP_NS; i++)
        d *= 2;
    if (d > HS_BACKOFF_CAP_NS)
        d = HS_BACKOFF_CAP_NS;
    /* Jitter: uniform in [d/2, d]. */
    d = d / 2 + random % (d / 2 + 1);
    if (retry_after_s) {
        uint64_t ra = retry_after_s > HS_BACKOFF_CAP_NS / 1000000000ull
                          ? HS_BACKOFF_CAP_NS
                          : retry_after_s * 1000000000ull;
        if (ra > d)
            d = ra;
    }
    return d;
}
