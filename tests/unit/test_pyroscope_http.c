/*
 * test_pyroscope_http.c - the checks against Pyroscope's grammar (application names, tags,
 * URLs, headers: each accepted and rejected input, and reasons that never quote a secret), the
 * request URL, the classification of answers for retries, the backoff's bounds, and the
 * scrubbing of server messages. Requests themselves are tested against a receiver by
 * tests/preload/test_pyroscope.py.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pyroscope_http.h"

static hs_config_t *cfg_new(const char *url)
{
    hs_config_t *c = malloc(sizeof *c);
    cr_assert_not_null(c);
    hs_config_defaults(c);
    snprintf(c->pyroscope_url, sizeof c->pyroscope_url, "%s", url);
    return c;
}

Test(pyroscope_http, app_names)
{
    char why[512];
    const char *good[] = {"api", "my-app.v2/x_1", "A", "python3.11", NULL};
    for (int i = 0; good[i]; i++)
        cr_assert_eq(hs_pyroscope_http_check_app(good[i], why, sizeof why), HS_OK, "%s: %s",
                     good[i], why);
    const char *bad[] = {"", "my app", "a{b}", "a,b", "caf\xc3\xa9", "x=y", "tab\t", NULL};
    for (int i = 0; bad[i]; i++) {
        cr_assert_eq(hs_pyroscope_http_check_app(bad[i], why, sizeof why), HS_ERR_INVALID, "%s",
                     bad[i]);
        cr_assert(strstr(why, "application name"), "%s", why);
    }
    char *longname = malloc(3000);
    memset(longname, 'a', 2999);
    longname[2999] = '\0';
    cr_assert_eq(hs_pyroscope_http_check_app(longname, why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "longer than"));
    free(longname);
}

Test(pyroscope_http, tags)
{
    char why[512];
    const char *good[] = {"",
                          "env=prod",
                          "env=prod,region=eu-west-1,v=1.2.3",
                          "_x=y",
                          "k=value with inner spaces",
                          "k=caf\xc3\xa9",
                          "A1_b=/path:x",
                          NULL};
    for (int i = 0; good[i]; i++)
        cr_assert_eq(hs_pyroscope_http_check_tags(good[i], why, sizeof why), HS_OK, "%s: %s",
                     good[i], why);
    static const struct {
        const char *tags, *reason;
    } bad[] = {
        {"env", "no value"},
        {"=x", "empty name"},
        {"env=", "empty value"},
        {"1env=x", "not valid"},
        {"e-nv=x", "not valid"},
        {"e.nv=x", "not valid"},
        {"__x=1", "reserved"},
        {"__name__=x", "reserved"},
        {"service_name=a", "reserved"},
        {"pyroscope_spy=a", "reserved"},
        {"a=1,a=2", "twice"},
        {"a=b,", "empty tag"},
        {"a= b", "space"},
        {"a=b ", "space"},
        {"a=b{c", "cannot take"},
        {"a=b}c", "cannot take"},
        {"a=b=c", "cannot take"},
        {"a=x\ny", "cannot take"},
        {"a=\xff", "UTF-8"},
        {"a=\xc3", "UTF-8"},
        {"a=\xed\xa0\x80", "UTF-8"}, /* a surrogate */
        {"a=\xc0\xaf", "UTF-8"},     /* an overlong '/' */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(hs_pyroscope_http_check_tags(bad[i].tags, why, sizeof why), HS_ERR_INVALID,
                     "\"%s\" accepted", bad[i].tags);
        cr_assert(strstr(why, bad[i].reason), "\"%s\": \"%s\" lacks \"%s\"", bad[i].tags, why,
                  bad[i].reason);
    }
    /* At most 26 tags: the server's 30 labels less its own 4. */
    char many[1024] = "";
    for (int i = 0; i < 27; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sk%d=v", i ? "," : "", i);
    cr_assert_eq(hs_pyroscope_http_check_tags(many, why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "more than 26"));
    *strrchr(many, ',') = '\0';
    cr_assert_eq(hs_pyroscope_http_check_tags(many, why, sizeof why), HS_OK, "%s", why);
}

