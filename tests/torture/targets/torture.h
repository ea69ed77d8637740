/*
 * torture.h - helpers shared by the torture targets: a seeded generator (the targets' output
 * must not depend on the profiler, so nothing here reads the clock or the pid), argument
 * parsing, a fatal check, fill/verify patterns that catch a block handed out twice, and the
 * weak public API (the targets also run without the profiler, for the baseline).
 */
#ifndef HS_TORTURE_H
#define HS_TORTURE_H

#define HEAPSAMPLER_WEAK
#include <heapsampler.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static inline uint64_t t_rand(uint64_t *s)
{
    uint64_t x = *s += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline long t_arg(int argc, char **argv, int i, long def)
{
    return argc > i ? strtol(argv[i], NULL, 10) : def;
}

/* Stamp a block with its owner tag; t_verify checks the stamp before it is freed. */
static inline void t_fill(void *p, size_t n, uint64_t tag)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)(tag + i);
}

static inline void t_verify(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        CHECK(c[i] == (unsigned char)(tag + i));
}

/* malloc(n) from one of 4096 distinct call stacks: 12 levels of two functions, chosen by the
 * low 12 bits of bits (new stacks, for the profiler's tables to intern). */
__attribute__((noinline, unused)) static void *t_branch1(unsigned bits, int level, size_t n);

__attribute__((noinline, unused)) static void *t_branch0(unsigned bits, int level, size_t n)
{
    if (level == 12)
        return malloc(n);
    return (bits >> level) & 1 ? t_branch1(bits, level + 1, n) : t_branch0(bits, level + 1, n);
}

static void *t_branch1(unsigned bits, int level, size_t n)
{
    if (level == 12)
        return malloc(n);
    return (bits >> level) & 1 ? t_branch1(bits, level + 1, n) : t_branch0(bits, level + 1, n);
}

/* The profiler, when preloaded, is running in this process. */
static inline int t_profiled(void)
{
    heapsampler_stats_t st;
    return heapsampler_get_stats && heapsampler_get_stats(&st, sizeof st) == 0;
}

#endif
