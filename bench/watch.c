/*
 * watch.c - what the memory watch costs a program that does nothing: it holds HOLD_MIB MiB
 * (touched, so resident), starts a thread (a program with a thread of its own gets the writer
 * thread at once), sleeps SECONDS, and prints the CPU time of the profiler's writer thread
 * (/proc/self/task/TID/schedstat), which does nothing but the watch's looks here:
 *
 *   hs_bench_watch HOLD_MIB SECONDS  ->  "watch cpu_us=N seconds=S" (cpu_us=0 without it)
 *
 * The benchmark runs it with HEAPSAMPLER_MEMORY_LIMIT set so that the hold is in the watch's
 * close range (a look every 20 ms), far from it (every 500 ms), and with the watch off.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* Its first allocation is a slow path, which starts the writer thread in a program that has a
 * thread of its own. */
static void *idle(void *arg)
{
    void *volatile p = malloc(64);
    free(p);
    return arg;
}

/* Nanoseconds on a CPU of the thread named "heapsampler", or 0. */
static unsigned long long writer_cpu_ns(void)
{
    DIR *d = opendir("/proc/self/task");
    unsigned long long run = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int ours = fgets(comm, sizeof comm, f) && strncmp(comm, "heapsampler", 11) == 0;
        fclose(f);
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        if (ours && (f = fopen(path, "r"))) {
            if (fscanf(f, "%llu", &run) != 1)
                run = 0;
            fclose(f);
        }
    }
    if (d)
        closedir(d);
    return run;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    size_t hold = (size_t)atol(argv[1]) << 20;
    double seconds = atof(argv[2]);
    char *volatile p = malloc(hold);
    if (!p)
        return 1;
    for (size_t i = 0; i < hold; i += 4096)
        p[i] = 1;
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    unsigned long long c0 = writer_cpu_ns();
    uint64_t t0 = bench_now_ns();
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    printf("watch cpu_us=%.0f seconds=%.2f\n", (double)(writer_cpu_ns() - c0) / 1e3,
           (double)(bench_now_ns() - t0) / 1e9);
    free(p);
    return 0;
}
