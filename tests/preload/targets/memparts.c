/*
 * memparts.c - programs whose memory has a known breakdown, for the accounting's tests.
 *
 *   memparts mmap     direct anonymous mappings from named functions (exact counts at rate 1):
 *                     map_arena 8 MiB, then its last 2 MiB unmapped (6 MiB left);
 *                     map_grow 4 MiB, remapped to 12 MiB (it may move);
 *                     map_split 6 MiB, its middle 2 MiB unmapped (two pieces of 2 MiB);
 *                     map_gone 1 MiB, unmapped whole;
 *                     map_reserve 16 MiB PROT_NONE, map_shared 1 MiB MAP_SHARED, map_file a
 *                     file mapping: none of these three is counted.
 *                     Every page of what stays mapped is touched (resident).
 *   memparts frag N K fragmentation: N blocks of 256 bytes (frag_block), then all but every
 *                     K-th (default 64) freed: the allocator keeps the rest free, and cannot
 *                     give it back (the blocks kept pin every page).
 *   memparts sized    C23's free_sized and free_aligned_sized (the library's, when the C library
 *                     has none): sized_block allocates 100 blocks of 1000 bytes and frees them
 *                     with free_sized, aligned_block 100 of 4096 (aligned_alloc) freed with
 *                     free_aligned_sized; kept_block keeps 10 of 100 bytes.
 *   memparts fraggrow R  fragmentation that grows while the heap hardly does: R rounds, each
 *                     allocating 1024 holes (frag_hole, 4096 + 64 r bytes, larger every round
 *                     so that no earlier hole fits), each shrunk in place to a 32-byte pin
 *                     (frag_pin, realloc, kept) whose freed tail no later request fits, then
 *                     writing a profile (heapsampler_dump): per round the allocator keeps ~4 MiB
 *                     more free, the heap grows 32 KiB.
 *   memparts stacks N N threads each touch 512 KiB of their stack (stack_user), then wait while
 *                     the main thread writes a profile (heapsampler_dump): the stacks hold at
 *                     least N x 512 KiB resident.
 *   memparts signals N  N rounds of map_loop mapping and unmapping 1 MiB while a SIGALRM handler
 *                     (every 200 us) maps and unmaps 64 KiB (map_in_handler): the sampled
 *                     mappings' table must never wait for itself; nothing stays mapped.
 *   memparts grow mmap|raw R  R rounds, each keeping 4 MiB more (touched) from map_grower:
 *                     through mmap (sampled, allocator=mmap) or the raw system call (seen by
 *                     nothing but the RSS), then writing a profile (heapsampler_dump).
 *   memparts bypass   64 MiB in 64 KiB blocks through glibc's private entry point
 *                     __libc_malloc, which the hooks do not see (plus 1 MiB through malloc).
 *   memparts raw      a private bump allocator on the raw mmap system call: 32 MiB touched.
 *
 * Each prints "memparts: <mode> done" and exits (the exit profile sees everything still held).
 */
#define HEAPSAMPLER_WEAK
#include <heapsampler.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB      (1024 * 1024)
#define NOINLINE __attribute__((noinline))

static void touch(void *p, size_t n)
{
    memset(p, 1, n);
}

static void *must(void *p)
{
    if (p == MAP_FAILED || !p) {
        perror("memparts");
        exit(1);
    }
    return p;
}

