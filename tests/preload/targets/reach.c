/*
 * reach.c - blocks with known reachability, for the reachability scan (tests/preload/
 * test_reach.py). Each kind of block has its own size, so a row's "bytes" label says which:
 *
 *   1000  lost_overwritten: 20 blocks whose only pointer (a global) was overwritten: unreferenced
 *   2000  push_node: a global linked list of 10: the head held by global:list_head, the others
 *         by heap:push_node
 *   3000  fill_array: 10 blocks in a malloc'd array (held by heap:make_array); the array
 *         (size 80) held by global:array_ptr
 *   4000  stack_holder: 5 blocks only on a blocked thread's stack: held by stack
 *   5000  mmap_holder: 5 blocks only in an anonymous mmap'd region: held by mmap
 *   6000  interior: 5 blocks known only by a pointer 100 bytes inside: held by global:interior
 *   7000  churn: a thread allocating and freeing during the scan, holding at most 4 at a time
 *
 * `reach move N [spin]` instead runs N threads that keep moving 64 each of 1000 blocks of 8000
 * bytes between two global arrays (each pointer is in one array or both, never in neither)
 * until exit, yielding the processor after each sweep of their blocks, or never (spin: each
 * pointer then changes arrays about every microsecond).
 * `reach grow N` leaks in N steps of about a millisecond, 64 KiB a step from each of two
 * sites: grow_lost (pointer overwritten) and grow_held (pushed on the global list grow_list),
 * and writes a profile through the API every 100 steps.
 * `reach none` allocates 1000 blocks of 10000 bytes and frees them all: nothing is live at exit.
 * `reach sparse` reserves 64 GiB PROT_NONE and 64 GiB MAP_NORESERVE (a few pages touched, one
 * holding a block of 9000), writes a profile through the API and prints VmRSS and VmPTE before
 * and after: the scan must read neither reservation.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEAPSAMPLER_WEAK
#include "heapsampler.h"

struct node {
    struct node *next;
    char pad[2000 - sizeof(struct node *)];
};

void *volatile lost_slot;
struct node *list_head;
void **array_ptr;
char *interior[5];
static int stack_pipe[2];

void lost_overwritten(void)
{
    for (int i = 0; i < 20; i++) {
        lost_slot = malloc(1000);
        memset(lost_slot, 1, 1000);
    }
    lost_slot = NULL;
}

void push_node(void)
{
    struct node *n = malloc(sizeof *n);
    memset(n, 0, sizeof *n);
    n->next = list_head;
    list_head = n;
}

void **make_array(void)
{
    return calloc(10, sizeof(void *));
}

void fill_array(void)
{
    array_ptr = make_array();
    for (int i = 0; i < 10; i++)
        array_ptr[i] = malloc(3000);
}

void *stack_holder(void *arg)
{
    (void)arg;
    void *held[5];
    for (int i = 0; i < 5; i++)
        held[i] = malloc(4000);
    char c;
    /* Blocks until the process exits: held[] stays live on this stack. */
    while (read(stack_pipe[0], &c, 1) != 0)
        ;
    for (int i = 0; i < 5; i++)
        free(held[i]);
    return NULL;
}

void mmap_holder(void)
{
    void **region = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 5; i++)
        region[1000 + i] = malloc(5000);
}

void fill_interior(void)
{
    for (int i = 0; i < 5; i++)
        interior[i] = (char *)malloc(6000) + 100;
}

void *churn(void *arg)
{
    (void)arg;
    void *held[4] = {0};
    for (unsigned i = 0;; i++) {
        free(held[i % 4]);
        held[i % 4] = malloc(7000);
    }
    return NULL;
}

/* ---- move ---- */

#define MOVE_BLOCKS 1000
void *move_a[MOVE_BLOCKS], *move_b[MOVE_BLOCKS];

void *mover_block(void)
{
    return malloc(8000);
}

static int move_spin; /* `move N spin`: no pause between sweeps */

