/*
 * dl_needed.c - linked into the loader target (DT_NEEDED), so its constructor runs at start-up,
 * before the program's main, next to the profiler's own: it keeps 5 x 55 B (dl_needed_site) and
 * dlopens the module named by TORTURE_DL_INNER (dl_alloc), for good.
 */
#include <dlfcn.h>
#include <stdlib.h>

static void *kept[5];

__attribute__((noinline)) void *dl_needed_site(size_t n)
{
    return malloc(n);
}

__attribute__((constructor)) static void dl_needed_init(void)
{
    for (int i = 0; i < 5; i++)
        kept[i] = dl_needed_site(55);
    const char *path = getenv("TORTURE_DL_INNER");
    if (path && !dlopen(path, RTLD_NOW | RTLD_GLOBAL))
        abort();
}

/* Something for the program to call, so that the link is not dropped. */
void dl_needed_touch(void) {}
