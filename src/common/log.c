/*
 * log.c - the allocation-free logger.
 *
 * Lines are formatted with vsnprintf into a stack buffer (the formats used here - %s, %d, %u,
 * %llu, %zu, %x, %p - never allocate in glibc) and written with one write(2), so concurrent
 * lines do not interleave. errno is preserved: a hook that logs must not change the errno the
 * host sees. Warnings pass a token bucket (burst 20, refill 1/s) so that a fault repeating on
 * every allocation costs a counter increment, not a write.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HS_LOG_LINE_MAX 1024
#define HS_WARN_BURST   20

static int log_fd = -1; /* -1 = stderr */
static int log_verbosity;
static uint64_t warn_tokens_stamp; /* second of the last refill */
static int warn_tokens = HS_WARN_BURST;
static uint64_t warn_suppressed;

static void log_write(const char *buf, size_t len)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
    if (fd < 0)
        fd = STDERR_FILENO;
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void hs_log_v(const char *fmt, va_list ap)
{
    int saved = errno;
    char buf[HS_LOG_LINE_MAX];
    static const char prefix[] = "heapsampler: ";
    memcpy(buf, prefix, sizeof prefix - 1);
    size_t room = sizeof buf - (sizeof prefix - 1) - 1;
    int n = vsnprintf(buf + sizeof prefix - 1, room + 1, fmt, ap);
    size_t len = sizeof prefix - 1;
    if (n > 0)
        len += (size_t)n < room ? (size_t)n : room;
    buf[len++] = '\n';
    log_write(buf, len);
    errno = saved;
}

void hs_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hs_log_v(fmt, ap);
    va_end(ap);
}

static int warn_take_token(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec;
    /* A racy bucket is fine: the limit is approximate by design. */
    uint64_t stamp = __atomic_load_n(&warn_tokens_stamp, __ATOMIC_RELAXED);
    if (now > stamp) {
        __atomic_store_n(&warn_tokens_stamp, now, __ATOMIC_RELAXED);
        int t = __atomic_load_n(&warn_tokens, __ATOMIC_RELAXED);
        uint64_t refill = now - stamp;
        if (t < HS_WARN_BURST)
            __atomic_store_n(&warn_tokens,
                             (int)(t + refill > HS_WARN_BURST ? HS_WARN_BURST : t + refill),
                             __ATOMIC_RELAXED);
    }
    if (__atomic_sub_fetch(&warn_tokens, 1, __ATOMIC_RELAXED) >= 0)
        return 1;
    __atomic_store_n(&warn_tokens, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&warn_suppressed, 1, __ATOMIC_RELAXED);
    return 0;
}

void hs_warn(const char *fmt, ...)
{
    int saved = errno;
    if (!warn_take_token()) {
        errno = saved;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    hs_log_v(fmt, ap);
    va_end(ap);
    errno = saved;
}

int hs_warn_once(int *flag, const char *fmt, ...)
{
    if (__atomic_exchange_n(flag, 1, __ATOMIC_RELAXED))
        return 0;
    va_list ap;
    va_start(ap, fmt);
    hs_log_v(fmt, ap);
    va_end(ap);
    return 1;
}

void hs_debug(int level, const char *fmt, ...)
{
    if (log_verbosity < level)
        return;
    va_list ap;
    va_start(ap, fmt);
    hs_log_v(fmt, ap);
    va_end(ap);
}

void hs_log_set_verbosity(int level)
{
    log_verbosity = level;
}

int hs_log_verbosity(void)
{
    return log_verbosity;
}

uint64_t hs_log_suppressed(void)
{
    return __atomic_load_n(&warn_suppressed, __ATOMIC_RELAXED);
}

void hs_log_set_fd(int fd)
{
    __atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED);
}

#ifdef HS_DEBUG
void hs_assert_fail(const char *expr, const char *file, int line)
{
    hs_log("internal error: assertion `%s' failed at %s:%d", expr, file, line);
    abort();
}
#endif
