/*
 * cmd_diff.c - `heapsampler diff [OPTIONS] BASE NEW`: per site, the change between two profiles
 * with its error, largest growth first; the exit status says whether any site grew beyond
 * a threshold that also exceeds the sampling noise.
 *
 * The change's variance is the sum of the two estimates' variances. That treats the profiles
 * as independent samples, which is exact for profiles of two processes and conservative
 * (too large) for two profiles of one process, whose live samples are partly the same.
 * A site "grew" when change > max(--threshold, sigma * error); with an unknown error only the
 * threshold applies, and the output says so. Exit: 0 nothing grew, 1 something grew, 2 usage
 * or unreadable profile. Single-threaded.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "keymap.h"

#define CMD "diff"
typedef struct change {
    const char *name;
    double base, next, delta, se;
    bool grew;
} change_t;

static int cmp_change(const void *a, const void *b)
{
    const change_t *x = a, *y = b;
    if (x->delta != y->delta)
        return x->delta > y->delta ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool name_eq(const void *ctx, size_t index, const void *key)
{
    const hs_sites_t *s = ctx;
    return strcmp(s->sites[index].name, key) == 0;
}

/* Every site of either profile with a non-zero value in one of them. */
static hs_err_t changes(const hs_sites_t *b, const hs_sites_t *n, const hs_cli_opts_t *o,
                        change_t **out, size_t *count)
{
    hs_keymap_t map = {0};
    change_t *v = malloc((b->nsites + n->nsites + 1) * sizeof *v);
    if (!v)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < b->nsites; i++)
        if (hs_keymap_insert(&map, hs_hash_str(b->sites[i].name), i) != HS_OK)
            goto fail_nomem;
    size_t k = 0;
    bool *matched = calloc(b->nsites + 1, sizeof *matched);
    if (!matched)
        goto fail_nomem;
    for (size_t i = 0; i < n->nsites; i++) {
        const hs_site_t *ns = &n->sites[i];
        size_t j = hs_keymap_find(&map, hs_hash_str(ns->name), name_eq, b, ns->name);
        const hs_site_t *bs = j == HS_KEYMAP_NONE ? NULL : &b->sites[j];
        if (bs)
            matched[j] = true;
        v[k].name = ns->name;
        v[k].base = bs ? bs->value : 0;
        v[k].next = ns->value;
        v[k].se = sqrt((bs ? bs->variance : 0) + ns->variance);
        if (!bs && b->unknown_why)
            v[k].se = NAN;
        k++;
    }
    for (size_t j = 0; j < b->nsites; j++) {
        if (matched[j])
            continue;
        v[k].name = b->sites[j].name;
        v[k].base = b->sites[j].value;
        v[k].next = 0;
        v[k].se = n->unknown_why ? NAN : sqrt(b->sites[j].variance);
        k++;
    }
    free(matched);
    hs_keymap_free(&map);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (v[i].base == 0 && v[i].next == 0)
            continue;
        v[m] = v[i];
        v[m].delta = v[m].next - v[m].base;
        double bar = o->threshold;
        if (!isnan(v[m].se) && o->sigma * v[m].se > bar)
            bar = o->sigma * v[m].se;
        v[m].grew = v[m].delta > bar;
        m++;
    }
    qsort(v, m, sizeof *v, cmp_change);
    *out = v;
    *count = m;
    return HS_OK;

fail_nomem:
    hs_keymap_free(&map);
    free(v);
    return HS_ERR_NOMEM;
}

static void error_line(const hs_sites_t *b, const hs_sites_t *n, char *buf, size_t len)
{
    const char *why = b->unknown_why ? b->unknown_why : n->unknown_why;
    if (why)
        snprintf(buf, len, "sampling error unknown (%s): only --threshold applies", why);
    else
        snprintf(buf, len, "errors are 1 sigma (sampling error only)");
}

static void print_json(const hs_sites_t *b, const hs_sites_t *n, const char *bp, const char *np,
                       const change_t *v, size_t m, size_t grew, const hs_cli_opts_t *o)
{
    printf("{\"base\": ");
    hs_cli_json_string(stdout, bp);
    printf(", \"new\": ");
    hs_cli_json_string(stdout, np);
    printf(", \"type\": ");
    hs_cli_json_string(stdout, n->type);
    printf(", \"unit\": ");
    hs_cli_json_string(stdout, n->unit);
    hs_cli_json_grouping(stdout, &o->q);
    printf(", \"sigma\": ");
    hs_cli_json_number(stdout, o->sigma);
    printf(", \"threshold\": ");
    hs_cli_json_number(stdout, o->threshold);
    printf(",\n \"base_total\": ");
    hs_cli_json_number(stdout, b->total);
    printf(", \"new_total\": ");
    hs_cli_json_number(stdout, n->total);
    printf(", \"grew\": %zu,\n \"sites\": [", grew);
    size_t shown = o->top && o->top < m ? o->top : m;
    for (size_t i = 0; i < shown; i++) {
        printf("%s\n  {\"site\": ", i ? "," : "");
        hs_cli_json_string(stdout, v[i].name);
        printf(", \"base\": ");
        hs_cli_json_number(stdout, v[i].base);
        printf(", \"new\": ");
        hs_cli_json_number(stdout, v[i].next);
        printf(", \"change\": ");
        hs_cli_json_number(stdout, v[i].delta);
        printf(", \"stderr\": ");
        hs_cli_json_number(stdout, v[i].se);
        printf(", \"grew\": %s}", v[i].grew ? "true" : "false");
    }
    printf("\n]}\n");
}

