/*
 * compress.h - gzip (zlib), zstd and plain, for profile files and uploads (the reverse, for the
 * CLI, is decompress.h).
 */
#ifndef HS_COMPRESS_H
#define HS_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* HEAPSAMPLER_COMPRESSION (the order of the option's choices in config.c). */
typedef enum hs_compression {
    HS_COMPRESSION_GZIP = 0,
    HS_COMPRESSION_ZSTD,
    HS_COMPRESSION_NONE,
} hs_compression_t;

/* *out is malloc'd. method is a hs_compression_t. */
hs_err_t hs_compress(int method, const uint8_t *in, size_t in_len, uint8_t **out,
                     size_t *out_len) HS_MUST_CHECK;

/* ".pb.gz", ".pb.zst" or ".pb". */
const char *hs_compress_suffix(int method);

/* The compression of a file name that says none (hs_compress_for_name). */
#define HS_COMPRESS_NAME_DEFAULT HS_COMPRESSION_GZIP

/*
 * The compression a file name asks for, by its suffix: ".gz" gzip, ".zst" zstd, ".pb" none (so
 * the library's own ".pb.gz", ".pb.zst" and ".pb"), ".pprof" gzip (pprof stores profile.proto
 * gzipped, as Go's tools write such files). Any other name gets HS_COMPRESS_NAME_DEFAULT, gzip:
 * the one format that every pprof reader and Pyroscope accept; *known (unless NULL) says
 * whether the name had a suffix, for callers that would rather ask than guess.
 */
hs_compression_t hs_compress_for_name(const char *name, bool *known);

#endif
