/*
 * mappings.h - the code this process has loaded, for pprof Mapping messages and symbolization,
 * including code that has been unloaded (dlclose) since a sample was taken in it.
 *
 * A process-wide record keeps every executable segment seen loaded: one hs_module_t per
 * executable PT_LOAD segment reported by dl_iterate_phdr, with its load bias, file offset and GNU
 * build ID (read from the in-memory PT_NOTE), numbered in the order it was first seen. The record
 * is refreshed whenever the loader's load/unload counters (dlpi_adds/dlpi_subs) have moved: from
 * the sampling path (hs_mappings_sync, so a library in which a sample was taken is recorded
 * before it can be unloaded) and at dump time (hs_mappings_read). Unloaded modules stay in the
 * record, so their frames keep a mapping, a file name and a build ID.
 *
 * An address range can be reused (A unloaded, B loaded at the same address): addresses in such
 * ranges are ambiguous. A stack captured while one of its frames lies in an ambiguous range ends
 * with a generation mark (hs_mappings_sync's result, the number of records at capture time);
 * hs_modules_find_gen (modules.h) resolves each frame to the module that was loaded there when
 * the stack was captured. See mappings.c for the argument.
 *
 * dl_iterate_phdr takes the loader lock: every function here that may call it runs inside the
 * loader gate (loader_gate.h) with no profiler lock held. The record's own mutex is never held
 * while calling the loader.
 */
#ifndef HS_MAPPINGS_H
#define HS_MAPPINGS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "modules.h"

/* Generation marks: a value no return address can take (user addresses are below 2^56). The
 * mark of generation g (modules.h) ends a stack as HS_MAPPINGS_MARK_BASE | g. */
#define HS_MAPPINGS_MARK_BASE   ((uintptr_t)0xFF00000000000000ull)
#define HS_MAPPINGS_IS_MARK(f)  (((uintptr_t)(f)&HS_MAPPINGS_MARK_BASE) == HS_MAPPINGS_MARK_BASE)
#define HS_MAPPINGS_MARK_GEN(f) ((uint32_t)((uintptr_t)(f)&0xFFFFFFFFu))

/*
 * Refresh the record and return every module in it (loaded and unloaded). Calls
 * dl_iterate_phdr: inside the loader gate, no profiler lock held. The result is private.
 */
hs_err_t hs_mappings_read(hs_modules_t *out) HS_MUST_CHECK;

/*
 * Sampling path, after a stack was captured (frames[0, n) are return addresses): make sure the
 * record holds every module loaded now (refresh when the loader's counters moved), and return
 * the generation mark the stack needs (HS_MAPPINGS_MARK_BASE | gen), or 0 when none of its
 * frames lies in a reused range. Calls dl_iterate_phdr (inside the loader gate, no profiler lock
 * held, reentrancy guard held: it allocates when the counters moved). Never fails: on error the
 * record is simply not refreshed.
 */
uintptr_t hs_mappings_sync(const uintptr_t *frames, uint32_t n);

/*
 * Fork (fork.c): the record's mutex is held only inside loader-gate sections, so it is taken
 * after the gate has closed (it is free then; taking it before could deadlock: a section that
 * starts meanwhile would wait for it while the gate waits for the section). Released in the
 * parent, re-initialised in the child.
 */
void hs_mappings_prefork(void);
void hs_mappings_postfork_parent(void);
void hs_mappings_postfork_child(void);

/* Bytes the record holds, and how many modules it has (loaded or not); lock-free. */
size_t hs_mappings_memory(void);
size_t hs_mappings_record_count(void);

#endif
