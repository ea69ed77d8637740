/*
 * alloc_stats.h - the allocator's own view of its memory: whichever allocator is beneath the
 * profiler (the object that provides the next malloc: glibc, jemalloc, tcmalloc, mimalloc),
 * asked through its own statistics interface, looked up with dlsym so that none of them is a
 * build or load dependency.
 *
 *   glibc     mallinfo2(): in use = uordblks + hblkhd (blocks in arenas and mmapped blocks),
 *             free = fordblks (free chunks inside the arenas), mapped = arena + hblkhd
 *   jemalloc  mallctl after an "epoch" refresh: in use = stats.allocated, free = stats.resident
 *             - stats.allocated, mapped = stats.mapped, retained = stats.retained
 *   tcmalloc  MallocExtension_GetNumericProperty: in use = generic.current_allocated_bytes,
 *             free = generic.heap_size - tcmalloc.pageheap_unmapped_bytes - in use
 *   mimalloc  mi_process_info: committed memory only (its release build keeps no count of the
 *             bytes in use: in use and free are unknown)
 *
 * Cost: mallinfo2 walks every bin of every arena, each under its arena's lock, so an
 * allocating thread of that arena waits for the walk of its free lists (milliseconds with
 * millions of free chunks). The reads are therefore spaced: after a read that took d of at least
 * HS_ALLOC_STATS_CHEAP_NS, the next one waits for 1000 d (the walks take at most 0.1% of the
 * time: with two million free chunks, a walk of 15 to 35 ms every 15 to 35 s), and a profile in
 * between
 * carries the last figures with their age (the exit profile always reads). The other
 * allocators' figures are counters: cheap, read every time.
 *
 * While it walks, the writer thread leaves SCHED_BATCH for the ordinary policy: preempted
 * with an arena's lock held, it would make that arena's threads wait for its next turn too.
 *
 * Threads: called by the dump (writer thread or exiting thread) under the reentrancy guard,
 * serialised by the dump lock; the lookup calls into the loader once (dladdr, dlopen
 * RTLD_NOLOAD, dlsym) inside the loader gate, holding only the dump lock, which no allocation
 * takes. Fork: the child keeps what was found (the same objects are mapped) and the time of
 * the last read.
 */
#ifndef HS_ALLOC_STATS_H
#define HS_ALLOC_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

typedef struct hs_alloc_stats {
    const char *name;  /* "glibc", "jemalloc", "tcmalloc", "mimalloc" or "unknown" */
    bool has_inuse;    /* inuse and free are known */
    uint64_t inuse;    /* bytes in blocks the program holds, as the allocator counts them */
    uint64_t free;     /* resident or mapped bytes the allocator keeps but nobody uses */
    uint64_t mapped;   /* bytes the allocator has from the system (0: unknown) */
    uint64_t mmapped;  /* glibc: of those, blocks mmapped one by one */
    uint64_t retained; /* jemalloc: virtual memory kept unmapped-but-reserved (not RSS) */
    uint64_t read_ns;  /* how long the read took */
    uint64_t age_ns;   /* how old the figures are (0: read for this profile) */
} hs_alloc_stats_t;

#define HS_ALLOC_STATS_CHEAP_NS 10000000ull /* 10 ms */

/* The allocator's figures: a new read, or the last one if a read is not yet due and `fresh` is
 * 0. HS_ERR_NOTFOUND when the allocator is unknown (out->name says so). */
hs_err_t hs_alloc_stats_read(int fresh, hs_alloc_stats_t *out) HS_MUST_CHECK;

/* The allocator's name (looked up if needed). */
const char *hs_alloc_stats_name(void);

#endif
