/*
 * processes.c - processes made every way a program makes them, from a parent whose other
 * threads keep allocating (at a tiny rate, inside the profiler's slow path) all along.
 *
 *   processes forks N THREADS
 *     N forks without exec, alternately from the main thread and from a short-lived thread.
 *     Child i keeps 50 blocks of 100+i bytes (child_site), runs a thread of its own, asks for a
 *     profile through the API when i is even, and exits normally; child 0 first forks a
 *     grandchild of its own (grandchild_site, 7 x 77 B).
 *   processes spawn THREADS
 *     starts children that exec this program ("leaf K") with fork+exec (K=1), vfork+exec (2),
 *     posix_spawn (3), system() (4) and popen() (5). Leaf K keeps K+1 blocks of 1000+K bytes
 *     (leaf_site) and prints one line.
 *   processes daemon THREADS
 *     double-forks: the daemon calls setsid, chdir("/"), runs two threads, keeps 30 x 300 B
 *     (daemon_site) and exits; the parent exits at once while its own threads still allocate.
 *
 * Everything printed depends only on the arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>

#include "torture.h"

extern char **environ;

static volatile int stop_allocators;
static char self[4096];

__attribute__((noinline)) void *parent_busy_site(size_t n)
{
    return malloc(n);
}

static void *allocator(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *keep[16] = {0};
    while (!__atomic_load_n(&stop_allocators, __ATOMIC_RELAXED)) {
        unsigned i = (unsigned)(t_rand(&rng) & 15);
        free(keep[i]);
        keep[i] = parent_busy_site(1 + t_rand(&rng) % 1024);
    }
    for (int i = 0; i < 16; i++)
        free(keep[i]);
    return NULL;
}

static pthread_t allocators[16];
static long nallocators;

static void start_allocators(long n)
{
    nallocators = n < 16 ? n : 16;
    for (long i = 0; i < nallocators; i++)
        CHECK(pthread_create(&allocators[i], NULL, allocator, (void *)(uintptr_t)(i + 1)) == 0);
}

static void stop_allocators_and_join(void)
{
    __atomic_store_n(&stop_allocators, 1, __ATOMIC_RELAXED);
    for (long i = 0; i < nallocators; i++)
        pthread_join(allocators[i], NULL);
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- fork without exec ---------------------------------------------------------------------- */

static void *keep_child[64];

__attribute__((noinline)) void *child_site(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) void *grandchild_site(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) void *child_thread_site(size_t n)
{
    return malloc(n);
}

static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        free(child_thread_site(64 + (size_t)i));
    return NULL;
}

static void child_main(long i)
{
    if (i == 0) {
        pid_t g = fork();
        CHECK(g >= 0);
        if (g == 0) {
            for (int k = 0; k < 7; k++)
                keep_child[k] = grandchild_site(77);
            exit(0);
        }
        CHECK(wait_status(g) == 0);
    }
    for (int k = 0; k < 50; k++) {
        keep_child[k] = child_site(100 + (size_t)i);
        CHECK(keep_child[k]);
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, child_thread, NULL) == 0);
    pthread_join(t, NULL);
    if (i % 2 == 0 && heapsampler_dump)
        CHECK(heapsampler_dump() == 0);
    exit(0);
}

static pid_t fork_child(long i)
{
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child_main(i);
    return pid;
}

static void *fork_from_thread(void *arg)
{
    return (void *)(intptr_t)fork_child((long)(intptr_t)arg);
}

static int forks(long n, long threads)
{
    start_allocators(threads);
    for (long i = 0; i < n; i++) {
        pid_t pid;
        if (i % 2) {
            pthread_t t;
            void *ret;
            CHECK(pthread_create(&t, NULL, fork_from_thread, (void *)(intptr_t)i) == 0);
            pthread_join(t, &ret);
            pid = (pid_t)(intptr_t)ret;
        } else {
            pid = fork_child(i);
        }
        printf("child %ld status %d\n", i, wait_status(pid));
    }
    stop_allocators_and_join();
    return 0;
}

/* ---- exec ----------------------------------------------------------------------------------- */

__attribute__((noinline)) void *leaf_site(size_t n)
{
    return malloc(n);
}

static int leaf(long k)
{
    for (long i = 0; i <= k; i++)
        CHECK(leaf_site(1000 + (size_t)k)); /* kept until exit */
    printf("leaf %ld\n", k);
    return 0;
}

static int spawn(long threads)
{
    start_allocators(threads);
    char k[8], cmd[4200];
    char *args[] = {self, "leaf", k, NULL};
    pid_t pid;

    fflush(stdout);
    snprintf(k, sizeof k, "1");
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execve(self, args, environ);
        _exit(127);
    }
    printf("fork+exec status %d\n", wait_status(pid));

    fflush(stdout);
    snprintf(k, sizeof k, "2");
    pid = vfork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execve(self, args, environ);
        _exit(127);
    }
    printf("vfork status %d\n", wait_status(pid));

    fflush(stdout);
    snprintf(k, sizeof k, "3");
    CHECK(posix_spawn(&pid, self, NULL, NULL, args, environ) == 0);
    printf("posix_spawn status %d\n", wait_status(pid));

    fflush(stdout);
    snprintf(cmd, sizeof cmd, "'%s' leaf 4", self);
    int st = system(cmd);
    printf("system status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    fflush(stdout);
    snprintf(cmd, sizeof cmd, "'%s' leaf 5", self);
    FILE *f = popen(cmd, "r");
    CHECK(f);
    char line[64];
    while (fgets(line, sizeof line, f))
        printf("popen read: %s", line);
    st = pclose(f);
    printf("popen status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    stop_allocators_and_join();
    return 0;
}

/* ---- daemon --------------------------------------------------------------------------------- */

__attribute__((noinline)) void *daemon_site(size_t n)
{
    return malloc(n);
}

static void *daemon_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        free(daemon_site(300));
    return NULL;
}

static int daemonize(long threads)
{
    start_allocators(threads);
    printf("daemon starting\n");
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid > 0) {
        CHECK(wait_status(pid) == 0);
        exit(0); /* with the allocator threads still running */
    }
    CHECK(setsid() >= 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid > 0)
        _exit(0);
    CHECK(chdir("/") == 0);
    int null = open("/dev/null", 0);
    CHECK(null >= 0 && dup2(null, 0) == 0 && dup2(null, 1) == 1);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, daemon_thread, NULL) == 0);
    for (int i = 0; i < 30; i++)
        CHECK(daemon_site(300));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = '\0';
    const char *mode = argc > 1 ? argv[1] : "forks";
    if (strcmp(mode, "forks") == 0)
        return forks(t_arg(argc, argv, 2, 20), t_arg(argc, argv, 3, 4));
    if (strcmp(mode, "spawn") == 0)
        return spawn(t_arg(argc, argv, 2, 4));
    if (strcmp(mode, "leaf") == 0)
        return leaf(t_arg(argc, argv, 2, 0));
    if (strcmp(mode, "daemon") == 0)
        return daemonize(t_arg(argc, argv, 2, 4));
    fprintf(stderr, "usage: processes forks|spawn|daemon ...\n");
    return 2;
}
