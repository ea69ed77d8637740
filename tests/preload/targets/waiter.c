/*
 * waiter.c - waits (bounded) until the profiler has written profiles, so that drivers need no
 * sleeps. "signal DIR": keeps 10 x 4 KiB, sends itself the dump signal (SIGUSR2) and waits for
 * the first profile in DIR. "interval DIR N": allocates in a loop until N profiles exist in DIR.
 * Exit status 3 if the wait times out (30 s).
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *keep[10000];

static int count_profiles(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    char mine[32];
    snprintf(mine, sizeof mine, ".%d.", (int)getpid());
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, mine) && strstr(e->d_name, ".pb") && !strstr(e->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

void waiter_site(int i)
{
    keep[i % 10000] = malloc(4096);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *dir = argv[2];
    int want = argc > 3 ? atoi(argv[3]) : 1;
    time_t deadline = time(NULL) + 30;
    for (int i = 0; i < 10; i++)
        waiter_site(i);
    if (strcmp(argv[1], "signal") == 0)
        kill(getpid(), SIGUSR2);
    for (int i = 10; count_profiles(dir) < want; i++) {
        if (time(NULL) > deadline) {
            printf("timeout: %d profiles\n", count_profiles(dir));
            return 3;
        }
        if (strcmp(argv[1], "interval") == 0 && i < 10000)
            waiter_site(i);
        usleep(10000);
    }
    printf("seen %d profiles\n", count_profiles(dir));
    return 0;
}
