/*
 * labels.c - interned label sets (see labels.h).
 *
 * A set is stored as the key of an intern table record (intern.h): its pairs sorted by key,
 * each as "key\0value\0". That encoding is canonical (one byte string per set), so interning
 * by bytes finds equal sets, and a set's strings are read back from the record, which never
 * moves: the pointers hs_labels_get returns stay valid for the life of the process. Ids are
 * the record's id + 1 (0 is the empty set, which has no record); folded sets live in a second
 * table and their ids carry HS_LABELS_OTHER_BIT.
 *
 * Deriving a set (hs_labels_with) reads the base set lock-free, edits the pairs on the stack,
 * encodes them and interns the result: one hash of a few dozen bytes and one shard lock, and
 * no allocation (records come from hs_os_map). When the main table is full the result is
 * folded (labels.h) and counted, with one warning per process.
 *
 * Thread names (HEAPSAMPLER_LABELS=thread): the sample slow path reads the calling thread's
 * name with prctl(PR_GET_NAME), which any thread may change at any time, and keeps the last
 * (thread set, name) -> set in a thread-local cache, so that a sample costs a system call and
 * a string comparison, and a lookup only when the set or the name changed. Bytes of a name
 * that are not valid in a label value become '?'.
 *
 * Initialisation: the tables are set up on first use (pthread_once), so that a program may set
 * labels before the library's constructor runs; hs_labels_configure sets the bound and the
 * process's labels at init, before sampling starts (single-threaded in practice).
 *
 * Fork (fork.c): hs_labels_prefork takes every lock of both tables; the child re-initialises
 * them. Sets, ids and the thread-local state are inherited as they are.
 */
#include "labels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "intern.h"
#include "log.h"

#define HS_LABELS_DEFAULT_MAX 1024
#define HS_LABELS_ENCODED_MAX (HS_LABELS_MAX_PAIRS * (HS_LABEL_KEY_MAX + HS_LABEL_VALUE_MAX + 2))

static hs_intern_t sets;   /* id = record id + 1 */
static hs_intern_t folded; /* id = (record id + 1) | HS_LABELS_OTHER_BIT */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t folds;
static int warned_full, warned_folded_full;

/* HEAPSAMPLER_LABELS */
static bool thread_names;
static char proc_keys[HS_LABEL_SPEC_MAX_PAIRS][HS_LABEL_KEY_MAX + 1];
static char proc_values[HS_LABEL_SPEC_MAX_PAIRS][HS_LABEL_VALUE_MAX + 1];
static hs_label_t proc[HS_LABEL_SPEC_MAX_PAIRS];
static size_t nproc;

/* The last thread name seen by this thread's samples, and the set it gave. */
typedef struct hs_labels_name_cache {
    uint32_t base, set;
    bool valid;
    char name[16];
} hs_labels_name_cache_t;
static __thread hs_labels_name_cache_t name_cache __attribute__((tls_model("initial-exec")));

static void hs_labels_init(void)
{
    hs_err_t err = hs_intern_init(&sets, "label set", 0, HS_LABELS_DEFAULT_MAX);
    if (err == HS_OK)
        err = hs_intern_init(&folded, "folded label set", 0, HS_LABELS_OTHER_MAX);
    HS_ASSERT(err == HS_OK); /* hs_intern_init only sets fields */
    (void)err;
}

static void hs_labels_ready(void)
{
    pthread_once(&once, hs_labels_init);
}

static int hs_labels_key_cmp(const void *a, const void *b)
{
    return strcmp(((const hs_label_t *)a)->key, ((const hs_label_t *)b)->key);
}

void hs_labels_configure(uint32_t max_sets, const hs_label_spec_t *spec)
{
    hs_labels_ready();
    sets.max_records = max_sets < HS_INTERN_MAX_RECORDS ? max_sets : HS_INTERN_MAX_RECORDS;
    thread_names = spec && spec->thread;
    nproc = spec ? spec->n : 0;
    for (size_t i = 0; i < nproc; i++) {
        memcpy(proc_keys[i], spec->keys[i], sizeof proc_keys[i]);
        memcpy(proc_values[i], spec->values[i], sizeof proc_values[i]);
        proc[i] = (hs_label_t){proc_keys[i], proc_values[i]};
    }
    qsort(proc, nproc, sizeof *proc, hs_labels_key_cmp);
}

