/*
 * sampler.c - when to sample, and recording a sample (see sampler.h).
 *
 * Mode: before the profiler's init (allocations made by other libraries' constructors) the slow
 * path passes everything through and leaves the countdown at 0, so the first allocation after
 * init starts the thread. Once off (disabled, fault, exit), threads park their countdown at
 * HS_COUNTDOWN_PARKED and never come back here.
 *
 * Sampling: a thread's countdown is drawn from Exp(mean = rate) with xoroshiro128+ seeded per
 * thread (HEAPSAMPLER_SEED mixed with the thread's start order, or getrandom). When an
 * allocation would take it to <= 0 (its size is at least the countdown, compared unsigned so
 * that a request of 2^63 bytes or more cannot wrap it around) that allocation is sampled and a
 * fresh countdown is drawn; the overshoot is discarded, which the memorylessness of the
 * exponential makes exact: P(sampled) = 1 - exp(-size/rate) for every allocation. Exact mode
 * (rate 1) draws 0: every allocation.
 *
 * Recording: unwind with no lock held, intern the stack, take the thread's label set (with its
 * name when HEAPSAMPLER_LABELS=thread: labels.h), intern the (stack, size, labels) site, insert
 * the live entry, then count the allocation on the site. Any failure drops the sample and
 * counts why; a table that fills up is reported once. The labels are read from the thread's
 * state here, on the slow path: the fast path never looks at them.
 *
 * In-use estimate: recording a sample adds the bytes it stands for (s/p) to a process-wide
 * counter and freeing it takes them away, so the counter tracks the estimated in-use bytes
 * at the cost of one atomic add per sample or sampled free. With HEAPSAMPLER_INUSE_GROWTH the
 * recording thread calls `grew` (a profile is due) when the counter passes the level of the last
 * such call by the configured step (a high-water mark, moved by compare-and-swap so that one
 * step gives one call however many threads cross it). The memory watch sets a mark of its own
 * (hs_sampler_set_memory_mark): the first recording thread to take the estimate to it calls
 * `memory`, once per mark (the mark is swapped for "none" by compare-and-swap), so that a fast
 * leak is looked at as soon as it may have reached a threshold rather than at the next poll.
 *
 * Every slow path runs under the reentrancy guard and preserves errno. A slow path entered
 * while the guard is already held (a signal handler interrupting the profiler) does nothing.
 *
 * The allocation slow path (a thread's first allocation, or a sample) also calls `nudge`, with
 * which the profiler starts the writer thread when first needed (writer_thread.h). The sampler
 * knows nothing after the tables: the profiler wires both callbacks at init, before sampling
 * starts; they are read with relaxed loads (a slow path before init finds them NULL). They are
 * called only from slow paths: the hooks' fast paths never reach this file.
 */
#include "sampler.h"

#include <errno.h>
#include <math.h>

#include "estimate.h"
#include "labels.h"
#include "log.h"
#include "os.h"
#include "stack_table.h"
#include "unwind.h"

enum { MODE_WAITING = 0, MODE_ACTIVE = 1, MODE_OFF = 2 };

static struct {
    uint64_t rate;
    uint64_t seed;
    uint32_t depth;
    int mode;
} S = {.rate = 524288, .depth = 64};

static uint32_t thread_seq;
static hs_sampler_stats_t stats; /* own_samples and last_sample_ns too: see record() */

/* Estimated in-use bytes (per-allocation weights, added when a sample is recorded and taken
 * away when it is freed), and the level of the last growth profile (HEAPSAMPLER_INUSE_GROWTH). */
static int64_t inuse_estimate;
static int64_t growth_mark;
static uint64_t growth_step;
static int64_t memory_mark = INT64_MAX; /* the memory watch's: call cb_memory at this level */
static int warned_full_stack, warned_full_site, warned_full_live, warned_nomem;
static void (*cb_nudge)(void);
static void (*cb_grew)(void);
static void (*cb_memory)(void);

void hs_sampler_configure(uint64_t rate, uint64_t seed, uint32_t stack_depth)
{
    S.rate = rate ? rate : 1;
    S.seed = seed;
    S.depth = stack_depth ? stack_depth : 1;
}

void hs_sampler_set_callbacks(const hs_sampler_callbacks_t *cb)
{
    __atomic_store_n(&cb_nudge, cb->nudge, __ATOMIC_RELAXED);
    __atomic_store_n(&cb_grew, cb->grew, __ATOMIC_RELAXED);
    __atomic_store_n(&cb_memory, cb->memory, __ATOMIC_RELAXED);
}

/* Call a callback if it is set. */
static void hs_sampler_call(void (**cb)(void))
{
    void (*fn)(void) = __atomic_load_n(cb, __ATOMIC_RELAXED);
    if (fn)
        fn();
}

