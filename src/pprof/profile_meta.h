/*
 * profile_meta.h - a profile's metadata, carried in its comments: written by the library,
 * read by the CLI.
 *
 * pprof has no field for "why was this profile written, by which program, with what memory
 * limit"; its comments (string-table indices, shown by `go tool pprof -comments`, ignored by
 * every other reader) carry it instead, in a form both people and the CLI read:
 *
 *   heapsampler 0.1.0 (exit)                          the header: version and reason, first;
 *   heapsampler 0.1.0 (memory, 85% of 128 MiB)          a detail may follow the reason
 *   rate=524288                                       every other comment: key=value tokens,
 *   program=postgres cmdline=postgres:%20checkpointer   separated by single spaces
 *
 * Keys are [a-z0-9_.]+ and name one thing across all the comments of a profile (a comment
 * about one topic prefixes its keys: symbolizer.memory=...); values are percent-encoded where
 * they contain a space, '%', '=' or a control character, so any string survives (a command
 * line, a path). A reader looks keys up by name and ignores what it does not know; tokens
 * that are not key=value (older profiles wrote "profiler_memory=N bytes") are skipped. README.md
 * ("Profile comments") lists the keys.
 *
 * Writing is allocation-free (the library formats comments in the writer thread, possibly
 * near a memory limit); reading allocates (the CLI).
 */
#ifndef HS_PROFILE_META_H
#define HS_PROFILE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pprof_reader.h"

#define HS_META_REASON_MAX  64
#define HS_META_DETAIL_MAX  192
#define HS_META_VERSION_MAX 32

typedef struct hs_meta_pair {
    char *key;
    char *value; /* decoded */
} hs_meta_pair_t;

typedef struct hs_profile_meta {
    bool heapsampler;                  /* the header names heapsampler */
    char version[HS_META_VERSION_MAX]; /* "0.1.0"; "" if unknown */
    char reason[HS_META_REASON_MAX];   /* "exit", "interval", ...; "" if unknown */
    char detail[HS_META_DETAIL_MAX];   /* what follows "<reason>, " in the header; "" if none */
    hs_meta_pair_t *pairs;             /* in the order found */
    size_t npairs;
} hs_profile_meta_t;

/* ---- writing (allocation-free) ---- */

/*
 * Append "key=value" (value percent-encoded) to the NUL-terminated comment in buf, preceded by
 * a space unless buf is empty. Returns HS_ERR_FULL, leaving buf unchanged, if it does not fit:
 * a token is all there or not at all, so a writer whose buffer is sized for its keys may
 * ignore the result (not HS_MUST_CHECK).
 */
hs_err_t hs_profile_meta_append(char *buf, size_t len, const char *key, const char *value);
/* The same with an unsigned number as the value. */
hs_err_t hs_profile_meta_append_u64(char *buf, size_t len, const char *key, uint64_t value);
/* The header comment: "heapsampler <version> (<reason>)" or "(<reason>, <detail>)". */
void hs_profile_meta_header(char *buf, size_t len, const char *version, const char *reason,
                            const char *detail);

/* ---- reading ---- */

/* Parse n comments (the header, then key=value comments). *out is to be freed. */
hs_err_t hs_profile_meta_parse(const char *const *comments, size_t n,
                               hs_profile_meta_t *out) HS_MUST_CHECK;
/* Parse the comments of a profile read with pprof_reader.h. */
hs_err_t hs_profile_meta_read(const hs_pprof_t *p, hs_profile_meta_t *out) HS_MUST_CHECK;
void hs_profile_meta_free(hs_profile_meta_t *m);

/* The value of key (the last one when repeated), or NULL. */
const char *hs_profile_meta_get(const hs_profile_meta_t *m, const char *key);
/* The value of key as an unsigned decimal number: 1 if present and valid, else 0. */
int hs_profile_meta_get_u64(const hs_profile_meta_t *m, const char *key, uint64_t *out);

#endif
