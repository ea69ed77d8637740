/*
 * log.h - the profiler's only way to speak: "heapsampler: ..." lines on stderr.
 *
 * Every function here is allocation-free (formats into a stack buffer, writes with write(2)),
 * preserves errno, and may be called from any thread, including from inside a malloc hook.
 * Warnings are rate-limited so a misbehaving environment cannot flood the host's stderr.
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdarg.h>

#include "common.h"

#define HS_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* An unconditional line (configuration messages, verbose output, CLI). */
void hs_log(const char *fmt, ...) HS_PRINTF(1, 2);
void hs_log_v(const char *fmt, va_list ap);

/* A runtime warning: rate-limited (a burst of 20, then 1 per second); excess is counted. */
void hs_warn(const char *fmt, ...) HS_PRINTF(1, 2);

/*
 * A warning printed at most once per process for each flag (a static int the caller owns).
 * Returns 1 if this call printed.
 */
int hs_warn_once(int *flag, const char *fmt, ...) HS_PRINTF(2, 3);

/* Verbose-only line: printed when HEAPSAMPLER_VERBOSE >= level. */
void hs_debug(int level, const char *fmt, ...) HS_PRINTF(2, 3);
void hs_log_set_verbosity(int level);
int hs_log_verbosity(void);

/* Warnings suppressed by the rate limit so far. */
uint64_t hs_log_suppressed(void);

/* Redirect output to another fd (tests); -1 restores stderr. */
void hs_log_set_fd(int fd);

#endif
