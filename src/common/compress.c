/*
 * compress.c - gzip (zlib) and zstd (libzstd) in one shot for writing, streaming with a hard
 * output bound for reading.
 *
 * Writing: gzip is a real gzip member (deflateInit2 with windowBits 15 + 16), the format
 * `go tool pprof` and Pyroscope read, at a fast level; zstd at level 3 (its default) with a
 * content checksum, so that a damaged archive is detected on reading like a gzip one. The output
 * buffer is sized with deflateBound / ZSTD_compressBound, so one call finishes the stream.
 *
 * Reading: the format is detected by magic bytes (1f 8b gzip, 28 b5 2f fd zstd), anything else
 * is returned as is. Input comes from files a user points the CLI at, so it is untrusted: the
 * output buffer grows geometrically but never beyond max_out + 1 bytes (reaching max_out + 1
 * means "too large": HS_ERR_FULL), truncated or corrupt data is HS_ERR_INVALID, and the
 * decoders' own memory is bounded (zstd's window by ZSTD_d_windowLogMax). Concatenated gzip
 * members and zstd frames are decoded one after the other (as gzip -d and zstd -d do); bytes
 * after a gzip member that are not another member are an error.
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

#define HS_COMPRESS_GZIP_LEVEL 1  /* fast: profiles are written from a running program */
#define HS_COMPRESS_ZSTD_LEVEL 3  /* zstd's default */
#define HS_COMPRESS_WINDOW_LOG 27 /* zstd decoder window bound: 128 MiB */
#define HS_COMPRESS_CHUNK      ((size_t)1 << 30) /* zlib counts in uInt: feed at most this */

static const uint8_t hs_gzip_magic[2] = {0x1f, 0x8b};
static const uint8_t hs_zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

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

/* A growing output buffer that never holds more than limit = max_out + 1 bytes. */
typedef struct hs_outbuf {
    uint8_t *p;
    size_t len, cap, limit;
} hs_outbuf_t;

static hs_err_t hs_outbuf_init(hs_outbuf_t *b, size_t in_len, size_t max_out)
{
    b->limit = max_out == SIZE_MAX ? SIZE_MAX : max_out + 1;
    size_t cap = in_len < SIZE_MAX / 4 ? in_len * 4 : SIZE_MAX;
    if (cap < 4096)
        cap = 4096;
    if (cap > b->limit)
        cap = b->limit;
    b->p = malloc(cap);
    b->len = 0;
    b->cap = cap;
    return b->p ? HS_OK : HS_ERR_NOMEM;
}

/* Room for more output: HS_ERR_FULL once the buffer holds more than max_out bytes. */
static hs_err_t hs_outbuf_grow(hs_outbuf_t *b)
{
    if (b->len < b->cap)
        return HS_OK;
    if (b->cap >= b->limit)
        return HS_ERR_FULL;
    size_t cap = b->cap <= b->limit / 2 ? b->cap * 2 : b->limit;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return HS_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return HS_OK;
}

static hs_err_t hs_decompress_gzip(const uint8_t *in, size_t in_len, hs_outbuf_t *b)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int rc = inflateInit2(&zs, 15 + 16);
    if (rc != Z_OK)
        return rc == Z_MEM_ERROR ? HS_ERR_NOMEM : HS_ERR_INVALID;
    hs_err_t err = HS_OK;
    size_t in_pos = 0;
    for (;;) {
        if ((err = hs_outbuf_grow(b)) != HS_OK)
            goto fail_inflate;
        size_t feed = in_len - in_pos < HS_COMPRESS_CHUNK ? in_len - in_pos : HS_COMPRESS_CHUNK;
        size_t room = b->cap - b->len < HS_COMPRESS_CHUNK ? b->cap - b->len : HS_COMPRESS_CHUNK;
        zs.next_in = (Bytef *)in + in_pos;
        zs.avail_in = (uInt)feed;
        zs.next_out = b->p + b->len;
        zs.avail_out = (uInt)room;
        rc = inflate(&zs, Z_NO_FLUSH);
        in_pos += feed - zs.avail_in;
        b->len += room - zs.avail_out;
        if (rc == Z_STREAM_END) {
            if (in_pos == in_len)
                break;
            /* Another member follows (gzip -d accepts concatenations), or garbage. */
            if (in_len - in_pos < 2 || memcmp(in + in_pos, hs_gzip_magic, 2) != 0) {
                err = HS_ERR_INVALID;
                goto fail_inflate;
            }
            if (inflateReset(&zs) != Z_OK) {
                err = HS_ERR_INVALID;
                goto fail_inflate;
            }
            continue;
        }
        if (rc == Z_MEM_ERROR) {
            err = HS_ERR_NOMEM;
            goto fail_inflate;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            err = HS_ERR_INVALID; /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            goto fail_inflate;
        }
        /* No progress possible: all input consumed and output room left means truncation. */
        if (in_pos == in_len && b->len < b->cap) {
            err = HS_ERR_INVALID;
            goto fail_inflate;
        }
    }
    inflateEnd(&zs);
    return HS_OK;

fail_inflate:
    inflateEnd(&zs);
    return err;
}

static hs_err_t hs_decompress_zstd(const uint8_t *in, size_t in_len, hs_outbuf_t *b)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d)
        return HS_ERR_NOMEM;
    hs_err_t err = HS_OK;
    ZSTD_inBuffer ib = {in, in_len, 0};
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, HS_COMPRESS_WINDOW_LOG))) {
        err = HS_ERR_INVALID;
        goto fail_decompress;
    }
    for (;;) {
        if ((err = hs_outbuf_grow(b)) != HS_OK)
            goto fail_decompress;
        ZSTD_outBuffer ob = {b->p, b->cap, b->len};
        size_t rc = ZSTD_decompressStream(d, &ob, &ib);
        b->len = ob.pos;
        if (ZSTD_isError(rc)) {
            err = ZSTD_getErrorCode(rc) == ZSTD_error_memory_allocation ? HS_ERR_NOMEM
                                                                        : HS_ERR_INVALID;
            goto fail_decompress;
        }
        if (rc == 0 && ib.pos == ib.size)
            break; /* the last frame is complete and fully flushed */
        /* Output room left and no input: the decoder is waiting for data that is missing. */
        if (ib.pos == ib.size && b->len < b->cap) {
            err = HS_ERR_INVALID;
            goto fail_decompress;
        }
    }
    ZSTD_freeDCtx(d);
    return HS_OK;

fail_decompress:
    ZSTD_freeDCtx(d);
    return err;
}

hs_err_t hs_decompress(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out,
                       size_t *out_len)
{
    if (!out || !out_len || (!in && in_len))
        return HS_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    int gzip = in_len >= sizeof hs_gzip_magic && memcmp(in, hs_gzip_magic, 2) == 0;
    int zstd = in_len >= sizeof hs_zstd_magic && memcmp(in, hs_zstd_magic, 4) == 0;
    if (!gzip && !zstd) {
        if (in_len > max_out)
            return HS_ERR_FULL;
        return hs_compress_copy(in, in_len, out, out_len);
    }

    hs_outbuf_t b;
    hs_err_t err = hs_outbuf_init(&b, in_len, max_out);
    if (err != HS_OK)
        goto fail_alloc;
    err = gzip ? hs_decompress_gzip(in, in_len, &b) : hs_decompress_zstd(in, in_len, &b);
    if (err == HS_OK && b.len > max_out)
        err = HS_ERR_FULL;
    if (err != HS_OK)
        goto fail_decode;
    *out = b.p;
    *out_len = b.len;
    return HS_OK;

fail_decode:
    free(b.p);
fail_alloc:
    return err;
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