static void print_table(const hs_sites_t *b, const hs_sites_t *n, const char *bp, const char *np,
                        const change_t *v, size_t m, size_t grew, const hs_cli_opts_t *o)
{
    char t[64], x[32], y[32], z[32], err[512], by[1024];
    const char *u = n->unit;
    error_line(b, n, err, sizeof err);
    printf("heapsampler diff: %s (%s) by %s; %s\n", n->type, u,
           hs_cli_grouping(&o->q, by, sizeof by), err);
    printf("  base  %s  %s  total %s \u00b1 %s\n", bp, hs_cli_fmt_time(t, sizeof t, b->time_nanos),
           hs_cli_fmt_value(x, sizeof x, b->total, u),
           hs_cli_fmt_value(y, sizeof y, sqrt(b->total_variance), u));
    printf("  new   %s  %s  total %s \u00b1 %s\n", np, hs_cli_fmt_time(t, sizeof t, n->time_nanos),
           hs_cli_fmt_value(x, sizeof x, n->total, u),
           hs_cli_fmt_value(y, sizeof y, sqrt(n->total_variance), u));
    printf("  a site grew when its change exceeds max(--threshold %s, %g sigma)\n\n",
           hs_cli_fmt_value(x, sizeof x, o->threshold, u), o->sigma);
    if (m == 0) {
        printf("  (no site holds any %s in either profile)\n", n->type);
        return;
    }
    printf("  %12s     \u00b1 1 sigma          base           new  site\n", "change");
    size_t shown = o->top && o->top < m ? o->top : m;
    const char **full = malloc((shown ? shown : 1) * sizeof *full);
    for (size_t i = 0; full && i < shown; i++)
        full[i] = v[i].name;
    char **names = full ? hs_cli_short_names(full, shown, HS_CLI_SITE_WIDTH) : NULL;
    for (size_t i = 0; i < shown; i++) {
        printf("  %12s  \u00b1 %10s  %12s  %12s  %s%s\n",
               hs_cli_fmt_change(x, sizeof x, v[i].delta, u),
               hs_cli_fmt_value(y, sizeof y, v[i].se, u),
               hs_cli_fmt_value(z, sizeof z, v[i].base, u),
               hs_cli_fmt_value(t, sizeof t, v[i].next, u), names ? names[i] : v[i].name,
               v[i].grew ? "  [grew]" : "");
    }
    free(names);
    free(full);
    if (shown < m)
        printf("  ... %zu more site%s\n", m - shown, m - shown == 1 ? "" : "s");
    printf("\n");
    if (grew == 0) {
        printf("no site grew beyond the threshold and the noise\n");
        return;
    }
    printf("%zu site%s grew:", grew, grew == 1 ? "" : "s");
    for (size_t i = 0, k = 0; i < m && k < 5; i++) {
        char name[HS_CLI_SHORT_SITE_WIDTH + 1];
        if (v[i].grew)
            printf("%s %s", k++ ? "," : "",
                   hs_sites_short_name(v[i].name, HS_CLI_SHORT_SITE_WIDTH, name, sizeof name));
    }
    printf("%s\n", grew > 5 ? ", ..." : "");
}