const hs_label_t *hs_labels_process(size_t *n)
{
    *n = nproc;
    return proc;
}

/* ---- reading ------------------------------------------------------------------------------ */

static const hs_intern_rec_t *hs_labels_record(uint32_t id, const hs_intern_t **table)
{
    if (id == HS_LABELS_NONE)
        return NULL;
    hs_labels_ready();
    *table = (id & HS_LABELS_OTHER_BIT) ? &folded : &sets;
    return hs_intern_record(*table, (id & ~HS_LABELS_OTHER_BIT) - 1);
}

bool hs_labels_valid(uint32_t id)
{
    const hs_intern_t *t;
    return id == HS_LABELS_NONE || hs_labels_record(id, &t) != NULL;
}

uint32_t hs_labels_get(uint32_t id, hs_label_t *out)
{
    const hs_intern_t *t;
    const hs_intern_rec_t *rec = hs_labels_record(id, &t);
    if (!rec)
        return 0;
    const char *s = hs_intern_key(t, rec), *end = s + rec->key_len;
    uint32_t n = 0;
    while (s < end && n < HS_LABELS_MAX_PAIRS) {
        out[n].key = s;
        s += strlen(s) + 1;
        out[n].value = s;
        s += strlen(s) + 1;
        n++;
    }
    return n;
}

/* ---- making sets -------------------------------------------------------------------------- */

/* The canonical bytes of n sorted pairs; their length. */
static size_t hs_labels_encode(const hs_label_t *pairs, uint32_t n, char *buf)
{
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t k = strlen(pairs[i].key) + 1, v = strlen(pairs[i].value) + 1;
        memcpy(buf + len, pairs[i].key, k);
        memcpy(buf + len + k, pairs[i].value, v);
        len += k + v;
    }
    return len;
}

static hs_err_t hs_labels_intern(hs_intern_t *t, const hs_label_t *pairs, uint32_t n, uint32_t tag,
                                 uint32_t *out)
{
    char buf[HS_LABELS_ENCODED_MAX];
    if (n == 0) {
        *out = HS_LABELS_NONE;
        return HS_OK;
    }
    size_t len = hs_labels_encode(pairs, n, buf);
    uint32_t id;
    void *payload;
    hs_err_t err = hs_intern_get(t, buf, (uint32_t)len, hs_intern_hash(buf, len), &id, &payload);
    if (err == HS_OK)
        *out = (id + 1) | tag;
    return err;
}

/* The folded set of these keys; the empty set when even the folded sets' table is full. */
static uint32_t hs_labels_fold(const hs_label_t *pairs, uint32_t n)
{
    hs_label_t other[HS_LABELS_MAX_PAIRS];
    for (uint32_t i = 0; i < n; i++)
        other[i] = (hs_label_t){pairs[i].key, HS_LABELS_OTHER};
    uint32_t id;
    if (hs_labels_intern(&folded, other, n, HS_LABELS_OTHER_BIT, &id) == HS_OK)
        return id;
    hs_warn_once(&warned_folded_full,
                 "more than %d distinct lists of label keys: new ones are recorded without "
                 "labels",
                 HS_LABELS_OTHER_MAX);
    return HS_LABELS_NONE;
}

