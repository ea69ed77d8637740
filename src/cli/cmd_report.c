/*
 * cmd_report.c - `heapsampler report [OPTIONS] FILE`: the top sites of one profile by a sample
 * type, each estimate with its sampling error (1 sigma), as a table, JSON or HTML.
 *
 * The error column comes from sites.h; when a profile lacks what the error needs (a "bytes"
 * label per row, a space/bytes period) the header says why and the column shows "?": the
 * report never invents an error. Sites whose value is 0 are left out. Single-threaded.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "pprof_file.h"
#include "reach_report.h"

#define CMD           "report"
#define HOLDERS_SHOWN 3

/* report's flags: the shared ones and --holders. */
typedef struct report_args {
    hs_cli_opts_t o;
    bool holders;
} report_args_t;

enum { OPT_HOLDERS = HS_CLI_OPT_OWN };

static hs_err_t take(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                     size_t why_len)
{
    report_args_t *a = ctx;
    if (opt->id == OPT_HOLDERS) {
        a->holders = true;
        return HS_OK;
    }
    return hs_cli_take_analysis(&a->o, opt, value, why, why_len);
}

/* Is the reachability scan worth a column: the profile has one and the type is in use. */
static bool reach_shown(const hs_sites_t *s, const hs_reach_view_t *v)
{
    return v->scanned && strncmp(s->type, "inuse_", 6) == 0;
}
/* The header lines every output shares: what the numbers are and how good they are. */
static void describe_error(const hs_sites_t *s, char *buf, size_t len)
{
    char rate[32];
    if (s->unknown_why)
        snprintf(buf, len, "sampling error unknown: %s", s->unknown_why);
    else if (s->period == 1)
        snprintf(buf, len, "every allocation recorded (period 1): no sampling error");
    else
        snprintf(buf, len, "sampled every %s on average; errors are 1 sigma (sampling error only)",
                 hs_cli_fmt_value(rate, sizeof rate, (double)s->period, "bytes"));
}

/* "  written for: memory (85% of 128 MiB); memory limit 128 MiB (cgroup v1), ..." when the
 * profile says why it was written. */
static void print_origin(const hs_sites_t *s)
{
    hs_sites_origin_t o;
    char why[256], mem[256];
    hs_sites_origin(s, &o);
    if (!o.reason[0])
        return;
    hs_cli_fmt_memory(mem, sizeof mem, &o);
    printf("  written for: %s%s%s\n", hs_cli_fmt_reason(why, sizeof why, &o), mem[0] ? "; " : "",
           mem);
}

static size_t shown_sites(const hs_sites_t *s, size_t top)
{
    size_t n = 0;
    while (n < s->nsites && s->sites[n].value != 0 && (top == 0 || n < top))
        n++;
    return n;
}

