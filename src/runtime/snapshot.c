/*
 * snapshot.c - copy the tables for an exporter (see snapshot.h).
 *
 * Lock-free: sites and stacks are append-only records read through the intern directory; the
 * counters are read with acquire loads, frees before allocs, so live = allocs - frees is never
 * negative. Sites are read before the stack count, so every stack a row references is within
 * the stacks array. Allocates with malloc: call only under the reentrancy guard (writer
 * thread, API). The sampler's figures and the profiler's start come in as arguments: the
 * snapshot depends on the tables alone.
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "stack_table.h"

hs_err_t hs_snapshot_take(hs_snapshot_t *snap, const hs_snapshot_info_t *info)
{
    memset(snap, 0, sizeof *snap);
    snap->rate = info->rate;
    snap->time_ns = hs_os_wall_ns();
    snap->start_ns = info->start_ns ? info->start_ns : snap->time_ns;

    uint32_t nsites = hs_site_count();
    if (nsites) {
        snap->rows = malloc((size_t)nsites * sizeof *snap->rows);
        if (!snap->rows)
            return HS_ERR_NOMEM;
    }
    for (uint32_t id = 0; id < nsites; id++) {
        hs_site_counters_t *c = hs_site_counters(id);
        hs_site_key_t key;
        if (!c || !hs_site_key(id, &key))
            continue;
        uint64_t frees = __atomic_load_n(&c->frees, __ATOMIC_ACQUIRE);
        uint64_t allocs = __atomic_load_n(&c->allocs, __ATOMIC_ACQUIRE);
        if (allocs == 0)
            continue;
        hs_snapshot_row_t *r = &snap->rows[snap->nrows++];
        memset(r, 0, sizeof *r);
        r->stack_id = key.stack_id;
        r->labels = key.labels;
        r->site = id;
        r->size = key.size;
        r->allocs = allocs;
        r->live = allocs >= frees ? allocs - frees : 0;
    }

    uint32_t nstacks = hs_stack_count();
    if (nstacks) {
        snap->stacks = calloc(nstacks, sizeof *snap->stacks);
        if (!snap->stacks) {
            hs_snapshot_free(snap);
            return HS_ERR_NOMEM;
        }
    }
    snap->nstacks = nstacks;
    for (size_t i = 0; i < snap->nrows; i++) {
        uint32_t sid = snap->rows[i].stack_id;
        if (sid >= nstacks || snap->stacks[sid].frames)
            continue;
        snap->stacks[sid].frames = hs_stack_frames(sid, &snap->stacks[sid].depth);
    }

    snap->samples = info->samples;
    snap->dropped = info->dropped;
    snap->profiler_bytes = hs_os_memory_bytes();
    return HS_OK;
}

void hs_snapshot_free(hs_snapshot_t *snap)
{
    free(snap->rows);
    free(snap->stacks);
    free(snap->owned[0]);
    free(snap->owned[1]);
    memset(snap, 0, sizeof *snap);
}
