/*
 * pyroscope_request.c - the /ingest request: the target, one POST, the answer classified (see
 * pyroscope_request.h).
 *
 * Invariants:
 *   - No request follows a redirect, uses a protocol other than HTTP(S), keeps an idle
 *     connection (CURLOPT_FORBID_REUSE: a forked child must never share a live connection with
 *     its parent), or runs with CURLOPT_VERBOSE (which would print the Authorization header).
 *   - Host names are resolved here, with getaddrinfo in the calling thread, and handed to curl
 *     as CURLOPT_RESOLVE entries: curl then starts no resolver thread of its own, whose
 *     allocations would not run under the reentrancy guard and would be profiled as the
 *     program's. (The first lookup may load NSS modules outside the loader gate, as any
 *     threaded program's lookups do.)
 *   - A target holds secrets (the password, header values); the password is wiped when the
 *     target is freed. Nothing here puts them in a message: pyroscope_redact.h makes a failed
 *     request's description safe to log.
 *
 * Thread-safety: a target is immutable after init; a client is used by one thread at a time
 * (hs_pyroscope_request_abort excepted: an atomic flag). No global state. Everything here
 * allocates: run it under the reentrancy guard in the preloaded library.
 */
#include "pyroscope_request.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_loader.h"
#include "pyroscope_check.h"

#ifndef HS_VERSION
#define HS_VERSION "0.1.0"
#endif

#define HS_BACKOFF_CAP_NS (300ull * 1000000000ull)

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
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
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

hs_err_t hs_pyroscope_request_target_init(hs_pyroscope_target_t *t, const hs_config_t *cfg,
                                          const char *default_app, char *why, size_t why_len)
{
    memset(t, 0, sizeof *t);
    hs_pyroscope_url_t u;
    hs_err_t err = hs_pyroscope_check_url(cfg->pyroscope_url, &u, why, why_len);
    if (err != HS_OK)
        return err;
    char app[HS_PYROSCOPE_MAX_VALUE_LEN + 1];
    const char *given = cfg->app_name[0] ? cfg->app_name : default_app;
    if (given) {
        err = hs_pyroscope_check_app(given, why, why_len);
        if (err == HS_OK)
            memcpy(app, given, strlen(given) + 1); /* checked: at most the maximum length */
    } else {
        hs_pyroscope_check_default_app(app, sizeof app);
    }
    if (err == HS_OK)
        err = hs_pyroscope_check_tags(cfg->tags, why, why_len);
    if (err == HS_OK)
        err = hs_pyroscope_check_auth(cfg->pyroscope_user, cfg->pyroscope_password,
                                      cfg->pyroscope_tenant, why, why_len);
    if (err != HS_OK)
        return err;

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
    /* The tenant's header, then the extra ones. */
    err = hs_pyroscope_check_headers(cfg->pyroscope_tenant, cfg->pyroscope_headers,
                                     cfg->pyroscope_user[0] != '\0', t->headers, &t->nheaders,
                                     HS_PYROSCOPE_MAX_HEADERS + 1, why, why_len);
    if (err != HS_OK)
        goto fail;
    return HS_OK;
fail:
    if (err == HS_ERR_NOMEM)
        hs_reason(why, why_len, "out of memory");
    hs_pyroscope_request_target_free(t);
    return err;
}

void hs_pyroscope_request_target_free(hs_pyroscope_target_t *t)
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

hs_err_t hs_pyroscope_request_url(const hs_pyroscope_target_t *t, uint64_t from_s, uint64_t until_s,
                                  char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s?name=%s&from=%llu&until=%llu&format=pprof&spyName=heapsampler",
                     t->ingest_url, t->name_param, (unsigned long long)from_s,
                     (unsigned long long)until_s);
    return n < 0 || (size_t)n >= len ? HS_ERR_INVALID : HS_OK;
}

/* ---- a client ----------------------------------------------------------------------------- */

