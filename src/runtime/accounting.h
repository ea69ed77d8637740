/*
 * accounting.h - where the process's memory goes, taken at each dump: the resident set and
 * its split (memlimit.h), the allocator's own figures (alloc_stats.h), heapsampler's estimates
 * of the heap and of direct mmap in use with their errors (from the snapshot's rows: rows
 * labelled allocator=mmap are mappings, the rest heap blocks), its own memory, and what
 * reconcile.h concludes from them (the parts of RSS, the coverage audit). Written into the
 * profile's comments (README.md "Profile comments") and the verbose exit summary.
 *
 * Runs in the dump, under the reentrancy guard and the dump lock; reads files and calls the
 * allocator's statistics functions (see alloc_stats.h for their cost and how it is bounded).
 */
#ifndef HS_ACCOUNTING_H
#define HS_ACCOUNTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc_stats.h"
#include "memlimit.h"
#include "reconcile.h"
#include "snapshot.h"
#include "thread_stacks.h"

typedef struct hs_accounting {
    bool has_rss;
    hs_memlimit_rss_t rss;
    bool has_alloc;
    hs_alloc_stats_t alloc;
    double heap, heap_var, usable, usable_var, mmap, mmap_var;
    uint64_t brk; /* the program's own brk/sbrk growth (bytes; not attributed) */
    bool has_stacks;
    hs_thread_stacks_t stacks;
    uint64_t profiler, profiler_heap;
    hs_reconcile_in_t in;
    hs_reconcile_t parts;
} hs_accounting_t;

/* Collect everything for a profile of snap (fresh: the exit profile, read the allocator now). */
void hs_accounting_collect(const hs_snapshot_t *snap, int fresh, hs_accounting_t *out);

/* Is this label set a direct mapping's (allocator=mmap)? */
bool hs_accounting_is_mmap(uint32_t labels);

/* The accounting's comments (profile_meta.h): "rss=...", "allocator=...", "heap.inuse=...";
 * each buffer of len bytes, left empty when there is nothing to say. */
void hs_accounting_comments(const hs_accounting_t *a, char *rss, char *alloc, char *est,
                            size_t len);

/* One line for the verbose exit summary, into buf. */
void hs_accounting_summary(const hs_accounting_t *a, char *buf, size_t len);

#endif
