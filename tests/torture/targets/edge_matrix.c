/*
 * edge_matrix.c - every member of the malloc family against a matrix of sizes (0, small, page,
 * mmap threshold, PTRDIFF_MAX and beyond, SIZE_MAX) and alignments (0, non-powers of two,
 * powers of two up to 2^63, SIZE_MAX), calloc overflows, realloc to 0, from NULL, growing,
 * shrinking and failing on a live block (whose contents must survive), and errno on success and
 * failure. One line per call: the driver compares the output with a run without the profiler
 * (and, in the allocator tests, with the same allocator preloaded alone).
 *
 *   edge_matrix [after] [portable]
 *     with "after": then allocates 1000 x 100 B (after_site) and frees 400 of them, so that an
 *     exact-mode profile shows whether the huge requests above disturbed the sampling of
 *     everything that follows.
 *     with "portable": only what other allocators (jemalloc, tcmalloc, mimalloc) handle on their
 *     own: no pvalloc and reallocarray (some lack them, and glibc's then mixes two heaps), no
 *     alignment of 2^40 or more and no aligned request above 2^40 bytes (tcmalloc's memalign
 *     overflows on them: it returns bogus pointers or crashes), and no request between 16 MiB and
 *     PTRDIFF_MAX bytes (whether it is granted depends on the machine's overcommit policy, and
 *     tcmalloc and mimalloc take a tenth of a second to unmap each one they grant).
 *   edge_matrix missing
 *     only pvalloc and reallocarray (which jemalloc or tcmalloc lack), with ordinary sizes, each
 *     block checked with malloc_usable_size, grown and freed: under the profiler they must come
 *     from the same heap as malloc.
 *
 * A first malloc/free warms the allocator up (some set errno while they initialise).
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>

#include "torture.h"

#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

static const size_t sizes[] = {
    0,
    1,
    15,
    16,
    17,
    100,
    4095,
    4096,
    128 * 1024 - 1,
    128 * 1024 + 1,
    (size_t)1 << 24,
    (size_t)1 << 40,
    (size_t)PTRDIFF_MAX - 4096,
    (size_t)PTRDIFF_MAX,
    (size_t)PTRDIFF_MAX + 1,
    ((size_t)1 << 63) + ((size_t)1 << 62),
    SIZE_MAX - 4096,
    SIZE_MAX - 1,
    SIZE_MAX,
};

static const size_t aligns[] = {
    0,
    1,
    2,
    3,
    8,
    16,
    24,
    48,
    64,
    4096,
    65536,
    (size_t)1 << 21,
    (size_t)1 << 40,
    (size_t)1 << 63,
    SIZE_MAX,
};

#define NSIZES  (sizeof sizes / sizeof sizes[0])
#define NALIGNS (sizeof aligns / sizeof aligns[0])

static int portable;

/* Requests "portable" leaves out: granted or not depending on overcommit. */
static int unportable(size_t n)
{
    return portable && n > ((size_t)1 << 24) && n <= (size_t)PTRDIFF_MAX;
}

static const char *ename(int e)
{
    return e ? strerrorname_np(e) : "0";
}

/* errno is poisoned before each call: a success must leave it alone, a failure set it. */
#define POISON 7777

static void show(const char *call, void *p, int err, size_t usable_at_least, size_t align)
{
    printf("%-44s %s errno=%s", call, p ? "ptr " : "NULL", err == POISON ? "kept" : ename(err));
    if (p) {
        size_t u = malloc_usable_size(p);
        printf(" usable>=%d", u >= usable_at_least);
        if (align > 1 && (align & (align - 1)) == 0)
            printf(" aligned=%d", ((uintptr_t)p & (align - 1)) == 0);
        memset(p, 0xa5, usable_at_least < 65536 ? usable_at_least : 65536);
    }
    printf("\n");
}

