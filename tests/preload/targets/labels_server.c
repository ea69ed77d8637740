/*
 * labels_server.c - a server-like target for allocation labels: requests of three endpoints,
 * accepted by one thread and handled by a pool of workers. Every endpoint allocates through
 * the same function, copy_body (the shared parser of a real server): its call stack does not
 * tell the endpoints apart, the endpoint label does.
 *
 *   /orders   record_order keeps a 2 KiB copy of every order forever: the leak
 *   /catalog  cache_catalog inserts a 16 KiB copy into a cache of 512 entries (8 MiB), evicting
 *             the oldest, which another worker inserted, most of the time: a bounded cache that
 *             fills in about half a second
 *   /search   parse_search makes 4 x 32 KiB copies and frees them: garbage
 *
 * The acceptor labels each request with its tenant (t0, t1, t2), allocates the request (freed by
 * the worker that handles it), saves its labels into the request and clears them; the worker
 * restores them, adds the endpoint, handles the request and clears its labels. So blocks are
 * labelled in one thread and freed in another, and a label set crosses threads with
 * heapsampler_label_save/restore. Request i has endpoint i % 3 and tenant (i / 3) % 3.
 *
 *   labels_server serve SECONDS WORKERS  about 3000 requests a second for SECONDS
 *   labels_server exact REQUESTS WORKERS REQUESTS requests as fast as they go, then prints what
 *                                        is still live per endpoint (for exact mode, RATE=1)
 *   labels_server api                    the API's limits and errors, one line each; labels in
 *                                        a forked child and from a signal handler
 *   labels_server many N                 N distinct endpoints, each keeping one 4 KiB block
 *                                        (more label sets than the profiler keeps)
 *
 * Built with HEAPSAMPLER_WEAK: without the profiler every label call is skipped.
 */
#define HEAPSAMPLER_WEAK
#include <errno.h>
#include <heapsampler.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE     __attribute__((noinline))
#define QUEUE        256
#define CACHE_SLOTS  512
#define ORDER_BYTES  2048
#define ENTRY_BYTES  16384
#define SEARCH_BYTES 32768

static const char *const endpoints[3] = {"/orders", "/catalog", "/search"};
static const char *const tenants[3] = {"t0", "t1", "t2"};

typedef struct request {
    int endpoint;
    heapsampler_labels_t labels;
    char body[200];
} request_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t more, room;
    request_t *ring[QUEUE];
    size_t head, n;
    int done;
} Q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};

static pthread_mutex_t data_mu = PTHREAD_MUTEX_INITIALIZER;
static void **orders;
static size_t norders, orders_cap;
static void *cache[CACHE_SLOTS];
static size_t cache_next, cache_used;
static long handled[3];

static void label(const char *key, const char *value)
{
    if (heapsampler_label_set && heapsampler_label_set(key, value) != 0) {
        perror("labels_server: heapsampler_label_set");
        exit(3);
    }
}

/* malloc(n), checked after the call: the caller of malloc is the allocating function. */
#define xmalloc(n) checked(malloc(n), n)

static void *checked(void *p, size_t n)
{
    if (!p)
        exit(4);
    memset(p, 0x5a, n < 256 ? n : 256);
    return p;
}

/* ---- handlers ----------------------------------------------------------------------------- */

static NOINLINE char *copy_body(const request_t *r, size_t size)
{
    char *copy = xmalloc(size);
    memcpy(copy, r->body, sizeof r->body);
    return copy;
}

static NOINLINE void record_order(const request_t *r)
{
    char *rec = copy_body(r, ORDER_BYTES);
    pthread_mutex_lock(&data_mu);
    if (norders == orders_cap)
        exit(4);
    orders[norders++] = rec;
    pthread_mutex_unlock(&data_mu);
}

static NOINLINE void cache_catalog(const request_t *r)
{
    char *entry = copy_body(r, ENTRY_BYTES);
    pthread_mutex_lock(&data_mu);
    void *old = cache[cache_next];
    cache[cache_next] = entry;
    cache_next = (cache_next + 1) % CACHE_SLOTS;
    cache_used += cache_used < CACHE_SLOTS;
    pthread_mutex_unlock(&data_mu);
    free(old); /* inserted by another request, usually in another thread */
}

static NOINLINE void parse_search(const request_t *r)
{
    char *tmp[4];
    for (int i = 0; i < 4; i++)
        tmp[i] = copy_body(r, SEARCH_BYTES);
    for (int i = 0; i < 4; i++)
        free(tmp[i]);
}

