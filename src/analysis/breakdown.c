/*
 * breakdown.c - the accounting keys of a profile, reconciled (see breakdown.h). Keys that are
 * missing leave their part unknown (0, with the flags of reconcile.h saying so); values that
 * are not numbers are ignored, as any unknown key is.
 */
#include "breakdown.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool get_double(const hs_profile_meta_t *m, const char *key, double *out)
{
    const char *v = hs_profile_meta_get(m, key);
    if (!v || !*v)
        return false;
    char *end;
    double d = strtod(v, &end);
    if (*end)
        return false;
    *out = d;
    return true;
}

void hs_breakdown_read(const hs_profile_meta_t *m, hs_breakdown_t *out)
{
    memset(out, 0, sizeof *out);
    hs_reconcile_in_t *in = &out->in;
    uint64_t u;
    in->has_rss = hs_profile_meta_get_u64(m, "rss", &in->rss);
    (void)hs_profile_meta_get_u64(m, "rss.file", &in->rss_file);
    (void)hs_profile_meta_get_u64(m, "rss.shmem", &in->rss_shmem);
    const char *s = hs_profile_meta_get(m, "rss.source");
    snprintf(out->rss_source, sizeof out->rss_source, "%s", s ? s : "");
    s = hs_profile_meta_get(m, "allocator");
    snprintf(out->allocator, sizeof out->allocator, "%s", s ? s : "");
    in->allocator = out->allocator[0] ? out->allocator : NULL;
    in->has_alloc_inuse = hs_profile_meta_get_u64(m, "allocator.inuse", &in->alloc_inuse) &&
                          hs_profile_meta_get_u64(m, "allocator.free", &in->alloc_free);
    (void)hs_profile_meta_get_u64(m, "profiler_heap", &in->profiler_heap);
    bool heap = get_double(m, "heap.inuse", &in->heap);
    (void)get_double(m, "heap.stderr", &in->heap_stderr);
    if (!get_double(m, "heap.usable", &in->usable))
        in->usable = in->heap;
    if (!get_double(m, "heap.usable_stderr", &in->usable_stderr))
        in->usable_stderr = in->heap_stderr;
    (void)get_double(m, "mmap.inuse", &in->mmap);
    (void)get_double(m, "mmap.stderr", &in->mmap_stderr);
    if (hs_profile_meta_get_u64(m, "stacks", &u))
        in->stacks = u;
    /* The profiler's resident memory; older profiles have only its memory as it counts it. */
    if (hs_profile_meta_get_u64(m, "profiler.resident", &u) ||
        hs_profile_meta_get_u64(m, "profiler_memory", &u))
        in->profiler = u;
    (void)hs_profile_meta_get_u64(m, "brk", &out->brk);
    out->known = in->has_rss || heap;
    hs_reconcile(in, &out->parts);
}
