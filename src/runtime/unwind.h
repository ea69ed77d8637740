/*
 * unwind.h - capture the call stack of an allocation.
 *
 * Two unwinders, chosen by HEAPSAMPLER_UNWIND: libunwind's local unwinder (unw_backtrace, DWARF
 * CFI with its per-thread trace cache; the default, works for any code) or a frame-pointer walk
 * (`fp`: much cheaper, correct only for code built with frame pointers). Must be called with no
 * profiler lock held and the reentrancy guard held: libunwind may take the loader lock
 * (dl_iterate_phdr) and allocate, and every capture refreshes the module record
 * (hs_mappings_sync). Leading frames that belong to the profiler's own code (the hooks, the
 * sampler) are trimmed, so frame 0 is the caller of malloc. A stack may end with a generation
 * mark (HS_MAPPINGS_IS_MARK, mappings.h): not a return address, exporters use it to resolve
 * frames in reused address ranges and never show it.
 */
#ifndef HS_UNWIND_H
#define HS_UNWIND_H

#include <stdint.h>

#include "common.h"

/* HEAPSAMPLER_UNWIND: how stacks are captured (the order of the option's choices in config.c). */
typedef enum hs_unwind_mode {
    HS_UNWIND_LIBUNWIND = 0, /* DWARF CFI through libunwind */
    HS_UNWIND_FP,            /* frame-pointer walk */
} hs_unwind_mode_t;

/*
 * Trim leading frames whose address lies in [lo, hi) (the preloaded library's text). Set once at
 * init; a static build (unit tests) leaves it empty.
 */
void hs_unwind_set_self_range(uintptr_t lo, uintptr_t hi);
/* The text range of the object that contains this code (via dl_iterate_phdr). */
hs_err_t hs_unwind_find_self_range(uintptr_t *lo, uintptr_t *hi) HS_MUST_CHECK;
/* The executable range of the shared object that contains addr (HS_ERR_NOTFOUND: none, or the
 * main program). Calls into the loader: never with a profiler lock held. */
hs_err_t hs_unwind_find_range(uintptr_t addr, uintptr_t *lo, uintptr_t *hi) HS_MUST_CHECK;

/* Profiler frames above the caller of malloc (capture, record, slow path, hook) + margin. */
#define HS_UNWIND_SLACK 12
/* Size of the buffer hs_unwind_capture needs: the deepest stack plus the trimmed frames. */
#define HS_UNWIND_BUF (HS_STACK_MAX_DEPTH + HS_UNWIND_SLACK)

/*
 * Capture up to max return addresses of the current thread, leaf first, own frames trimmed,
 * plus a generation mark when needed (then max + 1 entries, or the last frame replaced by the
 * mark at HS_STACK_MAX_DEPTH). frames must hold HS_UNWIND_BUF entries. Returns the number of
 * entries (0 on failure). The unwinder is hs_config.unwind (HS_UNWIND_*).
 */
uint32_t hs_unwind_capture(uintptr_t *frames, uint32_t max);

/*
 * The frame-pointer walk alone, from the caller's frame: up to max return addresses, leaf
 * first, nothing trimmed, no mark. Returns -1 when the current thread's stack bounds are unknown
 * or the current frame lies outside them (an alternate signal stack, a coroutine's stack): the
 * caller falls back to libunwind. Each frame record is read only if it lies within the thread's
 * stack, above the previous one and aligned; anything else ends the walk. For tests and the
 * benchmark.
 */
int hs_unwind_fp(uintptr_t *frames, int max);

#endif