struct hs_pyroscope_client {
    const hs_pyroscope_target_t *t;
    const hs_curl_api_t *curl;
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

hs_err_t hs_pyroscope_request_client_new(const hs_pyroscope_target_t *t,
                                         hs_pyroscope_client_t **out, char *why, size_t why_len)
{
    *out = NULL;
    const hs_curl_api_t *curl;
    hs_err_t err = hs_curl_loader_load(&curl, NULL, why, why_len);
    if (err != HS_OK)
        return err;
    hs_pyroscope_client_t *c = calloc(1, sizeof *c);
    if (!c)
        goto fail_nomem;
    c->t = t;
    c->curl = curl;
    c->h = curl->easy_init();
    if (!c->h)
        goto fail_nomem;
    static const char *const fixed[] = {"Content-Type: application/octet-stream",
                                        "Expect:", /* no 100-continue round trip */
                                        NULL};
    for (size_t i = 0; fixed[i]; i++) {
        struct curl_slist *l = curl->slist_append(c->headers, fixed[i]);
        if (!l)
            goto fail_nomem;
        c->headers = l;
    }
    for (size_t i = 0; i < t->nheaders; i++) {
        struct curl_slist *l = curl->slist_append(c->headers, t->headers[i]);
        if (!l)
            goto fail_nomem;
        c->headers = l;
    }
    CURL *h = c->h;
    curl->easy_setopt(h, CURLOPT_VERBOSE, 0L);
    curl->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl->easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    if (curl->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
        curl->easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl->easy_setopt(h, CURLOPT_POST, 1L);
    curl->easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl->easy_setopt(h, CURLOPT_USERAGENT, "heapsampler/" HS_VERSION);
    if (t->user) {
        curl->easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl->easy_setopt(h, CURLOPT_USERNAME, t->user);
        curl->easy_setopt(h, CURLOPT_PASSWORD, t->password);
    }
    curl->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl->easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl->easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl->easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl->easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl->easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    *out = c;
    return HS_OK;

fail_nomem:
    hs_reason(why, why_len, "out of memory");
    hs_pyroscope_request_client_free(c);
    return HS_ERR_NOMEM;
}

void hs_pyroscope_request_client_free(hs_pyroscope_client_t *c)
{
    if (!c)
        return;
    if (c->h)
        c->curl->easy_cleanup(c->h);
    if (c->headers)
        c->curl->slist_free_all(c->headers);
    free(c);
}

void hs_pyroscope_request_abort(hs_pyroscope_client_t *c)
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
static struct curl_slist *resolve(const hs_curl_api_t *curl, const hs_pyroscope_target_t *t,
                                  hs_pyroscope_result_t *res, hs_err_t *err)
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
    if ((l = curl->slist_append(NULL, drop)) == NULL)
        goto nomem;
    list = l;
    if ((l = curl->slist_append(list, line)) == NULL)
        goto nomem;
    list = l;
    free(line);
    free(drop);
    freeaddrinfo(ai);
    return list;
nomem:
    if (list)
        curl->slist_free_all(list);
    free(line);
    free(drop);
    freeaddrinfo(ai);
    *err = HS_ERR_NOMEM;
    return NULL;
}

hs_err_t hs_pyroscope_request_post(hs_pyroscope_client_t *c, const uint8_t *body, size_t len,
                                   uint64_t from_s, uint64_t until_s, uint64_t timeout_ns,
                                   hs_pyroscope_result_t *res)
{
    memset(res, 0, sizeof *res);
    const hs_curl_api_t *curl = c->curl;
    char url[HS_PYROSCOPE_URL_MAX + 4 * HS_PYROSCOPE_MAX_VALUE_LEN + 256];
    char *big = NULL;
    const char *req = url;
    if (hs_pyroscope_request_url(c->t, from_s, until_s, url, sizeof url) != HS_OK) {
        size_t need = strlen(c->t->ingest_url) + strlen(c->t->name_param) + 160;
        big = malloc(need);
        if (!big || hs_pyroscope_request_url(c->t, from_s, until_s, big, need) != HS_OK) {
            free(big);
            return HS_ERR_NOMEM;
        }
        req = big;
    }
    struct curl_slist *resolved = NULL;
    if (!host_is_numeric(c->t->host)) {
        hs_err_t err;
        resolved = resolve(c->curl, c->t, res, &err);
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
    curl->easy_setopt(h, CURLOPT_URL, req);
    curl->easy_setopt(h, CURLOPT_RESOLVE, resolved);
    curl->easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body);
    curl->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl->easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
    curl->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
    CURLcode rc = __atomic_load_n(&c->abort, __ATOMIC_ACQUIRE) ? CURLE_ABORTED_BY_CALLBACK
                                                               : curl->easy_perform(h);
    curl->easy_setopt(h, CURLOPT_RESOLVE, (struct curl_slist *)NULL);
    curl->easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)NULL);
    if (resolved)
        curl->slist_free_all(resolved);
    free(big);

    res->curl_code = (int)rc;
    if (rc != CURLE_OK) {
        snprintf(res->curl_error, sizeof res->curl_error, "%s",
                 c->errbuf[0] ? c->errbuf : curl->easy_strerror(rc));
        return HS_OK;
    }
    long status = 0;
    curl->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    res->status = status;
    curl_off_t after = 0;
    if (curl->easy_getinfo(h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
        res->retry_after_s = (uint64_t)after;
    snprintf(res->message, sizeof res->message, "%s", c->body);
    return HS_OK;
}

/* ---- outcomes ----------------------------------------------------------------------------- */

hs_pyroscope_outcome_t hs_pyroscope_request_classify(const hs_pyroscope_result_t *res)
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

int hs_pyroscope_request_kind(const hs_pyroscope_result_t *res)
{
    return res->curl_code ? -res->curl_code : (int)res->status;
}

uint64_t hs_pyroscope_request_backoff(uint64_t base_ns, uint32_t attempt, uint64_t retry_after_s,
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
