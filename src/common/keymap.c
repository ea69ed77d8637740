/*
 * keymap.c - open addressing with linear probing over (hash, index + 1) slots; the table
 * doubles when it is more than half full, so a probe sequence always ends at an empty slot.
 * Invariant: cap is 0 or a power of two and used <= cap / 2. Single-threaded; uses malloc.
 */
#include "keymap.h"

#include <stdlib.h>
#include <string.h>

size_t hs_keymap_find(const hs_keymap_t *m, uint64_t hash, hs_keymap_eq_fn eq, const void *ctx,
                      const void *key)
{
    if (m->cap == 0)
        return HS_KEYMAP_NONE;
    size_t mask = m->cap - 1;
    for (size_t i = hs_mix64(hash) & mask;; i = (i + 1) & mask) {
        if (m->indices[i] == 0)
            return HS_KEYMAP_NONE;
        if (m->hashes[i] == hash && (!eq || eq(ctx, m->indices[i] - 1, key)))
            return m->indices[i] - 1;
    }
}

static void place(uint64_t *hashes, size_t *indices, size_t cap, uint64_t hash, size_t index1)
{
    size_t mask = cap - 1;
    size_t i = hs_mix64(hash) & mask;
    while (indices[i])
        i = (i + 1) & mask;
    hashes[i] = hash;
    indices[i] = index1;
}

hs_err_t hs_keymap_insert(hs_keymap_t *m, uint64_t hash, size_t index)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *hashes = malloc(cap * sizeof *hashes);
        size_t *indices = calloc(cap, sizeof *indices);
        if (!hashes || !indices) {
            free(hashes);
            free(indices);
            return HS_ERR_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->indices[i])
                place(hashes, indices, cap, m->hashes[i], m->indices[i]);
        free(m->hashes);
        free(m->indices);
        m->hashes = hashes;
        m->indices = indices;
        m->cap = cap;
    }
    place(m->hashes, m->indices, m->cap, hash, index + 1);
    m->used++;
    return HS_OK;
}

typedef struct named {
    const char *base;
    size_t elem;
} named_t;

static bool named_eq(const void *ctx, size_t index, const void *key)
{
    const named_t *n = ctx;
    const char *name = *(char *const *)(n->base + index * n->elem);
    return strcmp(name, key) == 0;
}

hs_err_t hs_keymap_named(hs_keymap_t *m, void **array, size_t *count, size_t *cap, size_t elem,
                         const char *name, size_t *index, bool *added)
{
    uint64_t h = hs_hash_str(name);
    named_t ctx = {.base = *array, .elem = elem};
    size_t i = *array ? hs_keymap_find(m, h, named_eq, &ctx, name) : HS_KEYMAP_NONE;
    *added = false;
    if (i != HS_KEYMAP_NONE) {
        *index = i;
        return HS_OK;
    }
    if (hs_array_reserve(array, cap, *count + 1, elem, 64) != HS_OK)
        return HS_ERR_NOMEM;
    char *slot = (char *)*array + *count * elem;
    memset(slot, 0, elem);
    char *copy = strdup(name);
    if (!copy || hs_keymap_insert(m, h, *count) != HS_OK) {
        free(copy);
        return HS_ERR_NOMEM;
    }
    memcpy(slot, &copy, sizeof copy);
    *index = (*count)++;
    *added = true;
    return HS_OK;
}

void hs_keymap_free(hs_keymap_t *m)
{
    free(m->hashes);
    free(m->indices);
    m->hashes = NULL;
    m->indices = NULL;
    m->cap = m->used = 0;
}
