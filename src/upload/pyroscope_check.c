/*
 * pyroscope_check.c - the upload settings against Pyroscope's grammar (see pyroscope_check.h).
 *
 * No state of its own (default_app reads the program's name); allocations only for results
 * (append_tag, header lines). What a message quotes of a user value is cut to 64 characters,
 * non-printable bytes as \xNN; a message never quotes a password, a header value or the part
 * of a URL before '@' (which may be a credential): it names the header or says what is wrong
 * instead.
 *
 * The rules are the server's (its ingest parser and label validator) and HTTP's (header names
 * are tokens; a value must not end the header early or smuggle another one), so that a
 * setting the server would refuse or misread is refused here, once, with the reason, instead
 * of each upload failing at the server.
 */
#include "pyroscope_check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---- names and tags ----------------------------------------------------------------------- */

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

hs_err_t hs_pyroscope_check_app(const char *app, char *why, size_t why_len)
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

hs_err_t hs_pyroscope_check_tags(const char *tags, char *why, size_t why_len)
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

void hs_pyroscope_check_label_room(const char *tags, hs_pyroscope_label_room_t *out)
{
    size_t ntags = 0;
    out->ndrop = 0;
    for (const char *s = tags; *s && ntags < HS_PYROSCOPE_MAX_TAGS; ntags++) {
        size_t len = strcspn(s, "="), item = strcspn(s, ",");
        if (len <= HS_LABEL_KEY_MAX && len < item) {
            memcpy(out->drop[out->ndrop], s, len);
            out->drop[out->ndrop][len] = '\0';
            out->drop_ptrs[out->ndrop] = out->drop[out->ndrop];
            out->ndrop++;
        }
        s += item + (s[item] == ',');
    }
    out->names = HS_PYROSCOPE_MAX_TAGS - ntags;
}

hs_err_t hs_pyroscope_check_append_tag(char **tags, const char *tag, char *why, size_t why_len)
{
    char q[300];
    if (!tag[0] || strchr(tag, ',')) {
        quote(tag, q, sizeof q);
        hs_reason(why, why_len, "\"%s\" is not one K=V", q);
        return HS_ERR_INVALID;
    }
    hs_err_t err = hs_pyroscope_check_tags(tag, why, why_len);
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

void hs_pyroscope_check_default_app(char *buf, size_t len)
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

/* ---- URLs --------------------------------------------------------------------------------- */

/* A decimal port [p, end): 1 to 65535. */
static bool check_port(const char *p, const char *end, unsigned *port)
{
    unsigned v = 0;
    if (p == end)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > 65535)
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = v;
    return true;
}

/* The authority [auth, end) of URL q (quoted, for messages): host or [IPv6], then :port. */
static hs_err_t check_host_port(const char *auth, const char *end, hs_pyroscope_url_t *u,
                                const char *q, char *why, size_t why_len)
{
    const char *host_end, *port = NULL;
    if (*auth == '[') {
        host_end = memchr(auth, ']', (size_t)(end - auth));
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
        host_end = memchr(auth, ':', (size_t)(end - auth));
        if (host_end)
            port = host_end + 1;
        else
            host_end = end;
    }
    if (host_end == auth)
        goto bad_host;
    u->host = auth;
    u->host_len = (size_t)(host_end - auth);
    u->port = u->https ? 443 : 80;
    if (port && !check_port(port, end, &u->port)) {
        hs_reason(why, why_len, "the Pyroscope URL \"%s\" has an invalid port", q);
        return HS_ERR_INVALID;
    }
    return HS_OK;
bad_host:
    hs_reason(why, why_len, "the Pyroscope URL \"%s\" has no valid host", q);
    return HS_ERR_INVALID;
}