Test(pyroscope_http, append_tag)
{
    char why[256];
    char *tags = NULL;
    cr_assert_eq(hs_pyroscope_http_append_tag(&tags, "a=1", why, sizeof why), HS_OK);
    cr_assert_eq(hs_pyroscope_http_append_tag(&tags, "b=2", why, sizeof why), HS_OK);
    cr_assert_str_eq(tags, "a=1,b=2");
    cr_assert_eq(hs_pyroscope_http_append_tag(&tags, "c=1,d=2", why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "not one K=V"));
    cr_assert_eq(hs_pyroscope_http_append_tag(&tags, "bad-name=1", why, sizeof why),
                 HS_ERR_INVALID);
    cr_assert_str_eq(tags, "a=1,b=2");
    free(tags);
}

Test(pyroscope_http, urls)
{
    char why[512];
    const char *good[] = {"http://h",          "https://profiles.example.com",
                          "http://h:4040/",    "http://10.0.0.1:4040/prefix/path",
                          "http://[::1]:4040", NULL};
    for (int i = 0; good[i]; i++)
        cr_assert_eq(hs_pyroscope_http_check_url(good[i], why, sizeof why), HS_OK, "%s: %s",
                     good[i], why);
    static const struct {
        const char *url, *reason;
    } bad[] = {
        {"", "empty"},
        {"ftp://h", "http:// or https://"},
        {"h:4040", "http:// or https://"},
        {"http://", "no valid host"},
        {"http://:80", "no valid host"},
        {"http://h:0", "invalid port"},
        {"http://h:99999", "invalid port"},
        {"http://h:80x", "invalid port"},
        {"http://h:", "invalid port"},
        {"http://h/a?b=1", "query"},
        {"http://h#x", "query"},
        {"http://h /x", "space"},
        {"http://[::1", "unterminated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(hs_pyroscope_http_check_url(bad[i].url, why, sizeof why), HS_ERR_INVALID,
                     "%s accepted", bad[i].url);
        cr_assert(strstr(why, bad[i].reason), "%s: \"%s\"", bad[i].url, why);
    }
    /* Credentials in the URL: refused without being quoted. */
    cr_assert_eq(hs_pyroscope_http_check_url("http://me:pa55word@h:1/x", why, sizeof why),
                 HS_ERR_INVALID);
    cr_assert(strstr(why, "user:password@"));
    cr_assert_null(strstr(why, "pa55word"));
}

Test(pyroscope_http, target_and_request_url)
{
    hs_config_t *c = cfg_new("http://pyro.local:4040/base/");
    snprintf(c->app_name, sizeof c->app_name, "api");
    snprintf(c->tags, sizeof c->tags, "env=prod,region=eu-1");
    snprintf(c->pyroscope_tenant, sizeof c->pyroscope_tenant, "team-a");
    snprintf(c->pyroscope_headers, sizeof c->pyroscope_headers, "X-A=1,X-B=x%%2Cy%%20z");
    hs_pyroscope_target_t t;
    char why[512], url[1024];
    cr_assert_eq(hs_pyroscope_http_target_init(&t, c, NULL, why, sizeof why), HS_OK, "%s", why);
    cr_assert_str_eq(t.ingest_url, "http://pyro.local:4040/base/ingest");
    cr_assert_str_eq(t.display_url, "http://pyro.local:4040/base");
    cr_assert_str_eq(t.host, "pyro.local");
    cr_assert_eq(t.port, 4040);
    cr_assert_null(t.user);
    cr_assert_eq(t.nheaders, 3);
    cr_assert_str_eq(t.headers[0], "X-Scope-OrgID: team-a");
    cr_assert_str_eq(t.headers[1], "X-A: 1");
    cr_assert_str_eq(t.headers[2], "X-B: x,y z");
    cr_assert_eq(hs_pyroscope_http_request_url(&t, 1700000000, 1700000015, url, sizeof url), HS_OK);
    cr_assert_str_eq(url, "http://pyro.local:4040/base/ingest?name=api%7Benv%3Dprod%2Cregion%3D"
                          "eu-1%7D&from=1700000000&until=1700000015&format=pprof&spyName="
                          "heapsampler");
    cr_assert_eq(hs_pyroscope_http_request_url(&t, 1, 2, url, 20), HS_ERR_INVALID);
    hs_pyroscope_http_target_free(&t);

    /* No application name: the one given, else the program's. */
    c->app_name[0] = '\0';
    c->tags[0] = '\0';
    cr_assert_eq(hs_pyroscope_http_target_init(&t, c, "svc", why, sizeof why), HS_OK);
    cr_assert_str_eq(t.app, "svc");
    cr_assert_str_eq(t.name_param, "svc%7B%7D");
    hs_pyroscope_http_target_free(&t);
    cr_assert_eq(hs_pyroscope_http_target_init(&t, c, NULL, why, sizeof why), HS_OK);
    cr_assert_str_eq(t.app, program_invocation_short_name);
    hs_pyroscope_http_target_free(&t);
    free(c);
}

