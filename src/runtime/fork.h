/*
 * fork.h - the profiler's one fork protocol: every module's fork handlers, in one order.
 */
#ifndef HS_FORK_H
#define HS_FORK_H

#include <stdbool.h>

#include "common.h"

/*
 * Register the handlers with pthread_atfork (the profiler's init, once the tables exist).
 * running: whether the profiler runs (the handlers do nothing otherwise); disable: switch
 * profiling off for good, for a child forked from inside the profiler (see fork.c).
 */
hs_err_t hs_fork_register(bool (*running)(void), void (*disable)(void)) HS_MUST_CHECK;

#endif
