/*
 * rss_growth.h - which part of the resident set explains its growth over a series (series.h,
 * parts of RSS per point): the whole process's RSS is fitted like the heap, and each part's
 * growth is compared with it, with errors. A part explains the growth when it grows
 * significantly (its slope above sigma times its error) and most of all the parts.
 *
 *   heap          the heap grows: its leak suspects (the sites) are the answer
 *   allocator_free memory the allocator keeps after free grows while the heap does not:
 *                 fragmentation, not a leak (glibc: MALLOC_ARENA_MAX, malloc_trim)
 *   mmap          the program's direct mappings: their sites (allocator=mmap)
 *   unattributed  memory outside all of these (a private allocator on raw system calls,
 *                 reservations made writable with mprotect, ...)
 *   file          file-backed and shared pages
 *   thread_stacks the stacks' resident pages
 *
 * Pure functions of the series; no allocation.
 */
#ifndef HS_RSS_GROWTH_H
#define HS_RSS_GROWTH_H

#include <stdbool.h>

#include "series.h"

typedef struct hs_rss_growth {
    bool known;                /* the series has the parts (series.h parts_known) */
    bool growing;              /* RSS grows significantly */
    hs_series_part_t explains; /* the part that explains it (HS_PART_RSS: none does) */
    double share;              /* that part's growth / RSS's growth */
} hs_rss_growth_t;

void hs_rss_growth(const hs_series_t *s, double sigma, hs_rss_growth_t *out);

/* One sentence: what the explaining part means and what to do ("" when RSS does not grow). */
const char *hs_rss_growth_advice(const hs_rss_growth_t *g, const char *allocator);

#endif
