/*
 * stack_table.h - interned call stacks and sites.
 *
 * A stack is the list of return addresses of a sampled allocation, leaf (the caller of the
 * allocation function) first. A site is a (stack, allocation size, label set) triple: the unit
 * of a row in the pprof profile. Every sample of a site has the same size s and therefore the
 * same sampling probability p(s), so the site's estimates are exact sums of per-allocation
 * weights: alloc_objects = allocs / p, alloc_space = allocs * s / p, and likewise for the live
 * count. The label set (labels.h) is the one the allocating thread had: a sample keeps it until
 * it is freed, by whichever thread.
 *
 * Sites carry two monotonic counters, allocs and frees (live = allocs - frees). Increments use
 * release ordering and the snapshot reads frees before allocs, so it never sees more frees than
 * allocations.
 */
#ifndef HS_STACK_TABLE_H
#define HS_STACK_TABLE_H

#include <stdint.h>

#include "common.h"
#include "intern.h"

typedef struct hs_site_counters {
    uint64_t allocs; /* atomic: sampled allocations, cumulative */
    uint64_t frees;  /* atomic: of those, freed */
} hs_site_counters_t;

typedef struct hs_site_key {
    uint64_t size;
    uint32_t stack_id;
    uint32_t labels; /* label set id (labels.h); keys are compared as bytes: no padding */
} hs_site_key_t;

hs_err_t hs_stack_table_init(uint32_t max_stacks, uint32_t max_sites) HS_MUST_CHECK;
void hs_stack_table_destroy(void);

hs_err_t hs_stack_intern(const uintptr_t *frames, uint32_t depth, uint32_t *stack_id) HS_MUST_CHECK;
hs_err_t hs_site_intern(uint32_t stack_id, uint64_t size, uint32_t labels,
                        uint32_t *site_id) HS_MUST_CHECK;

/* Lock-free readers; NULL / 0 for ids not (yet) published. */
const uintptr_t *hs_stack_frames(uint32_t stack_id, uint32_t *depth);
hs_site_counters_t *hs_site_counters(uint32_t site_id);
int hs_site_key(uint32_t site_id, hs_site_key_t *key);

uint32_t hs_stack_count(void);
uint32_t hs_site_count(void);

void hs_site_note_alloc(uint32_t site_id);
void hs_site_note_free(uint32_t site_id);

/* Fork (fork.c): every lock of the stack table, then of the site table (the order a sample
 * takes them in, one at a time); released in reverse; re-initialised in the child. */
void hs_stack_table_prefork(void);
void hs_stack_table_postfork_parent(void);
void hs_stack_table_postfork_child(void);

#endif