hs_err_t hs_labels_with(uint32_t base, const char *key, const char *value, uint32_t max_pairs,
                        uint32_t *out)
{
    hs_label_t pairs[HS_LABELS_MAX_PAIRS + 1];
    uint32_t n = hs_labels_get(base, pairs), at = 0;
    while (at < n && strcmp(pairs[at].key, key) < 0)
        at++;
    bool present = at < n && strcmp(pairs[at].key, key) == 0;
    if (present && value && strcmp(pairs[at].value, value) == 0) {
        *out = base; /* no change: no lookup */
        return HS_OK;
    }
    if (present && !value) {
        memmove(pairs + at, pairs + at + 1, (n - at - 1) * sizeof *pairs);
        n--;
    } else if (present) {
        pairs[at].value = value;
    } else if (value) {
        if (n + 1 > max_pairs || n + 1 > HS_LABELS_MAX_PAIRS)
            return HS_ERR_FULL;
        memmove(pairs + at + 1, pairs + at, (n - at) * sizeof *pairs);
        pairs[at] = (hs_label_t){key, value};
        n++;
    } else {
        *out = base; /* removing a key the set does not have */
        return HS_OK;
    }
    hs_labels_ready();
    hs_err_t err = hs_labels_intern(&sets, pairs, n, 0, out);
    if (err != HS_ERR_FULL)
        return err;
    __atomic_add_fetch(&folds, 1, __ATOMIC_RELAXED);
    hs_warn_once(&warned_full,
                 "more than HEAPSAMPLER_MAX_LABEL_SETS=%u distinct label sets: new ones are "
                 "recorded with every value as \"other\" (counted in each profile's comments)",
                 sets.max_records);
    *out = hs_labels_fold(pairs, n);
    return HS_OK;
}

uint32_t hs_labels_other(uint32_t id)
{
    if (id == HS_LABELS_NONE || (id & HS_LABELS_OTHER_BIT))
        return id;
    hs_label_t pairs[HS_LABELS_MAX_PAIRS];
    uint32_t n = hs_labels_get(id, pairs);
    return n ? hs_labels_fold(pairs, n) : HS_LABELS_NONE;
}

/* ---- thread names ------------------------------------------------------------------------- */

/* The name as a label value: bytes that would make it invalid become '?'. */
static void hs_labels_clean_name(char *name)
{
    const char *why;
    if (hs_label_spec_value(name, &why) == HS_LABEL_OK)
        return;
    for (char *c = name; *c; c++) {
        char one[2] = {*c, '\0'};
        if (hs_label_spec_value(one, &why) != HS_LABEL_OK)
            *c = '?';
    }
}

uint32_t hs_labels_sample(uint32_t thread_set)
{
    if (!thread_names)
        return thread_set;
    char name[16] = {0};
    if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || !name[0])
        return thread_set;
    hs_labels_name_cache_t *c = &name_cache;
    if (c->valid && c->base == thread_set && strcmp(c->name, name) == 0)
        return c->set;
    char clean[16];
    memcpy(clean, name, sizeof clean);
    hs_labels_clean_name(clean);
    hs_label_t pairs[HS_LABELS_MAX_PAIRS];
    uint32_t n = hs_labels_get(thread_set, pairs), set = thread_set;
    bool has = false;
    for (uint32_t i = 0; i < n && !has; i++)
        has = strcmp(pairs[i].key, HS_LABEL_THREAD_KEY) == 0;
    /* The thread's own `thread` label wins; a set that cannot grow keeps its labels. */
    if (!has &&
        hs_labels_with(thread_set, HS_LABEL_THREAD_KEY, clean, HS_LABELS_MAX_PAIRS, &set) != HS_OK)
        return thread_set;
    c->base = thread_set;
    c->set = set;
    c->valid = true;
    memcpy(c->name, name, sizeof c->name);
    return set;
}

/* ---- figures and fork --------------------------------------------------------------------- */

void hs_labels_get_stats(hs_labels_stats_t *st)
{
    hs_labels_ready();
    st->sets = hs_intern_count(&sets);
    st->max_sets = sets.max_records;
    st->folded = hs_intern_count(&folded);
    st->folds = __atomic_load_n(&folds, __ATOMIC_RELAXED);
}

void hs_labels_prefork(void)
{
    hs_labels_ready();
    hs_intern_prefork(&sets);
    hs_intern_prefork(&folded);
}

void hs_labels_postfork_parent(void)
{
    hs_intern_postfork_parent(&folded);
    hs_intern_postfork_parent(&sets);
}

void hs_labels_postfork_child(void)
{
    hs_intern_postfork_child(&sets);
    hs_intern_postfork_child(&folded);
}
