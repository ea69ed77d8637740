/*
 * profiler.c - life cycle of the profiler in a process.
 *
 * Init (the preloaded library's constructor, single-threaded in practice): resolve the next
 * allocator, read the configuration, decide whether this process is profiled, set up the
 * tables, the unwinder's trim range, fork handlers, the dump signal and the writer thread (which
 * starts when first needed), then switch sampling on. Allocations made before (other libraries'
 * constructors) pass through unsampled.
 *
 * Which processes are profiled: every process that inherits the library, whatever started it
 * (a fork+exec child, a launcher's daemon, a script's commands), unless HEAPSAMPLER_PROGRAMS
 * names other programs (program.h says what a name is matched against) or
 * HEAPSAMPLER_FOLLOW_EXEC=0 keeps to the first process. The first process that loads the
 * library records its pid in HEAPSAMPLER_ROOT_PID, so that its descendants know they are not
 * the first; an exec in the same process (a wrapper script exec'ing the real program) keeps
 * the pid and stays the first. A value that is not a pid (the profiler writes only digits)
 * counts as unset. A process left unprofiled passes every call through; its children decide
 * for themselves, from the environment they inherit. A fork without exec (workers, daemons)
 * keeps profiling with its own pid and files.
 *
 * Wiring: this is the one file that knows every module. It hands the sampler its callbacks
 * (the writer's nudges), the dump and Pyroscope exporters the start of profiling, registers the
 * exporters and the memory watch (memwatch.h) with the writer thread, and registers the fork
 * protocol (fork.c, which orders every module's fork handlers) with its own state: the
 * protocol runs only while the profiler runs, and a child forked from inside the profiler (a
 * signal handler) switches it off.
 *
 * Signals: the dump signal's handler only posts to the writer thread. With
 * HEAPSAMPLER_DUMP_ON_TERM, a SIGTERM handler is installed when SIGTERM has none (SIG_DFL at
 * init: a program that handles or ignores it decides for itself); it asks the writer thread for
 * a profile, waits for it (bounded: HS_TERM_WAIT_MS), then restores the default action and
 * raises SIGTERM again, which is delivered when the handler returns: the process ends exactly
 * as it would have, a profile later. A handler that interrupted a thread holding a table lock
 * the dump needs waits out its bound and ends the process without the profile.
 *
 * Exit: the destructor asks the writer thread for a final profile and waits (bounded), then
 * switches sampling off: allocations in later destructors would be in no profile anyway.
 */
#include "profiler.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dump.h"
#include "fork.h"
#include "guard.h"
#include "label_spec.h"
#include "labels.h"
#include "map_track.h"
#include "live_table.h"
#include "log.h"
#include "memwatch.h"
#include "os.h"
#include "program.h"
#include "pyroscope.h"
#include "real_alloc.h"
#include "sampler.h"
#include "stack_table.h"
#include "unwind.h"
#include "writer_thread.h"

extern char **environ;

#define HS_TERM_WAIT_MS 5000

static int state = HS_PROFILER_UNINIT;
static uint64_t start_ns; /* wall clock at init: the start of every profile's duration */
static int warned_fault;

int hs_profiler_state(void)
{
    return __atomic_load_n(&state, __ATOMIC_ACQUIRE);
}

static void set_state(int s)
{
    __atomic_store_n(&state, s, __ATOMIC_RELEASE);
}

void hs_profiler_fault(const char *what)
{
    hs_warn_once(&warned_fault, "internal fault (%s): profiling is off, the program continues",
                 what);
    hs_sampler_set_active(0);
    set_state(HS_PROFILER_OFF);
}

static void turn_off(void)
{
    hs_sampler_set_active(0);
    set_state(HS_PROFILER_OFF);
}

/* The pid in HEAPSAMPLER_ROOT_PID, or 0 when it is unset or holds anything the profiler would
 * not have written there (only digits, 1 to INT_MAX): garbage names no profiled ancestor. */
static long root_pid_from_env(void)
{
    const char *root = getenv("HEAPSAMPLER_ROOT_PID");
    long pid = 0;
    if (!root || !*root)
        return 0;
    for (const char *s = root; *s; s++) {
        if (*s < '0' || *s > '9' || pid > (INT_MAX - 9) / 10)
            return 0;
        pid = pid * 10 + (*s - '0');
    }
    return pid;
}

/* 1 if this process image is to be profiled (see the file comment). */
static int is_profiled_process(void)
{
    pid_t me = getpid();
    long rp = root_pid_from_env();
    if (!rp) {
        char buf[24];
        snprintf(buf, sizeof buf, "%d", (int)me);
        setenv("HEAPSAMPLER_ROOT_PID", buf, 1);
    }
    bool first = !rp || rp == (long)me;
    hs_program_init(first);
    if (!first && !hs_config.follow_exec) {
        hs_debug(1,
                 "pid %d (%s): not profiled: started by process %ld, the first one, and "
                 "HEAPSAMPLER_FOLLOW_EXEC=0",
                 (int)me, hs_program_name(), rp);
        return 0;
    }
    if (hs_config.programs[0] && !hs_program_matches(hs_config.programs)) {
        hs_debug(1, "pid %d (%s): not profiled: not one of HEAPSAMPLER_PROGRAMS=%s", (int)me,
                 hs_program_name(), hs_config.programs);
        return 0;
    }
    return 1;
}

