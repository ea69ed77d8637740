/*
 * test_compress.c - gzip/zstd/plain round trips, output that the reference decoders (zlib's
 * inflate, libzstd's one-shot decoder) accept, the max_out bound, and hostile input (truncated,
 * corrupted, trailing garbage, a decompression bomb) that must fail cleanly, never crash; and
 * the compression a file name asks for.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"
#include "decompress.h"

/* Deterministic test data: words drawn at random (compressible), or random bytes. */
static uint8_t *make_data(size_t len, int random, uint64_t seed)
{
    static const char *const words[] = {"heap ", "sampler ", "profile ", "malloc ",
                                        "free ", "stack ",   "frame ",   "pprof "};
    uint8_t *p = malloc(len ? len : 1);
    cr_assert_not_null(p);
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len;) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (random) {
            p[i++] = (uint8_t)(x >> 32);
            continue;
        }
        for (const char *w = words[(x >> 40) % 8]; *w && i < len; w++)
            p[i++] = (uint8_t)*w;
    }
    return p;
}

static void roundtrip(int method, size_t len, int random)
{
    uint8_t *in = make_data(len, random, len + (size_t)method);
    uint8_t *c = NULL, *d = NULL;
    size_t clen = 0, dlen = 0;
    cr_assert_eq(hs_compress(method, in, len, &c, &clen), HS_OK);
    cr_assert_not_null(c);
    cr_assert_eq(hs_decompress(c, clen, len, &d, &dlen), HS_OK, "method %d len %zu", method, len);
    cr_assert_eq(dlen, len);
    cr_assert(len == 0 || memcmp(in, d, len) == 0);
    free(in);
    free(c);
    free(d);
}

Test(compress, roundtrip_all_methods)
{
    static const size_t lens[] = {0, 1, 2, 100, 4096, 4097, 100000, 3 << 20};
    for (int method = HS_COMPRESSION_GZIP; method <= HS_COMPRESSION_NONE; method++) {
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            roundtrip(method, lens[i], 0);
            roundtrip(method, lens[i], 1);
        }
    }
}

Test(compress, gzip_is_real_gzip)
{
    size_t len = 200000;
    uint8_t *in = make_data(len, 0, 7);
    uint8_t *c = NULL;
    size_t clen = 0;
    cr_assert_eq(hs_compress(HS_COMPRESSION_GZIP, in, len, &c, &clen), HS_OK);
    cr_assert_geq(clen, 18);
    cr_assert_eq(c[0], 0x1f);
    cr_assert_eq(c[1], 0x8b);
    cr_assert_eq(c[2], 8, "deflate method");
    cr_assert_lt(clen, len / 2, "text-like data compresses");
    /* Decode with zlib directly, gzip-only window bits (no auto-detection). */
    uint8_t *d = malloc(len + 1);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = c;
    zs.avail_in = (uInt)clen;
    zs.next_out = d;
    zs.avail_out = (uInt)len + 1;
    cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    cr_assert_eq(zs.total_out, len);
    cr_assert_eq(zs.avail_in, 0);
    cr_assert_eq(memcmp(in, d, len), 0);
    inflateEnd(&zs);
    free(in);
    free(c);
    free(d);
}

Test(compress, zstd_is_real_zstd)
{
    size_t len = 200000;
    uint8_t *in = make_data(len, 0, 8);
    uint8_t *c = NULL;
    size_t clen = 0;
    cr_assert_eq(hs_compress(HS_COMPRESSION_ZSTD, in, len, &c, &clen), HS_OK);
    cr_assert_eq(memcmp(c, "\x28\xb5\x2f\xfd", 4), 0);
    cr_assert_eq(ZSTD_getFrameContentSize(c, clen), len);
    uint8_t *d = malloc(len);
    cr_assert_eq(ZSTD_decompress(d, len, c, clen), len);
    cr_assert_eq(memcmp(in, d, len), 0);
    free(in);
    free(c);
    free(d);
}

Test(compress, none_is_a_copy)
{
    const uint8_t in[] = "plain bytes";
    uint8_t *c = NULL;
    size_t clen = 0;
    cr_assert_eq(hs_compress(HS_COMPRESSION_NONE, in, sizeof in, &c, &clen), HS_OK);
    cr_assert_eq(clen, sizeof in);
    cr_assert_neq(c, in);
    cr_assert_eq(memcmp(c, in, sizeof in), 0);
    free(c);
}

