/*
 * live_table.c - live sampled allocations and the free-path filter (see live_table.h).
 *
 * Shards: HS_LIVE_SHARDS mutexes, chosen by the top bits of a mixed address hash; within a
 * shard, linear probing on the low bits. Deletion shifts later entries of the probe run back
 * (no tombstones, so lookups stay short however many frees happen). Address 0 marks an empty
 * slot: NULL is never sampled.
 *
 * The filter is a static array in .bss (RIP-relative access from the hooks, pages touched only
 * where sampled addresses fall). Counts change only under the shard lock of the address, but
 * several shards share filter slots, so updates are CAS loops; a count that reaches 255 stays
 * (the slot then always takes the slow path, which is still correct).
 *
 * Fork (fork.c): every shard lock is taken before the fork, released in the parent and
 * re-initialised in the child.
 */
#include "live_table.h"

#include <pthread.h>
#include <string.h>

#include "os.h"

#define HS_LIVE_MIN_SLOTS  256
#define HS_LIVE_COPY_SLICE 4096 /* slots copied per hold of a shard lock (hs_live_copy) */

typedef struct live_entry {
    uintptr_t addr;
    uint32_t site;
    uint32_t pad;
} live_entry_t;

typedef struct live_shard {
    pthread_mutex_t lock;
    live_entry_t *v;
    uint32_t capacity; /* power of two or 0 */
    uint32_t used;
    char pad[64];
} live_shard_t;

uint8_t hs_live_filter[HS_LIVE_FILTER_SLOTS];

static live_shard_t shards[HS_LIVE_SHARDS];
static uint64_t max_live;
static uint64_t live_count;

static inline live_shard_t *shard_of(uint64_t h)
{
    return &shards[h >> (64 - 6)];
}

static void filter_inc(const void *p)
{
    uint8_t *b = &hs_live_filter[hs_live_filter_slot(p)];
    uint8_t v = __atomic_load_n(b, __ATOMIC_RELAXED);
    while (v != 255 && !__atomic_compare_exchange_n(b, &v, (uint8_t)(v + 1), 1, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED))
        ;
}

