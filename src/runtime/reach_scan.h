/*
 * reach_scan.h - is a sampled live block still referenced, and by what? A conservative scan of
 * the process's writable memory for words that point into the sampled live blocks.
 *
 * Classes, as LeakSanitizer's: the roots are the process's writable memory outside the sampled
 * blocks (globals, stacks, mappings, and the allocator's heap around the sampled blocks:
 * unsampled blocks, free memory); a sampled block is reached when a word of a root, or of a
 * reached sampled block, points into it (interior pointers count; a block pointing into itself
 * does not). A block never reached is `unreferenced`: lost, with every block only it holds
 * (LeakSanitizer's direct and indirect leaks), unless its address is hidden in a register or
 * disguised (xor-linked lists, tagged pointers, offsets). Any other block is `referenced`:
 * still in use, or garbage that unsampled garbage points to, or named by a stale word (a dead
 * stack slot of a running thread, bytes of a free or uninitialised block of the allocator that
 * still hold an old pointer). The holder is where the first reference found lives:
 * `global:<symbol>` (a module's data or bss), `stack` (a thread's stack), `heap:<function>`
 * (a reached sampled block, named by its allocating function), `heap` (the allocator's memory
 * elsewhere: an unsampled block), or `mmap` (other anonymous or shared memory).
 *
 * The scan splits the snapshot's rows at dump time: for each site, rows of the blocks it
 * classified, labelled reach=... (and held_by=... when referenced), carrying inuse only; the
 * site's own row keeps its alloc counts and the blocks left unclassified (time budget, blocks
 * sampled after the scan began).
 *
 * Runs in the writer thread (or the exiting thread) under the reentrancy guard and the dump
 * lock; holds no profiler lock except one live-table shard at a time while copying it.
 */
#ifndef HS_REACH_SCAN_H
#define HS_REACH_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "snapshot.h"

/* HEAPSAMPLER_REACH (the order of the option's choices in config.c). */
typedef enum hs_reach_mode {
    HS_REACH_OFF = 0,
    HS_REACH_EXIT,  /* the exit profile (default) */
    HS_REACH_EVERY, /* every profile written to a file */
} hs_reach_mode_t;

/* The name of the function that allocated a block of a site (for heap:<function>), given its
 * stack's frames (return addresses, leaf first); NULL when unknown. The string must live until
 * the snapshot is freed. */
typedef const char *(*hs_reach_namer_fn)(void *arg, const uintptr_t *frames, uint32_t depth);

typedef struct hs_reach_config {
    uint64_t budget_ns;    /* the scan stops after this long; blocks left are unclassified */
    uintptr_t stack_floor; /* the scanning thread's stack is read only from here up */
    hs_reach_namer_fn namer;
    void *namer_arg;
} hs_reach_config_t;

typedef struct hs_reach_stats {
    uint64_t blocks;       /* sampled live blocks examined */
    uint64_t unreferenced; /* found by no pass */
    uint64_t referenced;
    uint64_t unscanned;   /* left unclassified: budget, or the scan could not read memory */
    uint64_t freed;       /* freed while the scan ran: not reported */
    uint64_t confirmed;   /* of pass 1's unreferenced, found referenced by a later pass */
    uint32_t passes;      /* passes run */
    uint64_t bytes;       /* bytes read, both passes */
    uint64_t skipped;     /* bytes of mappings left out as not resident */
    uint64_t regions;     /* mappings read */
    uint64_t ns;          /* time of the whole scan */
    uint64_t lock_max_ns; /* longest hold of a live-table shard lock */
    bool complete;        /* both passes ran to the end */
} hs_reach_stats_t;

/*
 * Scan and split snap's rows (see above). Fails only when memory for the scan's own tables
 * cannot be had (the snapshot is then unchanged).
 */
hs_err_t hs_reach_scan(hs_snapshot_t *snap, const hs_reach_config_t *cfg,
                       hs_reach_stats_t *stats) HS_MUST_CHECK;

/* The word of memory at addr, read so that an unmapped address fails instead of faulting:
 * 0 on success. For tests. */
int hs_reach_read(uintptr_t addr, void *buf, size_t len, size_t *got);

#endif
