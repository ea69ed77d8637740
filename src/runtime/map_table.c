/*
 * map_table.c - sampled mappings as sorted ranges (see map_table.h).
 *
 * Invariant: entries[0..n) are sorted by start and do not overlap (the kernel never gives two
 * live mappings the same address; a MAP_FIXED mapping is cut out of the table before its entry
 * goes in). Memory: from hs_os_map, counted as the profiler's; the old array is unmapped when
 * it is replaced.
 */
#include "map_table.h"

#include <pthread.h>
#include <string.h>

#include "live_table.h"
#include "os.h"

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static hs_map_entry_t *entries;
static uint32_t n, capacity;
static uint64_t count; /* = n, readable without the lock */

/* The first entry whose end is above addr. */
static uint32_t first_above(uintptr_t addr)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (entries[mid].start + entries[mid].len <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int grow(void)
{
    uint32_t cap = capacity ? capacity * 2 : 256;
    if (cap > HS_MAP_TABLE_MAX)
        return 0;
    hs_map_entry_t *v = hs_os_map(cap * sizeof *v);
    if (!v)
        return 0;
    if (entries) {
        memcpy(v, entries, n * sizeof *v);
        hs_os_unmap(entries, capacity * sizeof *v);
    }
    entries = v;
    capacity = cap;
    return 1;
}

/* Insert at index i, the lock held. */
static int insert_at(uint32_t i, const hs_map_entry_t *e)
{
    if (n == capacity && !grow())
        return 0;
    memmove(&entries[i + 1], &entries[i], (n - i) * sizeof *entries);
    entries[i] = *e;
    n++;
    __atomic_store_n(&count, n, __ATOMIC_RELAXED);
    return 1;
}

hs_err_t hs_map_table_insert(uintptr_t start, uint64_t len, uint32_t site)
{
    hs_map_entry_t e = {start, len, site};
    pthread_mutex_lock(&map_lock);
    int ok = insert_at(first_above(start), &e);
    pthread_mutex_unlock(&map_lock);
    return ok ? HS_OK : HS_ERR_FULL;
}

void hs_map_table_cut(uintptr_t start, uint64_t len, const hs_map_cut_ops_t *ops)
{
    uintptr_t end = start + len;
    pthread_mutex_lock(&map_lock);
    uint32_t i = first_above(start), j = i;
    while (j < n && entries[j].start < end)
        j++;
    if (i == j) {
        pthread_mutex_unlock(&map_lock);
        return;
    }
    /* At most two pieces survive: the head of the first entry and the tail of the last. */
    hs_map_entry_t keep[2];
    int nkeep = 0;
    hs_map_entry_t first = entries[i], last = entries[j - 1];
    if (first.start < start) {
        uint32_t site = ops->keep(ops->arg, &first, start - first.start);
        if (site != HS_LIVE_NO_SITE)
            keep[nkeep++] = (hs_map_entry_t){first.start, start - first.start, site};
    }
    if (last.start + last.len > end) {
        uint64_t tail = last.start + last.len - end;
        uint32_t site = ops->keep(ops->arg, &last, tail);
        if (site != HS_LIVE_NO_SITE)
            keep[nkeep++] = (hs_map_entry_t){end, tail, site};
    }
    for (uint32_t k = i; k < j; k++)
        ops->gone(ops->arg, &entries[k]);
    memmove(&entries[i], &entries[j], (n - j) * sizeof *entries);
    n -= j - i;
    /* A piece that finds no room (the array cannot grow) is forgotten like a removed entry. */
    for (int k = 0; k < nkeep; k++)
        if (!insert_at(i + (uint32_t)k, &keep[k]))
            ops->gone(ops->arg, &keep[k]);
    __atomic_store_n(&count, n, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&map_lock);
}

int hs_map_table_take(uintptr_t start, hs_map_entry_t *out)
{
    int found = 0;
    pthread_mutex_lock(&map_lock);
    uint32_t i = first_above(start);
    if (i < n && entries[i].start == start) {
        *out = entries[i];
        memmove(&entries[i], &entries[i + 1], (n - i - 1) * sizeof *entries);
        n--;
        __atomic_store_n(&count, n, __ATOMIC_RELAXED);
        found = 1;
    }
    pthread_mutex_unlock(&map_lock);
    return found;
}

bool hs_map_table_active(void)
{
    return __atomic_load_n(&count, __ATOMIC_RELAXED) != 0;
}

uint64_t hs_map_table_count(void)
{
    return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

void hs_map_table_prefork(void)
{
    pthread_mutex_lock(&map_lock);
}

void hs_map_table_postfork_parent(void)
{
    pthread_mutex_unlock(&map_lock);
}

void hs_map_table_postfork_child(void)
{
    pthread_mutex_init(&map_lock, NULL);
}