Test(compress, unknown_method_and_bad_args)
{
    uint8_t *c = (uint8_t *)1;
    size_t clen = 1;
    cr_assert_eq(hs_compress(42, (const uint8_t *)"x", 1, &c, &clen), HS_ERR_INVALID);
    cr_assert_null(c);
    cr_assert_eq(hs_compress(HS_COMPRESSION_GZIP, NULL, 5, &c, &clen), HS_ERR_INVALID);
    cr_assert_eq(hs_decompress(NULL, 5, 100, &c, &clen), HS_ERR_INVALID);
}

Test(compress, suffixes)
{
    cr_assert_str_eq(hs_compress_suffix(HS_COMPRESSION_GZIP), ".pb.gz");
    cr_assert_str_eq(hs_compress_suffix(HS_COMPRESSION_ZSTD), ".pb.zst");
    cr_assert_str_eq(hs_compress_suffix(HS_COMPRESSION_NONE), ".pb");
}

Test(compress, compression_for_name)
{
    static const struct {
        const char *name;
        hs_compression_t method;
        bool known;
    } cases[] = {
        {"heapsampler.4242.0001.pb.gz", HS_COMPRESSION_GZIP, true},
        {"heapsampler.4242.0001.pb.zst", HS_COMPRESSION_ZSTD, true},
        {"heapsampler.4242.0001.pb", HS_COMPRESSION_NONE, true},
        {"/tmp/out.gz", HS_COMPRESSION_GZIP, true},
        {"out.zst", HS_COMPRESSION_ZSTD, true},
        {"heap.pprof", HS_COMPRESSION_GZIP, true},
        {"dir.pb/out", HS_COMPRESS_NAME_DEFAULT, false},
        {"out.txt", HS_COMPRESS_NAME_DEFAULT, false},
        {"out.pb.gz2", HS_COMPRESS_NAME_DEFAULT, false},
        {"out.PB", HS_COMPRESS_NAME_DEFAULT, false},
        {".gz", HS_COMPRESS_NAME_DEFAULT, false}, /* a suffix alone is no name */
        {"", HS_COMPRESS_NAME_DEFAULT, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool known = !cases[i].known;
        cr_assert_eq(hs_compress_for_name(cases[i].name, &known), cases[i].method, "%s",
                     cases[i].name);
        cr_assert_eq(known, cases[i].known, "%s", cases[i].name);
        cr_assert_eq(hs_compress_for_name(cases[i].name, NULL), cases[i].method);
    }
    /* Every suffix the library writes reads back as its method. */
    for (int m = HS_COMPRESSION_GZIP; m <= HS_COMPRESSION_NONE; m++) {
        char name[32];
        snprintf(name, sizeof name, "p%s", hs_compress_suffix(m));
        cr_assert_eq((int)hs_compress_for_name(name, NULL), m, "%s", name);
    }
    cr_assert_eq(HS_COMPRESS_NAME_DEFAULT, HS_COMPRESSION_GZIP);
}

Test(compress, plain_input_is_copied)
{
    const uint8_t in[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x02}; /* protobuf-looking bytes */
    uint8_t *d = NULL;
    size_t dlen = 0;
    cr_assert_eq(hs_decompress(in, sizeof in, 100, &d, &dlen), HS_OK);
    cr_assert_eq(dlen, sizeof in);
    cr_assert_eq(memcmp(d, in, sizeof in), 0);
    free(d);
    cr_assert_eq(hs_decompress(in, sizeof in, sizeof in - 1, &d, &dlen), HS_ERR_FULL);
    cr_assert_null(d);
    /* A lone 0x1f is not gzip. */
    cr_assert_eq(hs_decompress(in, 0, 0, &d, &dlen), HS_OK);
    cr_assert_eq(dlen, 0);
    free(d);
}

/* max_out is inclusive: exactly max_out bytes decode, one more does not. */
static void check_bound(int method)
{
    size_t len = 50000;
    uint8_t *in = make_data(len, 0, 9);
    uint8_t *c = NULL, *d = NULL;
    size_t clen = 0, dlen = 0;
    cr_assert_eq(hs_compress(method, in, len, &c, &clen), HS_OK);
    cr_assert_eq(hs_decompress(c, clen, len, &d, &dlen), HS_OK);
    cr_assert_eq(dlen, len);
    free(d);
    d = (uint8_t *)1;
    cr_assert_eq(hs_decompress(c, clen, len - 1, &d, &dlen), HS_ERR_FULL, "method %d", method);
    cr_assert_null(d);
    cr_assert_eq(hs_decompress(c, clen, 0, &d, &dlen), HS_ERR_FULL);
    free(in);
    free(c);
}

Test(compress, max_out_is_exact)
{
    check_bound(HS_COMPRESSION_GZIP);
    check_bound(HS_COMPRESSION_ZSTD);
}

/* 128 MiB of zeros compress to about 600 KiB; a 1 MiB bound must stop the decoder early. */
static void check_bomb(int method)
{
    size_t len = (size_t)128 << 20;
    uint8_t *in = calloc(len, 1);
    cr_assert_not_null(in);
    uint8_t *c = NULL, *d = NULL;
    size_t clen = 0, dlen = 0;
    cr_assert_eq(hs_compress(method, in, len, &c, &clen), HS_OK);
    free(in);
    cr_assert_lt(clen, (size_t)1 << 20, "method %d: %zu bytes", method, clen);
    cr_assert_eq(hs_decompress(c, clen, (size_t)1 << 20, &d, &dlen), HS_ERR_FULL);
    cr_assert_null(d);
    free(c);
}

Test(compress, bomb_is_bounded, .timeout = 60)
{
    check_bomb(HS_COMPRESSION_GZIP);
    check_bomb(HS_COMPRESSION_ZSTD);
}

/* Every prefix of a compressed stream is rejected as invalid (never OK, never a crash). */
static void check_truncation(int method)
{
    size_t len = 30000;
    uint8_t *in = make_data(len, 1, 10);
    uint8_t *c = NULL;
    size_t clen = 0;
    cr_assert_eq(hs_compress(method, in, len, &c, &clen), HS_OK);
    size_t magic = method == HS_COMPRESSION_GZIP ? 2 : 4;
    for (size_t cut = magic; cut < clen; cut += (cut < 64 ? 1 : 97)) {
        uint8_t *piece = malloc(cut); /* exact size, so ASan sees any over-read */
        memcpy(piece, c, cut);
        uint8_t *d = NULL;
        size_t dlen = 0;
        hs_err_t err = hs_decompress(piece, cut, len, &d, &dlen);
        cr_assert_eq(err, HS_ERR_INVALID, "method %d cut %zu of %zu: %s", method, cut, clen,
                     hs_err_str(err));
        cr_assert_null(d);
        free(piece);
    }
    free(in);
    free(c);
}

Test(compress, truncated_input_is_invalid)
{
    check_truncation(HS_COMPRESSION_GZIP);
    check_truncation(HS_COMPRESSION_ZSTD);
}

/*
 * Corrupted streams: flipping any one byte must give HS_ERR_INVALID or, when the damage is
 * undetectable (zstd frames without checksum), some output - but never a crash or an output
 * beyond the bound. gzip has a CRC-32: a flip in the compressed data is always detected.
 */
static void check_corruption(int method)
{
    size_t len = 20000;
    uint8_t *in = make_data(len, 0, 11);
    uint8_t *c = NULL;
    size_t clen = 0;
    cr_assert_eq(hs_compress(method, in, len, &c, &clen), HS_OK);
    int invalid = 0;
    for (size_t pos = 0; pos < clen; pos++) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t *bad = malloc(clen);
            memcpy(bad, c, clen);
            bad[pos] ^= (uint8_t)(1u << bit);
            uint8_t *d = NULL;
            size_t dlen = 0;
            hs_err_t err = hs_decompress(bad, clen, len * 2, &d, &dlen);
            cr_assert(err == HS_OK || err == HS_ERR_INVALID || err == HS_ERR_FULL, "pos %zu: %s",
                      pos, hs_err_str(err));
            if (err == HS_OK)
                cr_assert_leq(dlen, len * 2);
            else
                cr_assert_null(d);
            invalid += err == HS_ERR_INVALID;
            free(d);
            free(bad);
        }
    }
    cr_assert_gt(invalid, 0, "some corruption must be detected");
    free(in);
    free(c);
}

