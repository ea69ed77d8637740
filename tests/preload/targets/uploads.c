/*
 * uploads.c - a target for the Pyroscope upload tests. It waits (bounded, 60 s; exit status 3 on
 * timeout) for the test's receiver to accept uploads, by polling COUNTFILE, which the receiver
 * rewrites with the number of uploads it accepted; the polling uses open/read, never stdio, so
 * that the wait itself allocates nothing. After allocating, it waits for two more accepted
 * uploads: the second was built entirely after the allocations.
 *
 *   uploads phases COUNTFILE DUMPPREFIX PHASES BLOCKS SIZE CHURN
 *     Phase i (1..PHASES): phase_keep keeps BLOCKS more blocks of SIZE bytes, phase_churn
 *     allocates and frees CHURN blocks of SIZE bytes; then heapsampler_dump_to writes
 *     DUMPPREFIX.<i>.pb.gz and the target waits for two uploads. At the end phase_release frees
 *     every other kept block.
 *   uploads stacks COUNTFILE DUMPFILE DEPTH
 *     stack_leaf allocates 64 bytes at the end of each of the 2^DEPTH distinct call paths
 *     through stack_left/stack_right (every other one is freed), then DUMPFILE is written and
 *     the target waits for two uploads.
 *   uploads wait COUNTFILE N
 *     keeps 10 x 1000 B (wait_site) and waits until N uploads were accepted.
 *   uploads exit - MICROSECONDS
 *     keeps 10 x 1000 B and exits after MICROSECONDS, waiting for nothing: a program that may
 *     exit while the upload thread is still loading libcurl.
 * COUNTFILE "-" waits for nothing (scripts/bench_compress.sh makes a large profile this way).
 */
#define HEAPSAMPLER_WEAK
#include "heapsampler.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *count_file;
static void **kept;
static size_t nkept;
static void *stack_blocks[1 << 16];
static size_t nstack_blocks;

static long accepted(void)
{
    char buf[32];
    int fd = open(count_file, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

/* Wait until at least want uploads were accepted; exits 3 after 60 s. COUNTFILE "-": no wait. */
static void wait_for(long want)
{
    if (strcmp(count_file, "-") == 0)
        return;
    struct timespec start, now, pause = {0, 5000000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (accepted() < want) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 60) {
            printf("timeout waiting for %ld uploads (%ld accepted)\n", want, accepted());
            exit(3);
        }
        nanosleep(&pause, NULL);
    }
}

void phase_keep(size_t blocks, size_t size)
{
    for (size_t i = 0; i < blocks; i++)
        kept[nkept++] = malloc(size);
}

void phase_churn(size_t blocks, size_t size)
{
    for (size_t i = 0; i < blocks; i++) {
        char *p = malloc(size);
        p[0] = 1;
        free(p);
    }
}

void phase_release(void)
{
    for (size_t i = 0; i < nkept; i += 2) {
        free(kept[i]);
        kept[i] = NULL;
    }
}

void stack_leaf(unsigned path)
{
    void *p = malloc(64);
    if (path & 1)
        free(p);
    else
        stack_blocks[nstack_blocks++] = p;
}

void stack_walk(int depth, unsigned path, unsigned bits);

void stack_left(int depth, unsigned path, unsigned bits)
{
    stack_walk(depth, path, bits);
}

void stack_right(int depth, unsigned path, unsigned bits)
{
    stack_walk(depth, path, bits);
}

void stack_walk(int depth, unsigned path, unsigned bits)
{
    if (depth == 0) {
        stack_leaf(path);
        return;
    }
    if (bits & 1)
        stack_left(depth - 1, path, bits >> 1);
    else
        stack_right(depth - 1, path, bits >> 1);
}

static void dump_to(const char *path)
{
    if (!heapsampler_dump_to || heapsampler_dump_to(path) != 0) {
        printf("dump to %s failed\n", path);
        exit(4);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    count_file = argv[2];
    if (strcmp(argv[1], "phases") == 0 && argc == 8) {
        int phases = atoi(argv[4]);
        size_t blocks = strtoul(argv[5], NULL, 10), size = strtoul(argv[6], NULL, 10);
        size_t churn = strtoul(argv[7], NULL, 10);
        kept = calloc((size_t)phases * blocks + 1, sizeof *kept);
        for (int i = 1; i <= phases; i++) {
            phase_keep(blocks, size);
            phase_churn(churn, size);
            char path[4096];
            snprintf(path, sizeof path, "%s.%d.pb.gz", argv[3], i);
            dump_to(path);
            wait_for(accepted() + 2);
        }
        phase_release();
        printf("phases: kept %zu blocks, churned %zu\n", nkept, (size_t)phases * churn);
        return 0;
    }
    if (strcmp(argv[1], "stacks") == 0 && argc == 5) {
        int depth = atoi(argv[4]);
        for (unsigned path = 0; path < (1u << depth); path++)
            stack_walk(depth, path, path);
        dump_to(argv[3]);
        wait_for(accepted() + 2);
        printf("stacks: %u paths\n", 1u << depth);
        return 0;
    }
    if (strcmp(argv[1], "wait") == 0 && argc == 4) {
        kept = calloc(10, sizeof *kept);
        phase_keep(10, 1000);
        wait_for(atol(argv[3]));
        printf("wait: done\n");
        return 0;
    }
    if (strcmp(argv[1], "exit") == 0 && argc == 4) {
        kept = calloc(10, sizeof *kept);
        phase_keep(10, 1000);
        long us = atol(argv[3]);
        struct timespec ts = {us / 1000000, us % 1000000 * 1000};
        nanosleep(&ts, NULL);
        return 0;
    }
    return 2;
}
