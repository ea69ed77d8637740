/*
 * forker.c - fork without exec. "fork": the parent keeps 100 x 1000 B (parent_site), forks; the
 * child keeps 200 x 500 B (child_site) and exits; the parent waits and exits. "daemon": the
 * parent forks and exits at once; the child calls setsid, forks again and _exits; the grandchild
 * chdirs to / (its profile must still land in the original directory), keeps 300 x 700 B
 * (daemon_site), prints its pid and exits. Each process prints "<role>=<pid>" on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *keep[1000];

void parent_site(void)
{
    for (int i = 0; i < 100; i++)
        keep[i] = malloc(1000);
}

void child_site(void)
{
    for (int i = 0; i < 200; i++)
        keep[100 + i] = malloc(500);
}

void daemon_site(void)
{
    for (int i = 0; i < 300; i++)
        keep[300 + i] = malloc(700);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "fork";
    printf("parent=%d\n", (int)getpid());
    fflush(stdout);
    parent_site();
    if (strcmp(mode, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            child_site();
            printf("child=%d\n", (int)getpid());
            exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    pid_t pid = fork();
    if (pid > 0)
        return 0; /* the daemon's parent exits immediately */
    setsid();
    if (fork() > 0)
        _exit(0);
    if (chdir("/") != 0)
        return 1;
    daemon_site();
    printf("daemon=%d\n", (int)getpid());
    fflush(stdout);
    return 0;
}