Test(compress, corrupted_input_never_crashes, .timeout = 120)
{
    check_corruption(HS_COMPRESSION_GZIP);
    check_corruption(HS_COMPRESSION_ZSTD);
}

/*
 * gzip carries a CRC-32 and the length, our zstd frames an XXH64 checksum: a flipped bit in the
 * compressed data either is detected or did not change the output (a match may be re-pointed at
 * an identical copy; a header bit may be unused). Wrong data is never returned.
 */
static void check_never_wrong(int method)
{
    size_t len = 20000;
    uint8_t *in = make_data(len, 0, 12);
    uint8_t *c = NULL, *d = NULL;
    size_t clen = 0, dlen = 0;
    cr_assert_eq(hs_compress(method, in, len, &c, &clen), HS_OK);
    size_t tried = 0, detected = 0;
    for (size_t pos = 4; pos < clen; pos++) {
        for (int bit = 0; bit < 8; bit += 5) {
            c[pos] ^= (uint8_t)(1u << bit);
            hs_err_t err = hs_decompress(c, clen, len * 2, &d, &dlen);
            tried++;
            if (err == HS_OK) {
                cr_assert_eq(dlen, len, "method %d pos %zu", method, pos);
                cr_assert_eq(memcmp(d, in, len), 0, "method %d pos %zu: wrong data accepted",
                             method, pos);
                free(d);
            } else {
                cr_assert(err == HS_ERR_INVALID || err == HS_ERR_FULL, "pos %zu", pos);
                detected++;
            }
            c[pos] ^= (uint8_t)(1u << bit);
        }
    }
    cr_assert_gt(detected, tried * 9 / 10, "%zu of %zu flips detected", detected, tried);
    free(in);
    free(c);
}

