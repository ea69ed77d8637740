/*
 * rss_growth.c - the part that explains RSS growth (see rss_growth.h).
 *
 * Significance: a part grows when its least-squares slope exceeds sigma standard errors (the
 * trend's own error: sampling variance where the part is sampled, the observed scatter
 * otherwise). Among the parts that grow, the one with the largest slope explains the growth;
 * share is its slope over RSS's (parts add up to RSS at every point, so their slopes add up to
 * RSS's slope).
 */
#include "rss_growth.h"

#include <string.h>

static bool grows(const hs_trend_t *t, double sigma)
{
    return t->slope > 0 && t->slope > sigma * t->slope_se;
}

void hs_rss_growth(const hs_series_t *s, double sigma, hs_rss_growth_t *out)
{
    memset(out, 0, sizeof *out);
    out->explains = HS_PART_RSS;
    if (!s->parts_known || s->npoints < 3)
        return;
    out->known = true;
    const hs_trend_t *rss = &s->part_trend[HS_PART_RSS];
    out->growing = grows(rss, sigma);
    if (!out->growing)
        return;
    double best = 0;
    for (int k = HS_PART_HEAP; k < HS_NPARTS; k++) {
        const hs_trend_t *t = &s->part_trend[k];
        if (grows(t, sigma) && t->slope > best) {
            best = t->slope;
            out->explains = (hs_series_part_t)k;
        }
    }
    out->share = rss->slope > 0 ? best / rss->slope : 0;
}

const char *hs_rss_growth_advice(const hs_rss_growth_t *g, const char *allocator)
{
    if (!g->known || !g->growing)
        return "";
    bool glibc = allocator && strcmp(allocator, "glibc") == 0;
    switch (g->explains) {
    case HS_PART_HEAP:
        return "the heap grows: see the leak suspects below";
    case HS_PART_FREE:
        return glibc ? "memory the allocator keeps after free grows while the heap does not: "
                       "fragmentation, not a leak (glibc keeps freed memory in its arenas: "
                       "MALLOC_ARENA_MAX=2 limits the arenas of many threads, malloc_trim(0) "
                       "gives free memory back)"
                     : "memory the allocator keeps after free grows while the heap does not: "
                       "fragmentation, not a leak (see the allocator's options for returning "
                       "free memory)";
    case HS_PART_MMAP:
        return "the program's direct mappings grow: their sites are the rows labelled "
               "allocator=mmap (--focus allocator=mmap)";
    case HS_PART_UNATTRIBUTED:
        return "memory outside the heap, the allocator and the sampled mappings grows (a private "
               "allocator on raw system calls, reservations made writable with mprotect): the "
               "profile does not see it";
    case HS_PART_FILE:
        return "file-backed and shared pages grow (mapped files, shared memory)";
    case HS_PART_STACKS:
        return "thread stacks grow: threads that do not end, or that use ever more stack";
    case HS_PART_PROFILER:
        return "the profiler's own memory grows";
    default:
        return "no single part explains the growth beyond its error";
    }
}
