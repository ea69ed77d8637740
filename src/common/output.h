/*
 * output.h - profile files: names and atomic writes.
 *
 * A profile is written to "<path>.tmp.<random>" opened with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC
 * and mode 0600, written in full, then renamed to <path>: a reader never sees a partial file,
 * and a symlink planted at the temporary name is refused, never followed. On any failure the
 * temporary file is removed.
 */
#ifndef HS_OUTPUT_H
#define HS_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

/* "<prefix>.<pid>.<seq:04>" + suffix. Returns HS_ERR_INVALID if it does not fit. */
hs_err_t hs_output_path(char *buf, size_t len, const char *prefix, pid_t pid, uint64_t seq,
                        const char *suffix) HS_MUST_CHECK;

/* errno is left describing the failure when HS_ERR_IO is returned. */
hs_err_t hs_output_write_atomic(const char *path, const void *data, size_t len) HS_MUST_CHECK;

#endif
