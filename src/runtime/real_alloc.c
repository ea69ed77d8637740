/*
 * real_alloc.c - the next allocator, and the bootstrap arena that breaks the dlsym recursion.
 *
 * Every hs_real pointer starts at a boot_* function. The first call on any thread resolves all
 * pointers with dlsym(RTLD_NEXT) and then calls through. dlsym itself may call calloc/malloc
 * (for its error state): those calls come back into our hooks, find hs_real still pointing at
 * boot_*, see that this thread is resolving, and are served from a static bump arena.
 *
 * Arena pointers must never reach the real free/realloc. Each arena allocation saturates the
 * live filter byte of its address (live_table.h), so free/realloc of it leaves the fast path and
 * the hooks' slow path recognises it by address - the fast path pays nothing for this.
 *
 * Thread safety: two threads may resolve at once; they store identical values. Loads of the
 * pointers are relaxed atomics (plain moves on x86-64).
 *
 * The probe (is this library the program's malloc?) asks the question where the answer is:
 * every malloc hook, fast path or slow, ends in a call through hs_real.malloc. For the length
 * of one call of `malloc` through the program's binding, hs_real.malloc points at a function
 * that notes the visit and forwards to the real malloc; if the note is made, the hooks are the
 * program's malloc. Another thread's malloc in that window forwards the same way (and proves
 * the same thing). The hooks are not touched, so the probe costs their fast paths nothing.
 *
 * Missing functions in the next allocator (some lack valloc, pvalloc, memalign) get equivalents
 * built from posix_memalign, with the same results and errno. "Missing" means missing from the
 * object that provides malloc: dlsym(RTLD_NEXT) would otherwise find glibc's pvalloc beneath
 * jemalloc (which has none), whose blocks jemalloc's free and malloc_usable_size cannot handle.
 * reallocarray is never taken from the next allocator (see hooks.c).
 */
#include "real_alloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "live_table.h"
#include "log.h"

#define HS_BOOT_ARENA_SIZE (64 * 1024)
#define HS_BOOT_ALIGN      16

static _Alignas(64) unsigned char boot_arena[HS_BOOT_ARENA_SIZE];
static size_t boot_used;
static __thread int resolving __attribute__((tls_model("initial-exec")));
static int resolved;

/* ---- bootstrap arena ---------------------------------------------------------------------- */

/* Layout: [size_t size][pad to align][user data...]; header sits just before the data. */
static void *boot_alloc(size_t size, size_t align)
{
    if (align < HS_BOOT_ALIGN)
        align = HS_BOOT_ALIGN;
    if (size > HS_BOOT_ARENA_SIZE || (align & (align - 1)) || align > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = size + align + sizeof(size_t);
    size_t start = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
    if (start + need > HS_BOOT_ARENA_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t base = (uintptr_t)boot_arena + start + sizeof(size_t);
    uintptr_t user = (base + align - 1) & ~(uintptr_t)(align - 1);
    memcpy((void *)(user - sizeof(size_t)), &size, sizeof size);
    /* Saturate the filter byte: this address takes the hooks' slow path forever. */
    __atomic_store_n(&hs_live_filter[hs_live_filter_slot((void *)user)], 255, __ATOMIC_RELAXED);
    return (void *)user;
}

int hs_real_alloc_is_bootstrap(const void *p)
{
    return (const unsigned char *)p >= boot_arena &&
           (const unsigned char *)p < boot_arena + HS_BOOT_ARENA_SIZE;
}

size_t hs_real_alloc_bootstrap_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - sizeof(size_t), sizeof size);
    return size;
}

/* ---- fallbacks for functions the next allocator lacks ------------------------------------ */

static void *fallback_memalign(size_t align, size_t size)
{
    void *p = NULL;
    /* memalign accepts any alignment: round up to a power of two >= sizeof(void *). */
    size_t a = sizeof(void *);
    while (a < align && a < ((size_t)1 << (sizeof(size_t) * 8 - 2)))
        a <<= 1;
    int rc = hs_real.posix_memalign(&p, a, size);
    if (rc) {
        errno = rc;
        return NULL;
    }
    return p;
}

static void *fallback_aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return fallback_memalign(align, size);
}

static void *fallback_valloc(size_t size)
{
    return fallback_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

static void *fallback_pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(page - 1);
    return fallback_memalign(page, rounded ? rounded : page);
}

