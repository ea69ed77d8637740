/*
 * oom.c - the allocator runs out of memory. Sets RLIMIT_AS to its current address space plus
 * HEADROOM MiB, then exhausts it (1 MiB blocks, then 4 KiB, then 64 B, until each fails with
 * ENOMEM), then keeps allocating 64 B blocks from 4096 distinct call stacks, each right after
 * freeing one (so the allocator succeeds while the profiler's own tables cannot grow), asks
 * for a profile through the API, frees everything and exits normally (the exit profile is
 * written once memory is back).
 *
 *   oom HEADROOM_MIB
 *
 * stdout depends only on what the program itself sees; the profiler's counts of recorded and
 * dropped samples go to stderr ("oom: samples=N dropped=M").
 */
#include <errno.h>
#include <sys/resource.h>

#include "torture.h"

#define MAX_BLOCKS (1 << 22)

static void **blocks;
static size_t nblocks;

static long vm_size_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
            break;
    fclose(f);
    CHECK(kib > 0);
    return kib;
}

__attribute__((noinline)) void *exhaust_site(size_t n)
{
    return malloc(n);
}

static void exhaust(size_t n)
{
    for (;;) {
        CHECK(nblocks < MAX_BLOCKS);
        errno = 0;
        void *p = exhaust_site(n);
        if (!p) {
            CHECK(errno == ENOMEM);
            return;
        }
        blocks[nblocks++] = p;
    }
}

int main(int argc, char **argv)
{
    long headroom = t_arg(argc, argv, 1, 128);
    blocks = calloc(MAX_BLOCKS, sizeof *blocks);
    CHECK(blocks);
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_size_kib() + headroom * 1024) * 1024;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

    exhaust(1 << 20);
    exhaust(4096);
    size_t first_small = nblocks;
    exhaust(64);
    CHECK(nblocks > first_small);
    printf("exhausted: malloc failed with ENOMEM at 1 MiB, 4 KiB and 64 B\n");

    /* Allocation succeeds (a 64 B block was just freed), the profiler's tables cannot grow. */
    size_t k = first_small, ok = 0;
    for (unsigned i = 0; i < 4096; i++) {
        free(blocks[k]);
        blocks[k] = t_branch0(i, 0, 64);
        ok += blocks[k] != NULL;
        if (++k == nblocks)
            k = first_small;
    }
    printf("distinct stacks: %s\n", ok > 2048 ? "mostly allocated" : "mostly failed");

    if (heapsampler_dump)
        (void)heapsampler_dump(); /* may fail (ENOMEM, EIO): it must not crash */

    for (size_t i = 0; i < nblocks; i++)
        free(blocks[i]);
    free(blocks);
    printf("freed everything\n");
    heapsampler_stats_t st;
    if (heapsampler_get_stats && heapsampler_get_stats(&st, sizeof st) == 0)
        fprintf(stderr, "oom: samples=%llu dropped=%llu\n", (unsigned long long)st.samples,
                (unsigned long long)st.dropped_samples);
    return 0;
}