static void handle(request_t *r)
{
    /* The acceptor's labels (the tenant), then this request's endpoint. */
    if (heapsampler_label_restore && heapsampler_label_restore(r->labels) != 0) {
        perror("labels_server: heapsampler_label_restore");
        exit(3);
    }
    label("endpoint", endpoints[r->endpoint]);
    if (r->endpoint == 0)
        record_order(r);
    else if (r->endpoint == 1)
        cache_catalog(r);
    else
        parse_search(r);
    if (heapsampler_label_clear)
        heapsampler_label_clear();
    pthread_mutex_lock(&data_mu);
    handled[r->endpoint]++;
    pthread_mutex_unlock(&data_mu);
    free(r); /* allocated by the acceptor */
}

/* ---- the pool ----------------------------------------------------------------------------- */

static void *worker(void *arg)
{
    char name[16];
    snprintf(name, sizeof name, "worker-%d", (int)(long)arg);
    pthread_setname_np(pthread_self(), name);
    for (;;) {
        pthread_mutex_lock(&Q.mu);
        while (Q.n == 0 && !Q.done)
            pthread_cond_wait(&Q.more, &Q.mu);
        if (Q.n == 0) {
            pthread_mutex_unlock(&Q.mu);
            return NULL;
        }
        request_t *r = Q.ring[Q.head];
        Q.head = (Q.head + 1) % QUEUE;
        Q.n--;
        pthread_cond_signal(&Q.room);
        pthread_mutex_unlock(&Q.mu);
        handle(r);
    }
}

