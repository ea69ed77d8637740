/*
 * plugin.c - a library that the dlopen test loads, allocates from and unloads. Built twice
 * (PLUGIN_NAME a and b, with the same code size so that the second tends to be loaded where
 * the first was): libhs_plugin_a.so allocates blocks of 1000 bytes, libhs_plugin_b.so of 2000,
 * both from a static function (named only through the library's .symtab).
 */
#include <stdlib.h>

#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
#define STATIC_FN  CAT(CAT(plugin_, PLUGIN_NAME), _make)

static __attribute__((noinline)) void *STATIC_FN(size_t size)
{
    return malloc(size); /* SITE:plugin_make */
}

/* Fill out[0, n) with blocks; the caller keeps them after the library is gone. */
void plugin_entry(void **out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = STATIC_FN(PLUGIN_SIZE);
}