static int fallback_posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = hs_real.memalign ? hs_real.memalign(align, size) : NULL;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

static size_t fallback_usable_size(void *p)
{
    (void)p;
    return 0;
}

/* C23's sized frees, for an allocator that has none (glibc before 2.43, jemalloc 5.3's free
 * under its own names only): the size is a hint, free is always right. */
static void fallback_free_sized(void *p, size_t n)
{
    (void)n;
    HS_REAL(free)(p);
}

static void fallback_free_aligned_sized(void *p, size_t align, size_t n)
{
    (void)align;
    (void)n;
    HS_REAL(free)(p);
}

/* ---- boot functions: resolve, then call through ------------------------------------------- */

static void *boot_malloc(size_t n);
static void *boot_calloc(size_t n, size_t m);
static void *boot_realloc(void *p, size_t n);
static void boot_free(void *p);
static int boot_posix_memalign(void **out, size_t align, size_t n);
static void *boot_aligned_alloc(size_t align, size_t n);
static void *boot_memalign(size_t align, size_t n);
static void *boot_valloc(size_t n);
static void *boot_pvalloc(size_t n);
static size_t boot_usable_size(void *p);
static void boot_free_sized(void *p, size_t n);
static void boot_free_aligned_sized(void *p, size_t align, size_t n);

hs_real_alloc_t hs_real = {
    .malloc = boot_malloc,
    .calloc = boot_calloc,
    .realloc = boot_realloc,
    .free = boot_free,
    .posix_memalign = boot_posix_memalign,
    .aligned_alloc = boot_aligned_alloc,
    .memalign = boot_memalign,
    .valloc = boot_valloc,
    .pvalloc = boot_pvalloc,
    .malloc_usable_size = boot_usable_size,
    .free_sized = boot_free_sized,
    .free_aligned_sized = boot_free_aligned_sized,
};

#define STORE(field, value) __atomic_store_n(&hs_real.field, (value), __ATOMIC_RELEASE)

/* fn if it lives in the object loaded at base (the one that provides malloc), else NULL.
 * dladdr takes the loader lock but does not allocate. */
static void *from_object(void *fn, const void *base)
{
    Dl_info info;
    if (!fn || !base || !dladdr(fn, &info) || info.dli_fbase != base)
        return NULL;
    return fn;
}

