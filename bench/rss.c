/*
 * rss.c - runs a command and reports its peak RSS: "hs_bench_rss CMD ARGS..." prints
 * "peak_rss_kib=N" on stderr after the command ends and exits with its status. The command's
 * LD_PRELOAD is taken from HS_BENCH_LD_PRELOAD, so that the launcher itself is not profiled.
 *
 * Linux keeps a process's peak RSS across exec, so a child forked from a big parent (the Python
 * driver of the benchmark) reports at least the parent's RSS. This launcher is small: its child
 * starts from its own RSS (about 1 MiB), below any workload's peak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CMD [ARGS...]\n", argv[0]);
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0)
        return 125;
    if (pid == 0) {
        const char *preload = getenv("HS_BENCH_LD_PRELOAD");
        if (preload && setenv("LD_PRELOAD", preload, 1) != 0)
            _exit(125);
        unsetenv("HS_BENCH_LD_PRELOAD");
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        return 125;
    fprintf(stderr, "peak_rss_kib=%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
