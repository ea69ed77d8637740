/*
 * compress.c - gzip (zlib) and zstd (libzstd) in one shot, for profile files and uploads.
 *
 * gzip is a real gzip member (deflateInit2 with windowBits 15 + 16), the format `go tool pprof`
 * and Pyroscope read, at a fast level; zstd at level 3 (its default) with a content checksum,
 * so that a damaged archive is detected on reading like a gzip one. The output buffer is sized
 * with deflateBound / ZSTD_compressBound, so one call finishes the stream. Reading is
 * decompress.c's: the preloaded library writes profiles and never reads compressed ones.
 *
 * Names: a file name chooses a compression by its suffix (hs_compress_for_name), with one
 * default for names without one, so that every command that writes a profile reads a name the
 * same way. Reading never looks at the name.
 *
 * Thread-safety: reentrant, no global state. Allocates with malloc.
 */
#include "compress.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define HS_COMPRESS_GZIP_LEVEL 1 /* fast: profiles are written from a running program */
#define HS_COMPRESS_ZSTD_LEVEL 3 /* zstd's default */
#define HS_COMPRESS_CHUNK      ((size_t)1 << 30) /* zlib counts in uInt: feed at most this */

const char *hs_compress_suffix(int method)
{
    switch (method) {
    case HS_COMPRESSION_GZIP:
        return ".pb.gz";
    case HS_COMPRESSION_ZSTD:
        return ".pb.zst";
    default:
        return ".pb";
    }
}

static hs_err_t hs_compress_gzip(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int rc = deflateInit2(&zs, HS_COMPRESS_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK)
        return rc == Z_MEM_ERROR ? HS_ERR_NOMEM : HS_ERR_INVALID;
    hs_err_t err = HS_ERR_NOMEM;
    size_t in_left = in_len, out_left;
    /* deflateBound covers the gzip header and trailer; + a margin for the chunked feeding. */
    size_t cap = (size_t)deflateBound(&zs, (uLong)in_len) + 64 + in_len / HS_COMPRESS_CHUNK * 16;
    uint8_t *buf = malloc(cap);
    if (!buf)
        goto fail_alloc;
    zs.next_out = buf;
    out_left = cap;
    zs.next_in = (Bytef *)in; /* zlib does not write through next_in */
    do {
        size_t feed = in_left < HS_COMPRESS_CHUNK ? in_left : HS_COMPRESS_CHUNK;
        size_t room = out_left < HS_COMPRESS_CHUNK ? out_left : HS_COMPRESS_CHUNK;
        zs.avail_in = (uInt)feed;
        zs.avail_out = (uInt)room;
        rc = deflate(&zs, feed == in_left ? Z_FINISH : Z_NO_FLUSH);
        in_left -= feed - zs.avail_in;
        out_left -= room - zs.avail_out;
        if (rc == Z_STREAM_ERROR || (rc == Z_BUF_ERROR && out_left == 0)) {
            err = HS_ERR_INVALID;
            goto fail_deflate;
        }
    } while (rc != Z_STREAM_END);
    deflateEnd(&zs);
    *out = buf;
    *out_len = cap - out_left;
    return HS_OK;

fail_deflate:
    free(buf);
fail_alloc:
    deflateEnd(&zs);
    return err;
}

static hs_err_t hs_compress_zstd(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    size_t cap = ZSTD_compressBound(in_len);
    if (ZSTD_isError(cap))
        return HS_ERR_INVALID;
    hs_err_t err = HS_ERR_NOMEM;
    uint8_t *buf = NULL;
    size_t n;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (!cctx)
        goto fail_ctx;
    /* A content checksum (XXH64, cheap) lets readers detect a damaged archive. */
    err = HS_ERR_INVALID;
    if (ZSTD_isError(
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, HS_COMPRESS_ZSTD_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)))
        goto fail_param;
    err = HS_ERR_NOMEM;
    buf = malloc(cap);
    if (!buf)
        goto fail_param;
    n = ZSTD_compress2(cctx, buf, cap, in, in_len);
    if (ZSTD_isError(n)) {
        err = ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? HS_ERR_NOMEM : HS_ERR_INVALID;
        goto fail_compress;
    }
    ZSTD_freeCCtx(cctx);
    *out = buf;
    *out_len = n;
    return HS_OK;

fail_compress:
    free(buf);
fail_param:
    ZSTD_freeCCtx(cctx);
fail_ctx:
    return err;
}

static hs_err_t hs_compress_copy(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    uint8_t *buf = malloc(in_len ? in_len : 1);
    if (!buf)
        return HS_ERR_NOMEM;
    if (in_len)
        memcpy(buf, in, in_len);
    *out = buf;
    *out_len = in_len;
    return HS_OK;
}

hs_err_t hs_compress(int method, const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    if (!out || !out_len || (!in && in_len))
        return HS_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    switch (method) {
    case HS_COMPRESSION_GZIP:
        return hs_compress_gzip(in, in_len, out, out_len);
    case HS_COMPRESSION_ZSTD:
        return hs_compress_zstd(in, in_len, out, out_len);
    case HS_COMPRESSION_NONE:
        return hs_compress_copy(in, in_len, out, out_len);
    default:
        return HS_ERR_INVALID;
    }
}

hs_compression_t hs_compress_for_name(const char *name, bool *known)
{
    static const struct {
        const char *suffix;
        hs_compression_t method;
    } suffixes[] = {
        {".gz", HS_COMPRESSION_GZIP},
        {".zst", HS_COMPRESSION_ZSTD},
        {".pb", HS_COMPRESSION_NONE},
        {".pprof", HS_COMPRESSION_GZIP},
    };
    size_t n = name ? strlen(name) : 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t m = strlen(suffixes[i].suffix);
        if (n > m && strcmp(name + n - m, suffixes[i].suffix) == 0) {
            if (known)
                *known = true;
            return suffixes[i].method;
        }
    }
    if (known)
        *known = false;
    return HS_COMPRESS_NAME_DEFAULT;
}
