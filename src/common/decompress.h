/*
 * decompress.h - gzip or zstd back to bytes, for the CLI's reading of profiles. The format is
 * detected by magic bytes, never by file name.
 */
#ifndef HS_DECOMPRESS_H
#define HS_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/*
 * Decompress gzip or zstd (detected by magic) or copy plain data. Refuses output larger than
 * max_out (HS_ERR_FULL) so a hostile file cannot exhaust memory. *out is malloc'd.
 */
hs_err_t hs_decompress(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out,
                       size_t *out_len) HS_MUST_CHECK;

#endif