static int write_html(const hs_sites_t *b, const hs_sites_t *n, const char *bp, const char *np,
                      const change_t *v, size_t m, size_t grew, const hs_cli_opts_t *o)
{
    char title[1024], err[512], t[64], x[32], y[32], z[32], by[1024];
    snprintf(title, sizeof title, "heapsampler diff: %s \u2192 %s", bp, np);
    hs_html_t *h = hs_html_open(CMD, o->html, title);
    if (!h)
        return HS_CLI_EXIT_FAILURE;
    const char *u = n->unit;
    error_line(b, n, err, sizeof err);
    hs_html_text(h, "meta", "%s (%s) by %s; %s", n->type, u, hs_cli_grouping(&o->q, by, sizeof by),
                 err);
    hs_html_text(h, "meta", "base %s (%s): total %s", bp,
                 hs_cli_fmt_time(t, sizeof t, b->time_nanos),
                 hs_cli_fmt_value(x, sizeof x, b->total, u));
    hs_html_text(h, "meta", "new %s (%s): total %s", np,
                 hs_cli_fmt_time(t, sizeof t, n->time_nanos),
                 hs_cli_fmt_value(x, sizeof x, n->total, u));
    hs_html_text(h, grew ? "verdict bad" : "verdict good",
                 "%zu site%s grew beyond max(%s, %g sigma)", grew, grew == 1 ? "" : "s",
                 hs_cli_fmt_value(x, sizeof x, o->threshold, u), o->sigma);
    size_t shown = o->top && o->top < m ? o->top : m;
    const char **names = malloc((shown + 1) * sizeof *names);
    double *ch = malloc((shown + 1) * sizeof *ch), *se = malloc((shown + 1) * sizeof *se);
    bool *gr = malloc((shown + 1) * sizeof *gr);
    if (names && ch && se && gr) {
        for (size_t i = 0; i < shown; i++) {
            names[i] = v[i].name;
            ch[i] = v[i].delta;
            se[i] = v[i].se;
            gr[i] = v[i].grew;
        }
        hs_html_diff_chart(h, b, n, names, ch, se, gr, shown);
    }
    free(names);
    free(ch);
    free(se);
    free(gr);
    const char *header[] = {"change", "\u00b1 1 sigma", "base", "new", "", "site"};
    hs_html_table_begin(h, header, 6);
    for (size_t i = 0; i < shown; i++) {
        char c[32];
        const char *cells[] = {hs_cli_fmt_change(c, sizeof c, v[i].delta, u),
                               hs_cli_fmt_value(x, sizeof x, v[i].se, u),
                               hs_cli_fmt_value(y, sizeof y, v[i].base, u),
                               hs_cli_fmt_value(z, sizeof z, v[i].next, u),
                               v[i].grew ? "grew" : "",
                               v[i].name};
        hs_html_table_row(h, v[i].grew ? "grew" : NULL, cells, 6);
    }
    hs_html_table_end(h);
    return hs_html_close(h);
}

static int diff_run(const hs_cli_opts_t *opts, const char *bp, const char *np)
{
    const hs_cli_opts_t o = *opts;
    hs_sites_t b, n;
    int rc = hs_cli_load_sites(CMD, bp, &o.q, &b);
    if (rc)
        return rc;
    hs_sites_query_t nq = o.q;
    nq.type = o.q.type[0] ? o.q.type : b.type; /* the base's default is the comparison's type */
    rc = hs_cli_load_sites(CMD, np, &nq, &n);
    if (rc) {
        hs_sites_free(&b);
        return rc;
    }
    change_t *v = NULL;
    size_t m = 0;
    if (changes(&b, &n, &o, &v, &m) != HS_OK) {
        hs_cli_error(CMD, "out of memory");
        rc = HS_CLI_EXIT_FAILURE;
        goto out;
    }
    size_t grew = 0;
    for (size_t i = 0; i < m; i++)
        grew += v[i].grew;
    if (o.json)
        print_json(&b, &n, bp, np, v, m, grew, &o);
    else
        print_table(&b, &n, bp, np, v, m, grew, &o);
    rc = grew ? HS_CLI_EXIT_FOUND : 0;
    if (o.html) {
        int hrc = write_html(&b, &n, bp, np, v, m, grew, &o);
        if (hrc)
            rc = hrc;
    }
out:
    free(v);
    hs_sites_free(&b);
    hs_sites_free(&n);
    return rc;
}

static int diff_main(int argc, char **argv)
{
    hs_cli_opts_t o;
    int noperands, rc;
    hs_cli_opts_init(&o);
    if (hs_cli_parse(&hs_cli_diff_command, argc, argv, hs_cli_take_analysis, &o, &noperands, &rc)) {
        if (noperands == 2) {
            rc = diff_run(&o, argv[1], argv[2]);
        } else {
            hs_cli_error(CMD, "needs two profiles (usage: heapsampler diff [OPTIONS] BASE NEW; "
                              "see --help)");
            rc = HS_CLI_EXIT_USAGE;
        }
    }
    hs_cli_opts_free(&o);
    return rc;
}

static const hs_cli_option_t options[] = {
    HS_CLI_OPTION_TYPE,      HS_CLI_OPTION_BY,   HS_CLI_OPTION_FOCUS,
    HS_CLI_OPTION_SKIP,      HS_CLI_OPTION_TOP,  HS_CLI_OPTION_SIGMA,
    HS_CLI_OPTION_THRESHOLD, HS_CLI_OPTION_JSON, HS_CLI_OPTION_HTML,
};

const hs_cli_command_t hs_cli_diff_command = {
    .name = CMD,
    .synopsis = "[OPTIONS] BASE NEW",
    .summary = "What grew between two profiles, beyond the sampling noise.",
    .description =
        "Per call site, how a sample type (inuse_space by default) changed from the profile "
        "BASE to the profile NEW, with the change's sampling error (1 sigma: the square root of "
        "the sum of both estimates' variances), largest growth first. A site grew when its "
        "change exceeds both --threshold and K standard errors (--sigma, default 3), so that "
        "sampling noise alone does not count as growth. Exit status: 0 when no site grew, 1 "
        "when at least one did, 2 for a bad option or an unreadable or corrupt profile.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler diff before.pb.gz after.pb.gz\n"
                "  heapsampler diff base.pb.gz new.pb.gz --threshold 1M --by stack || echo grew\n",
    .main = diff_main,
};