static void print_json(const hs_sites_t *s, const char *path, const hs_cli_opts_t *o,
                       const hs_reach_view_t *v)
{
    bool reach = reach_shown(s, v);
    printf("{\"file\": ");
    hs_cli_json_string(stdout, path);
    printf(", \"type\": ");
    hs_cli_json_string(stdout, s->type);
    printf(", \"unit\": ");
    hs_cli_json_string(stdout, s->unit);
    hs_cli_json_grouping(stdout, &o->q);
    printf(", \"period\": ");
    hs_cli_json_number(stdout, (double)s->period);
    printf(", \"time_nanos\": %lld", (long long)s->time_nanos);
    hs_sites_origin_t origin;
    hs_sites_origin(s, &origin);
    hs_cli_json_origin(stdout, &origin);
    printf(", \"error_unknown\": ");
    if (s->unknown_why)
        hs_cli_json_string(stdout, s->unknown_why);
    else
        printf("null");
    hs_breakdown_t b;
    hs_breakdown_read(&s->meta, &b);
    hs_cli_json_breakdown(stdout, &b);
    printf(",\n \"total\": ");
    hs_cli_json_number(stdout, s->total);
    printf(", \"total_stderr\": ");
    hs_cli_json_number(stdout, sqrt(s->total_variance));
    printf(",\n \"sites\": [");
    size_t n = shown_sites(s, o->top);
    for (size_t i = 0; i < n; i++) {
        const hs_site_t *site = &s->sites[i];
        printf("%s\n  {\"site\": ", i ? "," : "");
        hs_cli_json_string(stdout, site->name);
        printf(", \"value\": ");
        hs_cli_json_number(stdout, site->value);
        printf(", \"stderr\": ");
        hs_cli_json_number(stdout, sqrt(site->variance));
        printf(", \"rows\": %zu", site->nrows);
        if (reach) {
            const hs_site_t *u = hs_reach_view_unreferenced(v, site->name);
            printf(", \"unreferenced\": ");
            hs_cli_json_number(stdout, u ? u->value : 0);
            printf(", \"unreferenced_stderr\": ");
            hs_cli_json_number(stdout, u ? sqrt(u->variance) : 0);
            const hs_site_t *h[HOLDERS_SHOWN];
            const char *hn[HOLDERS_SHOWN];
            size_t hl[HOLDERS_SHOWN];
            size_t nh = hs_reach_view_holders(v, site->name, h, hn, hl, HOLDERS_SHOWN);
            if (v->have_holders) {
                printf(", \"holders\": [");
                for (size_t k = 0; k < nh; k++) {
                    char name[512];
                    snprintf(name, sizeof name, "%.*s", (int)hl[k], hn[k]);
                    printf("%s{\"held_by\": ", k ? ", " : "");
                    hs_cli_json_string(stdout, name);
                    printf(", \"value\": ");
                    hs_cli_json_number(stdout, h[k]->value);
                    printf("}");
                }
                printf("]");
            }
        }
        printf("}");
    }
    printf("\n]");
    if (reach) {
        printf(", \"unreferenced\": ");
        hs_cli_json_number(stdout, v->unref.total);
        printf(", \"unreferenced_stderr\": ");
        hs_cli_json_number(stdout, sqrt(v->unref.total_variance));
        printf(", \"reach_complete\": %s", v->complete ? "true" : "false");
    }
    printf("}\n");
}

static int write_html(const hs_sites_t *s, const char *path, const hs_cli_opts_t *o)
{
    char title[512], err[512], t[64], v[32], e[32], by[1024];
    snprintf(title, sizeof title, "heapsampler report: %s", path);
    hs_html_t *h = hs_html_open(CMD, o->html, title);
    if (!h)
        return HS_CLI_EXIT_FAILURE;
    describe_error(s, err, sizeof err);
    hs_html_text(h, "meta", "%s (%s) by %s, %s", s->type, s->unit,
                 hs_cli_grouping(&o->q, by, sizeof by),
                 hs_cli_fmt_time(t, sizeof t, s->time_nanos));
    hs_html_text(h, "meta", "%s", err);
    hs_html_text(h, "meta", "total %s \u00b1 %s", hs_cli_fmt_value(v, sizeof v, s->total, s->unit),
                 hs_cli_fmt_value(e, sizeof e, sqrt(s->total_variance), s->unit));
    hs_breakdown_t b;
    hs_breakdown_read(&s->meta, &b);
    hs_cli_html_breakdown(h, &b);
    hs_html_report_chart(h, s, o->top ? o->top : 20);
    const char *header[] = {s->type, "\u00b1 1 sigma", "share", "site"};
    hs_html_table_begin(h, header, 4);
    size_t n = shown_sites(s, o->top);
    for (size_t i = 0; i < n; i++) {
        char share[16];
        const hs_site_t *site = &s->sites[i];
        snprintf(share, sizeof share, "%.1f%%", s->total ? 100 * site->value / s->total : 0);
        const char *cells[] = {hs_cli_fmt_value(v, sizeof v, site->value, s->unit),
                               hs_cli_fmt_value(e, sizeof e, sqrt(site->variance), s->unit), share,
                               site->name};
        hs_html_table_row(h, NULL, cells, 4);
    }
    hs_html_table_end(h);
    return hs_html_close(h);
}

