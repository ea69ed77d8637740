/*
 * reach_report.h - what the analysis commands show of a profile's reachability scan (the
 * library's HEAPSAMPLER_REACH; README.md "Lost or held"): per site, the memory no pointer
 * reaches (rows labelled reach=unreferenced) with its sampling error, and what holds the rest
 * (held_by= of the rows labelled reach=referenced). `report` adds a column and --holders,
 * `leaks` the unreferenced share of each leak suspect, `check --max-unreferenced` a gate.
 */
#ifndef HS_REACH_REPORT_H
#define HS_REACH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "analysis.h"

typedef struct hs_reach_view {
    bool loaded;   /* unref holds a grouping (to free) */
    bool scanned;  /* the profile carries a scan (its reach= comment) */
    bool complete; /* the scan ran to its end (else some blocks are unclassified) */
    uint64_t unscanned;
    hs_sites_t unref; /* the query's sites, only the samples labelled reach=unreferenced */
    bool have_holders;
    hs_sites_t holders; /* grouped by held_by first, only reach=referenced */
} hs_reach_view_t;

/*
 * Load the view of the profile at path for query q (its type, grouping and focus), with the
 * holders when asked. 0, or the exit status after a message naming cmd. A profile without a
 * scan loads as scanned = false (and nothing else).
 */
int hs_reach_view_load(const char *cmd, const char *path, const hs_sites_query_t *q, bool holders,
                       hs_reach_view_t *v);
/* The same on a profile already read (path names it in messages). */
int hs_reach_view_build(const char *cmd, const char *path, const hs_pprof_t *p,
                        const hs_sites_query_t *q, bool holders, hs_reach_view_t *v);
void hs_reach_view_free(hs_reach_view_t *v);

/* The unreferenced part of site `name` (NULL: none of it). */
const hs_site_t *hs_reach_view_unreferenced(const hs_reach_view_t *v, const char *name);

/*
 * The largest holders of site `name`, at most max, largest first: out[i] is the holder's
 * site and holder[i] points at its held_by value inside the site's name (up to the space).
 */
size_t hs_reach_view_holders(const hs_reach_view_t *v, const char *name, const hs_site_t **out,
                             const char **holder, size_t *holder_len, size_t max);

/* "  reachability scan at exit: ..." (one line, nothing when the profile has no scan). */
void hs_reach_view_describe(FILE *f, const hs_reach_view_t *v, const char *unit);

#endif
