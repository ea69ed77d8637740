/*
 * thread_stacks.h - the resident memory of the process's stacks, told apart in
 * /proc/self/maps: the main thread's ("[stack]") and the threads' (an anonymous read-write
 * mapping that starts right after an anonymous PROT_NONE guard of at most 64 KiB, as glibc's
 * pthread_create lays them out; coroutine stacks with guard pages count too). Resident bytes
 * come from mincore over each stack: what the page tables hold, not the reserved size.
 *
 * A heuristic: a program that puts a guard page below a buffer of its own has that buffer
 * counted as a stack; stacks created without a guard (pthread_attr_setguardsize 0) are not
 * counted. Called by the dump (writer thread, under the guard); allocation-free (reads with
 * open/read into a stack buffer).
 */
#ifndef HS_THREAD_STACKS_H
#define HS_THREAD_STACKS_H

#include <stdint.h>

#include "common.h"

typedef struct hs_thread_stacks {
    uint64_t resident; /* bytes */
    uint32_t count;    /* stacks found (the main thread's included) */
} hs_thread_stacks_t;

hs_err_t hs_thread_stacks_read(hs_thread_stacks_t *out) HS_MUST_CHECK;

#endif
