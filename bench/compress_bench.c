/*
 * compress_bench.c - `hs_bench_compress [--reps N] PROFILE...`: size and time of gzip against
 * zstd, as the library writes them (gzip level 1, zstd level 3 with a checksum, compress.h),
 * on the pprof message inside each profile.
 *
 * Each profile (gzip, zstd or plain) is decompressed and checked (pprof_reader.h), then
 * compressed and decompressed N times per method (default 7); the median of each is reported,
 * with the zstd/gzip ratios of the same run. The last line per profile is machine-readable
 * ("BENCH compress ...") for scripts/bench.sh. Single-threaded; timings are wall clock
 * (CLOCK_MONOTONIC) on an otherwise idle process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compress.h"
#include "decompress.h"
#include "config.h"
#include "pprof_file.h"
#include "pprof_reader.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct result {
    size_t bytes;
    double compress_ms, decompress_ms;
} result_t;

/* Median times of reps round trips of raw through method. */
static int measure(int method, const uint8_t *raw, size_t len, int reps, result_t *r)
{
    double *c = calloc((size_t)reps, sizeof *c), *d = calloc((size_t)reps, sizeof *d);
    if (!c || !d)
        return -1;
    for (int i = 0; i < reps; i++) {
        uint8_t *out, *back;
        size_t out_len, back_len;
        double t0 = now_ms();
        if (hs_compress(method, raw, len, &out, &out_len) != HS_OK)
            return -1;
        double t1 = now_ms();
        if (hs_decompress(out, out_len, HS_PPROF_MAX_BYTES, &back, &back_len) != HS_OK ||
            back_len != len || memcmp(back, raw, len) != 0)
            return -1;
        double t2 = now_ms();
        c[i] = t1 - t0;
        d[i] = t2 - t1;
        r->bytes = out_len;
        free(out);
        free(back);
    }
    r->compress_ms = median(c, reps);
    r->decompress_ms = median(d, reps);
    free(c);
    free(d);
    return 0;
}

static int bench_file(const char *path, int reps)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            uint8_t *grown = realloc(data, cap);
            if (!grown) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(data);
                fclose(f);
                return -1;
            }
            data = grown;
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    uint8_t *raw;
    size_t raw_len;
    hs_pprof_t p;
    char why[256];
    if (hs_decompress(data, len, HS_PPROF_MAX_BYTES, &raw, &raw_len) != HS_OK ||
        hs_pprof_parse(raw, raw_len, &p, why, sizeof why) != HS_OK) {
        fprintf(stderr, "%s: not a readable profile\n", path);
        free(data);
        return -1;
    }
    size_t samples = p.pb->n_sample;
    hs_pprof_free(&p);
    free(data);

    result_t gz, zs;
    if (measure(HS_COMPRESSION_GZIP, raw, raw_len, reps, &gz) ||
        measure(HS_COMPRESSION_ZSTD, raw, raw_len, reps, &zs)) {
        fprintf(stderr, "%s: compression failed\n", path);
        free(raw);
        return -1;
    }
    printf("%s: %zu bytes of pprof, %zu samples (medians of %d runs)\n", path, raw_len, samples,
           reps);
    const result_t *rs[] = {&gz, &zs};
    const char *names[] = {"gzip-1", "zstd-3"};
    for (int i = 0; i < 2; i++)
        printf("  %-7s %10zu bytes (%5.2f%% of pprof)  compress %8.2f ms (%6.1f MB/s)  "
               "decompress %7.2f ms\n",
               names[i], rs[i]->bytes, 100.0 * (double)rs[i]->bytes / (double)raw_len,
               rs[i]->compress_ms, (double)raw_len / 1e3 / rs[i]->compress_ms,
               rs[i]->decompress_ms);
    printf("  zstd/gzip: size %.3f, compress time %.3f, decompress time %.3f\n",
           (double)zs.bytes / (double)gz.bytes, zs.compress_ms / gz.compress_ms,
           zs.decompress_ms / gz.decompress_ms);
    printf("BENCH compress profile=%s pprof_bytes=%zu samples=%zu gzip_bytes=%zu "
           "gzip_compress_ms=%.3f gzip_decompress_ms=%.3f zstd_bytes=%zu zstd_compress_ms=%.3f "
           "zstd_decompress_ms=%.3f size_ratio=%.4f compress_time_ratio=%.4f "
           "decompress_time_ratio=%.4f\n",
           path, raw_len, samples, gz.bytes, gz.compress_ms, gz.decompress_ms, zs.bytes,
           zs.compress_ms, zs.decompress_ms, (double)zs.bytes / (double)gz.bytes,
           zs.compress_ms / gz.compress_ms, zs.decompress_ms / gz.decompress_ms);
    free(raw);
    return 0;
}

int main(int argc, char **argv)
{
    int reps = 7, first = 1, rc = 0;
    if (argc > 2 && strcmp(argv[1], "--reps") == 0) {
        reps = atoi(argv[2]);
        first = 3;
    }
    if (first >= argc || reps < 1) {
        fprintf(stderr, "usage: hs_bench_compress [--reps N] PROFILE...\n");
        return 2;
    }
    for (int i = first; i < argc; i++)
        if (bench_file(argv[i], reps) != 0)
            rc = 1;
    return rc;
}
