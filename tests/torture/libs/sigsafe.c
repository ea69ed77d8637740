/*
 * sigsafe.c - an LD_PRELOAD shim that goes beneath the profiler (LD_PRELOAD="libheapsampler.so
 * libhs_torture_sigsafe.so"): glibc's malloc family with every signal blocked for the length of
 * each call. glibc's allocator is not reentrant, so a signal handler that allocates may deadlock
 * in it whatever the profiler does; with this shim underneath, a handler can only interrupt the
 * code above the allocator - the profiler's hooks and slow paths - which is what the signal
 * torture wants to hit. Used for the baseline run too, so both runs are equally safe.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);

#define BLOCKED(type, call)                                                                        \
    do {                                                                                           \
        sigset_t all_, old_;                                                                       \
        sigfillset(&all_);                                                                         \
        pthread_sigmask(SIG_SETMASK, &all_, &old_);                                                \
        type r_ = (call);                                                                          \
        int e_ = errno;                                                                            \
        pthread_sigmask(SIG_SETMASK, &old_, NULL);                                                 \
        errno = e_;                                                                                \
        return r_;                                                                                 \
    } while (0)

/* free returns nothing: call through a function that does. */
static int libc_free(void *p)
{
    __libc_free(p);
    return 0;
}

static int blocked_free(void *p)
{
    BLOCKED(int, libc_free(p));
}

void *malloc(size_t n)
{
    BLOCKED(void *, __libc_malloc(n));
}

void *calloc(size_t n, size_t m)
{
    BLOCKED(void *, __libc_calloc(n, m));
}

void *realloc(void *p, size_t n)
{
    BLOCKED(void *, __libc_realloc(p, n));
}

void free(void *p)
{
    if (p)
        blocked_free(p);
}

void *memalign(size_t a, size_t n)
{
    BLOCKED(void *, __libc_memalign(a, n));
}

void *valloc(size_t n)
{
    BLOCKED(void *, __libc_valloc(n));
}

void *pvalloc(size_t n)
{
    BLOCKED(void *, __libc_pvalloc(n));
}

/* The rest come from glibc itself (the next definitions): they never call the public malloc. */
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static size_t (*next_usable_size)(void *);

int posix_memalign(void **out, size_t a, size_t n)
{
    if (!next_posix_memalign)
        next_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    BLOCKED(int, next_posix_memalign(out, a, n));
}

void *aligned_alloc(size_t a, size_t n)
{
    if (!next_aligned_alloc)
        next_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    BLOCKED(void *, next_aligned_alloc(a, n));
}

size_t malloc_usable_size(void *p)
{
    if (!next_usable_size)
        next_usable_size = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    BLOCKED(size_t, next_usable_size(p));
}