static void filter_dec(const void *p)
{
    uint8_t *b = &hs_live_filter[hs_live_filter_slot(p)];
    uint8_t v = __atomic_load_n(b, __ATOMIC_RELAXED);
    while (v != 255 && v != 0 &&
           !__atomic_compare_exchange_n(b, &v, (uint8_t)(v - 1), 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
}

hs_err_t hs_live_init(uint64_t max_entries)
{
    static int filter_counted;
    HS_ASSERT(HS_LIVE_SHARDS == 64);
    /* The profiler's memory includes the whole filter, touched or not (os.h). */
    if (!filter_counted) {
        filter_counted = 1;
        hs_os_account_static(sizeof hs_live_filter);
    }
    for (int i = 0; i < HS_LIVE_SHARDS; i++) {
        memset(&shards[i], 0, sizeof shards[i]);
        pthread_mutex_init(&shards[i].lock, NULL);
    }
    max_live = max_entries;
    live_count = 0;
    return HS_OK;
}

void hs_live_destroy(void)
{
    for (int i = 0; i < HS_LIVE_SHARDS; i++) {
        live_shard_t *s = &shards[i];
        for (uint32_t j = 0; j < s->capacity; j++)
            if (s->v[j].addr)
                filter_dec((void *)s->v[j].addr);
        hs_os_unmap(s->v, (size_t)s->capacity * sizeof(live_entry_t));
        pthread_mutex_destroy(&s->lock);
        memset(s, 0, sizeof *s);
    }
    live_count = 0;
}

/* Index of addr in s, or of the empty slot that ends its probe run. */
static uint32_t probe(const live_shard_t *s, uintptr_t addr, uint64_t h, int *found)
{
    uint32_t mask = s->capacity - 1;
    uint32_t i = (uint32_t)h & mask;
    for (;;) {
        uintptr_t a = s->v[i].addr;
        if (a == addr) {
            *found = 1;
            return i;
        }
        if (a == 0) {
            *found = 0;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static hs_err_t grow(live_shard_t *s)
{
    uint32_t cap = s->capacity ? s->capacity * 2 : HS_LIVE_MIN_SLOTS;
    live_entry_t *v = hs_os_map((size_t)cap * sizeof *v);
    if (!v)
        return HS_ERR_NOMEM;
    for (uint32_t i = 0; i < s->capacity; i++) {
        if (!s->v[i].addr)
            continue;
        uint32_t j = (uint32_t)hs_mix64(s->v[i].addr) & (cap - 1);
        while (v[j].addr)
            j = (j + 1) & (cap - 1);
        v[j] = s->v[i];
    }
    hs_os_unmap(s->v, (size_t)s->capacity * sizeof *v);
    s->v = v;
    s->capacity = cap;
    return HS_OK;
}

/* Backward-shift deletion of slot i (linear probing). */
static void delete_at(live_shard_t *s, uint32_t i)
{
    uint32_t mask = s->capacity - 1;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->v[j].addr)
            break;
        uint32_t home = (uint32_t)hs_mix64(s->v[j].addr) & mask;
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            s->v[i] = s->v[j];
            i = j;
        }
    }
    s->v[i].addr = 0;
    s->v[i].site = 0;
}

hs_err_t hs_live_insert(const void *p, uint32_t site_id, uint32_t *replaced)
{
    uintptr_t addr = (uintptr_t)p;
    uint64_t h = hs_mix64(addr);
    live_shard_t *s = shard_of(h);
    hs_err_t err = HS_OK;
    int found;

    *replaced = HS_LIVE_NO_SITE;
    if (!addr)
        return HS_ERR_INVALID;
    pthread_mutex_lock(&s->lock);
    if ((s->used + 1) * 4 > s->capacity * 3 && grow(s) != HS_OK && s->used + 1 >= s->capacity) {
        err = HS_ERR_NOMEM;
        goto out;
    }
    uint32_t i = probe(s, addr, h, &found);
    if (found) {
        *replaced = s->v[i].site;
        s->v[i].site = site_id;
        goto out;
    }
    if (__atomic_load_n(&live_count, __ATOMIC_RELAXED) >= max_live) {
        err = HS_ERR_FULL;
        goto out;
    }
    s->v[i].addr = addr;
    s->v[i].site = site_id;
    s->used++;
    __atomic_add_fetch(&live_count, 1, __ATOMIC_RELAXED);
    filter_inc(p);
out:
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* Find p under its shard's lock; on a hit, optionally delete it. Returns the site or NO_SITE. */
static uint32_t find(const void *p, int delete)
{
    uintptr_t addr = (uintptr_t)p;
    uint64_t h = hs_mix64(addr);
    live_shard_t *s = shard_of(h);
    uint32_t site = HS_LIVE_NO_SITE;
    int found;

    if (!addr)
        return HS_LIVE_NO_SITE;
    pthread_mutex_lock(&s->lock);
    if (s->capacity) {
        uint32_t i = probe(s, addr, h, &found);
        if (found) {
            site = s->v[i].site;
            if (delete) {
                delete_at(s, i);
                s->used--;
                __atomic_sub_fetch(&live_count, 1, __ATOMIC_RELAXED);
                filter_dec(p);
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return site;
}

hs_err_t hs_live_remove(const void *p, uint32_t *site_id)
{
    uint32_t site = find(p, 1);
    if (site == HS_LIVE_NO_SITE)
        return HS_ERR_NOTFOUND;
    *site_id = site;
    return HS_OK;
}

hs_err_t hs_live_lookup(const void *p, uint32_t *site_id)
{
    uint32_t site = find(p, 0);
    if (site == HS_LIVE_NO_SITE)
        return HS_ERR_NOTFOUND;
    *site_id = site;
    return HS_OK;
}

uint64_t hs_live_count(void)
{
    return __atomic_load_n(&live_count, __ATOMIC_RELAXED);
}

size_t hs_live_copy(hs_live_block_t *out, size_t max, uint64_t *max_hold_ns)
{
    size_t n = 0;
    uint64_t longest = 0;
    for (int i = 0; i < HS_LIVE_SHARDS && n < max; i++) {
        live_shard_t *s = &shards[i];
        size_t first = n;
        uint32_t cap = 0;
        /* A slice of the shard per hold of its lock, so that an allocating thread waits for
         * at most one slice. Between slices, deletions may shift an entry across the slice
         * boundary (missed, or copied twice: the caller removes duplicates); a growth rehashes
         * everything, and the shard is copied again. */
        for (uint32_t j = 0;;) {
            pthread_mutex_lock(&s->lock);
            uint64_t t0 = hs_os_monotonic_ns();
            if (j == 0)
                cap = s->capacity;
            if (s->capacity != cap) {
                cap = s->capacity;
                j = 0;
                n = first;
            }
            uint32_t end = cap - j > HS_LIVE_COPY_SLICE ? j + HS_LIVE_COPY_SLICE : cap;
            for (; j < end && n < max; j++)
                if (s->v[j].addr)
                    out[n++] = (hs_live_block_t){s->v[j].addr, s->v[j].site};
            pthread_mutex_unlock(&s->lock);
            uint64_t held = hs_os_monotonic_ns() - t0;
            if (held > longest)
                longest = held;
            if (j >= cap || n >= max)
                break;
        }
    }
    if (max_hold_ns)
        *max_hold_ns = longest;
    return n;
}

void hs_live_table_prefork(void)
{
    for (int i = 0; i < HS_LIVE_SHARDS; i++)
        pthread_mutex_lock(&shards[i].lock);
}

void hs_live_table_postfork_parent(void)
{
    for (int i = HS_LIVE_SHARDS - 1; i >= 0; i--)
        pthread_mutex_unlock(&shards[i].lock);
}

void hs_live_table_postfork_child(void)
{
    for (int i = 0; i < HS_LIVE_SHARDS; i++)
        pthread_mutex_init(&shards[i].lock, NULL);
}
