/*
 * common.h - definitions every module of the core shares: the error enum, branch hints and the
 * assertion macro. No state lives here.
 *
 * Error convention: a fallible function returns hs_err_t (HS_OK = 0) marked HS_MUST_CHECK and
 * passes results through pointer parameters. Hooks never fail on the caller's behalf.
 */
#ifndef HS_COMMON_H
#define HS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define HS_LIKELY(x)    __builtin_expect(!!(x), 1)
#define HS_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define HS_MUST_CHECK   __attribute__((warn_unused_result))
#define HS_NOINLINE     __attribute__((noinline))
#define HS_INLINE       static inline __attribute__((always_inline))
#define HS_UNUSED       __attribute__((unused))
#define HS_EXPORT       __attribute__((visibility("default")))
#define HS_HIDDEN       __attribute__((visibility("hidden"))) /* see below */
#define HS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* HS_HIDDEN marks extern declarations of the library's own data (-fvisibility=hidden covers
 * definitions only): the compiler then addresses it directly, RIP-relative, instead of through
 * the GOT, which saves the hooks an instruction (`jmp *hs_real+8(%rip)`). */

/* Deepest stack recorded (HEAPSAMPLER_STACK_DEPTH is at most this). */
#define HS_STACK_MAX_DEPTH 512

typedef enum hs_err {
    HS_OK = 0,
    HS_ERR_NOMEM,    /* an allocation (mmap or real allocator) failed */
    HS_ERR_FULL,     /* a bounded table reached its configured capacity */
    HS_ERR_NOTFOUND, /* lookup found nothing */
    HS_ERR_INVALID,  /* bad argument or malformed input */
    HS_ERR_IO,       /* a system call on a file failed (errno says which) */
    HS_ERR_STATE,    /* the profiler is not in a state that allows this */
    HS_ERR_TIMEOUT,  /* a bounded wait expired */
} hs_err_t;

/* The murmur3 64-bit finaliser: a cheap, well-mixed hash of an address or integer. */
HS_INLINE uint64_t hs_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* FNV-1a of a NUL-terminated string. */
uint64_t hs_hash_str(const char *s);

/* The value of a hexadecimal digit (either case), or -1. */
int hs_hex_digit(char c);

/*
 * Grow a malloc'd array so that it holds at least `need` elements of `elem` bytes, doubling from
 * `min_cap`. Uses the allocator: for code that runs under the reentrancy guard (writer thread,
 * CLI), never for the tables.
 */
hs_err_t hs_array_reserve(void **array, size_t *cap, size_t need, size_t elem,
                          size_t min_cap) HS_MUST_CHECK;

/* Format a one-line reason ("why") for the caller, when why is not NULL and why_len > 0. */
void hs_reason(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short, static, human-readable name for an error. */
const char *hs_err_str(hs_err_t err);

/*
 * HS_ASSERT checks an invariant. In debug builds (HS_DEBUG_CHECKS) a failure logs file:line and
 * aborts; in release builds the condition is only a hint and costs nothing.
 */
#ifdef HS_DEBUG
void hs_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define HS_ASSERT(x) ((x) ? (void)0 : hs_assert_fail(#x, __FILE__, __LINE__))
#else
#define HS_ASSERT(x) ((void)0)
#endif

#endif
