/*
 * dlstorm.c - a dlopen/dlclose storm while other threads allocate: the loader thread loads the
 * libraries named on the command line in turn, `rounds` times each (argv[1]), lets each
 * allocate 32 blocks through it (kept until exit) and unloads it; meanwhile `threads` workers
 * (argv[2]) churn malloc/free, so that samples, refreshes of the profiler's module record and
 * dumps run concurrently with the loader. Prints the number of loads, and how many of them put
 * a library where another one had just been unloaded (the case that needs generation marks).
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCKS 32

static volatile int stop;

static void *worker(void *arg)
{
    (void)arg;
    void *ring[64] = {0};
    unsigned i = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        free(ring[i % 64]);
        ring[i % 64] = malloc(16 + i % 512);
        i++;
    }
    for (int k = 0; k < 64; k++)
        free(ring[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: dlstorm ROUNDS THREADS LIB...\n");
        return 2;
    }
    int rounds = atoi(argv[1]), nthreads = atoi(argv[2]), nlibs = argc - 3;
    pthread_t t[16];
    if (nthreads > 16)
        nthreads = 16;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    void **keep = calloc((size_t)rounds * nlibs * BLOCKS, sizeof *keep);
    int loads = 0, reused = 0, last_lib = -1;
    ElfW(Addr) last_base = 0;
    for (int r = 0; r < rounds && keep; r++) {
        for (int l = 0; l < nlibs; l++) {
            void *h = dlopen(argv[3 + l], RTLD_NOW | RTLD_LOCAL);
            void (*entry)(void **, int) = h ? (void (*)(void **, int))dlsym(h, "plugin_entry") : 0;
            if (!entry) {
                fprintf(stderr, "cannot load %s: %s\n", argv[3 + l], dlerror());
                return 1;
            }
            struct link_map *lm = NULL;
            if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm) {
                reused += last_lib >= 0 && last_lib != l && lm->l_addr == last_base;
                last_lib = l;
                last_base = lm->l_addr;
            }
            entry(&keep[(size_t)loads * BLOCKS], BLOCKS);
            loads++;
            dlclose(h);
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    printf("loads=%d reused=%d\n", loads, reused);
    return 0;
}