Test(compress, never_returns_wrong_data)
{
    check_never_wrong(HS_COMPRESSION_GZIP);
    check_never_wrong(HS_COMPRESSION_ZSTD);
}

static uint8_t *concat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint8_t *p = malloc(alen + blen);
    memcpy(p, a, alen);
    memcpy(p + alen, b, blen);
    return p;
}

static void check_concatenation(int method)
{
    const uint8_t one[] = "first member|", two[] = "second member";
    uint8_t *c1, *c2, *d = NULL;
    size_t l1, l2, dlen = 0;
    cr_assert_eq(hs_compress(method, one, sizeof one - 1, &c1, &l1), HS_OK);
    cr_assert_eq(hs_compress(method, two, sizeof two - 1, &c2, &l2), HS_OK);
    uint8_t *both = concat(c1, l1, c2, l2);
    cr_assert_eq(hs_decompress(both, l1 + l2, 1000, &d, &dlen), HS_OK);
    cr_assert_eq(dlen, sizeof one - 1 + sizeof two - 1);
    cr_assert_eq(memcmp(d, "first member|second member", dlen), 0);
    free(d);
    /* Garbage after the stream is rejected. */
    uint8_t *junk = concat(c1, l1, (const uint8_t *)"junk", 4);
    cr_assert_eq(hs_decompress(junk, l1 + 4, 1000, &d, &dlen), HS_ERR_INVALID);
    cr_assert_null(d);
    free(c1);
    free(c2);
    free(both);
    free(junk);
}

Test(compress, concatenated_streams)
{
    check_concatenation(HS_COMPRESSION_GZIP);
    check_concatenation(HS_COMPRESSION_ZSTD);
}

Test(compress, magic_only_is_invalid)
{
    uint8_t *d = NULL;
    size_t dlen = 0;
    cr_assert_eq(hs_decompress((const uint8_t *)"\x1f\x8b", 2, 100, &d, &dlen), HS_ERR_INVALID);
    cr_assert_eq(hs_decompress((const uint8_t *)"\x28\xb5\x2f\xfd", 4, 100, &d, &dlen),
                 HS_ERR_INVALID);
    cr_assert_null(d);
}
