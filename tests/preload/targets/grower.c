/*
 * grower.c - in-use memory that grows, falls back and grows again, for
 * HEAPSAMPLER_INUSE_GROWTH=10M at HEAPSAMPLER_RATE=1. Phase 1 keeps 12 x 1 MiB (grow_site):
 * the step is crossed at 10 MiB, so one growth profile; the target waits for it. Phase 2 frees
 * them and allocates 12 MiB again (refill_site): below the 20 MiB next step, no profile.
 * Phase 3 adds 9 x 1 MiB (grow_site): the total passes 20 MiB, one more profile; the target
 * waits for the second file. Exit status 3 if a wait times out (30 s).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static void *first[12], *refill[12], *more[9];

void grow_site(void **slots, int n)
{
    for (int i = 0; i < n; i++) {
        slots[i] = malloc(MIB);
        memset(slots[i], 1, 64);
    }
}

void refill_site(void **slots, int n)
{
    for (int i = 0; i < n; i++)
        slots[i] = malloc(MIB);
}

static int count_profiles(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    char mine[32];
    snprintf(mine, sizeof mine, ".%d.", (int)getpid());
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, mine) && strstr(e->d_name, ".pb") && !strstr(e->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

static int wait_for(const char *dir, int want)
{
    time_t deadline = time(NULL) + 30;
    while (count_profiles(dir) < want) {
        if (time(NULL) > deadline) {
            printf("timeout waiting for %d profiles (have %d)\n", want, count_profiles(dir));
            return 0;
        }
        usleep(5000);
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    grow_site(first, 12);
    if (!wait_for(argv[1], 1))
        return 3;
    for (int i = 0; i < 12; i++)
        free(first[i]);
    refill_site(refill, 12);
    grow_site(more, 9);
    if (!wait_for(argv[1], 2))
        return 3;
    printf("grower: done\n");
    return 0;
}
