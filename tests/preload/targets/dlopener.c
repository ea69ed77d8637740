/*
 * dlopener.c - dlopen each library named on the command line, let it allocate 32 blocks that
 * stay live, and dlclose it before the next one is loaded. The profile is written at exit, when
 * none of the libraries is loaded any more. Prints each library's load address, so the driver
 * knows whether the second one reused the first one's address range. An argument
 * "@cp:SRC:DST" copies SRC over DST at that point (a library replaced on disk once unloaded).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 32

static void *keep[8][BLOCKS];

/* "@cp:SRC:DST": copy through DST.tmp and rename, as a package manager replaces files. */
static int copy_file(const char *spec)
{
    char buf[8192], tmp[4200];
    const char *src = spec + 4, *colon = strchr(src, ':');
    if (!colon || strlen(colon + 1) > 4000)
        return -1;
    char srcpath[4096];
    snprintf(srcpath, sizeof srcpath, "%.*s", (int)(colon - src), src);
    snprintf(tmp, sizeof tmp, "%s.tmp", colon + 1);
    FILE *in = fopen(srcpath, "rb"), *out = fopen(tmp, "wb");
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    int ok = in && out;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok && rename(tmp, colon + 1) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc && i <= 8; i++) {
        if (strncmp(argv[i], "@cp:", 4) == 0) {
            if (copy_file(argv[i]) != 0) {
                fprintf(stderr, "cannot do %s\n", argv[i]);
                return 1;
            }
            continue;
        }
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
