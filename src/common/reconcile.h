/*
 * reconcile.h - where the resident set goes: the figures a profile carries about the process
 * (RSS and its split, the allocator's own view, heapsampler's estimates) reconciled into parts
 * that add up to the RSS, and the coverage self-audit. Shared by the library (the profile's
 * keys, the verbose exit summary) and the CLI (report, leaks, the HTML chart), so both say the
 * same thing.
 *
 * The parts of RSS, in this order:
 *   file      file-backed and shared pages (code, mapped files, shared memory)
 *   heap      live blocks, as sampled (requested bytes, unbiased per allocation) +- error
 *   overhead  the allocator's headers and rounding of those blocks (from a model of its size
 *             classes)
 *   unseen    the rest of the allocator's in-use figure: blocks the profile did not sample
 *             (allocated before it started, through a private entry point) - sampling noise
 *             around 0 when the audit passes, so it may be negative
 *   free      memory the allocator keeps free (glibc's free chunks in arenas, jemalloc's
 *             resident - allocated, tcmalloc's page heap and caches): fragmentation. An
 *             allocator without an in-use figure (mimalloc) leaves it unknown: its free memory
 *             is then part of `unattributed` (its committed memory, which mimalloc commits
 *             ahead of use, is not a resident figure to subtract)
 *   mmap      direct anonymous mmap by the program, as sampled +- error
 *   stacks    thread stacks, resident (when they can be told apart)
 *   profiler  heapsampler's own memory
 *   unattributed  the rest: anonymous memory none of the above explains (may be negative
 *             within the errors: blocks allocated but not yet touched are not resident)
 *
 * The audit: heapsampler's estimate of the allocator's in-use bytes (the sampled blocks as the
 * allocator counts them: usable size by its size-class model) over the allocator's own figure.
 * Its band is 3 standard errors of the estimate plus the model's tolerance (HS_RECONCILE_SLACK of
 * the figure, and HS_RECONCILE_FLOOR bytes for the blocks allocated before the profiler
 * started); a band wider than 50% judges nothing (a heap of a few MiB). Far below
 * the band means allocations the hooks do not see (a statically linked or private allocator);
 * far above, frees they do not see.
 *
 * Pure functions; no allocation.
 */
#ifndef HS_RECONCILE_H
#define HS_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>

#define HS_RECONCILE_SLACK 0.10
#define HS_RECONCILE_FLOOR (1024.0 * 1024.0) /* bytes: what a small program allocates unseen */

/* The bytes an allocator counts for a block of `size` requested bytes (its usable size, with
 * glibc's chunk header): allocator is "glibc", "jemalloc", "tcmalloc", "mimalloc". */
uint64_t hs_reconcile_usable(const char *allocator, uint64_t size);

typedef struct hs_reconcile_in {
    uint64_t rss, rss_file, rss_shmem; /* 0: unknown */
    bool has_rss;
    const char *allocator; /* NULL: unknown */
    bool has_alloc_inuse;
    uint64_t alloc_inuse, alloc_free;
    uint64_t profiler_heap;       /* of alloc_inuse, the profiler's own (never sampled) */
    double heap, heap_stderr;     /* sampled requested bytes of live blocks */
    double usable, usable_stderr; /* the same as the allocator counts them */
    double mmap, mmap_stderr;
    uint64_t stacks; /* 0: unknown */
    uint64_t profiler;
} hs_reconcile_in_t;

typedef enum hs_audit {
    HS_AUDIT_NONE = 0, /* no allocator figure to compare with, or too little heap to judge */
    HS_AUDIT_OK,       /* within the band */
    HS_AUDIT_LOW,      /* the profile sees less than the allocator: allocations bypass it */
    HS_AUDIT_HIGH,     /* the profile sees more: frees bypass it */
} hs_audit_t;

typedef struct hs_reconcile {
    double file, heap, overhead, unseen, free, mmap, stacks, profiler, unattributed;
    hs_audit_t audit;
    double ratio, band; /* audit ratio and its half-width */
} hs_reconcile_t;

void hs_reconcile(const hs_reconcile_in_t *in, hs_reconcile_t *out);

/* "ok", "low", "high" or "none" (profile metadata), and back (HS_AUDIT_NONE if unknown). */
const char *hs_reconcile_audit_name(hs_audit_t a);
hs_audit_t hs_reconcile_audit_parse(const char *s);

#endif
