/*
 * decompress.c - gzip and zstd, streaming with a hard output bound, for the CLI's reading of
 * profiles (the preloaded library never reads a compressed profile, and does not contain this).
 *
 * The format is detected by magic bytes (1f 8b gzip, 28 b5 2f fd zstd); anything else is
 * returned as is. Input comes from files a user points the CLI at, so it is untrusted: the
 * output buffer grows geometrically but never beyond max_out + 1 bytes (reaching max_out + 1
 * means "too large": HS_ERR_FULL), truncated or corrupt data is HS_ERR_INVALID, and the
 * decoders' own memory is bounded (zstd's window by ZSTD_d_windowLogMax). Concatenated gzip
 * members and zstd frames are decoded one after the other (as gzip -d and zstd -d do); bytes
 * after a gzip member that are not another member are an error.
 *
 * Thread-safety: reentrant, no global state. Allocates with malloc.
 */
#include "decompress.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define HS_DECOMPRESS_WINDOW_LOG 27                /* zstd decoder window bound: 128 MiB */
#define HS_DECOMPRESS_CHUNK      ((size_t)1 << 30) /* zlib counts in uInt: feed at most this */

static const uint8_t hs_gzip_magic[2] = {0x1f, 0x8b};
static const uint8_t hs_zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

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
        size_t feed = in_len - in_pos < HS_DECOMPRESS_CHUNK ? in_len - in_pos : HS_DECOMPRESS_CHUNK;
        size_t room = b->cap - b->len < HS_DECOMPRESS_CHUNK ? b->cap - b->len : HS_DECOMPRESS_CHUNK;
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
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, HS_DECOMPRESS_WINDOW_LOG))) {
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
        *out = malloc(in_len ? in_len : 1);
        if (!*out)
            return HS_ERR_NOMEM;
        if (in_len)
            memcpy(*out, in, in_len);
        *out_len = in_len;
        return HS_OK;
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