Test(pyroscope_http, credentials_and_header_errors_hide_values)
{
    hs_config_t *c = cfg_new("https://h");
    hs_pyroscope_target_t t;
    char why[512];
    snprintf(c->pyroscope_password, sizeof c->pyroscope_password, "s3cr3t");
    cr_assert_eq(hs_pyroscope_http_target_init(&t, c, "a", why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "PYROSCOPE_USER is not"), "%s", why);
    snprintf(c->pyroscope_user, sizeof c->pyroscope_user, "me");
    cr_assert_eq(hs_pyroscope_http_target_init(&t, c, "a", why, sizeof why), HS_OK, "%s", why);
    cr_assert_str_eq(t.user, "me");
    cr_assert_str_eq(t.password, "s3cr3t");
    cr_assert_eq(t.port, 443);
    hs_pyroscope_http_target_free(&t);

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
        cr_assert_eq(hs_pyroscope_http_target_init(&t, c, "a", why, sizeof why), HS_ERR_INVALID,
                     "%s accepted", bad[i].headers);
        cr_assert(strstr(why, bad[i].reason), "%s: \"%s\"", bad[i].headers, why);
        cr_assert_null(strstr(why, "s3cr3t"), "%s", why);
    }
    /* A tenant given twice. */
    snprintf(c->pyroscope_headers, sizeof c->pyroscope_headers, "X-Scope-OrgID=b");
    snprintf(c->pyroscope_tenant, sizeof c->pyroscope_tenant, "a");
    cr_assert_eq(hs_pyroscope_http_target_init(&t, c, "a", why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "choose one"));
    free(c);
}

Test(pyroscope_http, classify)
{
    hs_pyroscope_result_t r;
    memset(&r, 0, sizeof r);
    static const long sent[] = {200, 202, 204};
    static const long retry[] = {408, 429, 500, 502, 503, 504, 599};
    static const long fail[] = {100, 301, 302, 307, 308, 400, 401, 403, 404, 413, 422, 600};
    for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++) {
        r.status = sent[i];
        cr_assert_eq(hs_pyroscope_http_classify(&r), HS_PYROSCOPE_SENT, "%ld", sent[i]);
    }
    for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++) {
        r.status = retry[i];
        cr_assert_eq(hs_pyroscope_http_classify(&r), HS_PYROSCOPE_RETRY, "%ld", retry[i]);
    }
    for (size_t i = 0; i < sizeof fail / sizeof fail[0]; i++) {
        r.status = fail[i];
        cr_assert_eq(hs_pyroscope_http_classify(&r), HS_PYROSCOPE_FAIL, "%ld", fail[i]);
    }
    /* Network errors are retried (connection refused, timeout), an abort at exit is not. */
    r.status = 0;
    r.curl_code = 7;
    cr_assert_eq(hs_pyroscope_http_classify(&r), HS_PYROSCOPE_RETRY);
    r.curl_code = 28;
    cr_assert_eq(hs_pyroscope_http_classify(&r), HS_PYROSCOPE_RETRY);
    int k7 = hs_pyroscope_http_kind(&r);
    r.curl_code = 42;
    cr_assert_eq(hs_pyroscope_http_classify(&r), HS_PYROSCOPE_FAIL);
    r.curl_code = 0;
    r.status = 28;
    cr_assert_neq(hs_pyroscope_http_kind(&r), k7, "curl code 28 and HTTP 28 are one kind");
}

