/*
 * intern.c - concurrent append-only intern table (see intern.h for the contract).
 *
 * Layout: ids index a two-level directory (pages of 4096 record pointers, mapped on first use)
 * so that a record, once published, is found without a lock and never moves. Each shard owns an
 * open-addressing index (uint32 id+1 per slot, linear probing, grown by doubling at 3/4 load;
 * no deletions) and a bump arena of records. Records and index memory come from hs_os_map.
 *
 * Lock order: shard lock, then dir_lock (only to map a directory page). No lock here is held
 * across anything that can call malloc, unwind or enter the loader.
 *
 * Publication: the record is fully written, then its pointer is stored in the directory with
 * release order; readers load with acquire. An id whose record could not be allocated stays
 * NULL forever (readers skip it).
 */
#include "intern.h"

#include <string.h>

#include "os.h"

#define HS_INTERN_CHUNK     (64 * 1024)
#define HS_INTERN_MIN_SLOTS 256
#define DIR_MASK            ((1u << HS_INTERN_DIR_BITS) - 1)

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

uint64_t hs_intern_hash(const void *key, size_t len)
{
    /* Word-at-a-time multiply-xorshift; keys here are arrays of addresses or small structs. */
    const unsigned char *p = key;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xff51afd7ed558ccdull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h ^= w * 0xbf58476d1ce4e5b9ull;
        h = (h << 27 | h >> 37) * 0x94d049bb133111ebull;
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, p, len);
        h ^= w * 0xbf58476d1ce4e5b9ull;
        h = (h << 27 | h >> 37) * 0x94d049bb133111ebull;
    }
    h ^= h >> 31;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

hs_err_t hs_intern_init(hs_intern_t *t, const char *name, size_t payload_size, uint32_t max_records)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->payload_size = round8(payload_size);
    t->max_records = max_records < HS_INTERN_MAX_RECORDS ? max_records : HS_INTERN_MAX_RECORDS;
    pthread_mutex_init(&t->dir_lock, NULL);
    for (int i = 0; i < HS_INTERN_SHARDS; i++)
        pthread_mutex_init(&t->shards[i].lock, NULL);
    return HS_OK;
}

void hs_intern_destroy(hs_intern_t *t)
{
    /* Records live in shard chunks; we did not keep a chunk list, so tests that destroy tables
     * leak the chunks' address space only through the accounting-neutral path below. */
    for (int i = 0; i < HS_INTERN_SHARDS; i++) {
        hs_intern_shard_t *s = &t->shards[i];
        hs_os_unmap(s->slots, (size_t)s->capacity * sizeof(uint32_t));
        uint8_t *chunk = s->chunk_list;
        while (chunk) {
            uint8_t *next;
            memcpy(&next, chunk, sizeof next);
            hs_os_unmap(chunk, HS_INTERN_CHUNK);
            chunk = next;
        }
        pthread_mutex_destroy(&s->lock);
    }
    for (int i = 0; i < HS_INTERN_DIR_PAGES; i++)
        hs_os_unmap(t->dir[i], sizeof(hs_intern_rec_t *) << HS_INTERN_DIR_BITS);
    pthread_mutex_destroy(&t->dir_lock);
    memset(t, 0, sizeof *t);
}

const hs_intern_rec_t *hs_intern_record(const hs_intern_t *t, uint32_t id)
{
    if (id >= HS_INTERN_MAX_RECORDS)
        return NULL;
    hs_intern_rec_t **page = __atomic_load_n(&t->dir[id >> HS_INTERN_DIR_BITS], __ATOMIC_ACQUIRE);
    if (!page)
        return NULL;
    return __atomic_load_n(&page[id & DIR_MASK], __ATOMIC_ACQUIRE);
}

void *hs_intern_payload(const hs_intern_t *t, const hs_intern_rec_t *rec)
{
    (void)t;
    return (char *)rec + sizeof *rec;
}

const void *hs_intern_key(const hs_intern_t *t, const hs_intern_rec_t *rec)
{
    return (const char *)rec + sizeof *rec + t->payload_size;
}

uint32_t hs_intern_count(const hs_intern_t *t)
{
    uint32_t n = __atomic_load_n(&t->next_id, __ATOMIC_ACQUIRE);
    return n < t->max_records ? n : t->max_records;
}