static void print_table(const hs_sites_t *s, const char *path, const hs_cli_opts_t *o,
                        const hs_reach_view_t *rv)
{
    bool reach = reach_shown(s, rv);
    char t[64], v[32], e[32], err[512], by[1024];
    describe_error(s, err, sizeof err);
    printf("heapsampler report: %s\n", path);
    printf("  %s (%s) by %s, %s\n", s->type, s->unit, hs_cli_grouping(&o->q, by, sizeof by),
           hs_cli_fmt_time(t, sizeof t, s->time_nanos));
    print_origin(s);
    hs_breakdown_t b;
    hs_breakdown_read(&s->meta, &b);
    hs_cli_print_breakdown(stdout, &b);
    printf("  %s\n", err);
    if (s->skip_recorded && !s->skip_error[0])
        printf("  allocation functions of the program (HEAPSAMPLER_SKIP): %s\n", s->skip_recorded);
    if (reach)
        hs_reach_view_describe(stdout, rv, s->unit);
    size_t nonzero = 0;
    for (size_t i = 0; i < s->nsites; i++)
        nonzero += s->sites[i].value != 0;
    printf("  total %s \u00b1 %s in %zu site%s\n\n",
           hs_cli_fmt_value(v, sizeof v, s->total, s->unit),
           hs_cli_fmt_value(e, sizeof e, sqrt(s->total_variance), s->unit), nonzero,
           nonzero == 1 ? "" : "s");
    if (nonzero == 0) {
        printf("  (no site holds any %s)\n", s->type);
        return;
    }
    if (reach)
        printf("  %12s     \u00b1 1 sigma   share  %12s     \u00b1 1 sigma  site\n", s->type,
               "unreferenced");
    else
        printf("  %12s     \u00b1 1 sigma   share  site\n", s->type);
    size_t n = shown_sites(s, o->top);
    double rest = s->total;
    const char **full = malloc((n ? n : 1) * sizeof *full);
    for (size_t i = 0; full && i < n; i++)
        full[i] = s->sites[i].name;
    char **names = full ? hs_cli_short_names(full, n, HS_CLI_SITE_WIDTH) : NULL;
    for (size_t i = 0; i < n; i++) {
        const hs_site_t *site = &s->sites[i];
        char uv[32], ue[32];
        hs_cli_fmt_value(uv, sizeof uv, 0, s->unit);
        hs_cli_fmt_value(ue, sizeof ue, 0, s->unit);
        rest -= site->value;
        if (reach) {
            const hs_site_t *u = hs_reach_view_unreferenced(rv, site->name);
            if (u) {
                hs_cli_fmt_value(uv, sizeof uv, u->value, s->unit);
                hs_cli_fmt_value(ue, sizeof ue, sqrt(u->variance), s->unit);
            }
            printf("  %12s  \u00b1 %10s  %5.1f%%  %12s  \u00b1 %10s  %s\n",
                   hs_cli_fmt_value(v, sizeof v, site->value, s->unit),
                   hs_cli_fmt_value(e, sizeof e, sqrt(site->variance), s->unit),
                   s->total ? 100 * site->value / s->total : 0.0, uv, ue,
                   names ? names[i] : site->name);
        } else {
            printf("  %12s  \u00b1 %10s  %5.1f%%  %s\n",
                   hs_cli_fmt_value(v, sizeof v, site->value, s->unit),
                   hs_cli_fmt_value(e, sizeof e, sqrt(site->variance), s->unit),
                   s->total ? 100 * site->value / s->total : 0.0, names ? names[i] : site->name);
        }
        const hs_site_t *h[HOLDERS_SHOWN];
        const char *hn[HOLDERS_SHOWN];
        size_t hl[HOLDERS_SHOWN];
        size_t nh = reach ? hs_reach_view_holders(rv, site->name, h, hn, hl, HOLDERS_SHOWN) : 0;
        for (size_t k = 0; k < nh; k++)
            printf("  %12s  held by %.*s\n", hs_cli_fmt_value(v, sizeof v, h[k]->value, s->unit),
                   (int)hl[k], hn[k]);
    }
    free(names);
    free(full);
    if (n < nonzero)
        printf("  ... %zu more site%s %s (%.1f%%)\n", nonzero - n,
               nonzero - n == 1 ? " holds" : "s hold", hs_cli_fmt_value(v, sizeof v, rest, s->unit),
               s->total ? 100 * rest / s->total : 0.0);
}

