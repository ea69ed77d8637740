/*
 * pprof_reader.h - reading pprof profiles (ours, Go's, anyone's) for the CLI, strictly.
 *
 * A file may be gzip, zstd or plain protobuf (detected by magic bytes). After decoding with
 * protobuf-c, every cross-reference is checked: string indices in range and string_table[0]
 * empty, ids of mappings/locations/functions non-zero and unique, every location, function and
 * mapping a sample or line refers to exists, every sample has one value per sample type. A
 * profile that passes can be walked without further checks. Hostile input gives an error and a
 * one-line reason, never a crash; sizes are bounded (HS_PPROF_MAX_BYTES decompressed).
 *
 * Not for the preloaded library's hot paths: everything here allocates freely.
 */
#ifndef HS_PPROF_READER_H
#define HS_PPROF_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "profile.pb-c.h"

#define HS_PPROF_MAX_BYTES ((size_t)1 << 30)

typedef Perftools__Profiles__Profile hs_pb_profile_t;
typedef Perftools__Profiles__Sample hs_pb_sample_t;
typedef Perftools__Profiles__Location hs_pb_location_t;
typedef Perftools__Profiles__Function hs_pb_function_t;
typedef Perftools__Profiles__Mapping hs_pb_mapping_t;

typedef struct hs_pprof_id {
    uint64_t id;
    size_t index;
} hs_pprof_id_t;

typedef struct hs_pprof {
    hs_pb_profile_t *pb;    /* the decoded message; owned */
    hs_pprof_id_t *map_ids; /* sorted by id, for lookups */
    hs_pprof_id_t *loc_ids;
    hs_pprof_id_t *fn_ids;
    int default_type; /* index into sample_type shown by default (-1 if no types) */
} hs_pprof_t;

/*
 * Decode and validate an uncompressed profile.proto message (files and compressed data:
 * pprof_file.h). why (may be NULL) gets a one-line reason on failure.
 */
hs_err_t hs_pprof_decode(const uint8_t *data, size_t len, hs_pprof_t *out, char *why,
                         size_t why_len) HS_MUST_CHECK;
void hs_pprof_free(hs_pprof_t *p);

/* String by index ("" for index 0). Valid indices only (validated at parse). */
const char *hs_pprof_str(const hs_pprof_t *p, int64_t index);
/* Index of the sample type named type ("inuse_space"), or -1. */
int hs_pprof_sample_type(const hs_pprof_t *p, const char *type);
/* Lookups by id; NULL for id 0 or an unknown id. */
const hs_pb_location_t *hs_pprof_location(const hs_pprof_t *p, uint64_t id);
const hs_pb_function_t *hs_pprof_function(const hs_pprof_t *p, uint64_t id);
const hs_pb_mapping_t *hs_pprof_mapping(const hs_pprof_t *p, uint64_t id);
/* Position in pb->location (function, mapping) of the entry with this id; -1 if none. */
ptrdiff_t hs_pprof_location_index(const hs_pprof_t *p, uint64_t id);
ptrdiff_t hs_pprof_function_index(const hs_pprof_t *p, uint64_t id);
ptrdiff_t hs_pprof_mapping_index(const hs_pprof_t *p, uint64_t id);
/* The numeric label key of a sample (e.g. "bytes"); returns 1 and sets *num if present. */
int hs_pprof_label_num(const hs_pprof_t *p, const hs_pb_sample_t *s, const char *key, int64_t *num);
/* The string label key of a sample ("endpoint"): its value, or NULL (the first when repeated). */
const char *hs_pprof_label_str(const hs_pprof_t *p, const hs_pb_sample_t *s, const char *key);

/* Encode a message and compress it (hs_compression_t); *out is malloc'd. */
hs_err_t hs_pprof_pack(const hs_pb_profile_t *pb, int compression, uint8_t **out,
                       size_t *out_len) HS_MUST_CHECK;

#endif