NOINLINE static void map_arena(void)
{
    char *p = must(mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    touch(p, 6 * MIB);
    munmap(p + 6 * MIB, 2 * MIB);
}

NOINLINE static void map_grow(void)
{
    char *p = must(mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    p = must(mremap(p, 4 * MIB, 12 * MIB, MREMAP_MAYMOVE));
    touch(p, 12 * MIB);
}

NOINLINE static void map_split(void)
{
    char *p = must(mmap(NULL, 6 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    munmap(p + 2 * MIB, 2 * MIB);
    touch(p, 2 * MIB);
    touch(p + 4 * MIB, 2 * MIB);
}

NOINLINE static void map_gone(void)
{
    char *p = must(mmap(NULL, 1 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    touch(p, MIB);
    munmap(p, MIB);
}

NOINLINE static void map_reserve(void)
{
    must(mmap(NULL, 16 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
}

NOINLINE static void map_shared(void)
{
    touch(must(mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)), MIB);
}

NOINLINE static void map_file(void)
{
    int fd = open("/proc/self/exe", O_RDONLY);
    if (fd >= 0) {
        must(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0));
        close(fd);
    }
}

NOINLINE static void **frag_keep(size_t n)
{
    return malloc(n * sizeof(void *));
}

NOINLINE static void *frag_block(void)
{
    return malloc(256);
}

static void frag(size_t n, size_t every)
{
    void **all = malloc(n * sizeof *all);
    void **keep = frag_keep(n / every + 1);
    for (size_t i = 0; i < n; i++)
        touch(all[i] = frag_block(), 256);
    for (size_t i = 0, k = 0; i < n; i++) {
        if (i % every == 0)
            keep[k++] = all[i];
        else
            free(all[i]);
    }
    free(all);
}

NOINLINE static void *frag_hole(size_t size)
{
    return malloc(size);
}

/* Shrinks a hole in place to 32 bytes: the rest of it becomes a free chunk that the pin keeps
 * from merging with its neighbours. */
NOINLINE static void *frag_pin(void *hole)
{
    return realloc(hole, 32);
}

static void fraggrow(int rounds)
{
    static char *holes[1024];
    for (int r = 0; r < rounds; r++) {
        /* All the round's holes first: a hole shrunk before the next is allocated would give
         * its tail back to the top of the heap. */
        for (int i = 0; i < 1024; i++)
            touch(holes[i] = must(frag_hole(4096 + 64 * (size_t)r)), 4096);
        for (int i = 0; i < 1024; i++) {
            if (frag_pin(holes[i]) != holes[i]) {
                fprintf(stderr, "memparts: realloc moved a shrinking block\n");
                exit(3);
            }
        }
        if (heapsampler_dump && heapsampler_dump() != 0) {
            perror("memparts: heapsampler_dump");
            exit(3);
        }
    }
}

static pthread_barrier_t touched, dumped;

NOINLINE static void *stack_user(void *arg)
{
    volatile char buf[512 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = (char)i;
    (void)arg;
    pthread_barrier_wait(&touched);
    pthread_barrier_wait(&dumped);
    return NULL;
}

static void stacks(int n)
{
    pthread_t t[64];
    if (n < 1 || n > 64)
        exit(2);
    pthread_barrier_init(&touched, NULL, (unsigned)n + 1);
    pthread_barrier_init(&dumped, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, stack_user, NULL) != 0)
            exit(3);
    pthread_barrier_wait(&touched);
    if (heapsampler_dump && heapsampler_dump() != 0) {
        perror("memparts: heapsampler_dump");
        exit(3);
    }
    pthread_barrier_wait(&dumped);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

NOINLINE static void map_in_handler(int sig)
{
    (void)sig;
    int saved = errno;
    void *p = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        munmap(p, 64 * 1024);
    errno = saved;
}

NOINLINE static void map_loop(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        char *p = must(mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        p[0] = 1;
        munmap(p + MIB / 2, MIB / 2); /* a cut that keeps a piece */
        munmap(p, MIB / 2);
    }
}

static void signals(int rounds)
{
    struct sigaction sa = {.sa_handler = map_in_handler};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    map_loop(rounds);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
}

NOINLINE static void map_grower(int raw_syscall)
{
    char *p = raw_syscall
                  ? (char *)syscall(SYS_mmap, NULL, 4 * MIB, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                  : mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    touch(must(p), 4 * MIB);
}

static void grow(const char *how, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        map_grower(strcmp(how, "raw") == 0);
        if (heapsampler_dump && heapsampler_dump() != 0) {
            perror("memparts: heapsampler_dump");
            exit(3);
        }
    }
}

/* Weak: Debian 12's C library has neither; the preloaded profiler has both. */
extern void free_sized(void *, size_t) __attribute__((weak));
extern void free_aligned_sized(void *, size_t, size_t) __attribute__((weak));

NOINLINE static void *sized_block(void)
{
    return malloc(1000);
}

NOINLINE static void *aligned_block(void)
{
    return aligned_alloc(64, 4096);
}

NOINLINE static void *kept_block(void)
{
    return malloc(100);
}

static void sized(void)
{
    if (!free_sized || !free_aligned_sized) {
        fprintf(stderr, "memparts: no free_sized in this process\n");
        exit(3);
    }
    for (int i = 0; i < 100; i++) {
        free_sized(must(sized_block()), 1000);
        free_aligned_sized(must(aligned_block()), 64, 4096);
    }
    for (int i = 0; i < 10; i++)
        must(kept_block());
}

extern void *__libc_malloc(size_t);

NOINLINE static void bypass(void)
{
    for (int i = 0; i < 1024; i++)
        touch(must(__libc_malloc(64 * 1024)), 64 * 1024);
    touch(must(malloc(MIB)), MIB);
}

NOINLINE static void raw(void)
{
    char *p = (char *)syscall(SYS_mmap, NULL, 32 * MIB, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    touch(must(p), 32 * MIB);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "mmap") == 0) {
        map_arena();
        map_grow();
        map_split();
        map_gone();
        map_reserve();
        map_shared();
        map_file();
    } else if (strcmp(mode, "frag") == 0) {
        frag(argc > 2 ? strtoul(argv[2], NULL, 10) : 400000,
             argc > 3 ? strtoul(argv[3], NULL, 10) : 64);
    } else if (strcmp(mode, "fraggrow") == 0) {
        fraggrow(argc > 2 ? atoi(argv[2]) : 12);
    } else if (strcmp(mode, "stacks") == 0) {
        stacks(argc > 2 ? atoi(argv[2]) : 8);
    } else if (strcmp(mode, "signals") == 0) {
        signals(argc > 2 ? atoi(argv[2]) : 20000);
    } else if (strcmp(mode, "grow") == 0 && argc > 3) {
        grow(argv[2], atoi(argv[3]));
    } else if (strcmp(mode, "sized") == 0) {
        sized();
    } else if (strcmp(mode, "bypass") == 0) {
        bypass();
    } else if (strcmp(mode, "raw") == 0) {
        raw();
    } else {
        fprintf(stderr, "usage: memparts mmap|frag [N [K]]|fraggrow [R]|stacks N|signals N|grow "
                        "mmap|raw R|sized|bypass|raw\n");
        return 2;
    }
    printf("memparts: %s done\n", mode);
    return 0;
}
