/*
 * profiler.h - the life cycle of the profiler in a process: init (from the preloaded library's
 * constructor), which wires the other modules together, fork handling, exit, and its state.
 */
#ifndef HS_PROFILER_H
#define HS_PROFILER_H

#include <stdint.h>
#include <sys/types.h>

#include "common.h"

enum {
    HS_PROFILER_UNINIT = 0,
    HS_PROFILER_RUNNING,
    HS_PROFILER_OFF,     /* disabled by configuration or by a fault */
    HS_PROFILER_STOPPED, /* after the exit dump */
};

/* Constructor / destructor of the preloaded library. */
void hs_profiler_init(void);
void hs_profiler_fini(void);

int hs_profiler_state(void);

/* A profiler fault: log once, stop sampling, keep the host running. */
void hs_profiler_fault(const char *what);

#endif
