/*
 * live_table.h - the sampled allocations that are still live: address -> site id.
 *
 * The free path of an unsampled pointer must cost at most one extra cache-line read and never
 * a lock or an atomic read-modify-write. In front of the table sits a counting filter: one byte
 * per slot, indexed by the address; a slot counts the live sampled addresses that map to it
 * (saturating at 255, after which it stays set). free() reads one byte; zero proves "not
 * sampled". Only a non-zero byte (a sampled pointer, or a rare collision) takes the slow path
 * and a shard lock.
 *
 * The slot is address bits 4..23 (malloc's blocks are 16-byte aligned): one slot per 16 bytes
 * of a 16 MiB window. Nearby blocks use nearby filter bytes, so a program's working set of
 * blocks touches few filter cache lines: the check of a free usually hits the L1 cache. A
 * multiplicative hash spread them over the whole 1 MiB instead, and on the churn benchmark
 * the filter byte missed L1 on nearly every free, which cost more time (about 2% of a
 * malloc+free pair) than the instruction it saves. The neighbours of a sampled block do not
 * share its slot; addresses 16 MiB apart do, which costs such a free the slow path (a lookup
 * that finds nothing), never a wrong answer. The free check is seven instructions in all
 * (copy, shift, mask, filter base, compare with memory, branch, tail jump): see hooks.c.
 *
 * Ordering: a sampled allocation is inserted (and its filter byte raised) before malloc returns
 * the pointer, so any free of it - on any thread, after the program's own synchronisation -
 * sees the byte. free() removes the entry *before* calling the real free: once the real free
 * runs, the address may be handed out and sampled again by another thread.
 *
 * The table is sharded (HS_LIVE_SHARDS mutexes); each shard is an open-addressing array with
 * linear probing and backward-shift deletion, grown by doubling with memory from hs_os_map.
 * Inserting an address that is already present replaces the entry and reports the old site:
 * this heals the rare lost removal (a free in a signal handler that interrupted the profiler).
 */
#ifndef HS_LIVE_TABLE_H
#define HS_LIVE_TABLE_H

#include <stdint.h>

#include "common.h"

#define HS_LIVE_FILTER_BITS  20
#define HS_LIVE_FILTER_SLOTS (1u << HS_LIVE_FILTER_BITS)
#define HS_LIVE_SHARDS       64
#define HS_LIVE_NO_SITE      UINT32_MAX

extern uint8_t hs_live_filter[HS_LIVE_FILTER_SLOTS] HS_HIDDEN;

HS_INLINE uint32_t hs_live_filter_slot(const void *p)
{
    return ((uint32_t)(uintptr_t)p >> 4) & (HS_LIVE_FILTER_SLOTS - 1);
}

/*
 * The free-path check: one byte load, no ordering beyond relaxed. On x86-64 the load is the
 * memory operand of a compare (`cmpb $0, (base,slot)`): compilers do not fold an atomic or
 * volatile load into an ALU instruction, and a plain load would be a data race in C11 terms.
 * A single byte read is atomic on x86-64.
 */
HS_INLINE int hs_live_maybe_sampled(const void *p)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ goto("cmpb $0, %0\n\tjne %l[set]"
                 :
                 : "m"(hs_live_filter[hs_live_filter_slot(p)])
                 : "cc"
                 : set);
    return 0;
set:
    return 1;
#else
    return __atomic_load_n(&hs_live_filter[hs_live_filter_slot(p)], __ATOMIC_RELAXED) != 0;
#endif
}

hs_err_t hs_live_init(uint64_t max_entries) HS_MUST_CHECK;
void hs_live_destroy(void);

/* Insert p -> site. *replaced gets the site of an entry p replaced, or HS_LIVE_NO_SITE. */
hs_err_t hs_live_insert(const void *p, uint32_t site_id, uint32_t *replaced) HS_MUST_CHECK;
/* Remove p; HS_ERR_NOTFOUND if it is not a live sampled allocation. */
hs_err_t hs_live_remove(const void *p, uint32_t *site_id) HS_MUST_CHECK;
/* Look up without removing. */
hs_err_t hs_live_lookup(const void *p, uint32_t *site_id) HS_MUST_CHECK;

uint64_t hs_live_count(void);

/* A live sampled allocation as hs_live_copy gives it. */
typedef struct hs_live_block {
    uintptr_t addr;
    uint32_t site;
} hs_live_block_t;

/*
 * Copy up to max live entries into out, a slice of one shard at a time under that shard's lock
 * only (the longest such hold, in ns, goes to *max_hold_ns). out must not be memory of the real
 * allocator when the copy feeds the reachability scan (stale copies of the addresses would be
 * found there). Returns how many were copied; entries inserted or moved meanwhile may be
 * missing or copied twice.
 */
size_t hs_live_copy(hs_live_block_t *out, size_t max, uint64_t *max_hold_ns);

/* Fork (fork.c): every shard lock; released in reverse; re-initialised in the child. The
 * filter needs nothing: its bytes change only under the shard locks. */
void hs_live_table_prefork(void);
void hs_live_table_postfork_parent(void);
void hs_live_table_postfork_child(void);

#endif
