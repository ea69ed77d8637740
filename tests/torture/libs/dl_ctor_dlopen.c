/*
 * dl_ctor_dlopen.c - a module whose constructor dlopens another module (the path in
 * TORTURE_DL_INNER: dl_alloc) and calls into it; its destructor dlcloses it.
 */
#include <dlfcn.h>
#include <stdlib.h>

static void *inner;

__attribute__((constructor)) static void dl_ctor_dlopen_init(void)
{
    const char *path = getenv("TORTURE_DL_INNER");
    inner = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    void (*work)(int) = inner ? (void (*)(int))dlsym(inner, "dl_alloc_work") : NULL;
    if (!work)
        abort();
    work(10);
}

__attribute__((destructor)) static void dl_ctor_dlopen_fini(void)
{
    dlclose(inner);
}
