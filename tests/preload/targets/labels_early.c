/*
 * labels_early.c - labels set before the profiler starts and after it stops: the library it
 * needs (tests/preload/libs/labels_early.c) sets `phase=early` in its constructor, which runs
 * before the profiler's; main's allocation is then sampled with it. The library's destructor
 * uses the API again once the profiler has stopped.
 */
#define HEAPSAMPLER_WEAK
#include <heapsampler.h>
#include <stdio.h>
#include <stdlib.h>

int labels_early_rc(void);

static void *volatile kept;

__attribute__((noinline)) static void early_allocation(void)
{
    kept = malloc(4096);
}

int main(void)
{
    early_allocation();
    printf("early labels: %s\n", labels_early_rc() == 0 ? "ok" : "failed");
    return 0;
}
