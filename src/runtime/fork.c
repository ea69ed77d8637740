/*
 * fork.c - the profiler's one fork protocol, as jemalloc's: every module that holds a lock or a
 * thread has hs_<module>_prefork, _postfork_parent and _postfork_child, and only this file calls
 * them, in the order below, from the pthread_atfork handlers that the profiler registers.
 *
 * Before fork, in the forking thread, which enters the reentrancy guard (nothing the handlers
 * or the child's restart allocate is sampled):
 *   1. writer thread, Pyroscope, memory watch, dump: nothing is taken. Their locks are held across
 * long work (an API request waits for a whole dump, an upload is encoded under build_mu, a dump
 *      symbolizes for seconds), and a fork must not wait for that: their children rebuild
 *      instead. They are listed here so that every handler names every module, in one order.
 *   2. map table (sampled mappings: a cut interns sites while holding it, so it comes before
 *      the stack table), stack table (its two intern tables, stacks then sites: each one's shards,
 * then its directory), label sets (the sets, then the folded sets), then live table: every shard
 *      lock. A sample (and heapsampler_label_set) takes these one at a time and never inside a
 *      loader-gate section, so the forking thread waits at most for one short critical section
 *      per lock. The tables come before the gate because while
 *      the gate is closed samples are dropped (their unwind is refused): closing it last keeps
 *      that window short, and the samples that arrive meanwhile wait on a table lock instead.
 *   3. loader gate: closed, and the sections in flight drain (unwinds, the dump's reading of the
 *      modules, the loading of libcurl). After this no thread is inside dl_iterate_phdr or
 *      dlopen on the profiler's behalf, whose locks glibc does not reset in a child. Sections
 *      never wait for a table lock, so they end while the forking thread holds the tables.
 *   4. module record (mappings): its mutex is held only inside gate sections, so it is free
 *      now. Taken before the gate, it could deadlock: a section starting meanwhile would wait
 *      for it while the gate waited for that section.
 * After fork, in the parent: the same in reverse order.
 * After fork, in the child (whose one thread is the forking one):
 *   - steps 4 to 2 in reverse: the locks are re-initialised (their holders were the forking
 *     thread or threads that do not exist here) and the gate opens, forgetting the sections of
 *     other threads;
 *   - then the modules restart, each after those it uses: the program (the child starts now,
 *     and is not the first process of its session), the sampler (the surviving thread
 *     reseeds, its samples of its own start at none), dump (its lock, the file sequence for
 *     the new pid), the upload code's loader lock (a parent thread may have held it while
 *     loading libcurl; upload/ may not depend on the runtime, so this file calls it directly),
 *     Pyroscope (a baseline from the tables, usable again), the memory watch (its own
 *     descriptors and reserve, thresholds armed again, its sampler mark), and last the writer
 *     thread, which may start at once and run the exporters and the watch the steps before it
 *     prepared.
 *
 * A fork from a signal handler that interrupted the profiler (the forking thread holds the
 * guard): the locks cannot be taken (the interrupted code may hold one), so the prepare handler
 * does nothing and the parent carries on. The child re-initialises the table locks and opens
 * the gate, then switches profiling off rather than trust tables that may be half-updated.
 *
 * Threads: the handlers run in the forking thread; `locked` is thread-local and tells the
 * postfork handlers whether this thread's prepare handler took the locks. The profiler's init
 * registers them once, after the tables exist; before that, and once it is off, they do
 * nothing.
 */
#include "fork.h"

#include <pthread.h>
#include <unistd.h>

#include "curl_loader.h"
#include "dump.h"
#include "guard.h"
#include "labels.h"
#include "live_table.h"
#include "loader_gate.h"
#include "log.h"
#include "map_table.h"
#include "mappings.h"
#include "memwatch.h"
#include "program.h"
#include "pyroscope.h"
#include "sampler.h"
#include "stack_table.h"
#include "writer_thread.h"

static bool (*fork_running)(void);
static void (*fork_disable)(void);
static __thread int locked __attribute__((tls_model("initial-exec")));

static void hs_fork_prefork(void)
{
    hs_thread_t *t = hs_thread_get();
    locked = 0;
    if (!fork_running() || t->guard)
        return;
    hs_guard_enter(t);
    hs_writer_prefork();
    hs_pyroscope_prefork();
    hs_memwatch_prefork();
    hs_dump_prefork();
    hs_map_table_prefork();
    hs_stack_table_prefork();
    hs_labels_prefork();
    hs_live_table_prefork();
    hs_loader_gate_prefork();
    hs_mappings_prefork();
    locked = 1;
}

static void hs_fork_postfork_parent(void)
{
    if (!locked)
        return;
    locked = 0;
    hs_mappings_postfork_parent();
    hs_loader_gate_postfork_parent();
    hs_live_table_postfork_parent();
    hs_labels_postfork_parent();
    hs_stack_table_postfork_parent();
    hs_map_table_postfork_parent();
    hs_dump_postfork_parent();
    hs_memwatch_postfork_parent();
    hs_pyroscope_postfork_parent();
    hs_writer_postfork_parent();
    hs_guard_exit(hs_thread_get());
}

static void hs_fork_postfork_child(void)
{
    hs_thread_t *t = hs_thread_get();
    if (!locked) {
        if (fork_running()) {
            /* Forked from inside the profiler (a signal handler): the tables may be mid-update. */
            hs_live_table_postfork_child();
            hs_labels_postfork_child();
            hs_stack_table_postfork_child();
            hs_map_table_postfork_child();
            hs_loader_gate_postfork_child();
            fork_disable();
        }
        return;
    }
    locked = 0;
    hs_mappings_postfork_child();
    hs_loader_gate_postfork_child();
    hs_live_table_postfork_child();
    hs_labels_postfork_child();
    hs_stack_table_postfork_child();
    hs_program_postfork_child();
    hs_map_table_postfork_child();
    hs_sampler_postfork_child();
    hs_dump_postfork_child();
    hs_curl_loader_postfork_child();
    hs_pyroscope_postfork_child();
    hs_memwatch_postfork_child();
    hs_writer_postfork_child();
    hs_debug(1, "pid %d: forked, profiling into its own files", (int)getpid());
    hs_guard_exit(t);
}

hs_err_t hs_fork_register(bool (*running)(void), void (*disable)(void))
{
    fork_running = running;
    fork_disable = disable;
    if (pthread_atfork(hs_fork_prefork, hs_fork_postfork_parent, hs_fork_postfork_child) != 0)
        return HS_ERR_NOMEM;
    return HS_OK;
}
