/*
 * dl_alloc.c - a module whose constructor allocates (dl_alloc_ctor_site, 111 B, freed by its
 * destructor) and whose functions allocate on behalf of their callers.
 */
#include <stdlib.h>
#include <string.h>

static void *ctor_block;

__attribute__((noinline)) void *dl_alloc_ctor_site(size_t n)
{
    return malloc(n);
}

__attribute__((constructor)) static void dl_alloc_init(void)
{
    ctor_block = dl_alloc_ctor_site(111);
    memset(ctor_block, 1, 111);
}

__attribute__((destructor)) static void dl_alloc_fini(void)
{
    free(ctor_block);
}

__attribute__((noinline)) void *dl_alloc_site(size_t n)
{
    return malloc(n);
}

/* Allocate and free n blocks through this module's code. */
void dl_alloc_work(int n)
{
    for (int i = 0; i < n; i++)
        free(dl_alloc_site(16 + (size_t)i));
}
