/*
 * dumper.c - asks for profiles while the output location misbehaves.
 *
 *   dumper api N          N numbered profiles through heapsampler_dump()
 *   dumper to PATH N      N profiles to PATH through heapsampler_dump_to()
 *   dumper plant PREFIX VICTIM
 *                         plants symlinks to VICTIM at the temporary name of its first
 *                         numbered profile (PREFIX.<pid>.0000.pb.gz.tmp.abab...: run it with
 *                         libs/fixedrandom) and at that profile's final name plus one
 *                         (PREFIX.<pid>.0001.pb.gz), then asks for two profiles
 *
 * Before that it keeps 100 x 1000 B (dumper_site) and, for bigger profiles, allocates from 4096
 * distinct call stacks. stdout depends only on the arguments; the API's results go to stderr
 * ("dumper: rc=R errno=E"), only when the profiler is running.
 */
#include <errno.h>

#include "torture.h"

static void *keep[100 + 4096];

__attribute__((noinline)) void *dumper_site(size_t n)
{
    return malloc(n);
}

static void report(int rc)
{
    if (t_profiled())
        fprintf(stderr, "dumper: rc=%d errno=%s\n", rc, rc ? strerrorname_np(errno) : "0");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "api";
    for (int i = 0; i < 100; i++)
        CHECK((keep[i] = dumper_site(1000)));
    for (unsigned i = 0; i < 4096; i++)
        CHECK((keep[100 + i] = t_branch0(i, 0, 32)));
    if (strcmp(mode, "api") == 0) {
        long n = t_arg(argc, argv, 2, 3);
        for (long i = 0; i < n && heapsampler_dump; i++)
            report(heapsampler_dump());
    } else if (strcmp(mode, "to") == 0 && argc > 3) {
        long n = t_arg(argc, argv, 3, 3);
        for (long i = 0; i < n && heapsampler_dump_to; i++)
            report(heapsampler_dump_to(argv[2]));
    } else if (strcmp(mode, "plant") == 0 && argc > 3) {
        char name[4200];
        snprintf(name, sizeof name, "%s.%d.0000.pb.gz.tmp.abababababababab", argv[2],
                 (int)getpid());
        CHECK(symlink(argv[3], name) == 0);
        snprintf(name, sizeof name, "%s.%d.0001.pb.gz", argv[2], (int)getpid());
        CHECK(symlink(argv[3], name) == 0);
        for (int i = 0; i < 2 && heapsampler_dump; i++)
            report(heapsampler_dump());
    } else {
        fprintf(stderr, "usage: dumper api N | to PATH N | plant PREFIX VICTIM\n");
        return 2;
    }
    printf("dumper done\n");
    return 0;
}
