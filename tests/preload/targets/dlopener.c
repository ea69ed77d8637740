/*
 * dlopener.c - dlopen each library named on the command line, let it allocate 32 blocks that
 * stay live, and dlclose it before the next one is loaded. The profile is written at exit, when
 * none of the libraries is loaded any more. Prints each library's load address, so the driver
 * knows whether the second one reused the first one's address range.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCKS 32

static void *keep[8][BLOCKS];

int main(int argc, char **argv)
{
    for (int i = 1; i < argc && i <= 8; i++) {
        void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "dlopen %s: %s\n", argv[i], dlerror());
            return 1;
        }
        void (*entry)(void **, int) = (void (*)(void **, int))dlsym(h, "plugin_entry");
        Dl_info info;
        if (!entry || !dladdr((void *)entry, &info)) {
            fprintf(stderr, "no plugin_entry in %s\n", argv[i]);
            return 1;
        }
        entry(keep[i - 1], BLOCKS);
        printf("loaded %s at %p\n", argv[i], info.dli_fbase);
        if (dlclose(h) != 0) {
            fprintf(stderr, "dlclose %s: %s\n", argv[i], dlerror());
            return 1;
        }
    }
    return 0;
}
