/*
 * os.c - anonymous memory with accounting, clocks, random seeds, thread ids.
 *
 * hs_os_map is the tables' only source of memory: it never calls malloc, so the tables can grow
 * from inside a hook and while a table lock is held. Its total, with the static arrays and the
 * caches their owners declare, is the profiler's own memory as reported to users (os.h). All
 * functions are async-signal-safe, except hs_os_thread_start.
 *
 * Every mapping hs_os_map hands out is also written into a small lock-free register (a slot
 * taken by compare-and-swap on its start, freed by hs_os_unmap), so that the reachability scan
 * can leave the tables out: they hold the very addresses it looks for. A register that is full
 * only costs that: a mapping it misses may be scanned, which can make a block look referenced
 * (never unreferenced).
 */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static size_t mapped_bytes;
static size_t static_bytes;
static size_t cache_bytes;

/* The regions hs_os_map gave out: for their resident size (regions beyond HS_OS_REGIONS count
 * at their full size) and for the reachability scan, which must not read the profiler's own
 * tables (a slot is free when start is 0; the tables grow by doubling, so they are few). */
#define HS_OS_REGIONS 1024
static struct {
    uintptr_t start; /* 0: free slot */
    size_t len;
} regions[HS_OS_REGIONS];

static void os_register(void *p, size_t size)
{
    for (size_t i = 0; i < HS_OS_REGIONS; i++) {
        uintptr_t expect = 0;
        if (__atomic_load_n(&regions[i].start, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&regions[i].start, &expect, (uintptr_t)p, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            __atomic_store_n(&regions[i].len, size, __ATOMIC_RELEASE);
            return;
        }
    }
}

static void os_unregister(void *p)
{
    for (size_t i = 0; i < HS_OS_REGIONS; i++) {
        if (__atomic_load_n(&regions[i].start, __ATOMIC_RELAXED) == (uintptr_t)p) {
            __atomic_store_n(&regions[i].len, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&regions[i].start, 0, __ATOMIC_RELEASE);
            return;
        }
    }
}

size_t hs_os_regions(hs_os_region_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < HS_OS_REGIONS && n < max; i++) {
        uintptr_t start = __atomic_load_n(&regions[i].start, __ATOMIC_ACQUIRE);
        size_t len = __atomic_load_n(&regions[i].len, __ATOMIC_ACQUIRE);
        if (start && len)
            out[n++] = (hs_os_region_t){start, start + len};
    }
    return n;
}

size_t hs_os_page_round(size_t n)
{
    size_t page = 4096;
    return (n + page - 1) & ~(page - 1);
}

void *hs_os_map(size_t size)
{
    int saved = errno;
    size = hs_os_page_round(size);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved;
    if (p == MAP_FAILED)
        return NULL;
    __atomic_add_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
    os_register(p, size);
    return p;
}

void hs_os_unmap(void *p, size_t size)
{
    if (!p)
        return;
    int saved = errno;
    size = hs_os_page_round(size);
    os_unregister(p);
    munmap(p, size);
    __atomic_sub_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
    errno = saved;
}

size_t hs_os_mapped_bytes(void)
{
    return __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED);
}

void hs_os_account_static(size_t bytes)
{
    __atomic_add_fetch(&static_bytes, bytes, __ATOMIC_RELAXED);
}

void hs_os_account_caches(size_t bytes)
{
    __atomic_store_n(&cache_bytes, bytes, __ATOMIC_RELAXED);
}

uint64_t hs_os_resident_bytes(const void *p, size_t len)
{
    unsigned char vec[1024];
    long page = sysconf(_SC_PAGESIZE);
    uint64_t bytes = 0;
    if (page <= 0)
        return 0;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1), hi = (uintptr_t)p + len;
    while (a < hi) {
        size_t n = (size_t)((hi - a + (uintptr_t)page - 1) / (uintptr_t)page);
        if (n > sizeof vec)
            n = sizeof vec;
        if (mincore((void *)a, n * (size_t)page, vec) != 0)
            break;
        for (size_t i = 0; i < n; i++)
            bytes += (vec[i] & 1) ? (uint64_t)page : 0;
        a += n * (uintptr_t)page;
    }
    return bytes;
}