static void family(void)
{
    char call[128];
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        if (unportable(n))
            continue;
        errno = POISON;
        void *p = malloc(n);
        snprintf(call, sizeof call, "malloc(%zu)", n);
        show(call, p, errno, n, 0);
        free(p);

        errno = POISON;
        p = valloc(n);
        snprintf(call, sizeof call, "valloc(%zu)", n);
        show(call, p, errno, n, 4096);
        free(p);

        if (!portable) {
            errno = POISON;
            p = pvalloc(n);
            snprintf(call, sizeof call, "pvalloc(%zu)", n);
            show(call, p, errno, n, 4096);
            free(p);
        }

        for (size_t j = 0; j < NSIZES; j += 3) {
            size_t m = sizes[j];
            size_t total = 0;
            int overflow = __builtin_mul_overflow(n, m, &total);
            if (unportable(m) || (!overflow && unportable(total)))
                continue;
            errno = POISON;
            p = calloc(n, m);
            snprintf(call, sizeof call, "calloc(%zu,%zu)", n, m);
            show(call, p, errno, overflow ? 0 : total, 0);
            if (p && total) {
                /* show() scribbled over it; a fresh one must be zero. */
                free(p);
                p = calloc(n, m);
                CHECK(p);
                for (size_t k = 0; k < total && k < 65536; k++)
                    CHECK(((unsigned char *)p)[k] == 0);
            }
            free(p);
            if (portable)
                continue;

            errno = POISON;
            p = reallocarray(NULL, n, m);
            snprintf(call, sizeof call, "reallocarray(NULL,%zu,%zu)", n, m);
            show(call, p, errno, overflow ? 0 : total, 0);
            free(p);
        }

        for (size_t k = 0; k < NALIGNS; k++) {
            size_t a = aligns[k];
            if (portable && (a >= ((size_t)1 << 40) || n > ((size_t)1 << 40)))
                continue;
            errno = POISON;
            p = aligned_alloc(a, n);
            snprintf(call, sizeof call, "aligned_alloc(%zu,%zu)", a, n);
            show(call, p, errno, n, a);
            free(p);

            errno = POISON;
            p = memalign(a, n);
            snprintf(call, sizeof call, "memalign(%zu,%zu)", a, n);
            show(call, p, errno, n, a);
            free(p);

            errno = POISON;
            p = NULL;
            int rc = posix_memalign(&p, a, n);
            printf("posix_memalign(%zu,%zu) rc=%s errno=%s%s\n", a, n, ename(rc),
                   errno == POISON ? "kept" : ename(errno), rc ? "" : " ptr");
            if (rc == 0) {
                CHECK(((uintptr_t)p & (a - 1)) == 0);
                free(p);
            }
        }
    }
}

static void reallocs(void)
{
    char call[128];
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        if (unportable(n))
            continue;
        errno = POISON;
        void *p = realloc(NULL, n);
        snprintf(call, sizeof call, "realloc(NULL,%zu)", n);
        show(call, p, errno, n, 0);
        free(p);

        /* A live block of 100 stamped bytes, grown, shrunk, freed (0) or not (failure). */
        unsigned char *old = malloc(100);
        CHECK(old);
        t_fill(old, 100, i);
        errno = POISON;
        unsigned char *q = realloc(old, n);
        int e = errno;
        snprintf(call, sizeof call, "realloc(p100,%zu)", n);
        printf("%-44s %s errno=%s", call, q ? "ptr " : "NULL", e == POISON ? "kept" : ename(e));
        if (q) {
            t_verify(q, n < 100 ? n : 100, i);
            free(q);
        } else if (n != 0) {
            t_verify(old, 100, i); /* a failed realloc leaves the block alone */
            free(old);
        }
        printf("\n");

        if (portable)
            continue;
        old = malloc(100);
        CHECK(old);
        t_fill(old, 100, i);
        errno = POISON;
        q = reallocarray(old, n, 3);
        e = errno;
        snprintf(call, sizeof call, "reallocarray(p100,%zu,3)", n);
        printf("%-44s %s errno=%s\n", call, q ? "ptr " : "NULL", e == POISON ? "kept" : ename(e));
        if (q) {
            t_verify(q, n * 3 < 100 ? n * 3 : 100, i);
            free(q);
        } else if (n != 0) {
            t_verify(old, 100, i);
            free(old);
        }
    }
    errno = POISON;
    free(NULL);
    printf("free(NULL) errno=%s\n", errno == POISON ? "kept" : ename(errno));
    printf("malloc_usable_size(NULL)=%zu\n", malloc_usable_size(NULL));
}

__attribute__((noinline)) void *after_site(void)
{
    return malloc(100);
}

static int missing(void)
{
    char call[64];
    const size_t n[] = {0, 1, 100, 4096, 100000};
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
        errno = POISON;
        void *p = pvalloc(n[i]);
        snprintf(call, sizeof call, "pvalloc(%zu)", n[i]);
        show(call, p, errno, n[i], 4096);
        free(p);
        errno = POISON;
        unsigned char *q = reallocarray(NULL, n[i], 3);
        snprintf(call, sizeof call, "reallocarray(NULL,%zu,3)", n[i]);
        show(call, q, errno, n[i] * 3, 0);
        if (q)
            t_fill(q, n[i] * 3, i);
        errno = POISON;
        unsigned char *r = reallocarray(q, n[i] + 10, 5);
        snprintf(call, sizeof call, "reallocarray(p,%zu,5)", n[i] + 10);
        CHECK(r);
        t_verify(r, n[i] * 3, i);
        show(call, r, errno, (n[i] + 10) * 5, 0);
        free(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int after = 0;
    void *volatile warm = malloc(1);
    free(warm);
    for (int i = 1; i < argc; i++) {
        after |= strcmp(argv[i], "after") == 0;
        portable |= strcmp(argv[i], "portable") == 0;
        if (strcmp(argv[i], "missing") == 0)
            return missing();
    }
    family();
    reallocs();
    if (after) {
        static void *keep[1000];
        for (int i = 0; i < 1000; i++)
            CHECK((keep[i] = after_site()));
        for (int i = 0; i < 400; i++)
            free(keep[i]);
        printf("after_site objects=1000 bytes=100000 inuse=600\n");
    }
    return 0;
}
