/*
 * pprof_file.c - profiles as users hand them to the CLI: a file or standard input, gzip, zstd or
 * plain (see pprof_file.h).
 *
 * Everything here is bounded: a file is read up to HS_PPROF_MAX_BYTES, and decompressed to at
 * most as much (hs_decompress refuses more), so that a hostile or broken file costs an error
 * message, not the machine's memory. The bytes are then decoded and validated by
 * pprof_reader.c.
 */
#include "pprof_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decompress.h"

hs_err_t hs_pprof_parse(const uint8_t *data, size_t len, hs_pprof_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (len == 0) {
        hs_reason(why, why_len, "empty file");
        return HS_ERR_INVALID;
    }
    hs_err_t err = hs_decompress(data, len, HS_PPROF_MAX_BYTES, &raw, &raw_len);
    if (err == HS_ERR_FULL) {
        hs_reason(why, why_len, "larger than %zu MiB once decompressed", HS_PPROF_MAX_BYTES >> 20);
        return err;
    }
    if (err != HS_OK) {
        hs_reason(why, why_len, err == HS_ERR_NOMEM ? "out of memory" : "corrupt compressed data");
        return err;
    }
    err = hs_pprof_decode(raw, raw_len, out, why, why_len);
    free(raw);
    return err;
}

hs_err_t hs_pprof_read_file(const char *path, hs_pprof_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        hs_reason(why, why_len, "%s", strerror(errno));
        return HS_ERR_IO;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    hs_err_t err = HS_OK;
    for (;;) {
        if (hs_array_reserve((void **)&buf, &cap, len + 65536, 1, 65536) != HS_OK) {
            err = HS_ERR_NOMEM;
            hs_reason(why, why_len, "out of memory");
            goto out;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len > HS_PPROF_MAX_BYTES) {
            err = HS_ERR_FULL;
            hs_reason(why, why_len, "larger than %zu MiB", HS_PPROF_MAX_BYTES >> 20);
            goto out;
        }
    }
    if (ferror(f)) {
        err = HS_ERR_IO;
        hs_reason(why, why_len, "%s", strerror(errno));
        goto out;
    }
    err = hs_pprof_parse(buf, len, out, why, why_len);
out:
    free(buf);
    if (f != stdin)
        fclose(f);
    return err;
}
