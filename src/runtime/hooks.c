/*
 * hooks.c - the exported malloc family. Only the preloaded library contains this file; the
 * static core (unit tests, CLI) does not interpose anything.
 *
 * Every hook calls the next allocator and returns exactly its result; errno is whatever the
 * real function left (the slow paths save and restore it). Sampling costs an allocation one
 * thread-local subtraction and a branch, decided before the call so that the common case is a
 * tail call to the real allocator (hs_sampler_charge); a free costs one byte load from the live
 * filter and a branch (hs_live_maybe_sampled). Everything else is out of line.
 *
 * The common cases, as compiled for x86-64 (scripts/bench.sh measures them against an
 * interposer that only forwards, whose hooks are one `jmp *ptr(%rip)`):
 *   malloc   mov GOT,%rax; sub %rdi,%fs:(%rax); jle slow; jmp *next     (4 instructions)
 *   free     mov; shr; and; lea filter; cmpb $0,(filter,slot); jne slow; jmp *next   (7)
 *   calloc   the overflow check (mul, jo), then as malloc                 (6)
 *   realloc  free's check when old != NULL, then malloc's charge          (6 or 12)
 * Keep them so: no stack frame, no call before the tail jump.
 *
 * Order matters for correctness:
 *  - allocation: real call first, then recording, so a sampled pointer is in the live table
 *    before the program can see it;
 *  - free/realloc: the live entry is removed before the real call, because once the memory is
 *    returned another thread may receive (and sample) the same address.
 *
 * Bootstrap arena pointers (real_alloc.c) have a saturated filter byte, so they always reach
 * hooks_free_slow / hooks_realloc_slow, which recognise them and never pass them on.
 *
 * Life cycle: the constructor calls the profiler's init, the destructor its fini. Nothing calls
 * back into this file: whether these hooks are the program's malloc at all is probed by the
 * real allocator's module (hs_real_alloc_probe), through the pointer every hook ends in.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common.h"
#include "profiler.h"
#include "real_alloc.h"
#include "sampler.h"

/* ---- out-of-line paths -------------------------------------------------------------------- */

/* The filter byte of p is set: p may be sampled, or be an arena pointer (never passed on). */
static HS_NOINLINE void hooks_free_slow(void *p)
{
    if (hs_real_alloc_is_bootstrap(p))
        return;
    hs_sampler_free_slow(p);
    HS_REAL(free)(p);
}

/*
 * realloc and reallocarray, out of line: the old pointer may be sampled (or be an arena
 * pointer), or the charge of the new size came due. `charged` says whether the caller already
 * charged n (it did iff the old pointer passed the filter check): the charge is made exactly
 * once per call, before the real call, as for malloc; a failed call has been charged like a
 * failed malloc. Forget the old pointer if it was sampled, call the real function, then put
 * the entry back if the call failed and the old block is therefore still live.
 */
static HS_NOINLINE void *hooks_realloc_slow(void *old, size_t n, int charged)
{
    int due = charged;
    uint32_t site = HS_LIVE_NO_SITE;
    if (old && hs_live_maybe_sampled(old)) {
        if (hs_real_alloc_is_bootstrap(old)) {
            if (n == 0)
                return NULL; /* like glibc: realloc(p, 0) frees p; arena memory is never reused */
            void *p = HS_REAL(malloc)(n);
            if (p) {
                size_t old_size = hs_real_alloc_bootstrap_size(old);
                memcpy(p, old, old_size < n ? old_size : n);
            }
            if (charged || hs_sampler_charge(n))
                hs_sampler_alloc_slow(p, n);
            return p;
        }
        site = hs_sampler_realloc_forget(old);
    }
    if (!charged)
        due = hs_sampler_charge(n);
    void *p = HS_REAL(realloc)(old, n);
    /* A NULL result for size 0 means the old block was freed (glibc's realloc(p, 0)). */
    if (HS_UNLIKELY(site != HS_LIVE_NO_SITE))
        hs_sampler_realloc_done(old, site, p != NULL || n == 0);
    if (due)
        hs_sampler_alloc_slow(p, n);
    return p;
}

#define HOOK_REALLOC(old, size)                                                                    \
    do {                                                                                           \
        if ((old) && HS_UNLIKELY(hs_live_maybe_sampled(old)))                                      \
            return hooks_realloc_slow((old), (size), 0);                                           \
        if (hs_sampler_charge(size))                                                               \
            return hooks_realloc_slow((old), (size), 1);                                           \
        return HS_REAL(realloc)((old), (size));                                                    \
    } while (0)

/* ---- the malloc family -------------------------------------------------------------------- */

static HS_NOINLINE void *hooks_malloc_slow(size_t n)
{
    void *p = HS_REAL(malloc)(n);
    hs_sampler_alloc_slow(p, n);
    return p;
}

