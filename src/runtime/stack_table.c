/*
 * stack_table.c - interned stacks and sites, two instances of the intern table.
 *
 * Stacks: key = the frame addresses (leaf first), no payload. Sites: key = (stack id, size,
 * label set id), payload = hs_site_counters_t. A site references a stack id that was published
 * before the site was created, so a reader that sees a site can always read its stack.
 *
 * Counters are 64-bit atomics: allocs++ when a sample is recorded (after its live entry is in
 * place), frees++ when a sampled allocation is freed. Both only grow; the snapshot reads frees
 * first, then allocs (see stack_table.h).
 *
 * Fork (fork.c): the locks are the two intern tables'; no sample holds one while it takes the
 * other, so taking every lock of one table, then of the other, cannot wait on a sampler.
 */
#include "stack_table.h"

#include <string.h>

static hs_intern_t stacks;
static hs_intern_t sites;

hs_err_t hs_stack_table_init(uint32_t max_stacks, uint32_t max_sites)
{
    hs_err_t err = hs_intern_init(&stacks, "stack", 0, max_stacks);
    if (err != HS_OK)
        return err;
    return hs_intern_init(&sites, "site", sizeof(hs_site_counters_t), max_sites);
}

void hs_stack_table_destroy(void)
{
    hs_intern_destroy(&stacks);
    hs_intern_destroy(&sites);
}

hs_err_t hs_stack_intern(const uintptr_t *frames, uint32_t depth, uint32_t *stack_id)
{
    if (depth == 0 || depth > HS_STACK_MAX_DEPTH)
        return HS_ERR_INVALID;
    size_t len = depth * sizeof(uintptr_t);
    void *payload;
    return hs_intern_get(&stacks, frames, (uint32_t)len, hs_intern_hash(frames, len), stack_id,
                         &payload);
}

hs_err_t hs_site_intern(uint32_t stack_id, uint64_t size, uint32_t labels, uint32_t *site_id)
{
    hs_site_key_t key = {.size = size, .stack_id = stack_id, .labels = labels};
    void *payload;
    return hs_intern_get(&sites, &key, sizeof key, hs_intern_hash(&key, sizeof key), site_id,
                         &payload);
}

const uintptr_t *hs_stack_frames(uint32_t stack_id, uint32_t *depth)
{
    const hs_intern_rec_t *rec = hs_intern_record(&stacks, stack_id);
    if (!rec) {
        *depth = 0;
        return NULL;
    }
    *depth = rec->key_len / (uint32_t)sizeof(uintptr_t);
    return hs_intern_key(&stacks, rec);
}

hs_site_counters_t *hs_site_counters(uint32_t site_id)
{
    const hs_intern_rec_t *rec = hs_intern_record(&sites, site_id);
    return rec ? hs_intern_payload(&sites, rec) : NULL;
}

int hs_site_key(uint32_t site_id, hs_site_key_t *key)
{
    const hs_intern_rec_t *rec = hs_intern_record(&sites, site_id);
    if (!rec)
        return 0;
    memcpy(key, hs_intern_key(&sites, rec), sizeof *key);
    return 1;
}

uint32_t hs_stack_count(void)
{
    return hs_intern_count(&stacks);
}

uint32_t hs_site_count(void)
{
    return hs_intern_count(&sites);
}

void hs_site_note_alloc(uint32_t site_id)
{
    hs_site_counters_t *c = hs_site_counters(site_id);
    if (c)
        __atomic_add_fetch(&c->allocs, 1, __ATOMIC_RELEASE);
}

void hs_site_note_free(uint32_t site_id)
{
    hs_site_counters_t *c = hs_site_counters(site_id);
    if (c)
        __atomic_add_fetch(&c->frees, 1, __ATOMIC_RELEASE);
}

void hs_stack_table_prefork(void)
{
    hs_intern_prefork(&stacks);
    hs_intern_prefork(&sites);
}

void hs_stack_table_postfork_parent(void)
{
    hs_intern_postfork_parent(&sites);
    hs_intern_postfork_parent(&stacks);
}

void hs_stack_table_postfork_child(void)
{
    hs_intern_postfork_child(&stacks);
    hs_intern_postfork_child(&sites);
}