void hs_sampler_set_active(int active)
{
    __atomic_store_n(&S.mode, active ? MODE_ACTIVE : MODE_OFF, __ATOMIC_RELEASE);
}

uint64_t hs_sampler_rate(void)
{
    return S.rate;
}

void hs_sampler_set_growth_step(uint64_t bytes)
{
    growth_step = bytes;
    __atomic_store_n(&growth_mark, __atomic_load_n(&inuse_estimate, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
}

void hs_sampler_set_memory_mark(int64_t level)
{
    __atomic_store_n(&memory_mark, level, __ATOMIC_RELAXED);
}

int64_t hs_sampler_inuse_estimate(void)
{
    return __atomic_load_n(&inuse_estimate, __ATOMIC_RELAXED);
}

/* The bytes one sample of this size stands for (s/p; s in exact mode). */
static int64_t sample_weight(uint64_t size)
{
    double objects, bytes;
    hs_estimate_row(S.rate, size, 1, &objects, &bytes);
    return llround(bytes);
}

/* A sample was recorded on site_id: count it, and see whether in-use memory reached the next
 * step of HEAPSAMPLER_INUSE_GROWTH (a high-water mark: only new peaks move it). */
static void site_gained(uint32_t site_id, uint64_t size)
{
    hs_site_note_alloc(site_id);
    int64_t now = __atomic_add_fetch(&inuse_estimate, sample_weight(size), __ATOMIC_RELAXED);
    int64_t mmark = __atomic_load_n(&memory_mark, __ATOMIC_RELAXED);
    if (HS_UNLIKELY(now >= mmark) &&
        __atomic_compare_exchange_n(&memory_mark, &mmark, INT64_MAX, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        hs_sampler_call(&cb_memory);
    if (!growth_step)
        return;
    int64_t mark = __atomic_load_n(&growth_mark, __ATOMIC_RELAXED);
    if (now - mark >= (int64_t)growth_step &&
        __atomic_compare_exchange_n(&growth_mark, &mark, now, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        hs_sampler_call(&cb_grew);
}

/* A sampled allocation of site_id is gone (freed, or its free was missed and the address
 * reused). */
static void site_lost(uint32_t site_id)
{
    hs_site_note_free(site_id);
    hs_site_key_t key;
    if (hs_site_key(site_id, &key))
        __atomic_sub_fetch(&inuse_estimate, sample_weight(key.size), __ATOMIC_RELAXED);
}

/* ---- random numbers ----------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void hs_rng_seed(uint64_t rng[2], uint64_t seed)
{
    uint64_t x = seed;
    rng[0] = splitmix64(&x);
    rng[1] = splitmix64(&x);
    if ((rng[0] | rng[1]) == 0)
        rng[1] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t hs_rng_next(uint64_t rng[2])
{
    uint64_t s0 = rng[0], s1 = rng[1];
    uint64_t r = s0 + s1;
    s1 ^= s0;
    rng[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
    rng[1] = rotl(s1, 37);
    return r;
}

int64_t hs_sampler_next_countdown(hs_thread_t *t, uint64_t rate)
{
    if (rate <= 1)
        return 0;
    /* u uniform in (0, 1] from the top 53 bits; -log(u) is Exp(1). */
    double u = (double)((hs_rng_next(t->rng) >> 11) + 1) * 0x1.0p-53;
    double d = -log(u) * (double)rate;
    if (d > 9.0e18)
        d = 9.0e18;
    return (int64_t)d + 1;
}

/* ---- per-thread start --------------------------------------------------------------------- */

/* Returns 1 if the thread now samples (with a fresh countdown), 0 if it passes through. */
static int thread_start(hs_thread_t *t)
{
    int mode = __atomic_load_n(&S.mode, __ATOMIC_ACQUIRE);
    if (mode == MODE_WAITING) {
        t->countdown = 0;
        return 0;
    }
    if (mode == MODE_OFF) {
        t->state = HS_THREAD_OFF;
        t->countdown = HS_COUNTDOWN_PARKED;
        return 0;
    }
    uint64_t idx = __atomic_fetch_add(&thread_seq, 1, __ATOMIC_RELAXED);
    uint64_t seed;
    if (S.seed) {
        uint64_t x = S.seed ^ (idx * 0xD1B54A32D192ED03ull);
        seed = splitmix64(&x);
    } else {
        seed = hs_os_random_u64();
    }
    hs_rng_seed(t->rng, seed);
    t->state = HS_THREAD_ACTIVE;
    t->countdown = hs_sampler_next_countdown(t, S.rate);
    __atomic_add_fetch(&stats.threads, 1, __ATOMIC_RELAXED);
    return 1;
}

/* ---- recording ---------------------------------------------------------------------------- */

static void count_drop(hs_err_t err, int *warned, const char *table, const char *var)
{
    if (err == HS_ERR_FULL) {
        __atomic_add_fetch(&stats.dropped_full, 1, __ATOMIC_RELAXED);
        hs_warn_once(warned,
                     "the %s table is full (HEAPSAMPLER_%s); further samples that need room "
                     "are dropped and counted",
                     table, var);
    } else {
        __atomic_add_fetch(&stats.dropped_nomem, 1, __ATOMIC_RELAXED);
        hs_warn_once(&warned_nomem,
                     "out of memory for the %s table; samples are dropped and "
                     "counted",
                     table);
    }
}

/* The caller's stack and the sample's labels as a site (HS_LIVE_NO_SITE: dropped, counted). */
/* Inlined: each frame between the allocation and the unwinder costs every sample a step of the
 * unwind (about 500 instructions with libunwind). */
HS_INLINE uint32_t record_site(size_t size, uint32_t labels)
{
    uintptr_t frames[HS_UNWIND_BUF];
    uint32_t n = hs_unwind_capture(frames, S.depth);
    if (n == 0) {
        __atomic_add_fetch(&stats.dropped_unwind, 1, __ATOMIC_RELAXED);
        return HS_LIVE_NO_SITE;
    }
    uint32_t stack_id, site_id;
    hs_err_t err = hs_stack_intern(frames, n, &stack_id);
    if (err != HS_OK) {
        count_drop(err, &warned_full_stack, "stack", "MAX_STACKS");
        return HS_LIVE_NO_SITE;
    }
    err = hs_site_intern(stack_id, size, labels, &site_id);
    if (err != HS_OK) {
        count_drop(err, &warned_full_site, "site", "MAX_SITES");
        return HS_LIVE_NO_SITE;
    }
    return site_id;
}

static void record(void *p, size_t size, uint32_t thread_labels)
{
    uint32_t site_id = record_site(size, hs_labels_sample(thread_labels)), replaced;
    if (site_id == HS_LIVE_NO_SITE)
        return;
    hs_err_t err = hs_live_insert(p, site_id, &replaced);
    if (err != HS_OK) {
        count_drop(err, &warned_full_live, "live allocation", "MAX_LIVE");
        return;
    }
    /* The address was still recorded as live: its free was missed (see live_table.h). */
    if (replaced != HS_LIVE_NO_SITE)
        site_lost(replaced);
    site_gained(site_id, size);
    __atomic_add_fetch(&stats.samples, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&stats.own_samples, 1, __ATOMIC_RELAXED);
    /* When the process last grew its sampled heap: a process whose profiles are few can still
     * be judged idle since then (leak_analysis.h). The coarse clock (a tick's resolution is
     * plenty for that) costs a load where the precise one would cost ~1% of a sample. */
    __atomic_store_n(&stats.last_sample_ns, hs_os_wall_coarse_ns(), __ATOMIC_RELAXED);
}

/* The countdown came due on size bytes: 1 if this one is to be recorded (a new thread starts
 * first, and its fresh countdown decides); 0 if not (the thread is new, waiting or off). */
static int slow_due(hs_thread_t *t, size_t size)
{
    if (HS_UNLIKELY(t->state != HS_THREAD_ACTIVE)) {
        if (!thread_start(t))
            return 0;
        /* The fresh countdown decides, as hs_sampler_charge would (unsigned: see there). */
        if (size < (uint64_t)t->countdown) {
            t->countdown -= (int64_t)size;
            return 0;
        }
    }
    if (HS_UNLIKELY(__atomic_load_n(&S.mode, __ATOMIC_RELAXED) != MODE_ACTIVE)) {
        t->state = HS_THREAD_OFF;
        t->countdown = HS_COUNTDOWN_PARKED;
        return 0;
    }
    return 1;
}

void hs_sampler_alloc_slow(void *p, size_t size)
{
    hs_thread_t *t = hs_thread_get();
    if (t->guard)
        return;
    int saved = errno;
    if (slow_due(t, size)) {
        hs_guard_enter(t);
        if (p)
            record(p, size, t->labels);
        hs_guard_set_countdown(t, hs_sampler_next_countdown(t, S.rate));
        hs_guard_exit(t);
    }
    hs_sampler_call(&cb_nudge);
    errno = saved;
}

/* The label set of a mapping sampled on a thread whose set is thread_set. */
static uint32_t map_labels(uint32_t thread_set)
{
    uint32_t id;
    if (hs_labels_with(hs_labels_sample(thread_set), "allocator", "mmap", HS_LABELS_MAX_PAIRS,
                       &id) != HS_OK)
        id = hs_labels_sample(thread_set);
    return id;
}

uint32_t hs_sampler_map_slow(size_t size)
{
    hs_thread_t *t = hs_thread_get();
    if (t->guard)
        return HS_LIVE_NO_SITE;
    int saved = errno;
    uint32_t site_id = HS_LIVE_NO_SITE;
    if (slow_due(t, size)) {
        hs_guard_enter(t);
        site_id = record_site(size, map_labels(t->labels));
        if (site_id != HS_LIVE_NO_SITE) {
            site_gained(site_id, size);
            __atomic_add_fetch(&stats.samples, 1, __ATOMIC_RELAXED);
        }
        hs_guard_set_countdown(t, hs_sampler_next_countdown(t, S.rate));
        hs_guard_exit(t);
    }
    hs_sampler_call(&cb_nudge);
    errno = saved;
    return site_id;
}

uint32_t hs_sampler_map_resize(uint32_t site_id, uint64_t old_size, uint64_t new_size)
{
    hs_thread_t *t = hs_thread_get();
    hs_site_key_t key;
    if (new_size == 0 || !hs_site_key(site_id, &key))
        return HS_LIVE_NO_SITE;
    hs_guard_enter(t);
    uint32_t out = HS_LIVE_NO_SITE;
    double keep = 1.0;
    if (new_size < old_size && S.rate > 1)
        keep = hs_estimate_prob(new_size, S.rate) / hs_estimate_prob(old_size, S.rate);
    /* A thread that never sampled has no generator yet: seed it as a sample would. */
    if (keep < 1.0 && t->state != HS_THREAD_ACTIVE)
        hs_rng_seed(t->rng, S.seed ? S.seed ^ new_size : hs_os_random_u64());
    double u = keep < 1.0 ? (double)(hs_rng_next(t->rng) >> 11) * 0x1.0p-53 : 0.0;
    if (u < keep && hs_site_intern(key.stack_id, new_size, key.labels, &out) == HS_OK)
        site_gained(out, new_size);
    else
        out = HS_LIVE_NO_SITE;
    hs_guard_exit(t);
    return out;
}

void hs_sampler_map_lost(uint32_t site_id)
{
    site_lost(site_id);
    __atomic_add_fetch(&stats.frees, 1, __ATOMIC_RELAXED);
}

void hs_sampler_free_slow(void *p)
{
    hs_thread_t *t = hs_thread_get();
    if (t->guard)
        return;
    int saved = errno;
    uint32_t site;
    hs_guard_enter(t);
    if (hs_live_remove(p, &site) == HS_OK) {
        site_lost(site);
        __atomic_add_fetch(&stats.frees, 1, __ATOMIC_RELAXED);
    }
    hs_guard_exit(t);
    errno = saved;
}

uint32_t hs_sampler_realloc_forget(void *p)
{
    hs_thread_t *t = hs_thread_get();
    if (t->guard)
        return HS_LIVE_NO_SITE;
    int saved = errno;
    uint32_t site;
    hs_guard_enter(t);
    if (hs_live_remove(p, &site) != HS_OK)
        site = HS_LIVE_NO_SITE;
    hs_guard_exit(t);
    errno = saved;
    return site;
}

void hs_sampler_realloc_done(void *p, uint32_t site_id, int freed)
{
    hs_thread_t *t = hs_thread_get();
    int saved = errno;
    uint32_t replaced;
    hs_guard_enter(t);
    /* A failed realloc leaves p live: put it back (if that fails, account it as freed so that
     * the site's counters stay consistent). */
    if (freed || hs_live_insert(p, site_id, &replaced) != HS_OK) {
        site_lost(site_id);
        __atomic_add_fetch(&stats.frees, 1, __ATOMIC_RELAXED);
    }
    hs_guard_exit(t);
    errno = saved;
}

void hs_sampler_get_stats(hs_sampler_stats_t *out)
{
    out->samples = __atomic_load_n(&stats.samples, __ATOMIC_RELAXED);
    out->dropped_full = __atomic_load_n(&stats.dropped_full, __ATOMIC_RELAXED);
    out->dropped_nomem = __atomic_load_n(&stats.dropped_nomem, __ATOMIC_RELAXED);
    out->dropped_unwind = __atomic_load_n(&stats.dropped_unwind, __ATOMIC_RELAXED);
    out->frees = __atomic_load_n(&stats.frees, __ATOMIC_RELAXED);
    out->threads = __atomic_load_n(&stats.threads, __ATOMIC_RELAXED);
    out->own_samples = __atomic_load_n(&stats.own_samples, __ATOMIC_RELAXED);
    out->last_sample_ns = __atomic_load_n(&stats.last_sample_ns, __ATOMIC_RELAXED);
}

void hs_sampler_postfork_child(void)
{
    /* The surviving thread starts over (fresh seed) at its next allocation. */
    hs_thread_t *t = hs_thread_get();
    t->state = HS_THREAD_NEW;
    hs_guard_set_countdown(t, 0);
    stats.own_samples = 0;
    stats.last_sample_ns = 0;
}
