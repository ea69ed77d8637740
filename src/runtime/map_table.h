/*
 * map_table.h - the sampled direct mappings that are still mapped: [start, start + len) -> site.
 *
 * Unlike heap blocks, a mapping can lose any part of itself (munmap of a range, mremap that
 * shrinks, mmap MAP_FIXED over it), so the table is an array of non-overlapping ranges sorted
 * by start, searched by binary search. A cut of [start, start + len) removes every entry it
 * overlaps and offers the owner (a callback, called with the table's lock held: it may intern
 * sites but must not unwind, call the loader or come back here) the pieces left on either
 * side, which it may keep under a new site.
 *
 * The array comes from hs_os_map and doubles when full, up to HS_MAP_TABLE_MAX entries (beyond
 * it a sample is dropped and counted by the caller). Sampled mappings are few (each stands for
 * at least its own size of the mean sampling distance).
 *
 * Threads: one mutex. hs_map_table_active() is a relaxed load that lets an munmap of a process
 * with no sampled mapping skip the lock. Fork (fork.c): the lock is taken before the fork, after
 * the dump's and before the stack table's (a cut interns sites with it held), and re-initialised
 * in the child.
 */
#ifndef HS_MAP_TABLE_H
#define HS_MAP_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#define HS_MAP_TABLE_MAX (1u << 20)

typedef struct hs_map_entry {
    uintptr_t start;
    uint64_t len;
    uint32_t site;
} hs_map_entry_t;

hs_err_t hs_map_table_insert(uintptr_t start, uint64_t len, uint32_t site) HS_MUST_CHECK;

/*
 * The piece of a sampled mapping that survives a cut: return its new site to keep it, or
 * HS_LIVE_NO_SITE to forget it. Called once per surviving piece; then `gone` once per entry
 * removed (its old site lost one live mapping).
 */
typedef struct hs_map_cut_ops {
    uint32_t (*keep)(void *arg, const hs_map_entry_t *old, uint64_t piece_len);
    void (*gone)(void *arg, const hs_map_entry_t *old);
    void *arg;
} hs_map_cut_ops_t;
void hs_map_table_cut(uintptr_t start, uint64_t len, const hs_map_cut_ops_t *ops);

/* Remove and return the entry that starts exactly at start (mremap). 0 if there is none. */
int hs_map_table_take(uintptr_t start, hs_map_entry_t *out);

/* Any entries at all (relaxed; a hint for skipping the lock). */
bool hs_map_table_active(void);
uint64_t hs_map_table_count(void);

void hs_map_table_prefork(void);
void hs_map_table_postfork_parent(void);
void hs_map_table_postfork_child(void);

#endif