static void accept_request(long i)
{
    label("tenant", tenants[(i / 3) % 3]);
    request_t *r = xmalloc(sizeof *r);
    r->endpoint = (int)(i % 3);
    snprintf(r->body, sizeof r->body, "request %ld", i);
    r->labels = heapsampler_label_save ? heapsampler_label_save() : 0;
    if (heapsampler_label_clear)
        heapsampler_label_clear();
    pthread_mutex_lock(&Q.mu);
    while (Q.n == QUEUE)
        pthread_cond_wait(&Q.room, &Q.mu);
    Q.ring[(Q.head + Q.n++) % QUEUE] = r;
    pthread_cond_signal(&Q.more);
    pthread_mutex_unlock(&Q.mu);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Accept requests (limit > 0: that many; else for `seconds`, paced), then stop the pool. */
static void run(long limit, double seconds, int nworkers)
{
    pthread_t t[64];
    pthread_setname_np(pthread_self(), "acceptor");
    for (int i = 0; i < nworkers; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(long)i) != 0)
            exit(5);
    double start = now();
    for (long i = 0; limit ? i < limit : now() - start < seconds; i++) {
        accept_request(i);
        if (!limit && i % 3 == 2) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_lock(&Q.mu);
    Q.done = 1;
    pthread_cond_broadcast(&Q.more);
    pthread_mutex_unlock(&Q.mu);
    for (int i = 0; i < nworkers; i++)
        pthread_join(t[i], NULL);
}

/* ---- the API's contract ------------------------------------------------------------------- */

static void expect(const char *what, int rc, int want_errno)
{
    int e = errno;
    printf("%s: %s\n", what,
           rc == 0                         ? "ok"
           : want_errno && e == want_errno ? "refused as expected"
                                           : strerror(e));
}

static void on_alarm(int sig)
{
    (void)sig;
    heapsampler_labels_t saved = heapsampler_label_save();
    heapsampler_label_clear();
    heapsampler_label_restore(saved);
}

static NOINLINE void child_allocation(void)
{
    void *volatile p = xmalloc(ORDER_BYTES);
    (void)p; /* still live at the child's exit */
}

static int api(void)
{
    if (!heapsampler_label_set) {
        printf("no profiler\n");
        return 0;
    }
    char key[80], value[300];
    memset(key, 'k', sizeof key);
    key[HEAPSAMPLER_LABEL_KEY_MAX] = '\0';
    memset(value, 'v', sizeof value);
    value[HEAPSAMPLER_LABEL_VALUE_MAX] = '\0';
    expect("longest key and value", heapsampler_label_set(key, value), 0);
    key[HEAPSAMPLER_LABEL_KEY_MAX] = 'k';
    key[HEAPSAMPLER_LABEL_KEY_MAX + 1] = '\0';
    expect("key too long", heapsampler_label_set(key, "v"), ENAMETOOLONG);
    value[HEAPSAMPLER_LABEL_VALUE_MAX] = 'v';
    value[HEAPSAMPLER_LABEL_VALUE_MAX + 1] = '\0';
    expect("value too long", heapsampler_label_set("k", value), ENAMETOOLONG);
    expect("bad key", heapsampler_label_set("end-point", "v"), EINVAL);
    expect("reserved key", heapsampler_label_set("bytes", "v"), EINVAL);
    expect("null key", heapsampler_label_set(NULL, "v"), EINVAL);
    expect("empty value", heapsampler_label_set("k", ""), EINVAL);
    expect("control character", heapsampler_label_set("k", "a\nb"), EINVAL);
    expect("invalid UTF-8", heapsampler_label_set("k", "\xc3\x28"), EINVAL);
    heapsampler_label_clear();
    int ok = 0;
    for (int i = 0; i < HEAPSAMPLER_LABELS_PER_THREAD; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ok += heapsampler_label_set(key, "v") == 0;
    }
    printf("%d keys: %s\n", HEAPSAMPLER_LABELS_PER_THREAD,
           ok == HEAPSAMPLER_LABELS_PER_THREAD ? "ok" : "refused");
    expect("one key too many", heapsampler_label_set("k_extra", "v"), E2BIG);
    expect("an existing key changes", heapsampler_label_set("k0", "w"), 0);
    expect("removing a key", heapsampler_label_set("k1", NULL), 0);
    expect("then one more fits", heapsampler_label_set("k_extra", "v"), 0);
    expect("removing a key it does not have", heapsampler_label_set("nothing", NULL), 0);
    heapsampler_labels_t saved = heapsampler_label_save();
    heapsampler_label_clear();
    printf("cleared: %s\n", heapsampler_label_save() == 0 ? "empty" : "not empty");
    expect("restore", heapsampler_label_restore(saved), 0);
    printf("restored: %s\n", heapsampler_label_save() == saved ? "same set" : "another set");
    expect("restore garbage", heapsampler_label_restore(0xdeadbeefcafeull), EINVAL);
    expect("restore empty", heapsampler_label_restore(0), 0);

    /* Signal handlers may save, clear and restore. */
    heapsampler_label_restore(saved);
    signal(SIGALRM, on_alarm);
    for (int i = 0; i < 1000; i++)
        raise(SIGALRM);
    printf("after signals: %s\n", heapsampler_label_save() == saved ? "same set" : "another set");

    /* A forked child keeps its parent's sets and labels its own allocations. */
    heapsampler_label_clear();
    label("endpoint", "/child");
    heapsampler_labels_t child = heapsampler_label_save();
    heapsampler_label_clear();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = heapsampler_label_restore(child);
        child_allocation();
        printf("child restore: %s\n", rc == 0 ? "ok" : strerror(errno));
        fflush(stdout);
        exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

/* N endpoints /e0 ... /eN-1, one kept block each. */
static NOINLINE int many(long n)
{
    char value[32];
    for (long i = 0; i < n; i++) {
        snprintf(value, sizeof value, "/e%ld", i);
        label("endpoint", value);
        void *volatile keep = xmalloc(4096);
        (void)keep;
    }
    if (heapsampler_label_clear)
        heapsampler_label_clear();
    printf("%ld endpoints\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "api") == 0)
        return api();
    if (argc == 3 && strcmp(argv[1], "many") == 0)
        return many(atol(argv[2]));
    if (argc < 4) {
        fprintf(stderr, "usage: labels_server serve SECONDS WORKERS | exact REQUESTS WORKERS | "
                        "api\n");
        return 2;
    }
    int nworkers = atoi(argv[3]);
    if (nworkers < 1 || nworkers > 64)
        return 2;
    /* Room for every order, allocated before any label is set: the records alone are /orders. */
    orders_cap = 1u << 20;
    orders = malloc(orders_cap * sizeof *orders);
    if (!orders)
        return 4;
    if (strcmp(argv[1], "serve") == 0)
        run(0, atof(argv[2]), nworkers);
    else if (strcmp(argv[1], "exact") == 0)
        run(atol(argv[2]), 0, nworkers);
    else
        return 2;
    printf("handled %ld %ld %ld\n", handled[0], handled[1], handled[2]);
    printf("live /orders %zu x %d\n", norders, ORDER_BYTES);
    printf("live /catalog %zu x %d\n", cache_used, ENTRY_BYTES);
    return 0;
}