hs_err_t hs_pyroscope_check_url(const char *url, hs_pyroscope_url_t *parts, char *why,
                                size_t why_len)
{
    char q[300];
    hs_pyroscope_url_t u;
    memset(&u, 0, sizeof u);
    size_t n = strlen(url);
    if (n == 0) {
        hs_reason(why, why_len, "the Pyroscope URL is empty");
        return HS_ERR_INVALID;
    }
    if (n >= HS_PYROSCOPE_URL_MAX) {
        hs_reason(why, why_len, "the Pyroscope URL is longer than %d characters",
                  HS_PYROSCOPE_URL_MAX - 1);
        return HS_ERR_INVALID;
    }
    const char *auth;
    if (strncasecmp(url, "http://", 7) == 0) {
        auth = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        auth = url + 8;
        u.https = true;
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
    hs_err_t err = check_host_port(auth, end, &u, q, why, why_len);
    if (err != HS_OK)
        return err;
    u.path = end;
    if (parts)
        *parts = u;
    return HS_OK;
}

/* ---- credentials and headers -------------------------------------------------------------- */

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

hs_err_t hs_pyroscope_check_auth(const char *user, const char *password, const char *tenant,
                                 char *why, size_t why_len)
{
    if (password[0] && !user[0]) {
        hs_reason(why, why_len,
                  "HEAPSAMPLER_PYROSCOPE_PASSWORD is set but HEAPSAMPLER_PYROSCOPE_USER is not");
        return HS_ERR_INVALID;
    }
    bool tenant_ok = value_ok(tenant, strlen(tenant));
    if (!tenant_ok || !value_ok(user, strlen(user)) || strchr(user, ':')) {
        hs_reason(why, why_len, "HEAPSAMPLER_PYROSCOPE_%s contains a control character%s",
                  tenant_ok ? "USER" : "TENANT", strchr(user, ':') ? " or a colon" : "");
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

static bool token_char(unsigned char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Append the malloc'd line "name: value" to lines[*n, max). */
static hs_err_t add_line(char **lines, size_t *n, size_t max, const char *name, size_t nlen,
                         const char *value, size_t vlen)
{
    if (*n >= max)
        return HS_ERR_FULL;
    char *line = malloc(nlen + vlen + 3);
    if (!line)
        return HS_ERR_NOMEM;
    memcpy(line, name, nlen);
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, value, vlen);
    line[nlen + 2 + vlen] = '\0';
    lines[(*n)++] = line;
    return HS_OK;
}

/* A header name of PYROSCOPE_HEADERS (q: it quoted, for messages). */
static hs_err_t check_header_name(const char *name, size_t nlen, bool have_user, bool have_tenant,
                                  const char *q, char *why, size_t why_len)
{
    static const char *const forbidden[] = {"Content-Type",   "Content-Encoding",
                                            "Content-Length", "Transfer-Encoding",
                                            "Host",           "Expect",
                                            "Connection",     "TE",
                                            "Upgrade",        NULL};
    for (size_t i = 0; i < nlen; i++) {
        if (!token_char((unsigned char)name[i])) {
            hs_reason(why, why_len, "HEAPSAMPLER_PYROSCOPE_HEADERS: \"%s\" is not a header name",
                      q);
            return HS_ERR_INVALID;
        }
    }
    for (size_t f = 0; forbidden[f]; f++) {
        if (strlen(forbidden[f]) == nlen && strncasecmp(forbidden[f], name, nlen) == 0) {
            hs_reason(why, why_len,
                      "HEAPSAMPLER_PYROSCOPE_HEADERS may not set %s (the uploader sets the "
                      "transport headers itself)",
                      forbidden[f]);
            return HS_ERR_INVALID;
        }
    }
    if (nlen == 13 && strncasecmp(name, "Authorization", 13) == 0 && have_user) {
        hs_reason(why, why_len,
                  "HEAPSAMPLER_PYROSCOPE_HEADERS sets Authorization and HEAPSAMPLER_PYROSCOPE_USER "
                  "is set too: choose one");
        return HS_ERR_INVALID;
    }
    if (nlen == 13 && strncasecmp(name, "X-Scope-OrgID", 13) == 0 && have_tenant) {
        hs_reason(why, why_len,
                  "HEAPSAMPLER_PYROSCOPE_HEADERS sets X-Scope-OrgID and "
                  "HEAPSAMPLER_PYROSCOPE_TENANT is set too: choose one");
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

/*
 * The value [v, v + len) of header q percent-decoded and trimmed of surrounding spaces, into a
 * malloc'd *out of *out_len bytes. Messages name the header, never show the value.
 */
static hs_err_t decode_header_value(const char *v, size_t len, const char *q, char **out,
                                    size_t *out_len, char *why, size_t why_len)
{
    char *d = malloc(len + 1);
    if (!d)
        return HS_ERR_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '%') {
            d[o++] = v[i];
            continue;
        }
        int hi = i + 2 < len ? hs_hex_digit(v[i + 1]) : -1;
        int lo = hi >= 0 ? hs_hex_digit(v[i + 2]) : -1;
        if (lo < 0) {
            free(d);
            hs_reason(why, why_len,
                      "HEAPSAMPLER_PYROSCOPE_HEADERS: the value of %s has a %% not followed by "
                      "two hex digits",
                      q);
            return HS_ERR_INVALID;
        }
        d[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    size_t b = 0;
    while (b < o && (d[b] == ' ' || d[b] == '\t'))
        b++;
    while (o > b && (d[o - 1] == ' ' || d[o - 1] == '\t'))
        o--;
    if (!value_ok(d + b, o - b)) {
        free(d);
        hs_reason(why, why_len,
                  "HEAPSAMPLER_PYROSCOPE_HEADERS: the value of %s contains a control character", q);
        return HS_ERR_INVALID;
    }
    memmove(d, d + b, o - b);
    *out = d;
    *out_len = o - b;
    return HS_OK;
}

hs_err_t hs_pyroscope_check_headers(const char *tenant, const char *spec, bool have_user,
                                    char **lines, size_t *n, size_t max, char *why, size_t why_len)
{
    bool have_tenant = tenant[0] != '\0';
    if (have_tenant) {
        hs_err_t err = add_line(lines, n, max, "X-Scope-OrgID", 13, tenant, strlen(tenant));
        if (err != HS_OK)
            return err;
    }
    for (const char *s = spec; *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        size_t nlen = eq ? (size_t)(eq - s) : len;
        char q[300], tmp[80];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(nlen < 64 ? nlen : 64), s);
        quote(tmp, q, sizeof q);
        if (!eq || nlen == 0) {
            hs_reason(why, why_len,
                      "HEAPSAMPLER_PYROSCOPE_HEADERS: an entry is not Name=value (entries are "
                      "separated by commas)");
            return HS_ERR_INVALID;
        }
        hs_err_t err = check_header_name(s, nlen, have_user, have_tenant, q, why, why_len);
        char *value = NULL;
        size_t vlen = 0;
        if (err == HS_OK)
            err = decode_header_value(eq + 1, len - nlen - 1, q, &value, &vlen, why, why_len);
        if (err == HS_OK)
            err = add_line(lines, n, max, s, nlen, value, vlen);
        free(value);
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
