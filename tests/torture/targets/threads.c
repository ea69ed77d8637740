/*
 * threads.c - many threads allocating and freeing, across threads and while threads come and go.
 *
 *   threads cross PRODUCERS CONSUMERS ITEMS
 *     producers allocate stamped blocks (cross_alloc_site) and pass them through a bounded queue
 *     to consumers, which verify the stamp, grow every fourth block with realloc
 *     (cross_realloc_site) and free it: every block is freed by another thread than the one that
 *     allocated it. Prints the totals each site must show in an exact-mode profile.
 *   threads churn ROUNDS WIDTH
 *     each round starts WIDTH short-lived threads (half detached) that allocate 16 blocks
 *     (churn_site), free 15, hand one to the main thread, which frees it after the thread is
 *     gone, and leak one 24-byte block each (churn_leak_site). A background thread churns
 *     through sizes all along (background_site).
 *   threads deadlock
 *     two threads take two mutexes in opposite orders and wait for each other for ever
 *     (deadlock_a, deadlock_b): the watchdog's own test.
 *
 * Output depends only on the arguments, never on the profiler or on scheduling.
 */
#include <pthread.h>

#include "torture.h"

/* ---- cross ---------------------------------------------------------------------------------- */

#define QCAP 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    void *item[QCAP];
    size_t size[QCAP];
    uint64_t tag[QCAP];
    unsigned head, count, producers_left;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};

static long items_per_producer;
static uint64_t realloc_items, realloc_bytes; /* under q.mu */

__attribute__((noinline)) void *cross_alloc_site(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) void *cross_realloc_site(void *p, size_t n)
{
    return realloc(p, n);
}

static size_t item_size(uint64_t *rng)
{
    uint64_t r = t_rand(rng);
    return (r & 63) == 0 ? 65536 + (r >> 48) : 1 + (r >> 40) % 2048;
}

static void *producer(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (long i = 0; i < items_per_producer; i++) {
        size_t n = item_size(&rng);
        uint64_t tag = t_rand(&rng);
        void *p = cross_alloc_site(n);
        CHECK(p);
        t_fill(p, n, tag);
        pthread_mutex_lock(&q.mu);
        while (q.count == QCAP)
            pthread_cond_wait(&q.not_full, &q.mu);
        unsigned slot = (q.head + q.count++) % QCAP;
        q.item[slot] = p;
        q.size[slot] = n;
        q.tag[slot] = tag;
        pthread_cond_signal(&q.not_empty);
        pthread_mutex_unlock(&q.mu);
    }
    pthread_mutex_lock(&q.mu);
    q.producers_left--;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&q.mu);
        while (q.count == 0 && q.producers_left)
            pthread_cond_wait(&q.not_empty, &q.mu);
        if (q.count == 0) {
            pthread_mutex_unlock(&q.mu);
            return NULL;
        }
        void *p = q.item[q.head];
        size_t n = q.size[q.head];
        uint64_t tag = q.tag[q.head];
        q.head = (q.head + 1) % QCAP;
        q.count--;
        pthread_cond_signal(&q.not_full);
        int grow = (tag & 3) == 0;
        if (grow) {
            realloc_items++;
            realloc_bytes += 2 * n;
        }
        pthread_mutex_unlock(&q.mu);
        t_verify(p, n, tag);
        if (grow) {
            p = cross_realloc_site(p, 2 * n);
            CHECK(p);
            t_verify(p, n, tag);
        }
        free(p);
    }
}

static int cross(long producers, long consumers, long items)
{
    pthread_t tid[256];
    CHECK(producers + consumers <= 256);
    items_per_producer = items;
    q.producers_left = (unsigned)producers;
    uint64_t total_bytes = 0;
    for (long i = 0; i < producers; i++) {
        uint64_t rng = (uint64_t)i + 1;
        for (long k = 0; k < items; k++) {
            total_bytes += item_size(&rng);
            (void)t_rand(&rng);
        }
    }
    for (long i = 0; i < producers; i++)
        CHECK(pthread_create(&tid[i], NULL, producer, (void *)(uintptr_t)(i + 1)) == 0);
    for (long i = 0; i < consumers; i++)
        CHECK(pthread_create(&tid[producers + i], NULL, consumer, NULL) == 0);
    for (long i = 0; i < producers + consumers; i++)
        pthread_join(tid[i], NULL);
    printf("cross_alloc_site objects=%ld bytes=%llu\n", producers * items,
           (unsigned long long)total_bytes);
    printf("cross_realloc_site objects=%llu bytes=%llu\n", (unsigned long long)realloc_items,
           (unsigned long long)realloc_bytes);
    return 0;
}

/* ---- churn ---------------------------------------------------------------------------------- */

#define CHURN_BLOCKS 16

static pthread_mutex_t churn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t churn_cv = PTHREAD_COND_INITIALIZER;
static long churn_done;
static void **handed;
static void **leaked;
static volatile int background_stop;