/*
 * Make the output prefix absolute (a daemon's chdir("/") must not move its files) and turn a
 * directory into <dir>/heapsampler. A relative value is then put back into the environment as
 * the absolute prefix: the processes this one starts (a script that cd's before it execs the
 * server) write next to it, not relative to wherever they start.
 */
static int resolve_output_prefix(void)
{
    char *out = hs_config.output;
    bool relative = out[0] != '/';
    char buf[HS_CONFIG_STR_MAX];
    struct stat st;
    size_t len = strlen(out);
    int is_dir = (len > 0 && out[len - 1] == '/') || (stat(out, &st) == 0 && S_ISDIR(st.st_mode));
    if (out[0] == '/') {
        snprintf(buf, sizeof buf, "%s", out);
    } else {
        char cwd[HS_CONFIG_STR_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            hs_log("cannot resolve HEAPSAMPLER_OUTPUT=\"%s\": the working directory is unknown "
                   "(%s); profiling is off",
                   out, strerror(errno));
            return 0;
        }
        if ((size_t)snprintf(buf, sizeof buf, "%s/%s", strcmp(cwd, "/") ? cwd : "", out) >=
            sizeof buf)
            goto too_long;
    }
    if (is_dir) {
        size_t l = strlen(buf);
        while (l > 1 && buf[l - 1] == '/')
            buf[--l] = '\0';
        if (l + sizeof "/heapsampler" > sizeof buf)
            goto too_long;
        memcpy(buf + l, "/heapsampler", sizeof "/heapsampler");
    }
    memcpy(out, buf, strlen(buf) + 1);
    if (relative && setenv("HEAPSAMPLER_OUTPUT", out, 1) != 0)
        hs_debug(1, "cannot pass HEAPSAMPLER_OUTPUT=%s on to child processes", out);
    return 1;
too_long:
    hs_log("HEAPSAMPLER_OUTPUT is too long once made absolute; profiling is off");
    return 0;
}

/* ---- dump signal -------------------------------------------------------------------------- */

static void on_dump_signal(int sig)
{
    (void)sig;
    hs_writer_poke_from_signal(); /* async-signal-safe: an atomic store and sem_post */
}

static void install_dump_signal(int sig)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
        hs_log("signal %d already has a handler; not using it for dumps", sig);
        return;
    }
    if (sigaction(sig, &sa, NULL) != 0)
        hs_log("cannot install the dump signal handler for signal %d: %s", sig, strerror(errno));
}

static void on_term(int sig)
{
    (void)hs_writer_term_from_signal(HS_TERM_WAIT_MS);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    int saved = errno;
    sigaction(sig, &dfl, NULL);
    raise(sig); /* blocked while this handler runs: delivered, with its default action, on return */
    errno = saved;
}

