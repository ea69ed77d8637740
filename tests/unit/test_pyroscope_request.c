/*
 * test_pyroscope_request.c - the request's target (built from checked settings, with header and
 * credential errors that never quote a secret), the request URL, the classification of answers
 * for retries, the backoff's bounds, and the scrubbing of server messages before they are
 * logged (pyroscope_redact.h). Requests themselves are tested against a receiver by
 * tests/preload/test_pyroscope.py.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pyroscope_redact.h"
#include "pyroscope_request.h"

static hs_config_t *cfg_new(const char *url)
{
    hs_config_t *c = malloc(sizeof *c);
    cr_assert_not_null(c);
    hs_config_defaults(c);
    snprintf(c->pyroscope_url, sizeof c->pyroscope_url, "%s", url);
    return c;
}

Test(pyroscope_request, target_and_request_url)
{
    hs_config_t *c = cfg_new("http://pyro.local:4040/base/");
    snprintf(c->app_name, sizeof c->app_name, "api");
    snprintf(c->tags, sizeof c->tags, "env=prod,region=eu-1");
    snprintf(c->pyroscope_tenant, sizeof c->pyroscope_tenant, "team-a");
    snprintf(c->pyroscope_headers, sizeof c->pyroscope_headers, "X-A=1,X-B=x%%2Cy%%20z");
    hs_pyroscope_target_t t;
    char why[512], url[1024];
    cr_assert_eq(hs_pyroscope_request_target_init(&t, c, NULL, why, sizeof why), HS_OK, "%s", why);
    cr_assert_str_eq(t.ingest_url, "http://pyro.local:4040/base/ingest");
    cr_assert_str_eq(t.display_url, "http://pyro.local:4040/base");
    cr_assert_str_eq(t.host, "pyro.local");
    cr_assert_eq(t.port, 4040);
    cr_assert_null(t.user);
    cr_assert_eq(t.nheaders, 3);
    cr_assert_str_eq(t.headers[0], "X-Scope-OrgID: team-a");
    cr_assert_str_eq(t.headers[1], "X-A: 1");
    cr_assert_str_eq(t.headers[2], "X-B: x,y z");
    cr_assert_eq(hs_pyroscope_request_url(&t, 1700000000, 1700000015, url, sizeof url), HS_OK);
    cr_assert_str_eq(url, "http://pyro.local:4040/base/ingest?name=api%7Benv%3Dprod%2Cregion%3D"
                          "eu-1%7D&from=1700000000&until=1700000015&format=pprof&spyName="
                          "heapsampler");
    cr_assert_eq(hs_pyroscope_request_url(&t, 1, 2, url, 20), HS_ERR_INVALID);
    hs_pyroscope_request_target_free(&t);

    /* No application name: the one given, else the program's. */
    c->app_name[0] = '\0';
    c->tags[0] = '\0';
    cr_assert_eq(hs_pyroscope_request_target_init(&t, c, "svc", why, sizeof why), HS_OK);
    cr_assert_str_eq(t.app, "svc");
    cr_assert_str_eq(t.name_param, "svc%7B%7D");
    hs_pyroscope_request_target_free(&t);
    cr_assert_eq(hs_pyroscope_request_target_init(&t, c, NULL, why, sizeof why), HS_OK);
    cr_assert_str_eq(t.app, program_invocation_short_name);
    hs_pyroscope_request_target_free(&t);
    free(c);
}

Test(pyroscope_request, credentials_and_header_errors_hide_values)
{
    hs_config_t *c = cfg_new("https://h");
    hs_pyroscope_target_t t;
    char why[512];
    snprintf(c->pyroscope_password, sizeof c->pyroscope_password, "s3cr3t");
    cr_assert_eq(hs_pyroscope_request_target_init(&t, c, "a", why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "PYROSCOPE_USER is not"), "%s", why);
    snprintf(c->pyroscope_user, sizeof c->pyroscope_user, "me");
    cr_assert_eq(hs_pyroscope_request_target_init(&t, c, "a", why, sizeof why), HS_OK, "%s", why);
    cr_assert_str_eq(t.user, "me");
    cr_assert_str_eq(t.password, "s3cr3t");
    cr_assert_eq(t.port, 443);
    hs_pyroscope_request_target_free(&t);

    static const struct {
        const char *headers, *reason;
    } bad[] = {
        {"Content-Encoding=gzip", "may not set Content-Encoding"},
        {"content-type=text/plain", "may not set Content-Type"},
        {"Host=evil", "may not set Host"},
        {"Authorization=Bearer%20s3cr3t", "Authorization and"},
        {"Bad Name=s3cr3t", "not a header name"},
        {"X-A", "not Name=value"},
        {"=s3cr3t", "not Name=value"},
        {"X-A=s3cr3t%0d%0aX-Evil: 1", "control character"},
        {"X-A=s3cr3t%zz", "two hex digits"},
        {"X-A=s3cr3t%4", "two hex digits"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(c->pyroscope_headers, sizeof c->pyroscope_headers, "%s", bad[i].headers);
        cr_assert_eq(hs_pyroscope_request_target_init(&t, c, "a", why, sizeof why), HS_ERR_INVALID,
                     "%s accepted", bad[i].headers);
        cr_assert(strstr(why, bad[i].reason), "%s: \"%s\"", bad[i].headers, why);
        cr_assert_null(strstr(why, "s3cr3t"), "%s", why);
    }
    /* A tenant given twice. */
    snprintf(c->pyroscope_headers, sizeof c->pyroscope_headers, "X-Scope-OrgID=b");
    snprintf(c->pyroscope_tenant, sizeof c->pyroscope_tenant, "a");
    cr_assert_eq(hs_pyroscope_request_target_init(&t, c, "a", why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "choose one"));
    free(c);
}

Test(pyroscope_request, classify)
{
    hs_pyroscope_result_t r;
    memset(&r, 0, sizeof r);
    static const long sent[] = {200, 202, 204};
    static const long retry[] = {408, 429, 500, 502, 503, 504, 599};
    static const long fail[] = {100, 301, 302, 307, 308, 400, 401, 403, 404, 413, 422, 600};
    for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++) {
        r.status = sent[i];
        cr_assert_eq(hs_pyroscope_request_classify(&r), HS_PYROSCOPE_SENT, "%ld", sent[i]);
    }
    for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++) {
        r.status = retry[i];
        cr_assert_eq(hs_pyroscope_request_classify(&r), HS_PYROSCOPE_RETRY, "%ld", retry[i]);
    }
    for (size_t i = 0; i < sizeof fail / sizeof fail[0]; i++) {
        r.status = fail[i];
        cr_assert_eq(hs_pyroscope_request_classify(&r), HS_PYROSCOPE_FAIL, "%ld", fail[i]);
    }
    /* Network errors are retried (connection refused, timeout), an abort at exit is not. */
    r.status = 0;
    r.curl_code = 7;
    cr_assert_eq(hs_pyroscope_request_classify(&r), HS_PYROSCOPE_RETRY);
    r.curl_code = 28;
    cr_assert_eq(hs_pyroscope_request_classify(&r), HS_PYROSCOPE_RETRY);
    int k7 = hs_pyroscope_request_kind(&r);
    r.curl_code = 42;
    cr_assert_eq(hs_pyroscope_request_classify(&r), HS_PYROSCOPE_FAIL);
    r.curl_code = 0;
    r.status = 28;
    cr_assert_neq(hs_pyroscope_request_kind(&r), k7, "curl code 28 and HTTP 28 are one kind");
}