void *mover(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    /* Each thread owns the indices i with i % 64 == id: copy, then clear the source; then
     * yields (a program moving its pointers as it works), or not at all with `spin`. */
    for (;;) {
        if (!move_spin)
            sched_yield();
        for (unsigned i = id; i < MOVE_BLOCKS; i += 64) {
            if (__atomic_load_n(&move_a[i], __ATOMIC_RELAXED)) {
                __atomic_store_n(&move_b[i], move_a[i], __ATOMIC_RELAXED);
                __atomic_store_n(&move_a[i], NULL, __ATOMIC_RELAXED);
            } else {
                __atomic_store_n(&move_a[i], move_b[i], __ATOMIC_RELAXED);
                __atomic_store_n(&move_b[i], NULL, __ATOMIC_RELAXED);
            }
        }
    }
    return NULL;
}

static int run_move(int nthreads, int spin)
{
    move_spin = spin;
    for (int i = 0; i < MOVE_BLOCKS; i++)
        move_a[i] = mover_block();
    for (int t = 0; t < nthreads && t < 64; t++) {
        pthread_t tid;
        pthread_create(&tid, NULL, mover, (void *)(uintptr_t)t);
    }
    /* The threads with ids >= nthreads do not exist: their blocks stay in move_a. */
    usleep(20000);
    printf("reach: moving %d blocks with %d threads\n", MOVE_BLOCKS, nthreads);
    fflush(stdout);
    return 0;
}

/* ---- sparse ---- */

static void status(const char *when)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6) || !strncmp(line, "VmPTE:", 6))
            printf("%s %s", when, line);
    if (f)
        fclose(f);
}

void *sparse_block(void)
{
    return malloc(9000);
}

static int run_sparse(void)
{
    size_t big = (size_t)64 << 30;
    void *none = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    char *sparse =
        mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (none == MAP_FAILED || sparse == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t off = 0; off < big; off += (size_t)1 << 30)
        sparse[off] = 1;
    *(void **)(sparse + ((size_t)5 << 30) + 64) = sparse_block();
    status("before");
    if (!heapsampler_dump || heapsampler_dump() != 0)
        printf("dump failed\n");
    status("after");
    return 0;
}

/* ---- grow ---- */

struct gnode {
    struct gnode *next;
    char pad[4096 - sizeof(struct gnode *)];
};
struct gnode *grow_list;

void grow_lost(void)
{
    lost_slot = malloc(4096);
    memset(lost_slot, 0, 4096);
}

void grow_held(void)
{
    struct gnode *n = malloc(sizeof *n);
    memset(n, 0, sizeof *n);
    n->next = grow_list;
    grow_list = n;
}

static int run_grow(int ms)
{
    for (int i = 0; i < ms; i++) {
        for (int k = 0; k < 16; k++) {
            grow_lost();
            grow_held();
        }
        usleep(1000);
        /* A profile every 100 steps, whatever the speed of the machine. */
        if (i % 100 == 99 && heapsampler_dump)
            heapsampler_dump();
    }
    lost_slot = NULL;
    printf("reach: grew for %d ms\n", ms);
    return 0;
}

/*
 * Zero the stack below main's frame: the dead frames of the calls above (malloc's, the
 * profiler's own slow path) may still hold the lost blocks' addresses, and the exit path's
 * frames reuse that memory without overwriting every slot. A conservative scan (ours,
 * LeakSanitizer's) would rightly count such a stale word as a reference.
 */
void __attribute__((noinline)) scrub_stack(void)
{
    volatile char dead[64 << 10];
    memset((char *)dead, 0, sizeof dead);
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "grow"))
        return run_grow(atoi(argv[2]));
    if (argc > 2 && !strcmp(argv[1], "move"))
        return run_move(atoi(argv[2]), argc > 3 && !strcmp(argv[3], "spin"));
    if (argc > 1 && !strcmp(argv[1], "sparse"))
        return run_sparse();
    if (argc > 1 && !strcmp(argv[1], "none")) {
        static void *volatile blocks[1000];
        for (int i = 0; i < 1000; i++)
            blocks[i] = malloc(10000);
        for (int i = 0; i < 1000; i++)
            free(blocks[i]);
        return 0;
    }
    lost_overwritten();
    for (int i = 0; i < 10; i++)
        push_node();
    fill_array();
    mmap_holder();
    fill_interior();
    if (pipe(stack_pipe) != 0)
        return 1;
    pthread_t tid;
    pthread_create(&tid, NULL, stack_holder, NULL);
    pthread_create(&tid, NULL, churn, NULL);
    usleep(20000);
    printf("reach: ready\n");
    fflush(stdout);
    scrub_stack();
    return 0;
}
