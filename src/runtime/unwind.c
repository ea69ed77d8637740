/*
 * unwind.c - stack capture: libunwind's local unwinder, or a frame-pointer walk.
 *
 * libunwind (default): unw_backtrace walks the caller's frames using DWARF CFI with libunwind's
 * per-thread trace cache (fast after the first walk through a given code path). Hazards, and
 * why they are safe:
 *  - the unwinder may call dl_iterate_phdr (loader lock): we hold no profiler lock here, and
 *    the loader lock is recursive, so a malloc sampled while its thread holds the loader lock
 *    (inside dlopen) unwinds fine;
 *  - it may allocate: the caller holds the reentrancy guard, so those allocations are not
 *    sampled;
 *  - its global register-state cache takes a lock around dl_iterate_phdr; the per-thread
 *    caching policy (set at init) avoids that lock-order inversion with the loader lock.
 *
 *
 * Frame pointers (HEAPSAMPLER_UNWIND=fp): with frame pointers every frame starts with a record
 * {caller's frame pointer, return address} at the frame pointer, so the stack is a linked list.
 * The walk must never fault, whatever the code below it did with its frame-pointer register:
 *  - the current thread's stack bounds come from pthread_getattr_np, once per thread (it may
 *    allocate and read /proc/self/maps: the guard is held), kept in initial-exec TLS;
 *  - a record is read only if it lies entirely within [lo, hi), is aligned, and lies above the
 *    previous one (stacks grow down, callers' frames are higher): the walk only moves towards
 *    the top of the stack, through memory between the current frame and the top, which is
 *    mapped; a zero or tiny return address, or one that looks like a generation mark, ends it.
 * If the bounds are unknown or the current frame is not within them (an alternate signal stack,
 * a coroutine's own stack), the sample falls back to libunwind. The profiler's own code is built
 * with -fno-omit-frame-pointer (CMakeLists.txt), so the chain is intact from this function to
 * the caller of malloc: the hooks' fast paths have no frame (they tail-call), and every
 * out-of-line path that leads here sets one up. Code of the program built without frame
 * pointers ends the walk early or gives wrong callers; that is the price of the mode.
 *
 * Every capture then calls hs_mappings_sync (record the modules if the loader's counters moved,
 * compute the stack's generation mark), inside the same gate section.
 *
 * Fork: every unwind runs inside the loader gate (loader_gate.h), so fork never happens while one
 * of our unwinds holds the loader's dl_iterate_phdr lock.
 *
 * Trimming: frames in the profiler's own text range are dropped from the top of the stack, so
 * frame 0 is the first frame outside the profiler (the caller of malloc), whichever unwinder
 * captured them.
 */
#include "unwind.h"

#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "config.h"
#include "loader_gate.h"
#include "mappings.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

static uintptr_t self_lo, self_hi;

enum { STACK_UNKNOWN = 0, STACK_KNOWN, STACK_UNAVAILABLE };

/* This thread's stack, for the frame-pointer walk. Zero-initialised: unknown. */
static __thread struct {
    uintptr_t lo, hi;
    int state;
} hs_unwind_stack __attribute__((tls_model("initial-exec")));

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
    return hs_unwind_find_range((uintptr_t)&hs_unwind_capture, lo, hi);
}

hs_err_t hs_unwind_find_range(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    struct self_search s = {.target = addr};
    dl_iterate_phdr(self_cb, &s);
    /* Linked into the main program (unit tests): nothing to trim by range. */
    if (!s.found || s.is_main)
        return HS_ERR_NOTFOUND;
    *lo = s.lo;
    *hi = s.hi;
    return HS_OK;
}

static void hs_unwind_stack_bounds(void)
{
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    hs_unwind_stack.state = STACK_UNAVAILABLE;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr && size) {
        hs_unwind_stack.lo = (uintptr_t)addr;
        hs_unwind_stack.hi = (uintptr_t)addr + size;
        hs_unwind_stack.state = STACK_KNOWN;
    }
    pthread_attr_destroy(&attr);
}

HS_NOINLINE int hs_unwind_fp(uintptr_t *frames, int max)
{
    if (HS_UNLIKELY(hs_unwind_stack.state == STACK_UNKNOWN))
        hs_unwind_stack_bounds();
    if (hs_unwind_stack.state != STACK_KNOWN)
        return -1;
    const uintptr_t lo = hs_unwind_stack.lo, hi = hs_unwind_stack.hi;
    const uintptr_t record = 2 * sizeof(uintptr_t);
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    if (fp < lo || fp >= hi)
        return -1;
    int n = 0;
    while (n < max) {
        if ((fp & (sizeof(uintptr_t) - 1)) != 0 || fp < lo || fp >= hi || hi - fp < record)
            break;
        const uintptr_t *rec = (const uintptr_t *)fp;
        uintptr_t next = rec[0], ret = rec[1];
        if (ret < 4096 || HS_MAPPINGS_IS_MARK(ret))
            break;
        frames[n++] = ret;
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

uint32_t hs_unwind_capture(uintptr_t *frames, uint32_t max)
{
    if (max > HS_STACK_MAX_DEPTH)
        max = HS_STACK_MAX_DEPTH;
    if (!hs_loader_gate_enter())
        return 0; /* a fork is in progress: drop this sample */
    int want = (int)(max + HS_UNWIND_SLACK);
    int n = -1;
    if (hs_config.unwind == HS_UNWIND_FP)
        n = hs_unwind_fp(frames, want);
    if (n < 0)
        n = unw_backtrace((void **)frames, want);
    int skip = 0;
    while (skip < n && frames[skip] >= self_lo && frames[skip] < self_hi)
        skip++;
    uint32_t out = n > skip ? (uint32_t)(n - skip) : 0;
    if (out > max)
        out = max;
    uintptr_t mark = out ? hs_mappings_sync(frames + skip, out) : 0;
    hs_loader_gate_exit();
    if (out == 0)
        return 0;
    if (skip)
        memmove(frames, frames + skip, out * sizeof *frames);
    if (mark) {
        if (out == HS_STACK_MAX_DEPTH)
            out--; /* the outermost frame gives way: the stack table's limit */
        frames[out++] = mark;
    }
    return out;
}
