/*
 * pyroscope_request.h - one upload to Grafana Pyroscope's /ingest endpoint, and what its
 * answer means for retries. Shared by the preloaded library's delivery thread (pyroscope.h)
 * and `heapsampler upload`.
 *
 * The request (what the server's ingest handler expects for format=pprof):
 *   POST {url}/ingest?name=APP{k=v,...}&from=S&until=S&format=pprof&spyName=heapsampler
 * with the gzipped pprof as the whole body (Content-Type application/octet-stream, no
 * Content-Encoding, no multipart), HTTP Basic auth from PYROSCOPE_USER/PASSWORD, X-Scope-OrgID
 * from PYROSCOPE_TENANT, extra headers from PYROSCOPE_HEADERS. Redirects are not followed.
 * The settings are checked once, into a target (pyroscope_check.h); libcurl is loaded on
 * demand (curl_loader.h); messages about failed requests are made safe to log by
 * pyroscope_redact.h.
 */
#ifndef HS_PYROSCOPE_REQUEST_H
#define HS_PYROSCOPE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

/* The server's default limits (validation.max-profile-*): every upload stays within them. */
#define HS_PYROSCOPE_MAX_SAMPLES 16000
#define HS_PYROSCOPE_MAX_BYTES   ((size_t)4 << 20)         /* uncompressed pprof */
#define HS_PYROSCOPE_LATE_NS     (3600ull * 1000000000ull) /* older than this: dropped */
#define HS_PYROSCOPE_MESSAGE_MAX 256                       /* server message kept for the log */

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
 * Validate cfg's upload settings (pyroscope_check.h) and build the target. An empty APP_NAME
 * takes default_app (NULL: the program's name). HS_ERR_INVALID with a reason for a
 * configuration error; the reason never contains the password or a header value.
 */
hs_err_t hs_pyroscope_request_target_init(hs_pyroscope_target_t *t, const hs_config_t *cfg,
                                          const char *default_app, char *why,
                                          size_t why_len) HS_MUST_CHECK;
void hs_pyroscope_request_target_free(hs_pyroscope_target_t *t);

/* The full request URL for a profile covering [from_s, until_s] (Unix seconds). */
hs_err_t hs_pyroscope_request_url(const hs_pyroscope_target_t *t, uint64_t from_s, uint64_t until_s,
                                  char *buf, size_t len) HS_MUST_CHECK;

typedef struct hs_pyroscope_client hs_pyroscope_client_t;

/* A connection handle for t (t must outlive it). Loads libcurl if needed (curl_loader.h). */
hs_err_t hs_pyroscope_request_client_new(const hs_pyroscope_target_t *t,
                                         hs_pyroscope_client_t **out, char *why,
                                         size_t why_len) HS_MUST_CHECK;
void hs_pyroscope_request_client_free(hs_pyroscope_client_t *c);

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
 * HS_OK when a request was made (look at res), an error when none could be (out of memory).
 */
hs_err_t hs_pyroscope_request_post(hs_pyroscope_client_t *c, const uint8_t *body, size_t len,
                                   uint64_t from_s, uint64_t until_s, uint64_t timeout_ns,
                                   hs_pyroscope_result_t *res) HS_MUST_CHECK;

/* Make a request in flight end soon (within about a second); any thread. */
void hs_pyroscope_request_abort(hs_pyroscope_client_t *c);

typedef enum hs_pyroscope_outcome {
    HS_PYROSCOPE_SENT,  /* 2xx */
    HS_PYROSCOPE_RETRY, /* network error, 408, 429, 5xx: try again later */
    HS_PYROSCOPE_FAIL,  /* any other answer (3xx, 4xx): never retried */
} hs_pyroscope_outcome_t;

hs_pyroscope_outcome_t hs_pyroscope_request_classify(const hs_pyroscope_result_t *res);

/* A key per kind of failure (the curl code or the HTTP status), for logging each kind once. */
int hs_pyroscope_request_kind(const hs_pyroscope_result_t *res);

/*
 * Delay before retry number attempt (1 = the first retry): base * 2^(attempt-1), capped at
 * 5 minutes, with jitter (a uniform draw from the upper half, from random), and at least the
 * server's Retry-After.
 */
uint64_t hs_pyroscope_request_backoff(uint64_t base_ns, uint32_t attempt, uint64_t retry_after_s,
                                      uint64_t random);

#endif
