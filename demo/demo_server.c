/*
 * demo_server.c - a small, server-like program with three memory behaviours for heapsampler
 * to tell apart. No network: it "handles" a steady stream of synthetic requests, sleeping
 * between them, so it uses little CPU.
 *
 * Each request does three things, each in its own clearly named, never-inlined function, so
 * the profile reads like the code:
 *   - parse_request:          short-lived garbage (a request buffer, tokens, a header table),
 *                             all freed before the request ends: lots of alloc_space, ~0 in use.
 *   - cache_insert:           a response cache bounded to 8 MiB; once full, the oldest entries
 *                             are evicted: in-use memory climbs for about a second, then plateaus.
 *   - record_session_history: a slow leak, one 4 KiB record per request that is never freed:
 *                             at the default 512 requests/s, in-use grows by 2 MiB/s forever.
 * After 10 s (the default) the leak holds ~20 MiB, the cache 8 MiB and the parser nothing.
 *
 * Options: --seconds N (default 10), --requests N (stop after N requests instead), --rps N
 * (requests per second, default 512; 0 = no sleeping, as fast as possible). Requests are paced
 * against absolute deadlines, so the rates hold however long each request takes. Pseudo-random
 * sizes come from a fixed seed: the sequence of allocations depends only on the request count.
 * Single-threaded. The cache and the leaked records are deliberately still allocated at exit,
 * so the final profile shows them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_nanosleep, TIMER_ABSTIME */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

#define CACHE_LIMIT    (8u << 20) /* bytes of cached responses */
#define CACHE_SLOTS    4096       /* ring of entries; more than the limit can ever hold */
#define HISTORY_RECORD 4096       /* bytes leaked per request */
#define DEFAULT_RPS    512        /* 512 * 4 KiB = 2 MiB/s of leak */

/* Keeps the compiler from proving that a buffer is never read and removing malloc + free. */
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    /* xorshift64*: fixed seed, so every run allocates the same sequence of sizes */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t random_between(size_t lo, size_t hi)
{
    return lo + (size_t)(next_random() % (hi - lo + 1));
}

/* ---- short-lived garbage ----------------------------------------------------------------- */

typedef struct request {
    uint64_t id;
    size_t ntokens;
    uint64_t digest; /* stands for the work the request did */
} request_t;

/* Reads a request into temporary buffers and frees every one of them before returning. */
static NOINLINE void parse_request(request_t *req)
{
    size_t body_len = random_between(8 << 10, 24 << 10);
    char *body = malloc(body_len);
    if (!body)
        return;
    memset(body, 'a' + (int)(req->id % 26), body_len);

    req->ntokens = random_between(16, 64);
    char **tokens = malloc(req->ntokens * sizeof *tokens);
    if (!tokens) {
        free(body);
        return;
    }
    for (size_t i = 0; i < req->ntokens; i++) {
        size_t len = random_between(16, 256);
        tokens[i] = malloc(len);
        if (tokens[i]) {
            memcpy(tokens[i], body + (i * 97) % (body_len - len), len);
            req->digest += (unsigned char)tokens[i][len / 2];
        }
    }

    size_t nheaders = random_between(8, 32);
    uint64_t *headers = calloc(nheaders, 64);
    if (headers) {
        headers[0] = req->id;
        ESCAPE(headers);
        req->digest += headers[0];
    }

    free(headers);
    for (size_t i = 0; i < req->ntokens; i++)
        free(tokens[i]);
    free(tokens);
    ESCAPE(body);
    free(body);
}

/* ---- bounded cache ----------------------------------------------------------------------- */

typedef struct cache_entry {
    char *data;
    size_t size;
} cache_entry_t;

static struct {
    cache_entry_t *ring; /* FIFO: head = oldest */
    size_t head, count;
    size_t bytes;
    uint64_t evictions;
} cache;

static NOINLINE void cache_evict_oldest(void)
{
    cache_entry_t *e = &cache.ring[cache.head];
    cache.bytes -= e->size;
    free(e->data);
    e->data = NULL;
    cache.head = (cache.head + 1) % CACHE_SLOTS;
    cache.count--;
    cache.evictions++;
}

