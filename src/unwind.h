/*
 * unwind.h - capture the call stack of an allocation.
 *
 * Uses libunwind's local unwinder (unw_backtrace, with its per-thread trace cache). Must be
 * called with no profiler lock held: the unwinder may take the loader lock (dl_iterate_phdr)
 * and may allocate. Leading frames that belong to the profiler's own code (the hooks, the
 * sampler) are trimmed, so frame 0 is the caller of malloc.
 */
#ifndef HS_UNWIND_H
#define HS_UNWIND_H

#include <stdint.h>

#include "common.h"

/*
 * Trim leading frames whose address lies in [lo, hi) (the preloaded library's text). Set once at
 * init; a static build (unit tests) leaves it empty.
 */
void hs_unwind_set_self_range(uintptr_t lo, uintptr_t hi);
/* The text range of the object that contains this code (via dl_iterate_phdr). */
hs_err_t hs_unwind_find_self_range(uintptr_t *lo, uintptr_t *hi) HS_MUST_CHECK;

/* Profiler frames above the caller of malloc (capture, record, slow path, hook) + margin. */
#define HS_UNWIND_SLACK 12
/* Size of the buffer hs_unwind_capture needs: the deepest stack plus the trimmed frames. */
#define HS_UNWIND_BUF (HS_STACK_MAX_DEPTH + HS_UNWIND_SLACK)

/*
 * Capture up to max return addresses of the current thread, leaf first, own frames trimmed.
 * frames must hold HS_UNWIND_BUF entries. Returns the number captured (0 on failure).
 */
uint32_t hs_unwind_capture(uintptr_t *frames, uint32_t max);

/*
 * The loader gate. dl_iterate_phdr holds the loader's write lock, which glibc does not reset in
 * a forked child: a fork while any thread is inside it would leave the child unable to unwind
 * or load anything. Profiler code that may enter dl_iterate_phdr (unwinding, reading mappings)
 * runs inside the gate; the fork prepare handler closes it and waits for sections in flight.
 *
 * hs_unwind_gate_enter returns 0 while the gate is closed (the caller skips its work, or
 * retries if it is the writer thread). Sections are microseconds long.
 */
int hs_unwind_gate_enter(void);
void hs_unwind_gate_exit(void);
void hs_unwind_gate_close(void);
/* child != 0 in a forked child: forget sections of threads that did not survive. */
void hs_unwind_gate_open(int child);

#endif
