/*
 * snapshot.h - a consistent-enough copy of the tables for exporters.
 *
 * hs_snapshot_take() copies every site's counters and points at the (immutable) interned stack
 * frames without taking a table lock for longer than it takes to read one record, so a dump
 * never stalls allocating threads. Exporters (files, Pyroscope) read only snapshots.
 *
 * Rows are sites (stack, size, label set) that have at least one sampled allocation. `allocs`
 * is cumulative since the process started; `live` counts sampled allocations of the row not yet
 * freed. A row carries its label set's id: exporters resolve it to strings (labels.h).
 */
#ifndef HS_SNAPSHOT_H
#define HS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "label_spec.h"

typedef struct hs_snapshot_row {
    uint32_t stack_id; /* index into hs_snapshot_t.stacks */
    uint64_t size;     /* bytes of each allocation in this row */
    uint64_t allocs;   /* sampled allocations, cumulative */
    uint64_t live;     /* of those, still live */
    uint32_t labels;   /* label set id (labels.h) of the row's samples */
    uint32_t site;     /* the site (stack_table.h) the row counts */
    /* Labels the dump adds to this row (a row split at dump time: reach_scan.h), NULL when
     * nextra is 0; they live in the snapshot's `owned` memory. */
    const hs_label_t *extra;
    uint32_t nextra;
} hs_snapshot_row_t;

typedef struct hs_snapshot_stack {
    const uintptr_t *frames; /* return addresses, leaf (caller of malloc) first; NULL if unused */
    uint32_t depth;
} hs_snapshot_stack_t;

typedef struct hs_snapshot {
    uint64_t rate;     /* sampling rate in bytes; 1 = exact */
    uint64_t time_ns;  /* wall clock when taken */
    uint64_t start_ns; /* wall clock when the profiler started in this process */
    hs_snapshot_row_t *rows;
    size_t nrows;
    hs_snapshot_stack_t *stacks;
    uint32_t nstacks;
    uint64_t samples;        /* sampled allocations recorded, cumulative */
    uint64_t dropped;        /* samples lost (tables full, out of memory, unwind failure) */
    uint64_t profiler_bytes; /* the profiler's own memory (hs_os_memory_bytes) */
    void *owned[2];          /* malloc'd by code that split rows; freed with the snapshot */
} hs_snapshot_t;

/*
 * What a snapshot records besides the tables, given by their owners (the sampler's rate and
 * counters, the profiler's start): the snapshot reads the tables and no other module.
 */
typedef struct hs_snapshot_info {
    uint64_t rate;     /* sampling rate in bytes; 1 = exact */
    uint64_t start_ns; /* wall clock when profiling started; 0: the snapshot's own time */
    uint64_t samples;  /* sampled allocations recorded, cumulative */
    uint64_t dropped;  /* samples lost */
} hs_snapshot_info_t;

hs_err_t hs_snapshot_take(hs_snapshot_t *snap, const hs_snapshot_info_t *info) HS_MUST_CHECK;
void hs_snapshot_free(hs_snapshot_t *snap);

#endif
