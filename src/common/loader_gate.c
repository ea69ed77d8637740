/*
 * loader_gate.c - the loader gate (see loader_gate.h).
 *
 * Two atomics: `closed` and the number of sections `inside`. Entering increments `inside`,
 * then re-checks `closed` (sequentially consistent, so a closer that saw inside == 0 after
 * setting closed cannot miss an entrant that saw closed == 0): either the entrant backs out,
 * or the closer waits for it. Closing spins with sched_yield: sections are microseconds long
 * and the closer is the thread calling fork.
 *
 * Fork: in the child only the forking thread survives; sections counted for other threads
 * will never exit, so hs_loader_gate_postfork_child resets the count.
 */
#include "loader_gate.h"

#include <sched.h>

static int gate_closed;
static int gate_inside;

int hs_loader_gate_enter(void)
{
    if (__atomic_load_n(&gate_closed, __ATOMIC_ACQUIRE))
        return 0;
    __atomic_add_fetch(&gate_inside, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&gate_closed, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&gate_inside, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    return 1;
}

void hs_loader_gate_exit(void)
{
    __atomic_sub_fetch(&gate_inside, 1, __ATOMIC_RELEASE);
}

void hs_loader_gate_prefork(void)
{
    __atomic_store_n(&gate_closed, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&gate_inside, __ATOMIC_SEQ_CST) != 0)
        sched_yield();
}

void hs_loader_gate_postfork_parent(void)
{
    __atomic_store_n(&gate_closed, 0, __ATOMIC_RELEASE);
}

void hs_loader_gate_postfork_child(void)
{
    /* The threads counted inside (transiently) no longer exist. */
    __atomic_store_n(&gate_inside, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&gate_closed, 0, __ATOMIC_RELEASE);
}
