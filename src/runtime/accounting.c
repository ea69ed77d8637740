/*
 * accounting.c - the memory accounting of a profile (see accounting.h).
 *
 * The estimates come from the snapshot's rows, unbiased per allocation as the pprof writer
 * does (estimate.h), with their variances: heap rows (requested bytes; and, for the audit, the
 * bytes the allocator counts for them, by its size-class model: reconcile.h) apart from the
 * mapping rows (label allocator=mmap). The mapping label's set ids are looked up per row
 * (lock-free reads of interned sets).
 *
 * Costs: /proc/self/status is a read of counters (no page-table walk); the allocator's figures
 * are spaced by alloc_stats.c when they are expensive. Allocation-free apart from what the
 * allocator's statistics functions do themselves (under the guard: unsampled).
 */
#include "accounting.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "estimate.h"
#include "labels.h"
#include "live_table.h"
#include "map_track.h"
#include "os.h"
#include "profile_meta.h"

bool hs_accounting_is_mmap(uint32_t labels)
{
    hs_label_t pairs[HS_LABELS_MAX_PAIRS];
    uint32_t n = hs_labels_get(labels, pairs);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(pairs[i].key, "allocator") == 0)
            return strcmp(pairs[i].value, "mmap") == 0;
    return false;
}

void hs_accounting_collect(const hs_snapshot_t *snap, int fresh, hs_accounting_t *out)
{
    memset(out, 0, sizeof *out);
    out->has_rss = hs_memlimit_rss("", 0, &out->rss) == HS_OK;
    out->has_alloc = hs_alloc_stats_read(fresh, &out->alloc) == HS_OK;
    if (!out->alloc.name)
        out->alloc.name = hs_alloc_stats_name();
    const char *allocator = out->alloc.name;
    for (size_t i = 0; i < snap->nrows; i++) {
        const hs_snapshot_row_t *r = &snap->rows[i];
        if (!r->live)
            continue;
        double objects, bytes;
        hs_estimate_row(snap->rate, r->size, r->live, &objects, &bytes);
        double var = hs_estimate_bytes_variance(snap->rate, r->size, r->live);
        if (hs_accounting_is_mmap(r->labels)) {
            out->mmap += bytes;
            out->mmap_var += var;
            continue;
        }
        out->heap += bytes;
        out->heap_var += var;
        /* The same objects at their size in the allocator's books. */
        double k = r->size ? (double)hs_reconcile_usable(allocator, r->size) / (double)r->size : 1;
        out->usable += bytes * k;
        out->usable_var += var * k * k;
    }
    out->brk = hs_map_track_brk_bytes();
    out->has_stacks = hs_thread_stacks_read(&out->stacks) == HS_OK;
    /* The profiler's memory as the RSS counts it: profiler_memory counts its tables at their
     * mapped size and its 1 MiB filter at its full size, but only the pages in use are
     * resident; its caches in the allocator's heap as their owners estimate them. */
    out->profiler = hs_os_mapped_resident_bytes() +
                    hs_os_resident_bytes(hs_live_filter, sizeof hs_live_filter) +
                    hs_os_cached_bytes();
    out->profiler_heap = hs_os_cached_bytes();
    hs_reconcile_in_t *in = &out->in;
    in->has_rss = out->has_rss;
    in->rss = out->rss.rss;
    in->rss_file = out->rss.file;
    in->rss_shmem = out->rss.shmem;
    in->allocator = allocator;
    in->has_alloc_inuse = out->has_alloc && out->alloc.has_inuse;
    in->alloc_inuse = out->alloc.inuse;
    in->alloc_free = out->alloc.free;
    in->profiler_heap = out->profiler_heap;
    in->heap = out->heap;
    in->heap_stderr = sqrt(out->heap_var);
    in->usable = out->usable;
    in->usable_stderr = sqrt(out->usable_var);
    in->mmap = out->mmap;
    in->mmap_stderr = sqrt(out->mmap_var);
    in->profiler = out->profiler;
    in->stacks = out->has_stacks ? out->stacks.resident : 0;
    hs_reconcile(in, &out->parts);
}

static void put_i64(char *buf, size_t len, const char *key, double v)
{
    char num[32];
    snprintf(num, sizeof num, "%.0f", v);
    (void)hs_profile_meta_append(buf, len, key, num);
}

