/*
 * unwind.c - stack capture with libunwind's local unwinder.
 *
 * unw_backtrace walks the caller's frames using DWARF CFI with libunwind's per-thread trace
 * cache (fast after the first walk through a given code path). Hazards, and why they are safe:
 *  - the unwinder may call dl_iterate_phdr (loader lock): we hold no profiler lock here, and
 *    the loader lock is recursive, so a malloc sampled while its thread holds the loader lock
 *    (inside dlopen) unwinds fine;
 *  - it may allocate: the caller holds the reentrancy guard, so those allocations are not
 *    sampled;
 *  - its global register-state cache takes a lock around dl_iterate_phdr; the per-thread
 *    caching policy (set at init) avoids that lock-order inversion with the loader lock.
 *
 * Fork: every unwind runs inside the loader gate (unwind.h), so fork never happens while one of
 * our unwinds holds the loader's dl_iterate_phdr lock.
 *
 * Trimming: frames in the profiler's own text range are dropped from the top of the stack, so
 * frame 0 is the first frame outside the profiler (the caller of malloc).
 */
#include "unwind.h"

#include <link.h>
#include <sched.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

static uintptr_t self_lo, self_hi;
static int gate_closed;
static int gate_inside;

void hs_unwind_set_self_range(uintptr_t lo, uintptr_t hi)
{
    self_lo = lo;
    self_hi = hi;
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

struct self_search {
    uintptr_t target;
    uintptr_t lo, hi;
    int is_main;
    int found;
};

static int self_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct self_search *s = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        uintptr_t hi = lo + ph->p_memsz;
        if (s->target >= lo && s->target < hi) {
            s->lo = lo;
            s->hi = hi;
            s->is_main = info->dlpi_name == NULL || info->dlpi_name[0] == '\0';
            s->found = 1;
            return 1;
        }
    }
    return 0;
}

hs_err_t hs_unwind_find_self_range(uintptr_t *lo, uintptr_t *hi)
{
    struct self_search s = {.target = (uintptr_t)&hs_unwind_capture};
    dl_iterate_phdr(self_cb, &s);
    /* Linked into the main program (unit tests): nothing to trim by range. */
    if (!s.found || s.is_main)
        return HS_ERR_NOTFOUND;
    *lo = s.lo;
    *hi = s.hi;
    return HS_OK;
}

int hs_unwind_gate_enter(void)
{
    if (__atomic_load_n(&gate_closed, __ATOMIC_ACQUIRE))
        return 0;
    __atomic_add_fetch(&gate_inside, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&gate_closed, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&gate_inside, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    return 1;
}

void hs_unwind_gate_exit(void)
{
    __atomic_sub_fetch(&gate_inside, 1, __ATOMIC_RELEASE);
}

void hs_unwind_gate_close(void)
{
    __atomic_store_n(&gate_closed, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&gate_inside, __ATOMIC_SEQ_CST) != 0)
        sched_yield();
}

void hs_unwind_gate_open(int child)
{
    /* In a forked child the threads counted inside (transiently) no longer exist. */
    if (child)
        __atomic_store_n(&gate_inside, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&gate_closed, 0, __ATOMIC_RELEASE);
}

uint32_t hs_unwind_capture(uintptr_t *frames, uint32_t max)
{
    if (max > HS_STACK_MAX_DEPTH)
        max = HS_STACK_MAX_DEPTH;
    if (!hs_unwind_gate_enter())
        return 0; /* a fork is in progress: drop this sample */
    int n = unw_backtrace((void **)frames, (int)(max + HS_UNWIND_SLACK));
    hs_unwind_gate_exit();
    if (n <= 0)
        return 0;
    int skip = 0;
    while (skip < n && frames[skip] >= self_lo && frames[skip] < self_hi)
        skip++;
    uint32_t out = (uint32_t)(n - skip);
    if (out > max)
        out = max;
    if (skip)
        memmove(frames, frames + skip, out * sizeof *frames);
    return out;
}
