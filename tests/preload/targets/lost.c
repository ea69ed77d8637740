/*
 * lost.c - leaks of known kinds, for the reachability scan against LeakSanitizer
 * (tests/preload/test_reach.py builds this file a second time with clang -fsanitize=leak):
 *
 *   direct_leak: 300 blocks of 16 to 4111 bytes whose only pointer is overwritten
 *   leak_list: 20 linked lists of 5 nodes whose heads are dropped (LeakSanitizer: 20 direct
 *              leaks, 80 indirect)
 *   keep_global: 100 blocks held by a global array
 *   keep_array: 50 blocks held by a malloc'd array that a global holds
 *   churn: 1000 blocks allocated and freed
 *
 * The sizes come from a fixed linear congruential sequence: both builds allocate the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lnode {
    struct lnode *next;
    char pad[40];
};

void *volatile slot;
void *kept[100];
void **kept_array;
static unsigned x = 12345;

static size_t next_size(void)
{
    x = x * 1103515245u + 12345u;
    return 16 + (x >> 8) % 4096;
}

void direct_leak(void)
{
    slot = malloc(next_size());
    memset(slot, 0, 16);
}

void leak_list(void)
{
    struct lnode *head = NULL;
    for (int i = 0; i < 5; i++) {
        struct lnode *n = malloc(sizeof *n);
        n->next = head;
        head = n;
    }
    slot = head;
}

/* The blocks kept are initialised: the uninitialised bytes of a live block may hold stale
 * pointers (the allocator's own free-list links) that would hold a lost block (README.md). */
void keep_global(int i)
{
    size_t size = next_size();
    kept[i] = malloc(size);
    memset(kept[i], 0, size);
}

void keep_array(void)
{
    kept_array = calloc(50, sizeof(void *));
    for (int i = 0; i < 50; i++) {
        size_t size = next_size();
        kept_array[i] = malloc(size);
        memset(kept_array[i], 0, size);
    }
}

void churn(void)
{
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(next_size());
        memset(p, 0, 16);
        free(p);
    }
}

/* Zero the stack below main's frame: dead frames may still hold lost addresses, which a
 * conservative scan (ours, LeakSanitizer's) rightly counts as references (reach.c). */
void __attribute__((noinline)) scrub_stack(void)
{
    volatile char dead[64 << 10];
    memset((char *)dead, 0, sizeof dead);
}

int main(void)
{
    for (int i = 0; i < 300; i++)
        direct_leak();
    for (int i = 0; i < 20; i++)
        leak_list();
    for (int i = 0; i < 100; i++)
        keep_global(i);
    keep_array();
    churn();
    slot = NULL;
    printf("lost: done\n");
    scrub_stack();
    return 0;
}