/* Find key in the shard's index: the slot holding it, or the empty slot where it would go. */
static uint32_t probe(const hs_intern_t *t, const hs_intern_shard_t *s, const void *key,
                      uint32_t key_len, uint64_t hash, const hs_intern_rec_t **found)
{
    uint32_t mask = s->capacity - 1;
    uint32_t i = (uint32_t)hash & mask;
    *found = NULL;
    for (;;) {
        uint32_t v = s->slots[i];
        if (v == 0)
            return i;
        const hs_intern_rec_t *rec = hs_intern_record(t, v - 1);
        if (rec && rec->hash == hash && rec->key_len == key_len &&
            memcmp(hs_intern_key(t, rec), key, key_len) == 0) {
            *found = rec;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static hs_err_t grow_index(const hs_intern_t *t, hs_intern_shard_t *s)
{
    uint32_t cap = s->capacity ? s->capacity * 2 : HS_INTERN_MIN_SLOTS;
    uint32_t *slots = hs_os_map((size_t)cap * sizeof(uint32_t));
    if (!slots)
        return HS_ERR_NOMEM;
    for (uint32_t i = 0; i < s->capacity; i++) {
        uint32_t v = s->slots[i];
        if (!v)
            continue;
        const hs_intern_rec_t *rec = hs_intern_record(t, v - 1);
        uint32_t j = (uint32_t)rec->hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = v;
    }
    hs_os_unmap(s->slots, (size_t)s->capacity * sizeof(uint32_t));
    s->slots = slots;
    s->capacity = cap;
    return HS_OK;
}

/* Bump-allocate from the shard's chunk. A chunk starts with a link to the previous chunk. */
static void *shard_alloc(hs_intern_shard_t *s, size_t size)
{
    if (size + sizeof(void *) > HS_INTERN_CHUNK)
        return NULL; /* keys are bounded (HS_STACK_MAX_DEPTH frames): never happens */
    if (s->chunk_left < size) {
        uint8_t *chunk = hs_os_map(HS_INTERN_CHUNK);
        if (!chunk)
            return NULL;
        memcpy(chunk, &s->chunk_list, sizeof(void *));
        s->chunk_list = chunk;
        s->chunk = chunk + sizeof(void *);
        s->chunk_left = HS_INTERN_CHUNK - sizeof(void *);
    }
    void *p = s->chunk;
    s->chunk += size;
    s->chunk_left -= size;
    return p;
}

static hs_err_t publish(hs_intern_t *t, uint32_t id, hs_intern_rec_t *rec)
{
    hs_intern_rec_t ***slot = &t->dir[id >> HS_INTERN_DIR_BITS];
    hs_intern_rec_t **page = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!page) {
        pthread_mutex_lock(&t->dir_lock);
        page = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (!page) {
            page = hs_os_map(sizeof(hs_intern_rec_t *) << HS_INTERN_DIR_BITS);
            if (page)
                __atomic_store_n(slot, page, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&t->dir_lock);
        if (!page)
            return HS_ERR_NOMEM;
    }
    __atomic_store_n(&page[id & DIR_MASK], rec, __ATOMIC_RELEASE);
    return HS_OK;
}

hs_err_t hs_intern_get(hs_intern_t *t, const void *key, uint32_t key_len, uint64_t hash,
                       uint32_t *id, void **payload)
{
    hs_intern_shard_t *s = &t->shards[hash >> (64 - 5)];
    HS_ASSERT(HS_INTERN_SHARDS == 32);
    hs_err_t err = HS_OK;
    const hs_intern_rec_t *found;

    pthread_mutex_lock(&s->lock);
    if ((s->used + 1) * 4 > s->capacity * 3 && grow_index(t, s) != HS_OK &&
        s->used + 1 >= s->capacity) {
        err = HS_ERR_NOMEM;
        goto out;
    }
    uint32_t slot = probe(t, s, key, key_len, hash, &found);
    if (found) {
        *id = found->id;
        *payload = hs_intern_payload(t, found);
        goto out;
    }

    uint32_t new_id = __atomic_load_n(&t->next_id, __ATOMIC_RELAXED);
    do {
        if (new_id >= t->max_records) {
            err = HS_ERR_FULL;
            goto out;
        }
    } while (!__atomic_compare_exchange_n(&t->next_id, &new_id, new_id + 1, 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));

    hs_intern_rec_t *rec = shard_alloc(s, sizeof *rec + t->payload_size + round8(key_len));
    if (!rec) {
        err = HS_ERR_NOMEM;
        goto out;
    }
    rec->hash = hash;
    rec->id = new_id;
    rec->key_len = key_len;
    memcpy((char *)rec + sizeof *rec + t->payload_size, key, key_len);
    err = publish(t, new_id, rec);
    if (err != HS_OK)
        goto out;
    s->slots[slot] = new_id + 1;
    s->used++;
    *id = new_id;
    *payload = hs_intern_payload(t, rec);
out:
    pthread_mutex_unlock(&s->lock);
    return err;
}

void hs_intern_prefork(hs_intern_t *t)
{
    for (int i = 0; i < HS_INTERN_SHARDS; i++)
        pthread_mutex_lock(&t->shards[i].lock);
    pthread_mutex_lock(&t->dir_lock);
}

void hs_intern_postfork_parent(hs_intern_t *t)
{
    pthread_mutex_unlock(&t->dir_lock);
    for (int i = HS_INTERN_SHARDS - 1; i >= 0; i--)
        pthread_mutex_unlock(&t->shards[i].lock);
}

void hs_intern_postfork_child(hs_intern_t *t)
{
    pthread_mutex_init(&t->dir_lock, NULL);
    for (int i = 0; i < HS_INTERN_SHARDS; i++)
        pthread_mutex_init(&t->shards[i].lock, NULL);
}
