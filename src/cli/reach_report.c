/*
 * reach_report.c - a profile's reachability scan as the analysis commands show it (see
 * reach_report.h).
 *
 * The view is two more groupings of the same profile (sites.h): the user's query with the
 * focus reach=unreferenced, and with held_by as the first label of the grouping and the focus
 * reach=referenced, whose site names are "held_by=<holder> <the site's name>". A site's
 * holders are found by that suffix. Errors come from sites.h as for any grouping: the sampling
 * error of the unreferenced estimate is the one of its rows. Single-threaded.
 */
#include "reach_report.h"

#include "pprof_file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One grouping of p, or the exit status after a message naming cmd and path. */
static int build(const char *cmd, const char *path, const hs_pprof_t *p, const hs_sites_query_t *q,
                 hs_sites_t *out)
{
    char why[256];
    hs_err_t err = hs_sites_build(p, q, out, why, sizeof why);
    if (err == HS_OK)
        return 0;
    hs_cli_error(cmd, "%s: %s", path, why);
    return err == HS_ERR_NOMEM ? HS_CLI_EXIT_FAILURE : HS_CLI_EXIT_USAGE;
}

int hs_reach_view_load(const char *cmd, const char *path, const hs_sites_query_t *q, bool holders,
                       hs_reach_view_t *v)
{
    char why[256];
    hs_pprof_t p;
    memset(v, 0, sizeof *v);
    if (hs_pprof_read_file(path, &p, why, sizeof why) != HS_OK) {
        hs_cli_error(cmd, "%s: %s", path, why);
        return HS_CLI_EXIT_USAGE;
    }
    int rc = hs_reach_view_build(cmd, path, &p, q, holders, v);
    hs_pprof_free(&p);
    return rc;
}

int hs_reach_view_build(const char *cmd, const char *path, const hs_pprof_t *p,
                        const hs_sites_query_t *q, bool holders, hs_reach_view_t *v)
{
    char why[256];
    memset(v, 0, sizeof *v);
    hs_sites_query_t uq = *q;
    if (hs_sites_add_focus(&uq, "reach=unreferenced", false, why, sizeof why) != HS_OK) {
        hs_cli_error(cmd, "%s", why);
        return HS_CLI_EXIT_USAGE;
    }
    int rc = build(cmd, path, p, &uq, &v->unref);
    if (rc)
        return rc;
    v->loaded = true;
    const char *when = hs_profile_meta_get(&v->unref.meta, "reach");
    uint64_t incomplete = 0;
    v->scanned = when != NULL;
    v->complete = v->scanned &&
                  hs_profile_meta_get_u64(&v->unref.meta, "reach.complete", &incomplete) &&
                  incomplete == 1;
    (void)hs_profile_meta_get_u64(&v->unref.meta, "reach.unscanned", &v->unscanned);
    if (!v->scanned || !holders || hs_sites_sort(&v->unref) != HS_OK)
        return 0;
    hs_sites_query_t hq = *q;
    char by[sizeof q->by_text + 32];
    snprintf(by, sizeof by, "label:held_by,%s", q->by_text[0] ? q->by_text : "function");
    if (hs_sites_parse_by(&hq, by, why, sizeof why) != HS_OK ||
        hs_sites_add_focus(&hq, "reach=referenced", false, why, sizeof why) != HS_OK) {
        hs_cli_error(cmd, "--holders: %s", why);
        return HS_CLI_EXIT_USAGE;
    }
    rc = build(cmd, path, p, &hq, &v->holders);
    if (rc)
        return rc;
    v->have_holders = true;
    if (hs_sites_sort(&v->holders) != HS_OK) {
        hs_cli_error(cmd, "out of memory");
        return HS_CLI_EXIT_FAILURE;
    }
    return 0;
}

void hs_reach_view_free(hs_reach_view_t *v)
{
    if (v->loaded)
        hs_sites_free(&v->unref);
    if (v->have_holders)
        hs_sites_free(&v->holders);
    memset(v, 0, sizeof *v);
}

const hs_site_t *hs_reach_view_unreferenced(const hs_reach_view_t *v, const char *name)
{
    if (!v->scanned)
        return NULL;
    const hs_site_t *s = hs_sites_find(&v->unref, name);
    return s && s->value != 0 ? s : NULL;
}

size_t hs_reach_view_holders(const hs_reach_view_t *v, const char *name, const hs_site_t **out,
                             const char **holder, size_t *holder_len, size_t max)
{
    size_t n = 0, len = strlen(name);
    static const char prefix[] = "held_by=";
    if (!v->have_holders)
        return 0;
    /* Sorted largest first: the first max that belong to the site. */
    for (size_t i = 0; i < v->holders.nsites && n < max; i++) {
        const hs_site_t *s = &v->holders.sites[i];
        size_t sl = strlen(s->name);
        if (s->value == 0 || strncmp(s->name, prefix, sizeof prefix - 1) != 0 || sl < len + 1 ||
            strcmp(s->name + sl - len, name) != 0 || s->name[sl - len - 1] != ' ')
            continue;
        out[n] = s;
        holder[n] = s->name + sizeof prefix - 1;
        holder_len[n] = sl - len - 1 - (sizeof prefix - 1);
        n++;
    }
    return n;
}

void hs_reach_view_describe(FILE *f, const hs_reach_view_t *v, const char *unit)
{
    char x[32], e[32];
    if (!v->scanned)
        return;
    fprintf(f, "  reachability scan: unreferenced (no pointer reaches it: lost) %s \u00b1 %s",
            hs_cli_fmt_value(x, sizeof x, v->unref.total, unit),
            hs_cli_fmt_value(e, sizeof e, sqrt(v->unref.total_variance), unit));
    if (!v->complete)
        fprintf(f,
                "; the scan stopped at its time budget (HEAPSAMPLER_REACH_BUDGET), %llu "
                "sampled blocks unclassified",
                (unsigned long long)v->unscanned);
    fprintf(f, "; referenced memory may still be garbage that other garbage points to\n");
}
