/*
 * edge.c - edge inputs of the malloc family. Prints each call's outcome (NULL or not, return
 * value, errno); the driver checks that the output is identical with and without the profiler.
 */
/* Huge sizes are the point of this program. */
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW(name, expr)                                                                           \
    do {                                                                                           \
        errno = 0;                                                                                 \
        void *p_ = (expr);                                                                         \
        int e_ = errno;                                                                            \
        printf("%-28s %s errno=%s\n", name, p_ ? "ptr" : "NULL", e_ ? strerrorname_np(e_) : "0");  \
        free(p_);                                                                                  \
    } while (0)

int main(void)
{
    SHOW("malloc(0)", malloc(0));
    SHOW("malloc(SIZE_MAX)", malloc(SIZE_MAX));
    SHOW("malloc(PTRDIFF_MAX+1)", malloc((size_t)PTRDIFF_MAX + 1));
    SHOW("calloc(0,0)", calloc(0, 0));
    SHOW("calloc(SIZE_MAX,2)", calloc(SIZE_MAX, 2));
    SHOW("calloc(2,SIZE_MAX/2+1)", calloc(2, SIZE_MAX / 2 + 1));
    SHOW("realloc(NULL,10)", realloc(NULL, 10));
    SHOW("realloc(NULL,0)", realloc(NULL, 0));
    SHOW("realloc(p,0)", realloc(malloc(10), 0));
    {
        void *p = malloc(10);
        errno = 0;
        void *q = realloc(p, SIZE_MAX);
        printf("%-28s %s errno=%s\n", "realloc(p,SIZE_MAX)", q ? "ptr" : "NULL",
               errno ? strerrorname_np(errno) : "0");
        free(q ? q : p);
    }
    SHOW("reallocarray(NULL,SIZE_MAX,2)", reallocarray(NULL, SIZE_MAX, 2));
    SHOW("reallocarray(NULL,3,5)", reallocarray(NULL, 3, 5));
    SHOW("aligned_alloc(64,0)", aligned_alloc(64, 0));
    SHOW("aligned_alloc(3,10)", aligned_alloc(3, 10));
    SHOW("aligned_alloc(64,SIZE_MAX)", aligned_alloc(64, SIZE_MAX));
    SHOW("memalign(3,10)", memalign(3, 10));
    SHOW("memalign(1<<20,10)", memalign(1 << 20, 10));
    SHOW("valloc(0)", valloc(0));
    SHOW("pvalloc(0)", pvalloc(0));
    SHOW("pvalloc(SIZE_MAX)", pvalloc(SIZE_MAX));
    int aligns[] = {0, 1, 3, 8, 24, 64, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        void *p = NULL;
        errno = 0;
        int rc = posix_memalign(&p, (size_t)aligns[i], 100);
        printf("posix_memalign(%d,100)%*s rc=%s errno=%s\n", aligns[i], 8, "",
               rc ? strerrorname_np(rc) : "0", errno ? strerrorname_np(errno) : "0");
        if (rc == 0)
            free(p);
    }
    {
        void *p = NULL;
        int rc = posix_memalign(&p, 64, SIZE_MAX);
        printf("posix_memalign(64,SIZE_MAX)  rc=%s\n", rc ? strerrorname_np(rc) : "0");
    }
    {
        void *p = malloc(100);
        printf("malloc_usable_size>=100      %d\n", malloc_usable_size(p) >= 100);
        free(p);
        printf("malloc_usable_size(NULL)     %zu\n", malloc_usable_size(NULL));
    }
    errno = 12345;
    free(NULL);
    printf("free(NULL) keeps errno       %d\n", errno == 12345);
    errno = 4321;
    free(malloc(50));
    printf("malloc+free keep errno       %d\n", errno == 4321);
    return 0;
}
