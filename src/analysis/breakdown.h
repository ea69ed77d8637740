/*
 * breakdown.h - a profile's memory accounting read back from its metadata (README.md,
 * "Profile comments": rss*, allocator*, heap.*, mmap.*, profiler_memory) and reconciled
 * into the parts of RSS with reconcile.h, the same computation the library made when it wrote
 * the profile. For report (text, JSON, HTML), leaks (the parts over a series) and check.
 */
#ifndef HS_BREAKDOWN_H
#define HS_BREAKDOWN_H

#include <stdbool.h>
#include <stdint.h>

#include "profile_meta.h"
#include "reconcile.h"

typedef struct hs_breakdown {
    bool known;          /* the profile carries the accounting (rss= or heap.inuse=) */
    char allocator[32];  /* "glibc", ...; "" if unknown */
    char rss_source[16]; /* "status", "statm" */
    hs_reconcile_in_t in;
    hs_reconcile_t parts;
    uint64_t brk;
} hs_breakdown_t;

void hs_breakdown_read(const hs_profile_meta_t *m, hs_breakdown_t *out);

#endif
