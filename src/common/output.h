/*
 * output.h - profile files: names (written and parsed) and atomic writes.
 *
 * The library names its profiles "<prefix>.<pid>.<seq><suffix>" (hs_output_path), seq counting
 * from 0 in each process and printed with at least 4 digits, suffix ".pb.gz", ".pb.zst" or ".pb"
 * (hs_compress_suffix), and its peak profile, the one rewritten at each new high of the memory
 * in use, "<prefix>.<pid>.peak<suffix>" (hs_output_peak_path). hs_output_parse_name is the one
 * reader of such names: the CLI groups profiles by process, lists what a run wrote and chains
 * uploads with it.
 *
 * A profile is written to "<path>.tmp.<random>" opened with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC
 * and mode 0600, written in full, then renamed to <path>: a reader never sees a partial file,
 * and a symlink planted at the temporary name is refused, never followed. A numbered profile
 * never replaces a file (hs_output_write_numbered). On any failure the temporary file is
 * removed.
 */
#ifndef HS_OUTPUT_H
#define HS_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

/* "<prefix>.<pid>.<seq:04>" + suffix. Returns HS_ERR_INVALID if it does not fit. */
hs_err_t hs_output_path(char *buf, size_t len, const char *prefix, pid_t pid, uint64_t seq,
                        const char *suffix) HS_MUST_CHECK;

/* "<prefix>.<pid>.peak" + suffix. Returns HS_ERR_INVALID if it does not fit. */
hs_err_t hs_output_peak_path(char *buf, size_t len, const char *prefix, pid_t pid,
                             const char *suffix) HS_MUST_CHECK;

/* What a profile's file name says (hs_output_parse_name). */
typedef struct hs_output_name {
    bool numbered;     /* "<prefix>.<pid>.<seq><suffix>"; else a profile named otherwise */
    bool peak;         /* "<prefix>.<pid>.peak<suffix>" (not numbered: not one of the series) */
    size_t prefix_len; /* numbered or peak: bytes of the name before ".<pid>" (directories
                          included) */
    pid_t pid;         /* numbered or peak; else 0 */
    uint64_t seq;      /* numbered; else 0 */
    int compression;   /* hs_compression_t of the suffix */
} hs_output_name_t;

/*
 * Parse a file name or path. A profile's name ends in a profile suffix (".pb.gz", ".pb.zst",
 * ".pb") after a non-empty base name; it is numbered when it is what hs_output_path writes: a
 * non-empty prefix (its last component not empty either), then ".<pid>" and ".<seq>" in
 * decimal (a pid that fits pid_t, a seq that fits 64 bits; no sign, any number of digits), the
 * prefix parsed from the right so that it may hold dots and digits itself ("app.v2.7" in
 * "app.v2.7.4242.0001.pb.gz"). It is a peak profile when ".peak" stands for ".<seq>" (a prefix
 * may not end in ".<pid>.peak" then: "x.1.peak.2.3.pb.gz" is numbered). Other profile names
 * are what heapsampler_dump_to and the CLI write. HS_ERR_INVALID for anything else, temporary files
 * ("<name>.tmp.<random>", being written) included: their names never end in a profile suffix.
 */
hs_err_t hs_output_parse_name(const char *name, hs_output_name_t *out) HS_MUST_CHECK;

/* errno is left describing the failure when HS_ERR_IO is returned. */
hs_err_t hs_output_write_atomic(const char *path, const void *data, size_t len) HS_MUST_CHECK;

/*
 * Write <prefix>.<pid>.<*seq><suffix> as hs_output_write_atomic does, but never over an
 * existing file: a taken name moves the profile to a free sequence number after it (the
 * series of an earlier image of the process, before an exec, is continued, not overwritten).
 * *seq gets the number written and path (path_len bytes) the name. HS_ERR_IO with errno on
 * failure (HS_ERR_INVALID, errno ENAMETOOLONG, when the name does not fit).
 */
hs_err_t hs_output_write_numbered(char *path, size_t path_len, const char *prefix, pid_t pid,
                                  uint64_t *seq, const char *suffix, const void *data,
                                  size_t len) HS_MUST_CHECK;

#endif