static void install_term_handler(void)
{
    struct sigaction sa, old;
    if (sigaction(SIGTERM, NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
        (old.sa_flags & SA_SIGINFO)) {
        hs_debug(1, "SIGTERM has a handler or is ignored: HEAPSAMPLER_DUMP_ON_TERM does nothing");
        return;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0)
        hs_log("cannot install the SIGTERM handler: %s", strerror(errno));
}

/* ---- wiring ------------------------------------------------------------------------------- */

static bool profiler_running(void)
{
    return hs_profiler_state() == HS_PROFILER_RUNNING;
}

/* The sampler's slow path (a thread's first allocation, a sample): the writer thread's lazy
 * start, and the memory limit read again while that thread does not run. */
static void slow_path(void)
{
    hs_writer_nudge();
    hs_memwatch_idle_check();
}

/*
 * The exporters and the writer thread that runs them: the profile files, then Pyroscope
 * uploads when they are on (in that order at exit too), and the memory watch. The thread
 * starts when first needed (writer_thread.h); at once for the dump signal and SIGTERM, whose
 * handlers can do nothing but post to it, for uploads, which need it from the start (their
 * delivery thread makes the process multi-threaded anyway), and when the memory in use is in
 * the watch's close range already.
 */
static void start_exporters(int watch_now)
{
    hs_pyroscope_start(start_ns, profiler_running);
    hs_writer_exporter_t exporters[2] = {
        {.run = hs_dump_export, .period_ns = hs_config.interval_ns},
    };
    size_t n = 1;
    bool uploads = hs_pyroscope_enabled();
    if (uploads)
        exporters[n++] = (hs_writer_exporter_t){.run = hs_pyroscope_export,
                                                .period_ns = hs_config.upload_interval_ns};
    hs_writer_watch_t watch = {.look = hs_memwatch_look};
    int now = hs_config.dump_signal != 0 || uploads || hs_config.dump_on_term || watch_now;
    if (hs_writer_start(exporters, n, now, hs_memwatch_enabled() ? &watch : NULL) != HS_OK) {
        /* Reported by the writer; the exit dump still happens, from the exiting thread. */
    }
}

/* ---- init / fini -------------------------------------------------------------------------- */

void hs_profiler_init(void)
{
    if (hs_profiler_state() != HS_PROFILER_UNINIT)
        return;
    hs_thread_t *t = hs_thread_get();
    hs_guard_enter(t);
    hs_real_alloc_resolve();
    hs_map_track_resolve();
    hs_config_load(&hs_config, environ, true);
    hs_log_set_verbosity((int)hs_config.verbose);

    if (!hs_config.enabled) {
        hs_debug(1, "disabled by HEAPSAMPLER_ENABLED=0");
        turn_off();
        goto out;
    }
    if (!hs_real_alloc_probe()) {
        hs_log("another library that defines malloc is loaded before the profiler (check the "
               "order of LD_PRELOAD): the program's allocations do not reach it; profiling is "
               "off");
        turn_off();
        goto out;
    }
    /* The prefix first: a process left unprofiled passes it on all the same. */
    if (!resolve_output_prefix() || !is_profiled_process()) {
        turn_off();
        goto out;
    }
    if (hs_stack_table_init((uint32_t)hs_config.max_stacks, (uint32_t)hs_config.max_sites) !=
            HS_OK ||
        hs_live_init(hs_config.max_live) != HS_OK) {
        hs_profiler_fault("table initialisation");
        goto out;
    }
    /* HEAPSAMPLER_LABELS was checked by the option table: a bad value is the default, "". */
    hs_label_spec_t spec;
    if (hs_label_spec_parse(hs_config.labels, &spec, NULL, 0) != HS_OK)
        memset(&spec, 0, sizeof spec);
    hs_labels_configure((uint32_t)hs_config.max_label_sets, &spec);
    uintptr_t lo, hi;
    if (hs_unwind_find_self_range(&lo, &hi) == HS_OK)
        hs_unwind_set_self_range(lo, hi);
    hs_map_track_init();
    hs_sampler_configure(hs_config.rate, hs_config.seed, (uint32_t)hs_config.stack_depth);
    hs_sampler_set_growth_step(hs_config.inuse_growth);
    /* The sampler's slow path starts the writer thread when it is due, asks it for a profile
     * when in-use memory grew by a step, and wakes the memory watch at its mark. */
    hs_sampler_set_callbacks(&(hs_sampler_callbacks_t){
        .nudge = slow_path, .grew = hs_writer_poke_growth, .memory = hs_writer_poke_watch});
    start_ns = hs_os_wall_ns();
    hs_dump_configure(start_ns);
    if (hs_fork_register(profiler_running, turn_off) != HS_OK)
        hs_log("cannot register fork handlers; forked children will not be profiled");

    if (hs_config.verbose)
        hs_config_print(&hs_config);
    int watch_now = hs_memwatch_init(&(hs_memwatch_config_t){
        .limit = hs_config.memory_limit,
        .thresholds = hs_config.memory_thresholds,
        .peak_step = (unsigned)hs_config.peak_step,
    });
    set_state(HS_PROFILER_RUNNING);
    hs_sampler_set_active(1);
    start_exporters(watch_now);
    if (hs_config.dump_signal)
        install_dump_signal(hs_config.dump_signal);
    if (hs_config.dump_on_term)
        install_term_handler();
    hs_debug(1, "pid %d (%s): profiling, rate %llu bytes, profiles to %s.%d.*", (int)getpid(),
             hs_program_name(), (unsigned long long)hs_config.rate, hs_config.output,
             (int)getpid());
out:
    hs_guard_exit(t);
}

void hs_profiler_fini(void)
{
    if (hs_profiler_state() != HS_PROFILER_RUNNING)
        return;
    hs_thread_t *t = hs_thread_get();
    hs_guard_enter(t);
    hs_writer_stop_final();
    set_state(HS_PROFILER_STOPPED);
    hs_sampler_set_active(0);
    if (hs_config.verbose) {
        hs_sampler_stats_t st;
        hs_sampler_get_stats(&st);
        hs_log("pid %d: %llu samples (%llu dropped), %u stacks, %u sites, %llu live; "
               "%llu profiles written (%llu failed); profiler memory %zu KiB",
               (int)getpid(), (unsigned long long)st.samples,
               (unsigned long long)(st.dropped_full + st.dropped_nomem + st.dropped_unwind),
               hs_stack_count(), hs_site_count(), (unsigned long long)hs_live_count(),
               (unsigned long long)hs_dump_count(), (unsigned long long)hs_dump_failures(),
               hs_os_memory_bytes() / 1024);
    }
    hs_guard_exit(t);
}
