/*
 * threads.c - exact counts across threads: 4 workers each keep 500 x 128 B (thread_leak_site),
 * allocate 500 x 64 B that the next worker frees (handoff_site: all freed, across threads),
 * then 20 short-lived threads each keep 10 x 32 B (short_thread_site).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define WORKERS 4
#define PER     500

static void *handoff[WORKERS][PER];
static void *kept[WORKERS][PER];
static void *short_kept[20][10];
static pthread_barrier_t barrier;

void thread_leak_site(int t)
{
    for (int i = 0; i < PER; i++)
        kept[t][i] = malloc(128);
}

void handoff_site(int t)
{
    for (int i = 0; i < PER; i++)
        handoff[t][i] = malloc(64);
}

void free_neighbour(int t)
{
    int n = (t + 1) % WORKERS;
    for (int i = 0; i < PER; i++)
        free(handoff[n][i]);
}

static void *worker(void *arg)
{
    int t = (int)(long)arg;
    thread_leak_site(t);
    handoff_site(t);
    pthread_barrier_wait(&barrier);
    free_neighbour(t);
    return NULL;
}

void short_thread_site(int k)
{
    for (int i = 0; i < 10; i++)
        short_kept[k][i] = malloc(32);
}

static void *short_worker(void *arg)
{
    short_thread_site((int)(long)arg);
    return NULL;
}

int main(void)
{
    pthread_t th[WORKERS];
    pthread_barrier_init(&barrier, NULL, WORKERS);
    for (long t = 0; t < WORKERS; t++)
        pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < WORKERS; t++)
        pthread_join(th[t], NULL);
    for (long k = 0; k < 20; k++) {
        pthread_t s;
        pthread_create(&s, NULL, short_worker, (void *)k);
        pthread_join(s, NULL);
    }
    printf("threads: done\n");
    return 0;
}
