/*
 * test_pyroscope_check.c - the checks against Pyroscope's grammar: application names, tags,
 * URLs, each accepted and rejected input, and reasons that never quote a credential.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyroscope_check.h"

Test(pyroscope_check, app_names)
{
    char why[512];
    const char *good[] = {"api", "my-app.v2/x_1", "A", "python3.11", NULL};
    for (int i = 0; good[i]; i++)
        cr_assert_eq(hs_pyroscope_check_app(good[i], why, sizeof why), HS_OK, "%s: %s", good[i],
                     why);
    const char *bad[] = {"", "my app", "a{b}", "a,b", "caf\xc3\xa9", "x=y", "tab\t", NULL};
    for (int i = 0; bad[i]; i++) {
        cr_assert_eq(hs_pyroscope_check_app(bad[i], why, sizeof why), HS_ERR_INVALID, "%s", bad[i]);
        cr_assert(strstr(why, "application name"), "%s", why);
    }
    char *longname = malloc(3000);
    memset(longname, 'a', 2999);
    longname[2999] = '\0';
    cr_assert_eq(hs_pyroscope_check_app(longname, why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "longer than"));
    free(longname);
}

Test(pyroscope_check, tags)
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
        cr_assert_eq(hs_pyroscope_check_tags(good[i], why, sizeof why), HS_OK, "%s: %s", good[i],
                     why);
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
        cr_assert_eq(hs_pyroscope_check_tags(bad[i].tags, why, sizeof why), HS_ERR_INVALID,
                     "\"%s\" accepted", bad[i].tags);
        cr_assert(strstr(why, bad[i].reason), "\"%s\": \"%s\" lacks \"%s\"", bad[i].tags, why,
                  bad[i].reason);
    }
    /* At most 26 tags: the server's 30 labels less its own 4. */
    char many[1024] = "";
    for (int i = 0; i < 27; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sk%d=v", i ? "," : "", i);
    cr_assert_eq(hs_pyroscope_check_tags(many, why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "more than 26"));
    *strrchr(many, ',') = '\0';
    cr_assert_eq(hs_pyroscope_check_tags(many, why, sizeof why), HS_OK, "%s", why);
}

Test(pyroscope_check, append_tag)
{
    char why[256];
    char *tags = NULL;
    cr_assert_eq(hs_pyroscope_check_append_tag(&tags, "a=1", why, sizeof why), HS_OK);
    cr_assert_eq(hs_pyroscope_check_append_tag(&tags, "b=2", why, sizeof why), HS_OK);
    cr_assert_str_eq(tags, "a=1,b=2");
    cr_assert_eq(hs_pyroscope_check_append_tag(&tags, "c=1,d=2", why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "not one K=V"));
    cr_assert_eq(hs_pyroscope_check_append_tag(&tags, "bad-name=1", why, sizeof why),
                 HS_ERR_INVALID);
    cr_assert_str_eq(tags, "a=1,b=2");
    free(tags);
}

Test(pyroscope_check, urls)
{
    char why[512];
    const char *good[] = {"http://h",          "https://profiles.example.com",
                          "http://h:4040/",    "http://10.0.0.1:4040/prefix/path",
                          "http://[::1]:4040", NULL};
    for (int i = 0; good[i]; i++)
        cr_assert_eq(hs_pyroscope_check_url(good[i], NULL, why, sizeof why), HS_OK, "%s: %s",
                     good[i], why);
    /* The parts the request is built from. */
    hs_pyroscope_url_t u;
    cr_assert_eq(hs_pyroscope_check_url("https://profiles.example.com/p", &u, why, sizeof why),
                 HS_OK);
    cr_assert(u.https);
    cr_assert_eq(u.port, 443);
    cr_assert_eq(u.host_len, 20);
    cr_assert_eq(strncmp(u.host, "profiles.example.com", u.host_len), 0);
    cr_assert_str_eq(u.path, "/p");
    cr_assert_eq(hs_pyroscope_check_url("http://[::1]:4040", &u, why, sizeof why), HS_OK);
    cr_assert(!u.https);
    cr_assert_eq(u.port, 4040);
    cr_assert_eq(u.host_len, 5, "an IPv6 host keeps its brackets");
    cr_assert_str_eq(u.path, "");
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
        cr_assert_eq(hs_pyroscope_check_url(bad[i].url, NULL, why, sizeof why), HS_ERR_INVALID,
                     "%s accepted", bad[i].url);
        cr_assert(strstr(why, bad[i].reason), "%s: \"%s\"", bad[i].url, why);
    }
    /* Credentials in the URL: refused without being quoted. */
    cr_assert_eq(hs_pyroscope_check_url("http://me:pa55word@h:1/x", NULL, why, sizeof why),
                 HS_ERR_INVALID);
    cr_assert(strstr(why, "user:password@"));
    cr_assert_null(strstr(why, "pa55word"));
}

Test(pyroscope_check, default_app_is_the_program_name_made_valid)
{
    char app[64], why[256];
    char *saved = program_invocation_short_name;
    program_invocation_short_name = (char *)"g++ 12:x";
    hs_pyroscope_check_default_app(app, sizeof app);
    cr_assert_str_eq(app, "g___12_x");
    cr_assert_eq(hs_pyroscope_check_app(app, why, sizeof why), HS_OK);
    program_invocation_short_name = (char *)"";
    hs_pyroscope_check_default_app(app, sizeof app);
    cr_assert_str_eq(app, "heapsampler");
    program_invocation_short_name = saved;
}
