/*
 * pprof_writer.h - a snapshot as a pprof Profile message (protobuf-c), uncompressed.
 *
 * Layout (Go's heap profile): sample types alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes; period_type space/bytes; period = rate;
 * default_sample_type = inuse_space; one Sample per snapshot row with a numeric "bytes" label
 * (the row's allocation size); Locations at return address - 1 with their Mapping and, when
 * symbolized, one Line per frame (inlined functions first, then the function the code is in),
 * each naming a Function (readable name, symbol as system_name, source file when known).
 */
#ifndef HS_PPROF_WRITER_H
#define HS_PPROF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "mappings.h"
#include "snapshot.h"
#include "symbolize.h"

typedef struct hs_pprof_options {
    const hs_modules_t *modules; /* may be NULL: no mappings */
    hs_symbolizer_t *symbolizer; /* may be NULL: addresses only */
    const char *const *comments; /* NULL-terminated, may be NULL */
    /*
     * Called (if set) once the locations are symbolized, before the comments are read: it may
     * add entries to `comments` (e.g. the symbolizer's figures for this profile).
     */
    void (*symbolized)(void *arg);
    void *symbolized_arg;
} hs_pprof_options_t;

/* Encode; *out is malloc'd (caller frees). */
hs_err_t hs_pprof_encode(const hs_snapshot_t *snap, const hs_pprof_options_t *opt, uint8_t **out,
                         size_t *out_len) HS_MUST_CHECK;

#endif
