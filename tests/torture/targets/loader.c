/*
 * loader.c - the loader under load: dlopen/dlclose storms in two threads while worker threads
 * allocate (inside the profiler's slow path) and walk the module list, and a third thread asks
 * for 25 profiles (the writer reads the module list while it changes).
 *
 *   loader storm ITERATIONS WORKERS [SYSTEM-LIBRARY...]
 *
 * The modules (tests/torture/libs, next to this program): dl_storm, whose constructor allocates
 * 4321 B and whose destructor frees it, loaded and unloaded ITERATIONS times; dl_ctor_dlopen,
 * whose constructor dlopens dl_alloc; the system libraries named on the command line (their
 * constructors allocate too). This program's own constructor dlopens dl_alloc
 * (TORTURE_DL_INNER) before main, and it is linked with dl_needed, whose constructor allocates
 * and dlopens at start-up.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

#include "torture.h"

void dl_needed_touch(void);

static char dir[4096];
static void *early;
static void (*early_work)(int);
static volatile int stop;

__attribute__((constructor)) static void early_dlopen(void)
{
    const char *path = getenv("TORTURE_DL_INNER");
    CHECK(path);
    early = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(early);
    early_work = (void (*)(int))dlsym(early, "dl_alloc_work");
    CHECK(early_work);
    early_work(3);
}

__attribute__((noinline)) void *worker_site(size_t n)
{
    return malloc(n);
}

static int count_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info;
    (void)size;
    ++*(int *)arg;
    return 0;
}

static void *worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        free(worker_site(1 + t_rand(&rng) % 2048));
        if ((t_rand(&rng) & 15) == 0)
            early_work(4);
        if ((t_rand(&rng) & 63) == 0) {
            int n = 0;
            dl_iterate_phdr(count_module, &n);
            CHECK(n > 3);
        }
    }
    return NULL;
}

static long iterations;

static void *open_path(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/libhs_torture_%s.so", dir, name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    CHECK(h);
    return h;
}

static void *storm_thread(void *arg)
{
    (void)arg;
    for (long i = 0; i < iterations; i++) {
        void *h = open_path("dl_storm");
        void (*work)(void) = (void (*)(void))dlsym(h, "dl_storm_work");
        CHECK(work);
        work();
        void *h2 = open_path("dl_ctor_dlopen");
        CHECK(dlclose(h) == 0);
        CHECK(dlclose(h2) == 0);
    }
    return NULL;
}

static char **system_libs;
static int nsystem_libs;

static void *system_storm_thread(void *arg)
{
    (void)arg;
    for (long i = 0; i < iterations; i++) {
        for (int k = 0; k < nsystem_libs; k++) {
            void *h = dlopen(system_libs[k], RTLD_NOW | RTLD_LOCAL);
            CHECK(h);
            CHECK(dlclose(h) == 0);
        }
    }
    return NULL;
}

static void *dumper(void *arg)
{
    (void)arg;
    long n = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED) && heapsampler_dump && n < 25) {
        CHECK(heapsampler_dump() == 0);
        n++;
    }
    return (void *)(intptr_t)n;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[1], "storm") != 0) {
        fprintf(stderr, "usage: loader storm ITERATIONS WORKERS [LIB...]\n");
        return 2;
    }
    dl_needed_touch();
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    CHECK(n > 0);
    dir[n] = '\0';
    *strrchr(dir, '/') = '\0';
    iterations = t_arg(argc, argv, 2, 100);
    long workers = t_arg(argc, argv, 3, 4);
    system_libs = argv + 4;
    nsystem_libs = argc - 4;

    pthread_t w[16], storm, system_storm, dump;
    CHECK(workers <= 16);
    for (long i = 0; i < workers; i++)
        CHECK(pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0);
    CHECK(pthread_create(&dump, NULL, dumper, NULL) == 0);
    CHECK(pthread_create(&storm, NULL, storm_thread, NULL) == 0);
    CHECK(pthread_create(&system_storm, NULL, system_storm_thread, NULL) == 0);
    pthread_join(storm, NULL);
    pthread_join(system_storm, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (long i = 0; i < workers; i++)
        pthread_join(w[i], NULL);
    void *dumps;
    pthread_join(dump, &dumps);
    fprintf(stderr, "loader: %ld API dumps\n", (long)(intptr_t)dumps);
    printf("storm done: %ld iterations, %d system libraries\n", iterations, nsystem_libs);
    CHECK(dlclose(early) == 0);
    return 0;
}