void hs_real_alloc_resolve(void)
{
    if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
        return;
    int saved = errno;
    resolving++;
    /* RTLD_NEXT finds the allocator after us; if there is none (a library that defines malloc
     * was preloaded before us, so it - not we - is the program's malloc), use the global one:
     * the hooks then only pass through, and the profiler's init notices (hs_real_alloc_probe). */
    void *scope = dlsym(RTLD_NEXT, "malloc") ? RTLD_NEXT : RTLD_DEFAULT;
    void *m = dlsym(scope, "malloc");
    void *c = dlsym(scope, "calloc");
    void *r = dlsym(scope, "realloc");
    void *f = dlsym(scope, "free");
    Dl_info minfo;
    const void *base = m && dladdr(m, &minfo) ? minfo.dli_fbase : NULL;
    void *pm = from_object(dlsym(scope, "posix_memalign"), base);
    void *aa = from_object(dlsym(scope, "aligned_alloc"), base);
    void *ma = from_object(dlsym(scope, "memalign"), base);
    void *va = from_object(dlsym(scope, "valloc"), base);
    void *pv = from_object(dlsym(scope, "pvalloc"), base);
    void *us = from_object(dlsym(scope, "malloc_usable_size"), base);
    void *fs = from_object(dlsym(scope, "free_sized"), base);
    void *fas = from_object(dlsym(scope, "free_aligned_sized"), base);
    resolving--;
    if (!m || !c || !r || !f) {
        /* No allocator at all: cannot happen in a dynamically linked glibc program. */
        static const char msg[] = "heapsampler: no malloc/free found besides the profiler's; "
                                  "aborting\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    /* Order: the functions fallbacks depend on first. */
    STORE(malloc, (void *(*)(size_t))m);
    STORE(calloc, (void *(*)(size_t, size_t))c);
    STORE(realloc, (void *(*)(void *, size_t))r);
    STORE(free, (void (*)(void *))f);
    STORE(memalign, ma ? (void *(*)(size_t, size_t))ma : fallback_memalign);
    STORE(posix_memalign, pm ? (int (*)(void **, size_t, size_t))pm : fallback_posix_memalign);
    STORE(aligned_alloc, aa ? (void *(*)(size_t, size_t))aa : fallback_aligned_alloc);
    STORE(valloc, va ? (void *(*)(size_t))va : fallback_valloc);
    STORE(pvalloc, pv ? (void *(*)(size_t))pv : fallback_pvalloc);
    STORE(malloc_usable_size, us ? (size_t(*)(void *))us : fallback_usable_size);
    STORE(free_sized, fs ? (void (*)(void *, size_t))fs : fallback_free_sized);
    STORE(free_aligned_sized,
          fas ? (void (*)(void *, size_t, size_t))fas : fallback_free_aligned_sized);
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
    errno = saved;
}

static void *boot_malloc(size_t n)
{
    if (resolving)
        return boot_alloc(n, HS_BOOT_ALIGN);
    hs_real_alloc_resolve();
    return hs_real.malloc(n);
}

static void *boot_calloc(size_t n, size_t m)
{
    if (resolving) {
        size_t total;
        if (__builtin_mul_overflow(n, m, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return boot_alloc(total, HS_BOOT_ALIGN); /* static memory, never reused: zero */
    }
    hs_real_alloc_resolve();
    return hs_real.calloc(n, m);
}

static void *boot_realloc(void *p, size_t n)
{
    if (resolving && !p)
        return boot_alloc(n, HS_BOOT_ALIGN);
    hs_real_alloc_resolve();
    return hs_real.realloc(p, n);
}

static void boot_free(void *p)
{
    /* While resolving, a failed lookup frees its error string (dlsym of free_sized, which an
     * older C library lacks): free(NULL) or an arena pointer, never passed on, and resolving
     * again here would recurse. */
    if (!p || hs_real_alloc_is_bootstrap(p) || resolving)
        return;
    hs_real_alloc_resolve();
    hs_real.free(p);
}

static void boot_free_sized(void *p, size_t n)
{
    if (hs_real_alloc_is_bootstrap(p))
        return;
    hs_real_alloc_resolve();
    hs_real.free_sized(p, n);
}

static void boot_free_aligned_sized(void *p, size_t align, size_t n)
{
    if (hs_real_alloc_is_bootstrap(p))
        return;
    hs_real_alloc_resolve();
    hs_real.free_aligned_sized(p, align, n);
}

static int boot_posix_memalign(void **out, size_t align, size_t n)
{
    hs_real_alloc_resolve();
    return hs_real.posix_memalign(out, align, n);
}

static void *boot_aligned_alloc(size_t align, size_t n)
{
    hs_real_alloc_resolve();
    return hs_real.aligned_alloc(align, n);
}

static void *boot_memalign(size_t align, size_t n)
{
    if (resolving)
        return boot_alloc(n, align);
    hs_real_alloc_resolve();
    return hs_real.memalign(align, n);
}

static void *boot_valloc(size_t n)
{
    hs_real_alloc_resolve();
    return hs_real.valloc(n);
}

static void *boot_pvalloc(size_t n)
{
    hs_real_alloc_resolve();
    return hs_real.pvalloc(n);
}

static size_t boot_usable_size(void *p)
{
    if (hs_real_alloc_is_bootstrap(p))
        return hs_real_alloc_bootstrap_size(p);
    hs_real_alloc_resolve();
    return hs_real.malloc_usable_size(p);
}

/* ---- the probe ---------------------------------------------------------------------------- */

static void *(*probe_next)(size_t);
static int probe_hit;

static void *probe_malloc(size_t n)
{
    __atomic_store_n(&probe_hit, 1, __ATOMIC_RELAXED);
    return __atomic_load_n(&probe_next, __ATOMIC_ACQUIRE)(n);
}

int hs_real_alloc_probe(void)
{
    /* The program's binding of malloc and free: volatile, so that the compiler cannot resolve
     * them to this library's definitions. */
    void *(*volatile m)(size_t) = malloc;
    void (*volatile f)(void *) = free;
    hs_real_alloc_resolve();
    void *(*next)(size_t) = HS_REAL(malloc);
    __atomic_store_n(&probe_next, next, __ATOMIC_RELEASE);
    __atomic_store_n(&probe_hit, 0, __ATOMIC_RELAXED);
    STORE(malloc, probe_malloc);
    void *p = m(1);
    STORE(malloc, next);
    f(p);
    return __atomic_load_n(&probe_hit, __ATOMIC_RELAXED);
}
