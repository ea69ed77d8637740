/*
 * pyroscope_http.h - talking to Grafana Pyroscope's /ingest endpoint: the configuration checked
 * against the server's grammar, the request, the answer classified for retries, and messages
 * that never contain a secret. Shared by the preloaded library's delivery thread (pyroscope.h)
 * and `heapsampler upload`.
 *
 * The request (what the server's ingest handler expects for format=pprof):
 *   POST {url}/ingest?name=APP{k=v,...}&from=S&until=S&format=pprof&spyName=heapsampler
 * with the gzipped pprof as the whole body (Content-Type application/octet-stream, no
 * Content-Encoding, no multipart), HTTP Basic auth from PYROSCOPE_USER/PASSWORD, X-Scope-OrgID
 * from PYROSCOPE_TENANT, extra headers from PYROSCOPE_HEADERS. Redirects are not followed.
 *
 * libcurl is not linked: it is loaded with dlopen("libcurl.so.4") on first use (compiled
 * against its headers, called through a table of function pointers), so a process that uploads
 * nothing never maps libcurl and its TLS libraries.
 */
#ifndef HS_PYROSCOPE_HTTP_H
#define HS_PYROSCOPE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

/* The server's default limits (validation.max-profile-*): every upload stays within them. */
#define HS_PYROSCOPE_MAX_SAMPLES 16000
#define HS_PYROSCOPE_MAX_BYTES   ((size_t)4 << 20) /* uncompressed pprof */
/* Label names per series: the server allows 30 and sets 4 itself (__name__, __delta__,
 * service_name, pyroscope_spy). */
#define HS_PYROSCOPE_MAX_TAGS      26
#define HS_PYROSCOPE_MAX_NAME_LEN  1024 /* label name */
#define HS_PYROSCOPE_MAX_VALUE_LEN 2048 /* label value, and the application name */
#define HS_PYROSCOPE_MAX_HEADERS   32
#define HS_PYROSCOPE_LATE_NS       (3600ull * 1000000000ull) /* older than this: dropped */
#define HS_PYROSCOPE_MESSAGE_MAX   256                       /* server message kept for the log */

/*
 * Checks, each writing a one-line reason into why (which names the offending value, never a
 * secret). An application name is 1 to 2048 of [A-Za-z0-9_.-/]. Tags are "k=v,k=v" (empty =
 * none): names [A-Za-z_][A-Za-z0-9_]* (the intersection of the ingest parser's and the
 * label validator's rules), not starting with "__" (reserved, dropped by the server), not
 * service_name or pyroscope_spy (set by the server: a second one is a duplicate label), each
 * once, at most HS_PYROSCOPE_MAX_TAGS; values non-empty UTF-8 without control characters,
 * without , { } = (the ingest parser's separators) and without surrounding spaces (it trims
 * them). A URL is http:// or https://, a host, an optional port and path, no user:password@
 * (credentials go in PYROSCOPE_USER/PASSWORD), no query or fragment.
 */
hs_err_t hs_pyroscope_http_check_app(const char *app, char *why, size_t why_len) HS_MUST_CHECK;
hs_err_t hs_pyroscope_http_check_tags(const char *tags, char *why, size_t why_len) HS_MUST_CHECK;
hs_err_t hs_pyroscope_http_check_url(const char *url, char *why, size_t why_len) HS_MUST_CHECK;

/*
 * Append one "k=v" (checked alone: a later check of the whole list finds duplicates) to the
 * malloc'd list *tags (NULL = empty), comma-separated. For repeatable --tag flags.
 */
hs_err_t hs_pyroscope_http_append_tag(char **tags, const char *tag, char *why,
                                      size_t why_len) HS_MUST_CHECK;

/* The program's name made a valid application name (other characters become '_'). */
void hs_pyroscope_http_default_app(char *buf, size_t len);

/* Everything a request needs, validated once. Strings are malloc'd copies. */
typedef struct hs_pyroscope_target {
    char *ingest_url;  /* "{url}/ingest" */
    char *display_url; /* the configured URL, for messages (has no credentials) */
    char *name_param;  /* "APP{k=v,...}" percent-encoded */
    char *app;         /* resolved application name */
    char *user;        /* NULL = no Basic auth */
    char *password;    /* secret */
    char **headers;    /* "Name: value" lines (tenant, extra headers); secrets */
    size_t nheaders;
    char *host; /* host of the URL, for name resolution */
    unsigned port;
    uint64_t timeout_ns;
} hs_pyroscope_target_t;

