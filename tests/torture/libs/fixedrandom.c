/*
 * fixedrandom.c - an LD_PRELOAD shim that makes getrandom(2) predictable, so that a test can
 * plant files at the temporary names the profiler will choose ("<path>.tmp.<16 hex digits of
 * getrandom>"). The first TORTURE_FIXED_RANDOM calls (all of them if unset) fill the buffer
 * with 0xab; later calls get real random bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

static long calls;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    const char *n = getenv("TORTURE_FIXED_RANDOM");
    if (!n || __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) < atol(n)) {
        memset(buf, 0xab, len);
        return (ssize_t)len;
    }
    return syscall(SYS_getrandom, buf, len, flags);
}
