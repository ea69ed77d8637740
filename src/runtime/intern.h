/*
 * intern.h - a concurrent, append-only intern table: key bytes -> dense id (0, 1, 2, ...).
 *
 * Used for stacks (key = frame addresses) and sites (key = stack id + allocation size, with a
 * payload of counters). Records are never moved or freed while the table lives, so a reader
 * holding an id may read the record without a lock; the writer thread's snapshot walks ids
 * 0..count-1 and never blocks an allocating thread.
 *
 * Concurrency: lookups and inserts lock one of HS_INTERN_SHARDS shards (chosen by hash). A
 * record is published to lock-free readers with a release store of its pointer into the id
 * directory; hs_intern_record() returns NULL for an id reserved but not yet published.
 * Memory comes from hs_os_map (never the allocator), so no lock here is ever held across a
 * call into malloc, and the table is safe to use from inside the hooks.
 *
 * Fork (fork.c): hs_intern_prefork takes every lock of a table (shards, then the directory),
 * hs_intern_postfork_parent releases them, hs_intern_postfork_child re-initialises them (the
 * child's only thread is the one that forked).
 */
#ifndef HS_INTERN_H
#define HS_INTERN_H

#include <pthread.h>
#include <stdint.h>

#include "common.h"

#define HS_INTERN_SHARDS      32
#define HS_INTERN_DIR_BITS    12   /* ids per directory page: 4096 */
#define HS_INTERN_DIR_PAGES   4096 /* => at most 16M records */
#define HS_INTERN_MAX_RECORDS ((uint32_t)HS_INTERN_DIR_PAGES << HS_INTERN_DIR_BITS)

typedef struct hs_intern_rec {
    uint64_t hash;
    uint32_t id;
    uint32_t key_len;
    /* payload (payload_size bytes, 8-aligned), then the key bytes */
} hs_intern_rec_t;

typedef struct hs_intern_shard {
    pthread_mutex_t lock;
    uint32_t *slots;   /* open addressing: id + 1, 0 = empty */
    uint32_t capacity; /* power of two, or 0 before the first insert */
    uint32_t used;
    uint8_t *chunk; /* bump pointer into the current record chunk */
    size_t chunk_left;
    uint8_t *chunk_list; /* newest chunk; each chunk starts with a link to the previous */
    char pad[64];
} hs_intern_shard_t;

typedef struct hs_intern {
    const char *name;    /* for messages: "stack", "site" */
    size_t payload_size; /* multiple of 8 */
    uint32_t max_records;
    uint32_t next_id;                           /* atomic: ids handed out */
    hs_intern_rec_t **dir[HS_INTERN_DIR_PAGES]; /* id -> record, pages mapped on demand */
    pthread_mutex_t dir_lock;                   /* only to map a directory page */
    hs_intern_shard_t shards[HS_INTERN_SHARDS];
} hs_intern_t;

hs_err_t hs_intern_init(hs_intern_t *t, const char *name, size_t payload_size,
                        uint32_t max_records) HS_MUST_CHECK;
/* Unmap everything (tests, and never while other threads may use the table). */
void hs_intern_destroy(hs_intern_t *t);

/*
 * Find or insert key. On success *id is the record's id and *payload its payload (zeroed when
 * new). HS_ERR_FULL when max_records is reached, HS_ERR_NOMEM when mmap fails.
 */
hs_err_t hs_intern_get(hs_intern_t *t, const void *key, uint32_t key_len, uint64_t hash,
                       uint32_t *id, void **payload) HS_MUST_CHECK;

/* The published record with this id, or NULL. Lock-free. */
const hs_intern_rec_t *hs_intern_record(const hs_intern_t *t, uint32_t id);
void *hs_intern_payload(const hs_intern_t *t, const hs_intern_rec_t *rec);
const void *hs_intern_key(const hs_intern_t *t, const hs_intern_rec_t *rec);

/* Ids handed out so far (an upper bound for iteration). */
uint32_t hs_intern_count(const hs_intern_t *t);

void hs_intern_prefork(hs_intern_t *t);
void hs_intern_postfork_parent(hs_intern_t *t);
void hs_intern_postfork_child(hs_intern_t *t);

/* A 64-bit hash of a byte string (not cryptographic; well mixed for addresses). */
uint64_t hs_intern_hash(const void *key, size_t len);

#endif
