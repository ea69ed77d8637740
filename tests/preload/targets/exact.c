/*
 * exact.c - known allocations per call site, for exact-mode (HEAPSAMPLER_RATE=1) checks.
 * Each function allocates a fixed number of blocks of a fixed size with one member of the
 * malloc family; the driver compares pprof's numbers with these constants.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *keep[4096];
static int nkeep;

static void hold(void *p)
{
    if (!p) {
        fprintf(stderr, "allocation failed\n");
        exit(1);
    }
    keep[nkeep++] = p;
}

/* 1000 x malloc(100), never freed. */
void site_malloc(void)
{
    for (int i = 0; i < 1000; i++)
        hold(malloc(100));
}

/* 50 x calloc(10, 100) = 1000 bytes each. */
void site_calloc(void)
{
    for (int i = 0; i < 50; i++)
        hold(calloc(10, 100));
}

/* 20 x malloc(64) then realloc to 256: 40 allocations, 20 live of 256. */
void site_realloc(void)
{
    for (int i = 0; i < 20; i++) {
        char *p = malloc(64);
        memset(p, 1, 64);
        hold(realloc(p, 256));
    }
}

/* 10 x reallocarray(NULL, 10, 30) = 300 bytes. */
void site_reallocarray(void)
{
    for (int i = 0; i < 10; i++)
        hold(reallocarray(NULL, 10, 30));
}

void site_memalign(void)
{
    for (int i = 0; i < 10; i++)
        hold(memalign(64, 512));
}

void site_aligned_alloc(void)
{
    for (int i = 0; i < 10; i++)
        hold(aligned_alloc(64, 1024));
}

void site_posix_memalign(void)
{
    for (int i = 0; i < 10; i++) {
        void *p;
        if (posix_memalign(&p, 128, 2048) != 0)
            p = NULL;
        hold(p);
    }
}

void site_valloc(void)
{
    for (int i = 0; i < 5; i++)
        hold(valloc(100));
}

void site_pvalloc(void)
{
    for (int i = 0; i < 5; i++)
        hold(pvalloc(100));
}

/* 500 x malloc(256), all freed: alloc counts, zero in use. */
void site_freed(void)
{
    void *tmp[500];
    for (int i = 0; i < 500; i++)
        tmp[i] = malloc(256);
    for (int i = 0; i < 500; i++)
        free(tmp[i]);
}

int main(void)
{
    site_malloc();
    site_calloc();
    site_realloc();
    site_reallocarray();
    site_memalign();
    site_aligned_alloc();
    site_posix_memalign();
    site_valloc();
    site_pvalloc();
    site_freed();
    printf("exact: %d blocks held\n", nkeep);
    return 0;
}
