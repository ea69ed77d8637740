/*
 * test_reconcile.c - the parts of RSS and the coverage audit (common/reconcile.h), and their
 * reading back from a profile's comments (analysis/breakdown.h).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "breakdown.h"
#include "reconcile.h"

#define MIB (1024.0 * 1024.0)

Test(reconcile, size_class_models)
{
    /* glibc: request + 8-byte header rounded up to 16, at least 32; mmapped by the page. */
    cr_assert_eq(hs_reconcile_usable("glibc", 1), 32);
    cr_assert_eq(hs_reconcile_usable("glibc", 24), 32);
    cr_assert_eq(hs_reconcile_usable("glibc", 25), 48);
    cr_assert_eq(hs_reconcile_usable("glibc", 256), 272);
    cr_assert_eq(hs_reconcile_usable("glibc", 200000), 200704);
    /* jemalloc-like classes: 16-byte steps to 128, then four per doubling. */
    cr_assert_eq(hs_reconcile_usable("jemalloc", 1), 8);
    cr_assert_eq(hs_reconcile_usable("jemalloc", 100), 112);
    cr_assert_eq(hs_reconcile_usable("jemalloc", 129), 160);
    cr_assert_eq(hs_reconcile_usable("tcmalloc", 1000), 1024);
    cr_assert_eq(hs_reconcile_usable("mimalloc", 4097), 5120);
}

static hs_reconcile_in_t frag_in(void)
{
    return (hs_reconcile_in_t){.has_rss = true,
                               .rss = (uint64_t)(120 * MIB),
                               .rss_file = (uint64_t)(3 * MIB),
                               .allocator = "glibc",
                               .has_alloc_inuse = true,
                               .alloc_inuse = (uint64_t)(26 * MIB),
                               .alloc_free = (uint64_t)(80 * MIB),
                               .heap = 25 * MIB,
                               .heap_stderr = 0.5 * MIB,
                               .usable = 25.5 * MIB,
                               .usable_stderr = 0.5 * MIB,
                               .profiler = (uint64_t)(10 * MIB)};
}

Test(reconcile, parts_add_up_to_rss)
{
    hs_reconcile_in_t in = frag_in();
    hs_reconcile_t r;
    hs_reconcile(&in, &r);
    double sum = r.file + r.heap + r.overhead + r.unseen + r.free + r.mmap + r.stacks + r.profiler +
                 r.unattributed;
    cr_assert_float_eq(sum, (double)in.rss, 1.0);
    cr_assert_float_eq(r.overhead, 0.5 * MIB, 1.0);
    cr_assert_float_eq(r.unseen, 0.5 * MIB, 1.0);
    cr_assert_float_eq(r.unattributed, 1 * MIB, 1.0);
    /* ratio 25.5/26; band 3*0.5/26 + 1/26 + 0.1 */
    cr_assert_eq(r.audit, HS_AUDIT_OK);
    cr_assert_float_eq(r.ratio, 25.5 / 26, 1e-9);
    cr_assert_float_eq(r.band, 2.5 / 26 + HS_RECONCILE_SLACK, 1e-9);
}

Test(reconcile, audit_flags_bypass_and_missed_frees)
{
    hs_reconcile_in_t in = frag_in();
    hs_reconcile_t r;
    in.alloc_inuse = (uint64_t)(90 * MIB); /* 64 MiB the hooks never saw */
    hs_reconcile(&in, &r);
    cr_assert_eq(r.audit, HS_AUDIT_LOW);
    cr_assert_float_eq(r.unseen, 64.5 * MIB, 1.0);
    in.alloc_inuse = (uint64_t)(15 * MIB); /* the profile holds blocks freed behind it */
    hs_reconcile(&in, &r);
    cr_assert_eq(r.audit, HS_AUDIT_HIGH);
    /* The profiler's own blocks are not the program's. */
    in.alloc_inuse = (uint64_t)(36 * MIB);
    in.profiler_heap = (uint64_t)(10 * MIB);
    hs_reconcile(&in, &r);
    cr_assert_eq(r.audit, HS_AUDIT_OK);
    /* Too little heap to judge: a band over 50%. */
    in = frag_in();
    in.alloc_inuse = (uint64_t)(1.5 * MIB);
    in.usable = 0.2 * MIB;
    hs_reconcile(&in, &r);
    cr_assert_eq(r.audit, HS_AUDIT_NONE);
    /* No allocator figure (mimalloc): no audit, no free part. */
    in = frag_in();
    in.has_alloc_inuse = false;
    hs_reconcile(&in, &r);
    cr_assert_eq(r.audit, HS_AUDIT_NONE);
    cr_assert_float_eq(r.free, 0, 1e-9);
    cr_assert_float_eq(r.unattributed, 120 * MIB - 3 * MIB - 25 * MIB - 10 * MIB, 1.0);
}

Test(reconcile, audit_names_round_trip)
{
    for (int a = HS_AUDIT_NONE; a <= HS_AUDIT_HIGH; a++)
        cr_assert_eq(hs_reconcile_audit_parse(hs_reconcile_audit_name((hs_audit_t)a)), a);
    cr_assert_eq(hs_reconcile_audit_parse("bogus"), HS_AUDIT_NONE);
    cr_assert_eq(hs_reconcile_audit_parse(NULL), HS_AUDIT_NONE);
}

Test(breakdown, read_back_from_comments)
{
    const char *comments[] = {
        "heapsampler 0.1.0 (exit)",
        "rss=125829120 rss.anon=122683392 rss.file=3145728 rss.shmem=0 rss.source=status",
        "allocator=glibc allocator.inuse=27262976 allocator.free=83886080 profiler_heap=0",
        "heap.inuse=26214400 heap.stderr=524288 heap.usable=26738688 heap.usable_stderr=524288 "
        "mmap.inuse=1048576 mmap.stderr=0 brk=4096 unattributed=1 audit=ok",
        "profiler_memory=10485760",
    };
    hs_profile_meta_t m;
    cr_assert_eq(hs_profile_meta_parse(comments, 5, &m), HS_OK);
    hs_breakdown_t b;
    hs_breakdown_read(&m, &b);
    cr_assert(b.known);
    cr_assert_str_eq(b.allocator, "glibc");
    cr_assert_str_eq(b.rss_source, "status");
    cr_assert_eq(b.in.rss, 125829120);
    cr_assert(b.in.has_alloc_inuse);
    cr_assert_float_eq(b.in.heap, 25 * MIB, 1e-6);
    cr_assert_float_eq(b.in.mmap, 1 * MIB, 1e-6);
    cr_assert_eq(b.in.profiler, 10485760);
    cr_assert_eq(b.brk, 4096);
    cr_assert_eq(b.parts.audit, HS_AUDIT_OK);
    double sum = b.parts.file + b.parts.heap + b.parts.overhead + b.parts.unseen + b.parts.free +
                 b.parts.mmap + b.parts.profiler + b.parts.unattributed;
    cr_assert_float_eq(sum, 125829120.0, 1.0);
    hs_profile_meta_free(&m);

    /* A profile without the accounting (Go's, an older heapsampler's): nothing known. */
    const char *bare[] = {"heapsampler 0.1.0 (exit)", "rate=524288", "heap.inuse=abc"};
    cr_assert_eq(hs_profile_meta_parse(bare, 3, &m), HS_OK);
    hs_breakdown_read(&m, &b);
    cr_assert_not(b.known);
    hs_profile_meta_free(&m);
}