/* Caches a rendered response; evicts the oldest entries to stay within CACHE_LIMIT. */
static NOINLINE void cache_insert(const request_t *req)
{
    size_t size = random_between(4 << 10, 28 << 10);
    while (cache.count > 0 && (cache.bytes + size > CACHE_LIMIT || cache.count == CACHE_SLOTS))
        cache_evict_oldest();
    char *data = malloc(size);
    if (!data)
        return;
    memset(data, (int)(req->digest & 0xff), size);
    cache_entry_t *e = &cache.ring[(cache.head + cache.count) % CACHE_SLOTS];
    e->data = data;
    e->size = size;
    cache.count++;
    cache.bytes += size;
}

/* ---- the leak ---------------------------------------------------------------------------- */

typedef struct history_record {
    struct history_record *next;
    uint64_t request_id;
    char detail[HISTORY_RECORD - 2 * sizeof(uint64_t)];
} history_record_t;

static history_record_t *history; /* grows by one record per request; never trimmed */
static size_t history_bytes;

/* Appends an audit record for the session. The bug: nothing ever drops old records. */
static NOINLINE void record_session_history(const request_t *req)
{
    history_record_t *r = malloc(sizeof *r);
    if (!r)
        return;
    r->request_id = req->id;
    snprintf(r->detail, sizeof r->detail, "request %llu: %zu tokens, digest %llx",
             (unsigned long long)req->id, req->ntokens, (unsigned long long)req->digest);
    r->next = history;
    history = r;
    history_bytes += sizeof *r;
}

/* ---- the server loop --------------------------------------------------------------------- */

static NOINLINE void handle_request(uint64_t id, uint64_t *digest)
{
    request_t req = {.id = id};
    parse_request(&req);
    cache_insert(&req);
    record_session_history(&req);
    *digest ^= req.digest;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
                          .tv_nsec = (long)(deadline_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static NOINLINE uint64_t serve_requests(double seconds, uint64_t max_requests, uint64_t rps,
                                        uint64_t *digest)
{
    uint64_t start = now_ns();
    uint64_t end = start + (uint64_t)(seconds * 1e9);
    uint64_t n = 0;
    while (max_requests ? n < max_requests : now_ns() < end) {
        handle_request(n, digest);
        n++;
        if (rps)
            sleep_until(start + n * 1000000000ull / rps);
    }
    return n;
}

static int parse_number(const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0) {
        fprintf(stderr, "demo_server: %s needs a non-negative number, got \"%s\"\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 10, requests = 0, rps = DEFAULT_RPS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double *target = strcmp(a, "--seconds") == 0    ? &seconds
                         : strcmp(a, "--requests") == 0 ? &requests
                         : strcmp(a, "--rps") == 0      ? &rps
                                                        : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: %s [--seconds N (10)] [--requests N] [--rps N (512; 0 = no sleep)]\n",
                   argv[0]);
            return 0;
        }
        if (!target || i + 1 >= argc) {
            fprintf(stderr, "demo_server: %s: %s\n", a,
                    target ? "missing value" : "unknown option (see --help)");
            return 2;
        }
        if (parse_number(a, argv[++i], target) != 0)
            return 2;
    }

    cache.ring = calloc(CACHE_SLOTS, sizeof *cache.ring);
    if (!cache.ring) {
        fprintf(stderr, "demo_server: out of memory\n");
        return 1;
    }
    uint64_t digest = 0;
    uint64_t t0 = now_ns();
    uint64_t n = serve_requests(seconds, (uint64_t)requests, (uint64_t)rps, &digest);
    double elapsed = (double)(now_ns() - t0) / 1e9;

    printf("demo_server: %llu requests in %.1f s; cache %.1f MiB (%llu entries, %llu evictions); "
           "session history %.1f MiB, never freed (digest %llx)\n",
           (unsigned long long)n, elapsed, cache.bytes / 1048576.0, (unsigned long long)cache.count,
           (unsigned long long)cache.evictions, history_bytes / 1048576.0,
           (unsigned long long)digest);
    return 0;
}
