/*
 * loader_gate.h - the loader gate: a process-wide rule that keeps fork away from the loader's
 * locks.
 *
 * dl_iterate_phdr holds the loader's write lock, and dlopen its load lock; glibc resets neither
 * in a forked child: a fork while any thread is inside one of them on the profiler's behalf
 * would leave the child unable to unwind or load anything. Profiler code that may enter the
 * loader (unwinding, reading the mappings, loading libcurl) runs inside the gate; the fork
 * prepare handler closes it and waits for the sections in flight, the postfork handlers open
 * it again. It lives in common because code of several folders (runtime, upload) must honour
 * it, and none of them may depend on another for it. runtime/fork.c calls its fork handlers.
 *
 * hs_loader_gate_enter returns 0 while the gate is closed (the caller skips its work, or
 * retries if it is the writer thread). Sections are short: never hold the gate across a wait
 * for another thread. Lock-free: two counters.
 */
#ifndef HS_LOADER_GATE_H
#define HS_LOADER_GATE_H

/* 1: inside, call hs_loader_gate_exit when done; 0: the gate is closed (a fork is under way). */
int hs_loader_gate_enter(void);
void hs_loader_gate_exit(void);
/* Before fork: close the gate and wait until no section is in flight. */
void hs_loader_gate_prefork(void);
/* After fork, in the parent: open again. */
void hs_loader_gate_postfork_parent(void);
/* After fork, in the child: forget the sections of threads that did not survive, open again. */
void hs_loader_gate_postfork_child(void);

#endif
