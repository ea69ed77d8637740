/*
 * test_unwind.c - the frame-pointer walk against libunwind (same return addresses through code
 * built with frame pointers), its safety checks (a corrupted chain, a loop, a pointer off the
 * stack, an alternate signal stack: the walk stops or declines, never faults), other threads'
 * stacks, and hs_unwind_capture in both modes.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "config.h"
#include "mappings.h"
#include "unwind.h"

#define DEPTH 20

typedef struct walk {
    uintptr_t fp[128];
    int nfp;
    uintptr_t lu[128];
    int nlu;
} walk_t;

/* Recurse to DEPTH, then walk both ways from the same frame. */
static HS_NOINLINE int recurse(int n, walk_t *w)
{
    if (n == 0) {
        w->nfp = hs_unwind_fp(w->fp, 128);
        w->nlu = unw_backtrace((void **)w->lu, 128);
        return w->nfp;
    }
    volatile int r = recurse(n - 1, w); /* volatile: no tail call */
    return r + 0;
}

static int count_in(const uintptr_t *v, int n, uintptr_t lo, uintptr_t hi)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += v[i] >= lo && v[i] < hi;
    return c;
}

/*
 * After each walk's own call site in recurse() (hs_unwind_fp's or unw_backtrace's, which
 * differ), both list the same DEPTH return addresses into recurse() and then the same caller.
 */
static void check_same_recursion(const walk_t *w)
{
    uintptr_t lo = (uintptr_t)&recurse, hi = lo + 512;
    int i = 0, j = 0;
    while (i < w->nfp && !(w->fp[i] >= lo && w->fp[i] < hi))
        i++;
    while (j < w->nlu && !(w->lu[j] >= lo && w->lu[j] < hi))
        j++;
    cr_assert_geq(w->nfp, i + DEPTH + 2, "fp walk: %d frames", w->nfp);
    cr_assert_geq(w->nlu, j + DEPTH + 2, "libunwind: %d frames", w->nlu);
    for (int k = 1; k <= DEPTH + 1; k++)
        cr_assert_eq(w->fp[i + k], w->lu[j + k], "frame %d: %#lx vs %#lx", k,
                     (unsigned long)w->fp[i + k], (unsigned long)w->lu[j + k]);
    for (int k = 2; k <= DEPTH; k++)
        cr_assert_eq(w->fp[i + k], w->fp[i + 1], "the recursive call site");
}

Test(unwind, fp_matches_libunwind)
{
    walk_t w;
    recurse(DEPTH, &w);
    check_same_recursion(&w);
}

static void *thread_walk(void *arg)
{
    recurse(DEPTH, arg);
    return NULL;
}

Test(unwind, fp_on_other_threads)
{
    /* A thread with a small stack of its own: the bounds come from its attributes. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    walk_t w;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, &attr, thread_walk, &w), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    check_same_recursion(&w);
}

/* Damage this frame's saved frame pointer (bad, or a link to itself), walk, repair. */
static HS_NOINLINE int walk_with_saved_fp(uintptr_t bad, int self_loop, uintptr_t *frames, int max)
{
    volatile uintptr_t *fp = __builtin_frame_address(0);
    uintptr_t saved = fp[0];
    fp[0] = self_loop ? (uintptr_t)fp : bad;
    int n = hs_unwind_fp(frames, max);
    fp[0] = saved;
    return n;
}

Test(unwind, fp_stops_on_a_broken_chain)
{
    uintptr_t frames[64];
    int here;
    uintptr_t stack_addr = (uintptr_t)&here;
    const uintptr_t bad[] = {
        0,                 /* end of chain */
        1,                 /* tiny */
        0xdeadbeef,        /* off the stack */
        stack_addr + 3,    /* misaligned */
        UINTPTR_MAX - 7,   /* would wrap */
        stack_addr - 4096, /* below the current frame: stacks grow down */
        0,                 /* (self_loop) a link to itself: not above */
    };
    size_t nbad = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < nbad; i++) {
        int n = walk_with_saved_fp(bad[i], i == nbad - 1, frames, 64);
        /* hs_unwind_fp's own record, then walk_with_saved_fp's (with the bad link): stop. */
        cr_assert_geq(n, 1, "case %zu", i);
        cr_assert_leq(n, 2, "case %zu: %d frames", i, n);
    }
}

static volatile int altstack_result = 99;

static void on_signal(int sig)
{
    (void)sig;
    uintptr_t frames[16];
    altstack_result = hs_unwind_fp(frames, 16);
}

Test(unwind, fp_declines_an_alternate_signal_stack)
{
    /* Learn this thread's bounds first (they are obtained once per thread). */
    uintptr_t frames[16];
    cr_assert_gt(hs_unwind_fp(frames, 16), 0);
    stack_t ss = {.ss_size = 64 * 1024};
    ss.ss_sp = malloc(ss.ss_size);
    cr_assert_not_null(ss.ss_sp);
    cr_assert_eq(sigaltstack(&ss, NULL), 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK;
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    raise(SIGUSR1);
    cr_assert_eq(altstack_result, -1, "not the thread's stack: libunwind's job");
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    free(ss.ss_sp);
}

static HS_NOINLINE uint32_t capture_here(uintptr_t *frames)
{
    volatile uint32_t n = hs_unwind_capture(frames, 64);
    return n;
}

/* Calls capture_here; the return address into it lies in [&capture_caller, +256). */
static HS_NOINLINE uint32_t capture_caller(uintptr_t *frames)
{
    volatile uint32_t n = capture_here(frames);
    return n;
}

static int count_caller(const uintptr_t *v, uint32_t n)
{
    return count_in(v, (int)n, (uintptr_t)&capture_caller, (uintptr_t)&capture_caller + 256);
}

Test(unwind, capture_in_both_modes)
{
    uintptr_t a[HS_UNWIND_BUF], b[HS_UNWIND_BUF];
    hs_config.unwind = HS_UNWIND_LIBUNWIND;
    uint32_t na = capture_caller(a);
    hs_config.unwind = HS_UNWIND_FP;
    uint32_t nb = capture_caller(b);
    hs_config.unwind = HS_UNWIND_LIBUNWIND;
    cr_assert_gt(na, 2);
    cr_assert_gt(nb, 2);
    cr_assert_eq(count_caller(a, na), 1);
    cr_assert_eq(count_caller(b, nb), 1);
    for (uint32_t i = 0; i < na; i++)
        cr_assert(!HS_MAPPINGS_IS_MARK(a[i]), "no reused range in this process: no mark");
    for (uint32_t i = 0; i < nb; i++)
        cr_assert(!HS_MAPPINGS_IS_MARK(b[i]));
}
