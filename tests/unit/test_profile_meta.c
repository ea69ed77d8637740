/*
 * test_profile_meta.c - the metadata in a profile's comments: header and key=value tokens
 * written and read back, values that need encoding (spaces, '%', '=', control characters,
 * UTF-8), all-or-nothing appends into a full buffer, repeated keys (the last wins), and what
 * foreign or older comments leave (tokens without '=', bad keys, stray '%').
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "profile_meta.h"

static void parse(const char *const *c, size_t n, hs_profile_meta_t *m)
{
    cr_assert_eq(hs_profile_meta_parse(c, n, m), HS_OK);
}

Test(profile_meta, header_with_and_without_detail)
{
    char h1[128], h2[128];
    hs_profile_meta_header(h1, sizeof h1, "1.2.3", "exit", NULL);
    cr_assert_str_eq(h1, "heapsampler 1.2.3 (exit)");
    hs_profile_meta_header(h2, sizeof h2, "1.2.3", "memory", "85% of 128 MiB");
    cr_assert_str_eq(h2, "heapsampler 1.2.3 (memory, 85% of 128 MiB)");
    hs_profile_meta_t m;
    const char *c[] = {h2};
    parse(c, 1, &m);
    cr_assert(m.heapsampler);
    cr_assert_str_eq(m.version, "1.2.3");
    cr_assert_str_eq(m.reason, "memory");
    cr_assert_str_eq(m.detail, "85% of 128 MiB");
    hs_profile_meta_free(&m);
    const char *d[] = {h1};
    parse(d, 1, &m);
    cr_assert_str_eq(m.reason, "exit");
    cr_assert_str_eq(m.detail, "");
    hs_profile_meta_free(&m);
}

Test(profile_meta, values_round_trip)
{
    static const char *const values[] = {
        "plain",     "two words", "100%",        "a=b",
        "tab\there", "new\nline", "caf\xc3\xa9", "postgres: postgres postgres [local] idle",
        "%41",       "",          "trailing ",
    };
    char buf[1024] = "";
    char key[16];
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        cr_assert_eq(hs_profile_meta_append(buf, sizeof buf, key, values[i]), HS_OK);
    }
    cr_assert_null(strchr(buf, '\n'));
    hs_profile_meta_t m;
    const char *c[] = {buf};
    parse(c, 1, &m);
    cr_assert(!m.heapsampler);
    cr_assert_eq(m.npairs, sizeof values / sizeof *values);
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        cr_assert_str_eq(hs_profile_meta_get(&m, key), values[i], "key %s", key);
    }
    hs_profile_meta_free(&m);
}

Test(profile_meta, append_is_all_or_nothing)
{
    char buf[16] = "a=1";
    cr_assert_eq(hs_profile_meta_append(buf, sizeof buf, "key", "a long value"), HS_ERR_FULL);
    cr_assert_str_eq(buf, "a=1");
    cr_assert_eq(hs_profile_meta_append(buf, sizeof buf, "b", "22"), HS_OK);
    cr_assert_str_eq(buf, "a=1 b=22");
    /* An encoded character does not fit in part either. */
    char small[8] = "";
    cr_assert_eq(hs_profile_meta_append(small, sizeof small, "k", "ab c"), HS_ERR_FULL);
    cr_assert_str_eq(small, "");
    cr_assert_eq(hs_profile_meta_append_u64(small, sizeof small, "n", 12345), HS_OK);
    cr_assert_str_eq(small, "n=12345");
}

Test(profile_meta, numbers_and_repeated_keys)
{
    const char *c[] = {"heapsampler 0.1.0 (interval)", "rate=524288 samples=10 dropped=0", "rate=1",
                       "big=18446744073709551616 neg=-1 empty="};
    hs_profile_meta_t m;
    parse(c, 4, &m);
    uint64_t v = 0;
    cr_assert(hs_profile_meta_get_u64(&m, "rate", &v));
    cr_assert_eq(v, 1); /* the last one wins */
    cr_assert(hs_profile_meta_get_u64(&m, "samples", &v));
    cr_assert_eq(v, 10);
    cr_assert(!hs_profile_meta_get_u64(&m, "big", &v));
    cr_assert(!hs_profile_meta_get_u64(&m, "neg", &v));
    cr_assert(!hs_profile_meta_get_u64(&m, "empty", &v));
    cr_assert(!hs_profile_meta_get_u64(&m, "missing", &v));
    cr_assert_str_eq(hs_profile_meta_get(&m, "empty"), "");
    hs_profile_meta_free(&m);
}

Test(profile_meta, foreign_comments)
{
    const char *c[] = {"profiler_memory=4096 bytes",
                       "Some Text=1 with spaces",
                       "x=%zz%4 y=%00 z=%2",
                       "  lead=1  double=2 ",
                       NULL,
                       "heapsampler 9 (weird",
                       "heapsampler 0.1.0 (exit)"};
    hs_profile_meta_t m;
    parse(c, 7, &m);
    cr_assert_str_eq(hs_profile_meta_get(&m, "profiler_memory"), "4096");
    cr_assert_null(hs_profile_meta_get(&m, "Some"));
    cr_assert_null(hs_profile_meta_get(&m, "bytes"));
    cr_assert_str_eq(hs_profile_meta_get(&m, "x"), "%zz%4");
    cr_assert_str_eq(hs_profile_meta_get(&m, "y"), "%00");
    cr_assert_str_eq(hs_profile_meta_get(&m, "z"), "%2");
    cr_assert_str_eq(hs_profile_meta_get(&m, "lead"), "1");
    cr_assert_str_eq(hs_profile_meta_get(&m, "double"), "2");
    /* The first header counts; a malformed one leaves no reason. */
    cr_assert(m.heapsampler);
    cr_assert_str_eq(m.version, "9");
    cr_assert_str_eq(m.reason, "");
    hs_profile_meta_free(&m);
}
