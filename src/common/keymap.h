/*
 * keymap.h - a small open-addressing hash index for the analysis modules (sites, series):
 * 64-bit hash -> dense index into an array the caller owns.
 *
 * The map stores (hash, index) pairs only; the caller keeps the keys and, when two keys may
 * share a hash, passes an equality callback that compares its key with the key at an index.
 * Without a callback the hash is the key (used for 64-bit row identities).
 *
 * Not for the preloaded library's hot paths: it uses the allocator. Not thread-safe.
 */
#ifndef HS_KEYMAP_H
#define HS_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define HS_KEYMAP_NONE SIZE_MAX

typedef struct hs_keymap {
    uint64_t *hashes;
    size_t *indices; /* index + 1; 0 = empty slot */
    size_t cap;      /* power of two, or 0 */
    size_t used;
} hs_keymap_t;

/* eq(ctx, index, key): does the key stored at index equal key? */
typedef bool (*hs_keymap_eq_fn)(const void *ctx, size_t index, const void *key);

/* The index stored for (hash, key), or HS_KEYMAP_NONE. eq may be NULL (hash equality). */
size_t hs_keymap_find(const hs_keymap_t *m, uint64_t hash, hs_keymap_eq_fn eq, const void *ctx,
                      const void *key);

/* Add (hash -> index); the caller has checked that the key is not present. */
hs_err_t hs_keymap_insert(hs_keymap_t *m, uint64_t hash, size_t index) HS_MUST_CHECK;

/*
 * Interning by name for arrays of structs whose first member is `char *name`: the index of the
 * element named name in *array (count elements of elem bytes, capacity *cap), else a new
 * zeroed element holding a copy of name, appended and indexed (*added = true).
 */
hs_err_t hs_keymap_named(hs_keymap_t *m, void **array, size_t *count, size_t *cap, size_t elem,
                         const char *name, size_t *index, bool *added) HS_MUST_CHECK;

void hs_keymap_free(hs_keymap_t *m);

#endif