static HS_NOINLINE void *hooks_calloc_slow(size_t n, size_t m, size_t total)
{
    void *p = HS_REAL(calloc)(n, m);
    hs_sampler_alloc_slow(p, total);
    return p;
}

HS_EXPORT void *malloc(size_t n)
{
    if (hs_sampler_charge(n))
        return hooks_malloc_slow(n);
    return HS_REAL(malloc)(n);
}

HS_EXPORT void free(void *p)
{
    if (HS_UNLIKELY(hs_live_maybe_sampled(p))) {
        hooks_free_slow(p);
        return;
    }
    HS_REAL(free)(p);
}

HS_EXPORT void *calloc(size_t n, size_t m)
{
    size_t total;
    /* On overflow the real calloc fails with ENOMEM: nothing to charge. */
    if (HS_LIKELY(!__builtin_mul_overflow(n, m, &total)) && hs_sampler_charge(total))
        return hooks_calloc_slow(n, m, total);
    return HS_REAL(calloc)(n, m);
}

HS_EXPORT void *realloc(void *old, size_t n)
{
    HOOK_REALLOC(old, n);
}

/*
 * reallocarray is realloc with an overflow check, implemented here on the next realloc: glibc's
 * own reallocarray calls the public realloc, which would reach our hook a second time and
 * count the allocation twice.
 */
HS_EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
    size_t total;
    if (HS_UNLIKELY(__builtin_mul_overflow(n, m, &total))) {
        errno = ENOMEM; /* old stays live, as with the real reallocarray */
        return NULL;
    }
    HOOK_REALLOC(old, total);
}

/*
 * The aligned functions call the next allocator under the guard: an allocator may implement one
 * through another public function (valloc via memalign, say), whose hook must not sample the
 * same block a second time. These are not on the hot path of the malloc/free bar.
 */
#define HOOK_ALIGNED(type, call, ok, ptr, size)                                                    \
    do {                                                                                           \
        hs_thread_t *t_ = hs_thread_get();                                                         \
        hs_guard_enter(t_);                                                                        \
        type r_ = (call);                                                                          \
        hs_guard_exit(t_);                                                                         \
        if (ok)                                                                                    \
            hs_sampler_on_alloc((ptr), (size));                                                    \
        return r_;                                                                                 \
    } while (0)

HS_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    HOOK_ALIGNED(int, HS_REAL(posix_memalign)(out, align, n), r_ == 0, *out, n);
}

HS_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    HOOK_ALIGNED(void *, HS_REAL(aligned_alloc)(align, n), r_ != NULL, r_, n);
}

HS_EXPORT void *memalign(size_t align, size_t n)
{
    HOOK_ALIGNED(void *, HS_REAL(memalign)(align, n), r_ != NULL, r_, n);
}

HS_EXPORT void *valloc(size_t n)
{
    HOOK_ALIGNED(void *, HS_REAL(valloc)(n), r_ != NULL, r_, n);
}

HS_EXPORT void *pvalloc(size_t n)
{
    HOOK_ALIGNED(void *, HS_REAL(pvalloc)(n), r_ != NULL, r_, n);
}

/*
 * C23's sized frees (glibc 2.43; compilers emit them for free(p) where the size is known).
 * Without them a program that frees through them would leave its sampled blocks live forever.
 * They forward to the next allocator's own version, or to free (real_alloc.c).
 */
static HS_NOINLINE void hooks_free_sized_slow(void *p, size_t align, size_t n, int aligned)
{
    if (hs_real_alloc_is_bootstrap(p))
        return;
    hs_sampler_free_slow(p);
    if (aligned)
        HS_REAL(free_aligned_sized)(p, align, n);
    else
        HS_REAL(free_sized)(p, n);
}

HS_EXPORT void free_sized(void *p, size_t n)
{
    if (HS_UNLIKELY(hs_live_maybe_sampled(p))) {
        hooks_free_sized_slow(p, 0, n, 0);
        return;
    }
    HS_REAL(free_sized)(p, n);
}

HS_EXPORT void free_aligned_sized(void *p, size_t align, size_t n)
{
    if (HS_UNLIKELY(hs_live_maybe_sampled(p))) {
        hooks_free_sized_slow(p, align, n, 1);
        return;
    }
    HS_REAL(free_aligned_sized)(p, align, n);
}

HS_EXPORT size_t malloc_usable_size(void *p)
{
    if (HS_UNLIKELY(hs_real_alloc_is_bootstrap(p)))
        return hs_real_alloc_bootstrap_size(p);
    return HS_REAL(malloc_usable_size)(p);
}

/* ---- life cycle --------------------------------------------------------------------------- */

__attribute__((constructor(101))) static void hooks_init(void)
{
    hs_profiler_init();
}

__attribute__((destructor(101))) static void hooks_fini(void)
{
    hs_profiler_fini();
}
