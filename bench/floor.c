/*
 * floor.c - the cost floor of the benchmark: libhs_floor.so, an LD_PRELOAD interposer that does
 * nothing but forward the malloc family to the next allocator.
 *
 * Whatever any interposer does, it pays for an extra call layer: the program's PLT jump lands
 * here, and here is one indirect jump through a pointer to the next allocator (a tail call, no
 * frame). heapsampler's overhead is measured over this floor, so that the figure is what the
 * profiler adds, not what interposition itself costs.
 *
 * The pointers start at boot functions that resolve every pointer with dlsym(RTLD_NEXT) on
 * the first call. dlsym may allocate while resolving: those calls are served from a small
 * static arena. If that ever happened, free and realloc go through a checking wrapper that
 * never hands an arena pointer to the real allocator; otherwise they stay a plain jump.
 *
 * Thread-safety: two threads may resolve at once; they store identical values.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define ARENA  (16 * 1024)

static void *boot_malloc(size_t n);
static void *boot_calloc(size_t n, size_t m);
static void *boot_realloc(void *p, size_t n);
static void boot_free(void *p);
static int boot_posix_memalign(void **out, size_t align, size_t n);

static void *(*real_malloc)(size_t) = boot_malloc;
static void *(*real_calloc)(size_t, size_t) = boot_calloc;
static void *(*real_realloc)(void *, size_t) = boot_realloc;
static void (*real_free)(void *) = boot_free;
static int (*real_posix_memalign)(void **, size_t, size_t) = boot_posix_memalign;
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static size_t (*real_usable_size)(void *);
static void *(*real_reallocarray)(void *, size_t, size_t);

/* next_* hold the resolved functions; real_free/real_realloc point at them unless the arena was
 * used, in which case they point at the checking wrappers. */
static void (*next_free)(void *);
static void *(*next_realloc)(void *, size_t);

static _Alignas(16) unsigned char arena[ARENA];
static size_t arena_used;
static __thread int resolving;
static int resolved;

static int in_arena(const void *p)
{
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + ARENA;
}

/* count * size bytes of static memory, never reused: already zero, as calloc needs. */
static void *arena_alloc(size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n) || n > ARENA) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = (n + 15) & ~(size_t)15;
    size_t at = __atomic_fetch_add(&arena_used, need, __ATOMIC_RELAXED);
    if (at + need > ARENA) {
        errno = ENOMEM;
        return NULL;
    }
    return arena + at;
}

static void checked_free(void *p)
{
    if (!in_arena(p))
        next_free(p);
}

static void *checked_realloc(void *p, size_t n)
{
    if (!in_arena(p))
        return next_realloc(p, n);
    size_t room = (size_t)(arena + ARENA - (unsigned char *)p);
    void *q = real_malloc(n);
    if (q)
        memcpy(q, p, room < n ? room : n);
    return q;
}

#define LOAD(name)         __atomic_load_n(&(name), __ATOMIC_RELAXED)
#define STORE(name, value) __atomic_store_n(&(name), (value), __ATOMIC_RELEASE)

static void resolve(void)
{
    if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
        return;
    int saved = errno;
    resolving++;
    void *m = dlsym(RTLD_NEXT, "malloc"), *c = dlsym(RTLD_NEXT, "calloc");
    void *r = dlsym(RTLD_NEXT, "realloc"), *f = dlsym(RTLD_NEXT, "free");
    void *pm = dlsym(RTLD_NEXT, "posix_memalign"), *aa = dlsym(RTLD_NEXT, "aligned_alloc");
    void *ma = dlsym(RTLD_NEXT, "memalign"), *va = dlsym(RTLD_NEXT, "valloc");
    void *pv = dlsym(RTLD_NEXT, "pvalloc"), *us = dlsym(RTLD_NEXT, "malloc_usable_size");
    void *ra = dlsym(RTLD_NEXT, "reallocarray");
    resolving--;
    if (!m || !c || !r || !f || !pm || !aa || !ma || !va || !pv || !us || !ra) {
        static const char msg[] = "libhs_floor: the next allocator lacks a function\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    next_free = (void (*)(void *))f;
    next_realloc = (void *(*)(void *, size_t))r;
    int used = LOAD(arena_used) != 0;
    STORE(real_malloc, (void *(*)(size_t))m);
    STORE(real_calloc, (void *(*)(size_t, size_t))c);
    STORE(real_realloc, used ? checked_realloc : next_realloc);
    STORE(real_free, used ? checked_free : next_free);
    STORE(real_posix_memalign, (int (*)(void **, size_t, size_t))pm);
    STORE(real_aligned_alloc, (void *(*)(size_t, size_t))aa);
    STORE(real_memalign, (void *(*)(size_t, size_t))ma);
    STORE(real_valloc, (void *(*)(size_t))va);
    STORE(real_pvalloc, (void *(*)(size_t))pv);
    STORE(real_usable_size, (size_t(*)(void *))us);
    STORE(real_reallocarray, (void *(*)(void *, size_t, size_t))ra);
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
    errno = saved;
}

static void *boot_malloc(size_t n)
{
    if (resolving)
        return arena_alloc(n, 1);
    resolve();
    return LOAD(real_malloc)(n);
}

static void *boot_calloc(size_t n, size_t m)
{
    if (resolving)
        return arena_alloc(n, m);
    resolve();
    return LOAD(real_calloc)(n, m);
}

static void *boot_realloc(void *p, size_t n)
{
    if (resolving && !p)
        return arena_alloc(n, 1);
    resolve();
    return LOAD(real_realloc)(p, n);
}

static void boot_free(void *p)
{
    if (in_arena(p))
        return;
    resolve();
    LOAD(real_free)(p);
}

static int boot_posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    return LOAD(real_posix_memalign)(out, align, n);
}

/* Every hook: one load of the pointer and a tail jump (the functions that have no boot pointer
 * are only reached after malloc or free resolved, which every program does first). */
EXPORT void *malloc(size_t n)
{
    return LOAD(real_malloc)(n);
}

EXPORT void free(void *p)
{
    LOAD(real_free)(p);
}

EXPORT void *calloc(size_t n, size_t m)
{
    return LOAD(real_calloc)(n, m);
}

EXPORT void *realloc(void *p, size_t n)
{
    return LOAD(real_realloc)(p, n);
}

EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    resolve();
    return LOAD(real_reallocarray)(p, n, m);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    return LOAD(real_posix_memalign)(out, align, n);
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    resolve();
    return LOAD(real_aligned_alloc)(align, n);
}

EXPORT void *memalign(size_t align, size_t n)
{
    resolve();
    return LOAD(real_memalign)(align, n);
}

EXPORT void *valloc(size_t n)
{
    resolve();
    return LOAD(real_valloc)(n);
}

EXPORT void *pvalloc(size_t n)
{
    resolve();
    return LOAD(real_pvalloc)(n);
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (in_arena(p))
        return 0;
    resolve();
    return LOAD(real_usable_size)(p);
}
