/*
 * execer.c - a program image that writes profiles, then execs another in its place (same pid),
 * as a wrapper script or a launcher does.
 *
 *   execer N PROGRAM [ARGS...]   keeps 100 x 1000 B (execer_site), asks for N profiles
 *                                (heapsampler_dump, when the profiler runs here), prints
 *                                "execer=<pid>", then execv(PROGRAM, PROGRAM ARGS...)
 */
#define HEAPSAMPLER_WEAK
#include "heapsampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *keep[100];

void execer_site(void)
{
    for (int i = 0; i < 100; i++)
        keep[i] = malloc(1000);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: execer N PROGRAM [ARGS...]\n");
        return 2;
    }
    execer_site();
    int n = atoi(argv[1]);
    for (int i = 0; i < n && heapsampler_dump; i++)
        if (heapsampler_dump() != 0)
            perror("heapsampler_dump");
    printf("execer=%d\n", (int)getpid());
    fflush(stdout);
    execv(argv[2], argv + 2);
    perror(argv[2]);
    return 127;
}
