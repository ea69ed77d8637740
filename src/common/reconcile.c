/*
 * reconcile.c - the parts of RSS and the coverage audit (see reconcile.h).
 *
 * The size-class models are what each allocator counts in its in-use figure for a request:
 * glibc's chunk (request + 8-byte header, rounded up to 16, at least 32; blocks of 128 KiB and
 * more are mmapped one by one, counted by the page with a 16-byte header); jemalloc's classes
 * (four per doubling above 128 bytes, multiples of 16 below; large classes on the same
 * spacing); tcmalloc and mimalloc use classes of about the same spacing, so jemalloc's stands
 * for them, within HS_RECONCILE_SLACK on any mix of sizes.
 */
#include "reconcile.h"

#include <math.h>
#include <string.h>

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

static uint64_t classes(uint64_t size)
{
    if (size <= 8)
        return 8;
    if (size <= 128)
        return round_up(size, 16);
    int lg = 63 - __builtin_clzll(size - 1); /* 2^lg < size <= 2^(lg+1) */
    return round_up(size, (uint64_t)1 << (lg - 2));
}

uint64_t hs_reconcile_usable(const char *allocator, uint64_t size)
{
    if (allocator && strcmp(allocator, "glibc") == 0) {
        if (size >= 128 * 1024)
            return round_up(size + 16, 4096);
        uint64_t chunk = round_up(size + 8, 16);
        return chunk < 32 ? 32 : chunk;
    }
    return classes(size);
}

void hs_reconcile(const hs_reconcile_in_t *in, hs_reconcile_t *out)
{
    memset(out, 0, sizeof *out);
    out->heap = in->heap;
    out->mmap = in->mmap;
    out->stacks = (double)in->stacks;
    out->profiler = (double)in->profiler;
    out->file = (double)(in->rss_file + in->rss_shmem);
    /* The allocator's in-use bytes without the profiler's own (counted in `profiler`). */
    double seen =
        in->alloc_inuse > in->profiler_heap ? (double)(in->alloc_inuse - in->profiler_heap) : 0;
    if (in->has_alloc_inuse) {
        out->overhead = in->usable > in->heap ? in->usable - in->heap : 0;
        out->unseen = seen - in->usable;
        out->free = (double)in->alloc_free;
    }
    if (in->has_rss)
        out->unattributed = (double)in->rss - out->file - out->heap - out->overhead - out->unseen -
                            out->free - out->mmap - out->stacks - out->profiler;
    out->audit = HS_AUDIT_NONE;
    if (in->has_alloc_inuse && seen > 0 && in->usable > 0) {
        out->ratio = in->usable / seen;
        out->band = (3.0 * in->usable_stderr + HS_RECONCILE_FLOOR) / seen + HS_RECONCILE_SLACK;
        if (out->band > 0.5)
            out->audit = HS_AUDIT_NONE; /* too little heap to judge */
        else if (out->ratio < 1.0 - out->band)
            out->audit = HS_AUDIT_LOW;
        else if (out->ratio > 1.0 + out->band)
            out->audit = HS_AUDIT_HIGH;
        else
            out->audit = HS_AUDIT_OK;
    }
}

static const char *const audit_names[] = {"none", "ok", "low", "high"};

const char *hs_reconcile_audit_name(hs_audit_t a)
{
    return (unsigned)a < 4 ? audit_names[a] : "none";
}

hs_audit_t hs_reconcile_audit_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, audit_names[i]) == 0)
            return (hs_audit_t)i;
    return HS_AUDIT_NONE;
}
