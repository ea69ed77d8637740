/*
 * test_labels.c - labels from their grammar to a dump's rows: keys and values accepted and
 * refused (label_spec.h), HEAPSAMPLER_LABELS parsed, label sets derived, interned and folded
 * past their bound (labels.h), thread names added to samples, the rows' labels merged with the
 * process's under a policy (row_labels.h), and an upload's sets bounded (label_budget.h).
 * Each test runs in a process of its own (Criterion), so the tables start empty.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "label_budget.h"
#include "label_spec.h"
#include "labels.h"
#include "row_labels.h"

/* ---- grammar ------------------------------------------------------------------------------ */

Test(label_spec, keys)
{
    const char *ok[] = {"endpoint", "_x", "Tenant_2", "a", "thread"};
    for (size_t i = 0; i < HS_ARRAY_LEN(ok); i++)
        cr_assert_eq(hs_label_spec_key(ok[i], NULL), HS_LABEL_OK, "%s", ok[i]);
    const char *bad[] = {"",         "2x",    "a-b",          "a.b",           "a b",
                         "__name__", "bytes", "service_name", "pyroscope_spy", "é"};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++)
        cr_assert_eq(hs_label_spec_key(bad[i], NULL), HS_LABEL_BAD, "%s", bad[i]);
    cr_assert_eq(hs_label_spec_key(NULL, NULL), HS_LABEL_BAD);
    char key[HS_LABEL_KEY_MAX + 2];
    memset(key, 'k', sizeof key);
    key[HS_LABEL_KEY_MAX] = '\0';
    cr_assert_eq(hs_label_spec_key(key, NULL), HS_LABEL_OK, "64 bytes");
    key[HS_LABEL_KEY_MAX] = 'k';
    key[HS_LABEL_KEY_MAX + 1] = '\0';
    const char *why = NULL;
    cr_assert_eq(hs_label_spec_key(key, &why), HS_LABEL_TOO_LONG, "65 bytes");
    cr_assert_not_null(why);
}