Test(pyroscope_http, backoff_bounds)
{
    const uint64_t s = 1000000000ull;
    for (uint64_t rnd = 0; rnd < 1000; rnd += 37) {
        uint64_t d1 = hs_pyroscope_http_backoff(s, 1, 0, rnd * 7919);
        cr_assert(d1 >= s / 2 && d1 <= s, "%llu", (unsigned long long)d1);
        uint64_t d4 = hs_pyroscope_http_backoff(s, 4, 0, rnd * 7919);
        cr_assert(d4 >= 4 * s && d4 <= 8 * s, "%llu", (unsigned long long)d4);
        uint64_t d30 = hs_pyroscope_http_backoff(s, 30, 0, rnd * 7919);
        cr_assert(d30 >= 150 * s && d30 <= 300 * s, "%llu", (unsigned long long)d30);
    }
    /* Jitter: different draws, different delays. */
    cr_assert_neq(hs_pyroscope_http_backoff(s, 3, 0, 1), hs_pyroscope_http_backoff(s, 3, 0, 7777));
    /* Retry-After wins when longer, within the cap. */
    cr_assert_eq(hs_pyroscope_http_backoff(s, 1, 20, 0), 20 * s);
    cr_assert_eq(hs_pyroscope_http_backoff(s, 1, 100000, 0), 300 * s);
    uint64_t d = hs_pyroscope_http_backoff(s, 6, 1, 5);
    cr_assert(d >= 16 * s);
    /* A tiny base (short upload intervals in tests) still grows. */
    cr_assert(hs_pyroscope_http_backoff(1, 40, 0, 3) >= 150 * s);
}

Test(pyroscope_http, describe_scrubs_and_truncates)
{
    hs_config_t *c = cfg_new("http://h:1");
    snprintf(c->pyroscope_user, sizeof c->pyroscope_user, "me");
    snprintf(c->pyroscope_password, sizeof c->pyroscope_password, "pw-9876");
    snprintf(c->pyroscope_headers, sizeof c->pyroscope_headers, "X-Key=hdr-5432");
    hs_pyroscope_target_t t;
    char why[256], out[600];
    cr_assert_eq(hs_pyroscope_http_target_init(&t, c, "a", why, sizeof why), HS_OK);
    hs_pyroscope_result_t r;
    memset(&r, 0, sizeof r);
    r.status = 401;
    /* base64("me:pw-9876") = bWU6cHctOTg3Ng== */
    snprintf(r.message, sizeof r.message,
             "denied\r\n\tfor pw-9876 (bWU6cHctOTg3Ng==) with hdr-5432\x01\xff end");
    hs_pyroscope_http_describe(&t, &r, out, sizeof out);
    cr_assert_str_eq(out, "HTTP 401: denied for <hidden> (<hidden>) with <hidden>?? end");

    memset(r.message, 'x', sizeof r.message - 1);
    r.message[sizeof r.message - 1] = '\0';
    hs_pyroscope_http_describe(&t, &r, out, sizeof out);
    cr_assert_lt(strlen(out), 220);
    cr_assert(strstr(out, "xxx..."));

    r.status = 308;
    r.message[0] = '\0';
    hs_pyroscope_http_describe(&t, &r, out, sizeof out);
    cr_assert(strstr(out, "HTTP 308: a redirect, not followed"), "%s", out);

    r.status = 503;
    hs_pyroscope_http_describe(&t, &r, out, sizeof out);
    cr_assert_str_eq(out, "HTTP 503");

    r.status = 0;
    r.curl_code = 7;
    snprintf(r.curl_error, sizeof r.curl_error, "Failed to connect to h port 1");
    hs_pyroscope_http_describe(&t, &r, out, sizeof out);
    cr_assert_str_eq(out, "Failed to connect to h port 1");
    hs_pyroscope_http_target_free(&t);
    free(c);
}

Test(pyroscope_http, default_app_is_the_program_name_made_valid)
{
    char app[64], why[256];
    char *saved = program_invocation_short_name;
    program_invocation_short_name = (char *)"g++ 12:x";
    hs_pyroscope_http_default_app(app, sizeof app);
    cr_assert_str_eq(app, "g___12_x");
    cr_assert_eq(hs_pyroscope_http_check_app(app, why, sizeof why), HS_OK);
    program_invocation_short_name = (char *)"";
    hs_pyroscope_http_default_app(app, sizeof app);
    cr_assert_str_eq(app, "heapsampler");
    program_invocation_short_name = saved;
}