void hs_accounting_comments(const hs_accounting_t *a, char *rss, char *alloc, char *est, size_t len)
{
    rss[0] = alloc[0] = est[0] = '\0';
    if (a->has_rss) {
        (void)hs_profile_meta_append_u64(rss, len, "rss", a->rss.rss);
        (void)hs_profile_meta_append_u64(rss, len, "rss.anon", a->rss.anon);
        (void)hs_profile_meta_append_u64(rss, len, "rss.file", a->rss.file);
        (void)hs_profile_meta_append_u64(rss, len, "rss.shmem", a->rss.shmem);
        (void)hs_profile_meta_append(rss, len, "rss.source", a->rss.source);
        if (a->rss.threads)
            (void)hs_profile_meta_append_u64(rss, len, "threads", a->rss.threads);
    }
    (void)hs_profile_meta_append(alloc, len, "allocator", a->alloc.name);
    if (a->has_alloc && a->alloc.has_inuse) {
        (void)hs_profile_meta_append_u64(alloc, len, "allocator.inuse", a->alloc.inuse);
        (void)hs_profile_meta_append_u64(alloc, len, "allocator.free", a->alloc.free);
    }
    if (a->has_alloc) {
        if (a->alloc.mapped)
            (void)hs_profile_meta_append_u64(alloc, len, "allocator.mapped", a->alloc.mapped);
        if (a->alloc.mmapped)
            (void)hs_profile_meta_append_u64(alloc, len, "allocator.mmapped", a->alloc.mmapped);
        if (a->alloc.retained)
            (void)hs_profile_meta_append_u64(alloc, len, "allocator.retained", a->alloc.retained);
        (void)hs_profile_meta_append_u64(alloc, len, "allocator.read_us", a->alloc.read_ns / 1000);
        (void)hs_profile_meta_append_u64(alloc, len, "allocator.age_ms", a->alloc.age_ns / 1000000);
    }
    (void)hs_profile_meta_append_u64(alloc, len, "profiler_heap", a->profiler_heap);
    (void)hs_profile_meta_append_u64(alloc, len, "profiler.resident", a->profiler);
    put_i64(est, len, "heap.inuse", a->heap);
    put_i64(est, len, "heap.stderr", sqrt(a->heap_var));
    put_i64(est, len, "heap.usable", a->usable);
    put_i64(est, len, "heap.usable_stderr", sqrt(a->usable_var));
    put_i64(est, len, "mmap.inuse", a->mmap);
    put_i64(est, len, "mmap.stderr", sqrt(a->mmap_var));
    if (a->brk)
        (void)hs_profile_meta_append_u64(est, len, "brk", a->brk);
    if (a->has_stacks) {
        (void)hs_profile_meta_append_u64(est, len, "stacks", a->stacks.resident);
        (void)hs_profile_meta_append_u64(est, len, "stacks.count", a->stacks.count);
    }
    if (a->has_rss)
        put_i64(est, len, "unattributed", a->parts.unattributed);
    (void)hs_profile_meta_append(est, len, "audit", hs_reconcile_audit_name(a->parts.audit));
    if (a->parts.audit != HS_AUDIT_NONE) {
        char num[32];
        snprintf(num, sizeof num, "%.3f", a->parts.ratio);
        (void)hs_profile_meta_append(est, len, "audit.ratio", num);
        snprintf(num, sizeof num, "%.3f", a->parts.band);
        (void)hs_profile_meta_append(est, len, "audit.band", num);
    }
}

void hs_accounting_summary(const hs_accounting_t *a, char *buf, size_t len)
{
    const hs_reconcile_t *p = &a->parts;
    const double mib = 1024.0 * 1024.0;
    int n = snprintf(buf, len,
                     "memory: rss %.1f MiB = file %.1f + heap %.1f +- %.1f + allocator overhead "
                     "%.1f + unsampled %.1f + allocator free %.1f + mmap %.1f +- %.1f + thread "
                     "stacks %.2f + profiler %.1f + unattributed %.1f MiB",
                     (double)a->rss.rss / mib, p->file / mib, p->heap / mib,
                     sqrt(a->heap_var) / mib, p->overhead / mib, p->unseen / mib, p->free / mib,
                     p->mmap / mib, sqrt(a->mmap_var) / mib, p->stacks / mib, p->profiler / mib,
                     p->unattributed / mib);
    if (n < 0 || (size_t)n >= len)
        return;
    if (p->audit == HS_AUDIT_NONE && !a->in.has_alloc_inuse)
        snprintf(buf + n, len - (size_t)n, "; audit: %s gives no in-use figure", a->alloc.name);
    else if (p->audit == HS_AUDIT_NONE)
        snprintf(buf + n, len - (size_t)n, "; audit: too little heap to judge");
    else
        snprintf(buf + n, len - (size_t)n,
                 "; audit: the profile sees %.0f%% +- %.0f%% of what %s reports in use%s",
                 100 * p->ratio, 100 * p->band, a->alloc.name,
                 p->audit == HS_AUDIT_LOW    ? " - allocations bypass the profiler's hooks (a "
                                               "statically linked or private allocator)"
                 : p->audit == HS_AUDIT_HIGH ? " - frees bypass the profiler's hooks"
                                             : "");
}