static int report_run(const report_args_t *args, const char *path)
{
    const hs_cli_opts_t o = args->o;
    int rc;
    hs_sites_t s;
    hs_pprof_t p;
    char why[256];
    /* Read once: the reachability view groups the same profile again (and "-" is a pipe). */
    if (hs_pprof_read_file(path, &p, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "%s: %s", path, why);
        return HS_CLI_EXIT_USAGE;
    }
    hs_err_t err = hs_sites_build(&p, &o.q, &s, why, sizeof why);
    if (err != HS_OK) {
        hs_pprof_free(&p);
        hs_cli_error(CMD, "%s: %s", path, why);
        return err == HS_ERR_NOMEM ? HS_CLI_EXIT_FAILURE : HS_CLI_EXIT_USAGE;
    }
    hs_cli_skip_warning(CMD, path, &s);
    if (hs_sites_sort(&s) != HS_OK) {
        hs_pprof_free(&p);
        hs_sites_free(&s);
        hs_cli_error(CMD, "out of memory");
        return HS_CLI_EXIT_FAILURE;
    }
    hs_reach_view_t rv;
    rc = hs_reach_view_build(CMD, path, &p, &o.q, args->holders, &rv);
    hs_pprof_free(&p);
    if (rc) {
        hs_sites_free(&s);
        return rc;
    }
    if (args->holders && !rv.scanned)
        hs_cli_error(CMD,
                     "%s: --holders: the profile has no reachability scan (written with "
                     "HEAPSAMPLER_REACH=off, or not at exit)",
                     path);
    if (o.json)
        print_json(&s, path, &o, &rv);
    else
        print_table(&s, path, &o, &rv);
    if (o.html)
        rc = write_html(&s, path, &o);
    hs_reach_view_free(&rv);
    hs_sites_free(&s);
    return rc;
}

static int report_main(int argc, char **argv)
{
    report_args_t a = {.holders = false};
    int noperands, rc;
    hs_cli_opts_init(&a.o);
    if (hs_cli_parse(&hs_cli_report_command, argc, argv, take, &a, &noperands, &rc)) {
        if (noperands == 1) {
            rc = report_run(&a, argv[1]);
        } else {
            hs_cli_error(CMD, "%s (usage: heapsampler report [OPTIONS] FILE; see --help)",
                         noperands ? "one profile at a time" : "no profile given");
            rc = HS_CLI_EXIT_USAGE;
        }
    }
    hs_cli_opts_free(&a.o);
    return rc;
}

static const hs_cli_option_t options[] = {
    HS_CLI_OPTION_TYPE,
    HS_CLI_OPTION_BY,
    HS_CLI_OPTION_FOCUS,
    HS_CLI_OPTION_SKIP,
    HS_CLI_OPTION_TOP,
    {.name = "holders",
     .arg = HS_CLI_SWITCH,
     .id = OPT_HOLDERS,
     .help = "under each site, the largest holders of its referenced memory (held_by: "
             "global:<symbol>, stack, heap:<function>, heap, mmap), from the profile's "
             "reachability scan"},
    HS_CLI_OPTION_JSON,
    HS_CLI_OPTION_HTML,
};

const hs_cli_command_t hs_cli_report_command = {
    .name = CMD,
    .synopsis = "[OPTIONS] FILE",
    .summary = "Top call sites of a profile, each estimate with its error.",
    .description =
        "The call sites of one pprof profile (heapsampler's, Go's, any heap profile; gzip, zstd "
        "or plain; - reads standard input) that hold the most memory, largest first. Each "
        "estimate comes with its sampling error, one standard error (1 sigma): the variance of "
        "a sampled allocation of size s is s^2 (1-p)/p with p = 1 - exp(-s/period). A profile "
        "without the allocation size of its rows (a numeric \"bytes\" label) or without a "
        "sampling period has no known error; the report says so. A site is named after the "
        "first frame that is not an allocation function: the malloc family, operator new, the "
        "wrappers of well-known programs (redis zmalloc, nginx ngx_palloc, CPython PyMem_*, "
        "PostgreSQL palloc, GLib g_malloc, xmalloc, ...), what --skip adds and what the "
        "program recorded with HEAPSAMPLER_SKIP. When the profile carries a reachability scan "
        "(the exit profile, by default), an in-use report adds the unreferenced memory of each "
        "site: what no pointer reaches any more, lost. Exit status: 0, or 2 for a bad option "
        "or an unreadable or corrupt profile.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler report heapsampler.4242.0011.pb.gz\n"
                "  heapsampler report heap.pb.gz --type alloc_space --by stack --top 5\n"
                "  heapsampler report heap.pb.gz --by label:endpoint,function --focus tenant=acme\n"
                "  heapsampler report heapsampler.4242.0012.pb.gz --holders\n",
    .main = report_main,
};