Test(pyroscope_request, backoff_bounds)
{
    const uint64_t s = 1000000000ull;
    for (uint64_t rnd = 0; rnd < 1000; rnd += 37) {
        uint64_t d1 = hs_pyroscope_request_backoff(s, 1, 0, rnd * 7919);
        cr_assert(d1 >= s / 2 && d1 <= s, "%llu", (unsigned long long)d1);
        uint64_t d4 = hs_pyroscope_request_backoff(s, 4, 0, rnd * 7919);
        cr_assert(d4 >= 4 * s && d4 <= 8 * s, "%llu", (unsigned long long)d4);
        uint64_t d30 = hs_pyroscope_request_backoff(s, 30, 0, rnd * 7919);
        cr_assert(d30 >= 150 * s && d30 <= 300 * s, "%llu", (unsigned long long)d30);
    }
    /* Jitter: different draws, different delays. */
    cr_assert_neq(hs_pyroscope_request_backoff(s, 3, 0, 1),
                  hs_pyroscope_request_backoff(s, 3, 0, 7777));
    /* Retry-After wins when longer, within the cap. */
    cr_assert_eq(hs_pyroscope_request_backoff(s, 1, 20, 0), 20 * s);
    cr_assert_eq(hs_pyroscope_request_backoff(s, 1, 100000, 0), 300 * s);
    uint64_t d = hs_pyroscope_request_backoff(s, 6, 1, 5);
    cr_assert(d >= 16 * s);
    /* A tiny base (short upload intervals in tests) still grows. */
    cr_assert(hs_pyroscope_request_backoff(1, 40, 0, 3) >= 150 * s);
}

Test(pyroscope_request, describe_scrubs_and_truncates)
{
    hs_config_t *c = cfg_new("http://h:1");
    snprintf(c->pyroscope_user, sizeof c->pyroscope_user, "me");
    snprintf(c->pyroscope_password, sizeof c->pyroscope_password, "pw-9876");
    snprintf(c->pyroscope_headers, sizeof c->pyroscope_headers, "X-Key=hdr-5432");
    hs_pyroscope_target_t t;
    char why[256], out[600];
    cr_assert_eq(hs_pyroscope_request_target_init(&t, c, "a", why, sizeof why), HS_OK);
    hs_pyroscope_result_t r;
    memset(&r, 0, sizeof r);
    r.status = 401;
    /* base64("me:pw-9876") = bWU6cHctOTg3Ng== */
    snprintf(r.message, sizeof r.message,
             "denied\r\n\tfor pw-9876 (bWU6cHctOTg3Ng==) with hdr-5432\x01\xff end");
    hs_pyroscope_redact_describe(&t, &r, out, sizeof out);
    cr_assert_str_eq(out, "HTTP 401: denied for <hidden> (<hidden>) with <hidden>?? end");

    memset(r.message, 'x', sizeof r.message - 1);
    r.message[sizeof r.message - 1] = '\0';
    hs_pyroscope_redact_describe(&t, &r, out, sizeof out);
    cr_assert_lt(strlen(out), 220);
    cr_assert(strstr(out, "xxx..."));

    r.status = 308;
    r.message[0] = '\0';
    hs_pyroscope_redact_describe(&t, &r, out, sizeof out);
    cr_assert(strstr(out, "HTTP 308: a redirect, not followed"), "%s", out);

    r.status = 503;
    hs_pyroscope_redact_describe(&t, &r, out, sizeof out);
    cr_assert_str_eq(out, "HTTP 503");

    r.status = 0;
    r.curl_code = 7;
    snprintf(r.curl_error, sizeof r.curl_error, "Failed to connect to h port 1");
    hs_pyroscope_redact_describe(&t, &r, out, sizeof out);
    cr_assert_str_eq(out, "Failed to connect to h port 1");
    hs_pyroscope_request_target_free(&t);
    free(c);
}
