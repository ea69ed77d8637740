/*
 * labels.h - interned label sets: the labels a sampled allocation carries until it is freed.
 *
 * A label set is a list of (key, value) string pairs sorted by key, each key once, interned
 * in a bounded, append-only table: a set id names it for the life of the process (and of its
 * forked children), and its strings never move, so a sample needs only the 32-bit id (it is
 * part of the site key: stack_table.h) and a dump reads the pairs without a lock. Set id 0
 * (HS_LABELS_NONE) is the empty set.
 *
 * Who makes sets: heapsampler_label_set derives the thread's next set from its current one
 * (hs_labels_with) and keeps the id in the thread's state (guard.h); the sample slow path adds
 * the thread's name when HEAPSAMPLER_LABELS asks for it (hs_labels_sample); exporters may add
 * or fold labels of their own. The fast paths never look at labels.
 *
 * Bounds: at most HS_LABELS_MAX_PAIRS pairs per set, and HEAPSAMPLER_MAX_LABEL_SETS sets. Past
 * the table's bound a new set is folded: it is recorded as the set with the same keys whose
 * values are all HS_LABELS_OTHER ("other"), kept in a small table of its own (the folded sets,
 * whose ids carry HS_LABELS_OTHER_BIT), and counted. Only a set whose keys are new too, once
 * that second table is full as well, becomes the empty set.
 *
 * The labels of the whole process (HEAPSAMPLER_LABELS key=value) are not part of the sets:
 * exporters add them to every row (hs_labels_process), so that they cost no set.
 *
 * Threads: every function may be called from any thread; interning takes one of the table's
 * shard locks for a lookup (no other lock is held with it, nothing allocates: memory comes from
 * hs_os_map). Fork (fork.c): every lock of both tables is taken before the fork and
 * re-initialised in the child.
 */
#ifndef HS_LABELS_H
#define HS_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "label_spec.h"

#define HS_LABELS_NONE       0u
#define HS_LABELS_OTHER_BIT  0x80000000u /* ids of folded sets */
#define HS_LABELS_THREAD_MAX 8           /* keys a thread sets through the API */
#define HS_LABELS_MAX_PAIRS  24 /* pairs of one set: the thread's, its name, exporters' own */
#define HS_LABELS_OTHER      "other"
#define HS_LABELS_OTHER_MAX  256 /* folded sets (distinct key lists) */

/*
 * At init: the bound on sets (HEAPSAMPLER_MAX_LABEL_SETS) and the labels of the process
 * (HEAPSAMPLER_LABELS: its pairs and whether samples carry their thread's name). Before it,
 * sets can be made already, within the default bound.
 */
void hs_labels_configure(uint32_t max_sets, const hs_label_spec_t *spec);

/*
 * The set `base` with key set to value (value NULL: key removed). Key and value must follow
 * label_spec.h. HS_ERR_FULL when the result would have more than max_pairs pairs (nothing
 * made), HS_ERR_NOMEM when the table cannot grow. A full table is not an error: *out is then
 * the folded set (see above).
 */
hs_err_t hs_labels_with(uint32_t base, const char *key, const char *value, uint32_t max_pairs,
                        uint32_t *out) HS_MUST_CHECK;

/* The pairs of set id, sorted by key, into out[HS_LABELS_MAX_PAIRS]: their number (0 for the
 * empty set and for an id that names no set). Lock-free; the strings live forever. */
uint32_t hs_labels_get(uint32_t id, hs_label_t *out);

/* Does id name a set (the empty set included)? Lock-free. */
bool hs_labels_valid(uint32_t id);

/*
 * The set a sample of a thread whose set is thread_set carries: thread_set itself, or with
 * HEAPSAMPLER_LABELS=thread that set plus the thread's current name as `thread` (unless it has
 * a `thread` key already). Sample slow path only: reads the name with prctl.
 */
uint32_t hs_labels_sample(uint32_t thread_set);

/* The folded version of set id: its keys with every value "other" (uploads that must stay
 * within a server's limits). The empty set stays empty; so does id when nothing is left. */
uint32_t hs_labels_other(uint32_t id);

/* The labels of every row of the process (HEAPSAMPLER_LABELS key=value), sorted by key. */
const hs_label_t *hs_labels_process(size_t *n);

typedef struct hs_labels_stats {
    uint32_t sets;     /* distinct sets interned (the empty set not counted) */
    uint32_t max_sets; /* HEAPSAMPLER_MAX_LABEL_SETS */
    uint32_t folded;   /* folded sets in use */
    uint64_t folds;    /* new sets recorded as folded ones because the table was full */
} hs_labels_stats_t;

void hs_labels_get_stats(hs_labels_stats_t *st);

/* Fork (fork.c): every lock of both tables; released in reverse; re-initialised in the child. */
void hs_labels_prefork(void);
void hs_labels_postfork_parent(void);
void hs_labels_postfork_child(void);

#endif
