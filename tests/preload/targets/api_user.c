/*
 * api_user.c - the public API, linked weakly: works with and without the profiler preloaded.
 * Keeps 100 x 1000 B (api_site), reads the stats, dumps to the numbered file and to argv[1].
 */
#define HEAPSAMPLER_WEAK
#include "heapsampler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *keep[100];
static char arena[64 * 1024];

void api_site(void)
{
    for (int i = 0; i < 100; i++)
        keep[i] = malloc(1000);
}

/* A custom allocator handing out 32 x 512 B from a static arena, 8 returned. */
void pool_site(void)
{
    for (int i = 0; i < 32; i++)
        heapsampler_record_alloc(arena + i * 512, 512);
    for (int i = 0; i < 8; i++)
        heapsampler_record_free(arena + i * 512);
}

int main(int argc, char **argv)
{
    if (!heapsampler_dump) {
        printf("no profiler\n");
        return 0;
    }
    api_site();
    pool_site();
    heapsampler_stats_t st;
    int rc = heapsampler_get_stats(&st, sizeof st);
    printf("stats rc=%d rate=%llu samples=%llu inuse_bytes=%.0f\n", rc, (unsigned long long)st.rate,
           (unsigned long long)st.samples, st.inuse_bytes);
    rc = heapsampler_dump();
    printf("dump rc=%d\n", rc);
    if (argc > 1) {
        rc = heapsampler_dump_to(argv[1]);
        printf("dump_to rc=%d\n", rc);
    }
    rc = heapsampler_dump_to("/nonexistent-dir/x/y.pb.gz");
    printf("dump_to_bad rc=%d errno=%s\n", rc, rc ? strerror(errno) : "-");
    printf("version=%s\n", heapsampler_version());
    return 0;
}