Test(label_spec, values)
{
    const char *ok[] = {"/orders", "GET /orders/{id}", "1.4.2",           "x",
                        "日本",    "a,b=c%d",          "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < HS_ARRAY_LEN(ok); i++)
        cr_assert_eq(hs_label_spec_value(ok[i], NULL), HS_LABEL_OK, "%s", ok[i]);
    /* Empty, control characters, overlong, surrogate, beyond U+10FFFF, truncated. */
    const char *bad[] = {
        "",         "a\tb", "a\nb", "\x7f", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xe6\x97", "\xff"};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++)
        cr_assert_eq(hs_label_spec_value(bad[i], NULL), HS_LABEL_BAD, "value %zu", i);
    char v[HS_LABEL_VALUE_MAX + 2];
    memset(v, 'v', sizeof v);
    v[HS_LABEL_VALUE_MAX] = '\0';
    cr_assert_eq(hs_label_spec_value(v, NULL), HS_LABEL_OK);
    v[HS_LABEL_VALUE_MAX] = 'v';
    v[HS_LABEL_VALUE_MAX + 1] = '\0';
    cr_assert_eq(hs_label_spec_value(v, NULL), HS_LABEL_TOO_LONG);
}

Test(label_spec, environment_list)
{
    hs_label_spec_t s;
    char why[256];
    cr_assert_eq(hs_label_spec_parse("", &s, why, sizeof why), HS_OK);
    cr_assert(!s.thread);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(
        hs_label_spec_parse("thread,version=1.4.2,region=eu%2Cwest%25", &s, why, sizeof why), HS_OK,
        "%s", why);
    cr_assert(s.thread);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[0], "version");
    cr_assert_str_eq(s.values[0], "1.4.2");
    cr_assert_str_eq(s.keys[1], "region");
    cr_assert_str_eq(s.values[1], "eu,west%");
    cr_assert_eq(hs_label_spec_parse("version=1=2", &s, why, sizeof why), HS_OK);
    cr_assert_str_eq(s.values[0], "1=2");

    const struct {
        const char *text, *reason;
    } bad[] = {
        {"thread,", "empty item"},
        {",a=1", "empty item"},
        {"a=1,,b=2", "empty item"},
        {"threads", "neither thread nor key=value"},
        {"a=1,a=2", "given twice"},
        {"thread,thread", "given twice"},
        {"thread,thread=x", "both"},
        {"2a=1", "a key is a letter"},
        {"a=", "empty value"},
        {"a=%2", "two hex digits"},
        {"a=%zz", "two hex digits"},
        {"a=%00", "two hex digits"},
        {"a=%0A", "control characters"},
        {"bytes=1", "reserved"},
        {"a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1", "more than 8"},
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        why[0] = '\0';
        cr_assert_eq(hs_label_spec_parse(bad[i].text, &s, why, sizeof why), HS_ERR_INVALID, "%s",
                     bad[i].text);
        cr_assert(strstr(why, bad[i].reason), "%s: %s", bad[i].text, why);
        cr_assert_eq(s.n, 0);
    }
    char longv[400] = "a=";
    memset(longv + 2, 'x', 300);
    cr_assert_eq(hs_label_spec_parse(longv, &s, why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "longer than 255"), "%s", why);
}

/* ---- sets --------------------------------------------------------------------------------- */

static uint32_t with(uint32_t base, const char *key, const char *value)
{
    uint32_t out = 0xdeadbeef;
    cr_assert_eq(hs_labels_with(base, key, value, HS_LABELS_THREAD_MAX, &out), HS_OK);
    return out;
}

static void expect(uint32_t set, const char *text)
{
    hs_label_t pairs[HS_LABELS_MAX_PAIRS];
    uint32_t n = hs_labels_get(set, pairs);
    char buf[1024] = "";
    for (uint32_t i = 0; i < n; i++) {
        size_t at = strlen(buf);
        snprintf(buf + at, sizeof buf - at, "%s%s=%s", i ? " " : "", pairs[i].key, pairs[i].value);
    }
    cr_assert_str_eq(buf, text, "set %u", set);
}

Test(labels, derived_sets_are_sorted_and_interned)
{
    cr_assert(hs_labels_valid(HS_LABELS_NONE));
    expect(HS_LABELS_NONE, "");
    uint32_t a = with(HS_LABELS_NONE, "tenant", "acme");
    uint32_t b = with(a, "endpoint", "/orders");
    expect(b, "endpoint=/orders tenant=acme");
    /* The same set reached in another order is the same id. */
    uint32_t c = with(with(HS_LABELS_NONE, "endpoint", "/orders"), "tenant", "acme");
    cr_assert_eq(b, c);
    cr_assert_neq(a, b);
    /* Replacing, removing, and the no-ops. */
    uint32_t d = with(b, "endpoint", "/users");
    expect(d, "endpoint=/users tenant=acme");
    cr_assert_eq(with(d, "endpoint", "/users"), d);
    cr_assert_eq(with(d, "endpoint", "/orders"), b);
    cr_assert_eq(with(b, "endpoint", NULL), a);
    cr_assert_eq(with(a, "nothing", NULL), a);
    cr_assert_eq(with(a, "tenant", NULL), HS_LABELS_NONE);
    /* Strings are copied: the caller's buffer may change. */
    char value[16] = "v1";
    uint32_t e = with(HS_LABELS_NONE, "version", value);
    strcpy(value, "v2");
    expect(e, "version=v1");
    cr_assert(hs_labels_valid(e));
    cr_assert(!hs_labels_valid(12345));
    cr_assert(!hs_labels_valid(HS_LABELS_OTHER_BIT | 7));
    hs_labels_stats_t st;
    hs_labels_get_stats(&st);
    cr_assert_eq(st.sets, 5); /* a, b, endpoint=/orders, d, e */
    cr_assert_eq(st.folds, 0);
}

Test(labels, pairs_are_bounded)
{
    uint32_t set = HS_LABELS_NONE;
    char key[8];
    for (int i = 0; i < HS_LABELS_THREAD_MAX; i++) {
        snprintf(key, sizeof key, "k%d", i);
        set = with(set, key, "v");
    }
    uint32_t out = 77;
    cr_assert_eq(hs_labels_with(set, "k9", "v", HS_LABELS_THREAD_MAX, &out), HS_ERR_FULL);
    cr_assert_eq(out, 77, "nothing made");
    /* A key it has may still change; the sample path may add beyond the thread's bound. */
    cr_assert_eq(hs_labels_with(set, "k0", "w", HS_LABELS_THREAD_MAX, &out), HS_OK);
    cr_assert_eq(hs_labels_with(set, "k9", "v", HS_LABELS_MAX_PAIRS, &out), HS_OK);
    hs_label_t pairs[HS_LABELS_MAX_PAIRS];
    cr_assert_eq(hs_labels_get(out, pairs), HS_LABELS_THREAD_MAX + 1);
}

Test(labels, sets_beyond_the_bound_are_folded)
{
    hs_labels_configure(16, NULL);
    char value[16];
    uint32_t last = 0;
    for (int i = 0; i < 16; i++) {
        snprintf(value, sizeof value, "/e%d", i);
        last = with(HS_LABELS_NONE, "endpoint", value);
        cr_assert_eq(last & HS_LABELS_OTHER_BIT, 0);
    }
    /* The 17th set: the same keys, values "other"; every later new set the same one. */
    uint32_t f1 = with(HS_LABELS_NONE, "endpoint", "/new1");
    uint32_t f2 = with(HS_LABELS_NONE, "endpoint", "/new2");
    cr_assert_neq(f1 & HS_LABELS_OTHER_BIT, 0);
    cr_assert_eq(f1, f2);
    expect(f1, "endpoint=other");
    uint32_t f3 = with(f1, "tenant", "acme");
    expect(f3, "endpoint=other tenant=other");
    /* Sets made before the bound are still found. */
    cr_assert_eq(with(HS_LABELS_NONE, "endpoint", "/e15"), last);
    hs_labels_stats_t st;
    hs_labels_get_stats(&st);
    cr_assert_eq(st.sets, 16);
    cr_assert_eq(st.max_sets, 16);
    cr_assert_eq(st.folded, 2);
    cr_assert_eq(st.folds, 3);
    /* Folding a set on purpose (uploads) neither counts nor needs room in the table. */
    cr_assert_eq(hs_labels_other(last), f1);
    cr_assert_eq(hs_labels_other(f3), f3);
    cr_assert_eq(hs_labels_other(HS_LABELS_NONE), HS_LABELS_NONE);
    hs_labels_get_stats(&st);
    cr_assert_eq(st.folds, 3);
}

static void *thread_sets(void *arg)
{
    uint32_t *out = arg;
    char value[32];
    for (int i = 0; i < 200; i++) {
        snprintf(value, sizeof value, "v%d", i % 50);
        uint32_t id;
        cr_assert_eq(hs_labels_with(HS_LABELS_NONE, "k", value, HS_LABELS_THREAD_MAX, &id), HS_OK);
        out[i] = id;
    }
    return NULL;
}

Test(labels, threads_get_the_same_ids)
{
    uint32_t ids[4][200];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, thread_sets, ids[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 200; i++)
        for (int k = 1; k < 4; k++)
            cr_assert_eq(ids[k][i], ids[0][i]);
    hs_labels_stats_t st;
    hs_labels_get_stats(&st);
    cr_assert_eq(st.sets, 50);
}

Test(labels, thread_names)
{
    hs_label_spec_t spec;
    cr_assert_eq(hs_label_spec_parse("thread,version=2", &spec, NULL, 0), HS_OK);
    hs_labels_configure(1024, &spec);
    cr_assert_eq(prctl(PR_SET_NAME, "worker-1", 0, 0, 0), 0);
    uint32_t base = with(HS_LABELS_NONE, "endpoint", "/orders");
    uint32_t s1 = hs_labels_sample(base);
    expect(s1, "endpoint=/orders thread=worker-1");
    cr_assert_eq(hs_labels_sample(base), s1, "cached");
    cr_assert_eq(prctl(PR_SET_NAME, "worker-2", 0, 0, 0), 0);
    expect(hs_labels_sample(base), "endpoint=/orders thread=worker-2");
    expect(hs_labels_sample(HS_LABELS_NONE), "thread=worker-2");
    /* A thread's own `thread` label wins; a name that is no valid value is cleaned. */
    uint32_t own = with(base, "thread", "mine");
    cr_assert_eq(hs_labels_sample(own), own);
    cr_assert_eq(prctl(PR_SET_NAME, "bad\tname\xff", 0, 0, 0), 0);
    expect(hs_labels_sample(HS_LABELS_NONE), "thread=bad?name?");
    /* The process's labels are not in the sets: exporters add them. */
    size_t n;
    const hs_label_t *proc = hs_labels_process(&n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(proc[0].key, "version");
    cr_assert_str_eq(proc[0].value, "2");
}

Test(labels, thread_names_off_by_default)
{
    uint32_t base = with(HS_LABELS_NONE, "endpoint", "/orders");
    cr_assert_eq(hs_labels_sample(base), base);
    cr_assert_eq(hs_labels_sample(HS_LABELS_NONE), HS_LABELS_NONE);
}

/* ---- rows of a dump ----------------------------------------------------------------------- */

static void expect_row(const hs_label_t *pairs, uint32_t n, const char *text)
{
    char buf[1024] = "";
    for (uint32_t i = 0; i < n; i++) {
        size_t at = strlen(buf);
        snprintf(buf + at, sizeof buf - at, "%s%s=%s", i ? " " : "", pairs[i].key, pairs[i].value);
    }
    cr_assert_str_eq(buf, text);
}

Test(row_labels, sets_with_the_process_labels)
{
    hs_label_spec_t spec;
    cr_assert_eq(hs_label_spec_parse("version=1.4.2,zone=a,endpoint=any", &spec, NULL, 0), HS_OK);
    hs_labels_configure(1024, &spec);
    uint32_t set = with(with(HS_LABELS_NONE, "endpoint", "/orders"), "tenant", "acme");
    hs_row_labels_t c;
    hs_row_labels_init(&c, NULL);
    const hs_label_t *pairs, *again;
    uint32_t n;
    cr_assert_eq(hs_row_labels_resolve(&c, set, NULL, 0, &pairs, &n), HS_OK);
    expect_row(pairs, n, "endpoint=/orders tenant=acme version=1.4.2 zone=a");
    cr_assert_eq(hs_row_labels_resolve(&c, set, NULL, 0, &again, &n), HS_OK);
    cr_assert_eq(again, pairs, "one resolution per set");
    cr_assert_eq(hs_row_labels_resolve(&c, HS_LABELS_NONE, NULL, 0, &pairs, &n), HS_OK);
    expect_row(pairs, n, "endpoint=any version=1.4.2 zone=a");
    /* Extra pairs (the dump's own) win over the set's. */
    const hs_label_t extra[] = {{"reach", "unreferenced"}, {"tenant", "dump"}};
    cr_assert_eq(hs_row_labels_resolve(&c, set, extra, 2, &pairs, &n), HS_OK);
    expect_row(pairs, n, "endpoint=/orders reach=unreferenced tenant=dump version=1.4.2 zone=a");
    cr_assert_eq(c.trimmed, 0);
    hs_row_labels_free(&c);
}

Test(row_labels, policy_drops_and_bounds)
{
    hs_label_spec_t spec;
    cr_assert_eq(hs_label_spec_parse("version=1.4.2,zone=a", &spec, NULL, 0), HS_OK);
    hs_labels_configure(1024, &spec);
    uint32_t set =
        with(with(with(HS_LABELS_NONE, "endpoint", "/orders"), "tenant", "acme"), "region", "eu");
    const char *drop[] = {"region"};
    hs_row_labels_policy_t policy = {.drop = drop, .ndrop = 1, .max = 3};
    hs_row_labels_t c;
    hs_row_labels_init(&c, &policy);
    const hs_label_t *pairs;
    uint32_t n;
    /* region dropped by name; of the four left, the process's labels go first. */
    cr_assert_eq(hs_row_labels_resolve(&c, set, NULL, 0, &pairs, &n), HS_OK);
    expect_row(pairs, n, "endpoint=/orders tenant=acme version=1.4.2");
    cr_assert_eq(c.trimmed, 1);
    hs_row_labels_free(&c);

    policy.max = 1;
    hs_row_labels_init(&c, &policy);
    cr_assert_eq(hs_row_labels_resolve(&c, set, NULL, 0, &pairs, &n), HS_OK);
    expect_row(pairs, n, "endpoint=/orders");
    hs_row_labels_free(&c);

    policy.max = 0; /* no labels at all, and no complaint */
    hs_row_labels_init(&c, &policy);
    cr_assert_eq(hs_row_labels_resolve(&c, set, NULL, 0, &pairs, &n), HS_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(pairs);
    cr_assert_eq(c.trimmed, 0);
    hs_row_labels_free(&c);
}

/* ---- an upload's sets --------------------------------------------------------------------- */

Test(label_budget, heaviest_sets_keep_their_labels)
{
    uint32_t e[5];
    char value[16];
    for (int i = 0; i < 5; i++) {
        snprintf(value, sizeof value, "/e%d", i);
        e[i] = with(HS_LABELS_NONE, "endpoint", value);
    }
    /* Exact mode: bytes = size * count. /e3 holds the most memory, /e1 allocated the most,
     * /e0 little of both; /e4 has nothing in this window; one row has no labels. */
    hs_snapshot_row_t rows[] = {
        {0, 100, 1, 1, e[0]},    {0, 1000, 50, 0, e[1]}, {1, 1000, 1, 1, e[2]},
        {1, 4096, 10, 10, e[3]}, {2, 64, 0, 0, e[4]},    {2, 64, 3, 3, HS_LABELS_NONE},
        {3, 4096, 5, 5, e[3]},
    };
    hs_snapshot_t snap = {.rate = 1, .rows = rows, .nrows = HS_ARRAY_LEN(rows)};
    size_t folded = 99;
    cr_assert_eq(hs_label_budget_apply(&snap, 8, &folded), HS_OK);
    cr_assert_eq(folded, 0, "within the bound: nothing changes");
    cr_assert_eq(rows[0].labels, e[0]);

    cr_assert_eq(hs_label_budget_apply(&snap, 2, &folded), HS_OK);
    cr_assert_eq(folded, 2);
    uint32_t other = hs_labels_other(e[0]);
    cr_assert_neq(other, HS_LABELS_NONE);
    expect(other, "endpoint=other");
    cr_assert_eq(rows[0].labels, other);
    cr_assert_eq(rows[1].labels, e[1]);
    cr_assert_eq(rows[2].labels, other);
    cr_assert_eq(rows[3].labels, e[3]);
    cr_assert_eq(rows[4].labels, e[4], "a row that does not count is left alone");
    cr_assert_eq(rows[5].labels, HS_LABELS_NONE);
    cr_assert_eq(rows[6].labels, e[3]);

    /* Bound 0: no labels at all. */
    cr_assert_eq(hs_label_budget_apply(&snap, 0, &folded), HS_OK);
    for (size_t i = 0; i < HS_ARRAY_LEN(rows); i++)
        if (i != 4)
            cr_assert_eq(rows[i].labels, HS_LABELS_NONE, "row %zu", i);
}