/*
 * Validate cfg's upload settings and build the target. An empty APP_NAME takes default_app
 * (NULL: the program's name). HS_ERR_INVALID with a reason for a configuration error; the
 * reason never contains the password or a header value.
 */
hs_err_t hs_pyroscope_http_target_init(hs_pyroscope_target_t *t, const hs_config_t *cfg,
                                       const char *default_app, char *why,
                                       size_t why_len) HS_MUST_CHECK;
void hs_pyroscope_http_target_free(hs_pyroscope_target_t *t);

/* The full request URL for a profile covering [from_s, until_s] (Unix seconds). */
hs_err_t hs_pyroscope_http_request_url(const hs_pyroscope_target_t *t, uint64_t from_s,
                                       uint64_t until_s, char *buf, size_t len) HS_MUST_CHECK;

/*
 * Load libcurl (once per process; later calls return the first result). Takes the loader gate
 * (loader_gate.h) around dlopen and curl_global_init, so a fork never inherits a half-held loader
 * lock from it. *first (may be NULL) is set when this call did the loading.
 */
hs_err_t hs_pyroscope_http_load(bool *first, char *why, size_t why_len) HS_MUST_CHECK;
/*
 * Forked child: re-initialise the loading lock (a parent thread may have held it). It is not
 * taken before the fork: its holder may be loading libcurl, or waiting for the loader gate that
 * the fork has closed.
 */
void hs_pyroscope_http_postfork_child(void);

typedef struct hs_pyroscope_client hs_pyroscope_client_t;

/* A connection handle for t (t must outlive it). Loads libcurl if needed. */
hs_err_t hs_pyroscope_http_client_new(const hs_pyroscope_target_t *t, hs_pyroscope_client_t **out,
                                      char *why, size_t why_len) HS_MUST_CHECK;
void hs_pyroscope_http_client_free(hs_pyroscope_client_t *c);

/* What one request gave. */
typedef struct hs_pyroscope_result {
    int curl_code; /* 0 = a complete HTTP answer was received */
    long status;   /* HTTP status, 0 if none */
    uint64_t retry_after_s;
    char curl_error[HS_PYROSCOPE_MESSAGE_MAX];
    char message[HS_PYROSCOPE_MESSAGE_MAX]; /* start of the answer's body, sanitised */
} hs_pyroscope_result_t;

/*
 * POST one gzipped profile. timeout_ns bounds the whole request (connect included). Returns
 * HS_OK when a request was made (look at res), an error when none could be (libcurl missing,
 * out of memory).
 */
hs_err_t hs_pyroscope_http_post(hs_pyroscope_client_t *c, const uint8_t *body, size_t len,
                                uint64_t from_s, uint64_t until_s, uint64_t timeout_ns,
                                hs_pyroscope_result_t *res) HS_MUST_CHECK;

/* Make a request in flight end soon (within about a second); any thread. */
void hs_pyroscope_http_abort(hs_pyroscope_client_t *c);

typedef enum hs_pyroscope_outcome {
    HS_PYROSCOPE_SENT,  /* 2xx */
    HS_PYROSCOPE_RETRY, /* network error, 408, 429, 5xx: try again later */
    HS_PYROSCOPE_FAIL,  /* any other answer (3xx, 4xx): never retried */
} hs_pyroscope_outcome_t;

hs_pyroscope_outcome_t hs_pyroscope_http_classify(const hs_pyroscope_result_t *res);

/*
 * A key per kind of failure (the curl code or the HTTP status), for logging each kind once.
 */
int hs_pyroscope_http_kind(const hs_pyroscope_result_t *res);

/*
 * One line describing a failed request: "HTTP 422: <server message>" or "connection refused
 * (...)". The server's message is truncated, stripped of control and non-ASCII characters, and
 * any occurrence of the target's password, header values or Basic credentials is replaced by
 * <hidden>.
 */
void hs_pyroscope_http_describe(const hs_pyroscope_target_t *t, const hs_pyroscope_result_t *res,
                                char *buf, size_t len);

/*
 * Delay before retry number attempt (1 = the first retry): base * 2^(attempt-1), capped at
 * 5 minutes, with jitter (a uniform draw from the upper half, from random), and at least the
 * server's Retry-After.
 */
uint64_t hs_pyroscope_http_backoff(uint64_t base_ns, uint32_t attempt, uint64_t retry_after_s,
                                   uint64_t random);

#endif
