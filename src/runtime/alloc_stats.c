/*
 * alloc_stats.c - the allocator's own figures (see alloc_stats.h).
 *
 * Which allocator: the object that defines the next malloc (dladdr of the resolved pointer),
 * opened again with RTLD_NOLOAD so that its own symbols are looked up in it and not in the
 * objects before it (glibc's mallinfo2 is visible from everywhere; beneath jemalloc it would
 * describe glibc's idle arenas, not jemalloc's). Looked up once, at the first read.
 *
 * The function pointers are typed here after each allocator's documented C interface; none of
 * their headers is included, so no package is needed to build.
 */
#include "alloc_stats.h"

#include <dlfcn.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "loader_gate.h"
#include "os.h"
#include "real_alloc.h"

/* glibc's struct mallinfo2 (2.33 and later), declared here for older headers. */
typedef struct hs_mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
} hs_mallinfo2_t;

typedef enum { KIND_UNKNOWN, KIND_GLIBC, KIND_JEMALLOC, KIND_TCMALLOC, KIND_MIMALLOC } kind_t;

static struct {
    int looked;
    kind_t kind;
    hs_mallinfo2_t (*mallinfo2)(void);
    int (*mallctl)(const char *, void *, size_t *, void *, size_t);
    int (*tc_prop)(const char *, size_t *);
    void (*mi_info)(size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *);
    hs_alloc_stats_t last;
    uint64_t last_at;  /* monotonic time of the last read */
    uint64_t next_due; /* monotonic time from which a new read is allowed */
} A;

static const char *const kind_names[] = {"unknown", "glibc", "jemalloc", "tcmalloc", "mimalloc"};

static void hs_alloc_stats_find(void);

/* The lookup calls into the loader: inside the loader gate, so that a fork never copies the
 * loader's locks held by this thread (loader_gate.h). */
static void hs_alloc_stats_lookup(void)
{
    if (A.looked)
        return;
    while (!hs_loader_gate_enter())
        sched_yield();
    hs_alloc_stats_find();
    hs_loader_gate_exit();
    A.looked = 1;
}

static void hs_alloc_stats_find(void)
{
    Dl_info info;
    void *real_malloc = (void *)HS_REAL(malloc);
    if (!dladdr(real_malloc, &info) || !info.dli_fname)
        return;
    void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return;
    /* Order: an allocator library may also define glibc's names (tcmalloc defines mallinfo). */
    if ((*(void **)&A.mallctl = dlsym(h, "mallctl")))
        A.kind = KIND_JEMALLOC;
    else if ((*(void **)&A.tc_prop = dlsym(h, "MallocExtension_GetNumericProperty")))
        A.kind = KIND_TCMALLOC;
    else if ((*(void **)&A.mi_info = dlsym(h, "mi_process_info")))
        A.kind = KIND_MIMALLOC;
    else if ((*(void **)&A.mallinfo2 = dlsym(h, "mallinfo2")))
        A.kind = KIND_GLIBC;
    /* The handle stays open: the object that provides malloc is never unloaded. */
}

const char *hs_alloc_stats_name(void)
{
    hs_alloc_stats_lookup();
    return kind_names[A.kind];
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static int je_u64(const char *name, uint64_t *out)
{
    size_t v = 0, len = sizeof v;
    if (A.mallctl(name, &v, &len, NULL, 0) != 0)
        return 0;
    *out = v;
    return 1;
}

static int tc_u64(const char *name, uint64_t *out)
{
    size_t v = 0;
    if (!A.tc_prop(name, &v))
        return 0;
    *out = v;
    return 1;
}

/* One read of the allocator's figures into out (name set by the caller). */
static int hs_alloc_stats_collect(hs_alloc_stats_t *out)
{
    switch (A.kind) {
    case KIND_GLIBC: {
        hs_mallinfo2_t mi = A.mallinfo2();
        out->has_inuse = true;
        out->inuse = mi.uordblks + mi.hblkhd;
        out->free = mi.fordblks;
        out->mapped = mi.arena + mi.hblkhd;
        out->mmapped = mi.hblkhd;
        return 1;
    }
    case KIND_JEMALLOC: {
        uint64_t epoch = 1, allocated, resident;
        size_t len = sizeof epoch;
        /* The statistics are a snapshot that "epoch" refreshes. */
        (void)A.mallctl("epoch", &epoch, &len, &epoch, len);
        if (!je_u64("stats.allocated", &allocated) || !je_u64("stats.resident", &resident))
            return 0; /* built without statistics */
        out->has_inuse = true;
        out->inuse = allocated;
        out->free = sub0(resident, allocated);
        (void)je_u64("stats.mapped", &out->mapped);
        (void)je_u64("stats.retained", &out->retained);
        return 1;
    }
    case KIND_TCMALLOC: {
        uint64_t allocated, heap, unmapped = 0;
        if (!tc_u64("generic.current_allocated_bytes", &allocated) ||
            !tc_u64("generic.heap_size", &heap))
            return 0;
        (void)tc_u64("tcmalloc.pageheap_unmapped_bytes", &unmapped);
        out->has_inuse = true;
        out->inuse = allocated;
        out->free = sub0(sub0(heap, unmapped), allocated);
        out->mapped = heap;
        return 1;
    }
    case KIND_MIMALLOC: {
        size_t elapsed, user, sys, rss, peak_rss, commit, peak_commit, faults;
        A.mi_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
        out->has_inuse = false;
        out->mapped = commit;
        return 1;
    }
    case KIND_UNKNOWN:
        break;
    }
    return 0;
}

hs_err_t hs_alloc_stats_read(int fresh, hs_alloc_stats_t *out)
{
    hs_alloc_stats_lookup();
    uint64_t now = hs_os_monotonic_ns();
    if (A.last_at && !fresh && now < A.next_due) {
        *out = A.last;
        out->age_ns = now - A.last_at;
        return HS_OK;
    }
    memset(out, 0, sizeof *out);
    out->name = kind_names[A.kind];
    /* A thread of the arena waits for the walk: the writer thread must not be preempted in
     * it by its own SCHED_BATCH policy while it holds the arena's lock. */
    struct sched_param sp = {0};
    int policy = sched_getscheduler(0);
    if (policy == SCHED_BATCH)
        (void)sched_setscheduler(0, SCHED_OTHER, &sp);
    int ok = hs_alloc_stats_collect(out);
    if (policy == SCHED_BATCH)
        (void)sched_setscheduler(0, SCHED_BATCH, &sp);
    if (!ok)
        return HS_ERR_NOTFOUND;
    uint64_t done = hs_os_monotonic_ns();
    out->read_ns = done - now;
    A.last = *out;
    A.last_at = done;
    /* A read cheaper than HS_ALLOC_STATS_CHEAP_NS is never spaced. */
    A.next_due = out->read_ns < HS_ALLOC_STATS_CHEAP_NS ? 0 : done + 1000 * out->read_ns;
    return HS_OK;
}
