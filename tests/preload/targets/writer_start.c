/*
 * writer_start.c - when the profiler's writer thread exists. Allocates 4 MiB in 4 KiB blocks
 * (about 8 samples at the default rate), then prints "writer=N" (1 if a thread named
 * "heapsampler" exists in /proc/self/task). With the argument "thread" it first runs a thread
 * of its own that allocates once, and prints the count after joining it.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int writer_exists(void)
{
    DIR *d = opendir("/proc/self/task");
    int found = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], comm[64] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "heapsampler", 11) == 0)
            found = 1;
        fclose(f);
    }
    closedir(d);
    return found;
}

static void *worker(void *arg)
{
    (void)arg;
    free(malloc(100));
    return NULL;
}

void writer_start_site(void **keep, int i)
{
    keep[i] = malloc(4096);
}

int main(int argc, char **argv)
{
    static void *keep[1024];
    if (argc > 1 && strcmp(argv[1], "thread") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL) != 0)
            return 1;
        pthread_join(t, NULL);
    }
    for (int i = 0; i < 1024; i++)
        writer_start_site(keep, i);
    printf("writer=%d\n", writer_exists());
    for (int i = 0; i < 1024; i++)
        free(keep[i]);
    return 0;
}