__attribute__((noinline)) void *churn_site(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) void *churn_leak_site(void)
{
    return malloc(24);
}

__attribute__((noinline)) void *background_site(size_t n)
{
    return malloc(n);
}

static void *churn_thread(void *arg)
{
    long slot = (long)(intptr_t)arg;
    void *b[CHURN_BLOCKS];
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        size_t n = 32 + (size_t)(i * 31);
        b[i] = churn_site(n);
        CHECK(b[i]);
        t_fill(b[i], n, (uint64_t)slot);
    }
    for (int i = 1; i < CHURN_BLOCKS; i++) {
        t_verify(b[i], 32 + (size_t)(i * 31), (uint64_t)slot);
        free(b[i]);
    }
    handed[slot] = b[0];
    leaked[slot] = churn_leak_site();
    pthread_mutex_lock(&churn_mu);
    churn_done++;
    pthread_cond_signal(&churn_cv);
    pthread_mutex_unlock(&churn_mu);
    return NULL;
}

static void *background(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *keep[32] = {0};
    while (!__atomic_load_n(&background_stop, __ATOMIC_RELAXED)) {
        unsigned i = (unsigned)(t_rand(&rng) & 31);
        free(keep[i]);
        keep[i] = background_site(1 + t_rand(&rng) % 4096);
        CHECK(keep[i]);
    }
    for (int i = 0; i < 32; i++)
        free(keep[i]);
    return NULL;
}

static int churn(long rounds, long width)
{
    handed = calloc((size_t)(rounds * width), sizeof *handed);
    leaked = calloc((size_t)(rounds * width), sizeof *leaked);
    CHECK(handed && leaked);
    pthread_t bg;
    CHECK(pthread_create(&bg, NULL, background, (void *)7) == 0);
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&detached, 32 * 1024); /* small, as some servers use */
    pthread_t tid[64];
    CHECK(width <= 64);
    for (long r = 0; r < rounds; r++) {
        churn_done = 0;
        for (long i = 0; i < width; i++) {
            long slot = r * width + i;
            CHECK(pthread_create(&tid[i], (i & 1) ? &detached : NULL, churn_thread,
                                 (void *)(intptr_t)slot) == 0);
        }
        for (long i = 0; i < width; i += 2)
            pthread_join(tid[i], NULL);
        pthread_mutex_lock(&churn_mu);
        while (churn_done < width)
            pthread_cond_wait(&churn_cv, &churn_mu);
        pthread_mutex_unlock(&churn_mu);
        /* The allocating threads are gone (or going): free what they handed over. */
        for (long i = 0; i < width; i++) {
            long slot = r * width + i;
            t_verify(handed[slot], 32, (uint64_t)slot);
            free(handed[slot]);
        }
    }
    __atomic_store_n(&background_stop, 1, __ATOMIC_RELAXED);
    pthread_join(bg, NULL);
    uint64_t bytes = 0;
    for (int i = 0; i < CHURN_BLOCKS; i++)
        bytes += 32 + (uint64_t)(i * 31);
    printf("churn_site objects=%ld bytes=%llu inuse=0\n", rounds * width * CHURN_BLOCKS,
           (unsigned long long)(bytes * (uint64_t)(rounds * width)));
    printf("churn_leak_site objects=%ld bytes=%ld inuse=%ld\n", rounds * width, rounds * width * 24,
           rounds * width);
    return 0;
}

/* ---- deadlock ------------------------------------------------------------------------------- */

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER, lock_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_locked;

__attribute__((noinline)) void *deadlock_a(void *arg)
{
    pthread_mutex_lock(&lock_a);
    pthread_barrier_wait(&both_locked);
    pthread_mutex_lock(&lock_b);
    return arg;
}

__attribute__((noinline)) void *deadlock_b(void *arg)
{
    pthread_mutex_lock(&lock_b);
    pthread_barrier_wait(&both_locked);
    pthread_mutex_lock(&lock_a);
    return arg;
}

static int deadlock(void)
{
    pthread_t a, b;
    pthread_barrier_init(&both_locked, NULL, 2);
    CHECK(pthread_create(&a, NULL, deadlock_a, NULL) == 0);
    CHECK(pthread_create(&b, NULL, deadlock_b, NULL) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "cross";
    if (strcmp(mode, "cross") == 0)
        return cross(t_arg(argc, argv, 2, 4), t_arg(argc, argv, 3, 4), t_arg(argc, argv, 4, 1000));
    if (strcmp(mode, "churn") == 0)
        return churn(t_arg(argc, argv, 2, 50), t_arg(argc, argv, 3, 16));
    if (strcmp(mode, "deadlock") == 0)
        return deadlock();
    fprintf(stderr, "usage: threads cross|churn|deadlock ...\n");
    return 2;
}
