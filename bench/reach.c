/*
 * reach.c - a heap for the reachability scan's benchmark (bench.py): `hs_bench_reach MIB`
 * allocates MIB MiB in 64 KiB blocks, half of whose words point into other blocks (at random
 * offsets: the lookup's worst case, every word passes the range check) and half are small
 * numbers; a quarter of the blocks are then dropped (lost), the rest kept in a global array.
 * It exits at once: the exit profile's scan is what the benchmark times.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCK (64u << 10)

static void **blocks;

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    size_t n = mib * (1u << 20) / BLOCK;
    blocks = calloc(n, sizeof *blocks);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++)
        blocks[i] = malloc(BLOCK);
    for (size_t i = 0; i < n; i++) {
        uintptr_t *w = blocks[i];
        for (size_t k = 0; k < BLOCK / sizeof *w; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w[k] = k & 1 ? (uintptr_t)(x & 0xffff)
                         : (uintptr_t)blocks[x % n] + (x >> 32) % BLOCK / 8 * 8;
        }
    }
    size_t lost = 0;
    for (size_t i = 0; i < n; i += 4, lost++)
        blocks[i] = NULL;
    printf("reach: %zu MiB in %zu blocks, %zu dropped\n", mib, n, lost);
    return 0;
}
