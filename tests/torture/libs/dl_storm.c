/*
 * dl_storm.c - the module a dlopen/dlclose storm loads and unloads: its constructor allocates a
 * block of 4321 bytes that its destructor frees, so every load and unload goes through the
 * profiler while the loader lock is held.
 */
#include <stdlib.h>
#include <string.h>

static void *block;

__attribute__((constructor)) static void dl_storm_init(void)
{
    block = malloc(4321);
    memset(block, 2, 4321);
}

__attribute__((destructor)) static void dl_storm_fini(void)
{
    free(block);
}

void dl_storm_work(void)
{
    for (int i = 0; i < 8; i++)
        free(malloc(3000 + (size_t)i));
}
