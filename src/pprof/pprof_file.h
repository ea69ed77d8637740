/*
 * pprof_file.h - reading profiles from files and compressed bytes (gzip, zstd or plain, detected
 * by magic), for the CLI. Decoding and validation are pprof_reader.h's.
 */
#ifndef HS_PPROF_FILE_H
#define HS_PPROF_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pprof_reader.h"

/* Decompress (bounded), decode and validate. why (may be NULL) gets a one-line reason. */
hs_err_t hs_pprof_parse(const uint8_t *data, size_t len, hs_pprof_t *out, char *why,
                        size_t why_len) HS_MUST_CHECK;
/* Read a file ("-" = standard input) and parse it. */
hs_err_t hs_pprof_read_file(const char *path, hs_pprof_t *out, char *why,
                            size_t why_len) HS_MUST_CHECK;

#endif
