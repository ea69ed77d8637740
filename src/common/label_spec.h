/*
 * label_spec.h - what a label is: the grammar of keys and values that every part of
 * heapsampler accepts (the API's heapsampler_label_set, HEAPSAMPLER_LABELS, the CLI's --by
 * label:KEY and --focus KEY=VALUE), and the list syntax of HEAPSAMPLER_LABELS.
 *
 * A label is a (key, value) pair of strings attached to sampled allocations. The grammar is
 * the intersection of what the consumers of profiles accept, so that a label that gets into a
 * profile survives every reader:
 *  - key: 1 to HS_LABEL_KEY_MAX bytes of [A-Za-z_][A-Za-z0-9_]* (a Prometheus label name, which
 *    Pyroscope turns sample labels into), not starting with "__" (reserved there), and not
 *    "bytes" (the numeric label of every heap profile row), "service_name" or "pyroscope_spy"
 *    (series labels the Pyroscope server sets itself);
 *  - value: 1 to HS_LABEL_VALUE_MAX bytes of UTF-8 without control characters.
 *
 * HEAPSAMPLER_LABELS is a comma-separated list of at most HS_LABEL_SPEC_MAX_PAIRS `key=value`
 * items (values percent-encoded where they contain a comma or a '%': %2C, %25) and the word
 * `thread` (each sample's thread name as the label `thread`); each key once.
 *
 * Allocation-free: the library checks its environment in its constructor.
 */
#ifndef HS_LABEL_SPEC_H
#define HS_LABEL_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define HS_LABEL_KEY_MAX        64  /* bytes, without the NUL */
#define HS_LABEL_VALUE_MAX      255 /* bytes, without the NUL */
#define HS_LABEL_SPEC_MAX_PAIRS 8   /* key=value items of HEAPSAMPLER_LABELS */
#define HS_LABEL_THREAD_KEY     "thread"

/* One label, as every module passes it around: two NUL-terminated strings. */
typedef struct hs_label {
    const char *key;
    const char *value;
} hs_label_t;

/* Why a key or value is refused: a bad character or reserved name, or too long. */
typedef enum hs_label_fault {
    HS_LABEL_OK = 0,
    HS_LABEL_BAD,      /* empty, a character outside the grammar, a reserved key, bad UTF-8 */
    HS_LABEL_TOO_LONG, /* longer than HS_LABEL_KEY_MAX / HS_LABEL_VALUE_MAX */
} hs_label_fault_t;

/* Check a key or a value; why (may be NULL) gets a static reason. */
hs_label_fault_t hs_label_spec_key(const char *key, const char **why);
hs_label_fault_t hs_label_spec_value(const char *value, const char **why);

/* HEAPSAMPLER_LABELS, parsed: the pairs in the order given, values decoded. */
typedef struct hs_label_spec {
    bool thread; /* `thread` was listed */
    size_t n;
    char keys[HS_LABEL_SPEC_MAX_PAIRS][HS_LABEL_KEY_MAX + 1];
    char values[HS_LABEL_SPEC_MAX_PAIRS][HS_LABEL_VALUE_MAX + 1];
} hs_label_spec_t;

/* Parse a HEAPSAMPLER_LABELS value ("" = nothing). why gets a one-line reason on failure. */
hs_err_t hs_label_spec_parse(const char *text, hs_label_spec_t *out, char *why,
                             size_t why_len) HS_MUST_CHECK;

/* The option table's check of HEAPSAMPLER_LABELS (config.h): parse and forget. */
hs_err_t hs_label_spec_check(const char *text, char *why, size_t why_len) HS_MUST_CHECK;

#endif