uint64_t hs_os_mapped_resident_bytes(void)
{
    uint64_t tracked = 0, resident = 0;
    for (int i = 0; i < HS_OS_REGIONS; i++) {
        void *p = (void *)__atomic_load_n(&regions[i].start, __ATOMIC_ACQUIRE);
        size_t size = __atomic_load_n(&regions[i].len, __ATOMIC_ACQUIRE);
        if (!p || !size)
            continue;
        tracked += size;
        /* A region unmapped meanwhile: mincore fails and it counts as nothing. */
        resident += hs_os_resident_bytes(p, size);
    }
    uint64_t all = hs_os_mapped_bytes();
    return resident + (all > tracked ? all - tracked : 0);
}

size_t hs_os_cached_bytes(void)
{
    return __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED);
}

size_t hs_os_memory_bytes(void)
{
    return hs_os_mapped_bytes() + __atomic_load_n(&static_bytes, __ATOMIC_RELAXED) +
           __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED);
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hs_os_wall_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

uint64_t hs_os_wall_coarse_ns(void)
{
    return clock_ns(CLOCK_REALTIME_COARSE);
}

uint64_t hs_os_monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

pid_t hs_os_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

uint64_t hs_os_random_u64(void)
{
    int saved = errno;
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        uint64_t x = hs_os_monotonic_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)hs_os_gettid() ^
                     (uint64_t)(uintptr_t)&v;
        /* splitmix64 finaliser */
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebull;
        v = x ^ (x >> 31);
    }
    errno = saved;
    return v;
}

int hs_os_thread_start(pthread_t *tid, size_t stack_size, bool detached, void *(*fn)(void *),
                       void *arg)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_size);
    if (detached)
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(tid, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Does the passwd line [line, end) name uid? Then its name into buf. */
static bool hs_os_passwd_line(const char *line, const char *end, uid_t uid, char *buf, size_t len)
{
    const char *field[3] = {line, NULL, NULL}; /* name, password, uid */
    const char *p = line;
    for (int f = 1; f < 3; f++) {
        while (p < end && *p != ':')
            p++;
        if (p == end)
            return false;
        field[f] = ++p;
    }
    unsigned long long v = 0;
    const char *d = field[2];
    for (; d < end && *d >= '0' && *d <= '9' && v <= UINT32_MAX; d++)
        v = v * 10 + (unsigned)(*d - '0');
    if (d == field[2] || d == end || *d != ':' || v != (unsigned long long)uid)
        return false;
    snprintf(buf, len, "%.*s", (int)(field[1] - 1 - field[0]), field[0]);
    return true;
}

const char *hs_os_user_name(uid_t uid, char *buf, size_t len)
{
    int saved = errno;
    buf[0] = '\0';
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return buf;
    }
    char chunk[4096];
    size_t have = 0;
    bool found = false;
    for (;;) {
        ssize_t n = read(fd, chunk + have, sizeof chunk - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 && have == 0)
            break;
        size_t total = have + (n > 0 ? (size_t)n : 0);
        size_t start = 0;
        for (size_t i = 0; i < total && !found; i++) {
            if (chunk[i] != '\n')
                continue;
            found = hs_os_passwd_line(chunk + start, chunk + i, uid, buf, len);
            start = i + 1;
        }
        if (found)
            break;
        if (n <= 0) { /* a last line without a newline */
            found = hs_os_passwd_line(chunk + start, chunk + total, uid, buf, len);
            break;
        }
        /* Keep the unfinished line; a line longer than the buffer is skipped. */
        have = total - start;
        if (have == sizeof chunk)
            have = 0;
        memmove(chunk, chunk + start, have);
    }
    close(fd);
    errno = saved;
    return buf;
}
