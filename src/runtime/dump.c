/*
 * dump.c - one profile: snapshot -> mappings + symbols -> pprof -> compression -> file.
 *
 * State kept across dumps, all under dump_lock (dumps are serialised: the writer thread, the
 * exit dump and API requests may race):
 *   - dump_seq: the sequence number of the next numbered file, <prefix>.<pid>.<seq><suffix>;
 *     it advances only when a numbered file was written, so a failed dump is retried under
 *     the same name and the series has no holes;
 *   - dump_symbolizer: created on first use (at the level HEAPSAMPLER_SYMBOLIZE says; none at
 *     level `none`) and kept, so every ELF file is indexed and every address resolved once per
 *     process, within the symbolizer's memory budget.
 * Mappings are refreshed on every dump (dlopen/dlclose change them) from the process's module
 * record, which also keeps modules unloaded since a sample was taken in them (mappings.h). If
 * they cannot be read, or the symbolizer cannot be created, the profile is still written, with
 * fewer names. The symbolizer's memory, what it could not cache and the time it took are in
 * each profile's comments and, at HEAPSAMPLER_VERBOSE=2, on stderr.
 *
 * The pprof writer knows neither snapshots nor the symbolizer (pprof_writer.h): this file
 * adapts one to the other. Each snapshot row becomes a writer row with its stack, whose trailing
 * generation mark (mappings.h) becomes the row's generation, and its labels: the row's label
 * set with the process's labels (row_labels.h; an upload's policy may restrict them); the
 * symbolizer becomes the writer's namer (hs_dump_name), which also writes its figures into the
 * profile's comments once the batch is named.
 *
 * The profile names its process (README.md "Profile comments"): pid, program, executable,
 * command line at start and, read again at every dump, the title a server may have written over
 * it (program.h); when the process started and when it last recorded a sample, from which the
 * analysis judges a process that wrote few profiles. These comments are formatted into static
 * buffers under dump_lock: a command line does not fit the stack of every exiting thread.
 *
 * Series: numbered files never replace one another (output.h): an exec in the same process
 * continues the series its earlier image wrote, after its last file. The exit profile of a
 * process that is not the first of its session (program.h) is written only if the process has
 * something to show, a sample of its own or an earlier profile: a shell running a script, env,
 * a shim or a subshell that never sampled leaves no empty file behind.
 *
 * Failures never stop the host program. Each kind of failure is reported once per process with
 * one line naming the file and the reason; the counters record every one. A profile the process
 * may not create says which user it runs as and what the directory allows.
 *
 * Thread-safety: hs_dump_run runs in the writer thread (or the exiting thread once the writer
 * has stopped) with the reentrancy guard held, so its mallocs are not sampled; it takes no
 * profiler lock other than dump_lock, and holds none while dl_iterate_phdr takes the loader
 * lock (hs_snapshot_take releases the table locks before returning).
 * Fork: the child is single-threaded; hs_dump_postfork_child re-initialises dump_lock (a
 * parent thread may have held it: the fork does not wait for a dump) and restarts the sequence at 0
 * for the new pid. If the fork interrupted a dump, the symbolizer may be half-updated: the child
 * abandons it (leaks it) and builds a new one.
 */
#include "dump.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accounting.h"
#include "compress.h"
#include "config.h"
#include "labels.h"
#include "log.h"
#include "mappings.h"
#include "memwatch.h"
#include "os.h"
#include "output.h"
#include "pprof_writer.h"
#include "profile_meta.h"
#include "reach_scan.h"
#include "row_labels.h"
#include "program.h"
#include "sampler.h"
#include "snapshot.h"
#include "symbolize.h"
#include "loader_gate.h"

#ifndef HS_VERSION
#define HS_VERSION "0.1.0"
#endif

#define HS_DUMP_PATH_MAX       (HS_CONFIG_STR_MAX + 64) /* prefix + .<pid>.<seq><suffix> */
#define HS_DUMP_COMMENT_MAX    512
#define HS_DUMP_ACCOUNTING_MAX 512

static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t dump_start_ns; /* set at init, before any dump */
static uint64_t dump_seq;
static uint64_t dump_files; /* numbered files this process wrote (reset at fork) */
static hs_symbolizer_t *dump_symbolizer;
static int dump_busy; /* a dump is between lock and unlock (read by the fork child) */
/* The frame of the dump's entry: the reachability scan reads this thread's stack from here up
 * (below are the dump's own frames, which hold the addresses it looks for). */
static uintptr_t dump_stack_floor;
static uint64_t dump_ok;
static uint64_t dump_failed;

/* One flag per kind of problem, for hs_warn_once. */
static int warned_snapshot, warned_mappings, warned_symbolizer, warned_encode, warned_compress,
    warned_path, warned_write, warned_trimmed, warned_reach;

static const char *hs_dump_reason_name(hs_dump_reason_t reason)
{
    switch (reason) {
    case HS_DUMP_INTERVAL:
        return "interval";
    case HS_DUMP_SIGNAL:
        return "signal";
    case HS_DUMP_API:
        return "api";
    case HS_DUMP_EXIT:
        return "exit";
    case HS_DUMP_UPLOAD:
        return "upload";
    case HS_DUMP_GROWTH:
        return "growth";
    case HS_DUMP_MEMORY:
        return "memory";
    case HS_DUMP_PEAK:
        return "peak";
    case HS_DUMP_TERM:
        return "term";
    }
    return "unknown";
}

void hs_dump_configure(uint64_t start_ns)
{
    dump_start_ns = start_ns;
}

hs_err_t hs_dump_snapshot(hs_snapshot_t *snap)
{
    hs_sampler_stats_t st;
    hs_sampler_get_stats(&st);
    hs_snapshot_info_t info = {
        .rate = hs_sampler_rate(),
        .start_ns = dump_start_ns,
        .samples = st.samples,
        .dropped = st.dropped_full + st.dropped_nomem + st.dropped_unwind,
    };
    return hs_snapshot_take(snap, &info);
}

/*
 * The comments that name the process (see the file comment), into static buffers (dump_lock
 * held). *n comments are added to comments[]. Command lines stay out of what leaves the
 * machine (uploads): they may carry a password given as an argument.
 */
static void hs_dump_process_comments(hs_dump_reason_t reason, const hs_sampler_stats_t *st,
                                     const char **comments, size_t *n)
{
    static char who[3 * PATH_MAX + 128], cmdline[3 * HS_PROGRAM_CMDLINE_MAX + 32],
        title[3 * HS_PROGRAM_CMDLINE_MAX + 32], now[HS_PROGRAM_CMDLINE_MAX + 4];
    who[0] = cmdline[0] = title[0] = '\0';
    (void)hs_profile_meta_append_u64(who, sizeof who, "pid", (uint64_t)getpid());
    (void)hs_profile_meta_append_u64(who, sizeof who, "started", hs_program_started_ns());
    if (st->own_samples)
        (void)hs_profile_meta_append_u64(who, sizeof who, "last_sample", st->last_sample_ns);
    if (*hs_program_name())
        (void)hs_profile_meta_append(who, sizeof who, "program", hs_program_name());
    if (*hs_program_exe())
        (void)hs_profile_meta_append(who, sizeof who, "exe", hs_program_exe());
    comments[(*n)++] = who;
    if (reason == HS_DUMP_UPLOAD)
        return;
    if (*hs_program_cmdline()) {
        (void)hs_profile_meta_append(cmdline, sizeof cmdline, "cmdline", hs_program_cmdline());
        comments[(*n)++] = cmdline;
    }
    hs_program_title(now, sizeof now);
    if (*now && strcmp(now, hs_program_cmdline()) != 0) {
        (void)hs_profile_meta_append(title, sizeof title, "title", now);
        comments[(*n)++] = title;
    }
}

/* "symbolizer: ..." figures of the last batch, for the profile's comments and verbose output. */
static void hs_dump_symbolizer_comment(char *buf, size_t len)
{
    static const char *const levels[] = {"none", "functions", "lines"};
    hs_symbolizer_stats_t st;
    hs_symbolizer_get_stats(dump_symbolizer, &st);
    int level = hs_config.symbolize >= 0 && hs_config.symbolize <= 2 ? hs_config.symbolize : 0;
    snprintf(buf, len,
             "symbolizer=%s memory=%zu budget=%zu files=%llu symbols=%llu cached=%llu "
             "uncached=%llu lines_fallback=%llu dwarf_files=%llu dwarf_refused=%llu "
             "dwarf_peak_estimate=%llu dwarf_deferred=%llu modules=%zu time_ms=%.1f",
             levels[level], st.memory, st.budget, (unsigned long long)st.files,
             (unsigned long long)st.symbols, (unsigned long long)st.cached,
             (unsigned long long)st.uncached, (unsigned long long)st.lines_fallback,
             (unsigned long long)st.dwarf_files, (unsigned long long)st.dwarf_refused,
             (unsigned long long)st.dwarf_largest, (unsigned long long)st.dwarf_deferred,
             hs_mappings_record_count(), (double)st.batch_ns / 1e6);
}

hs_err_t hs_dump_name(void *symbolizer, const hs_module_t *const *mods, const uintptr_t *addrs,
                      size_t n, hs_pprof_emit_fn emit, void *sink)
{
    if (!symbolizer || n == 0)
        return HS_OK;
    hs_symloc_t *res = malloc(n * sizeof *res);
    if (!res)
        return HS_ERR_NOMEM;
    hs_err_t err = hs_symbolize_batch(symbolizer, mods, addrs, n, res);
    for (size_t i = 0; i < n && err == HS_OK; i++) {
        hs_pprof_frame_t frames[HS_SYMBOLIZE_MAX_FRAMES];
        uint32_t nf = res[i].n < HS_SYMBOLIZE_MAX_FRAMES ? res[i].n : HS_SYMBOLIZE_MAX_FRAMES;
        for (uint32_t k = 0; k < nf; k++) {
            const hs_symframe_t *f = &res[i].frames[k];
            frames[k] = (hs_pprof_frame_t){f->name, f->system_name, f->file, f->line};
        }
        if (nf)
            err = emit(sink, i, frames, nf);
    }
    free(res);
    return err;
}

/* A dump's namer: the symbolizer's names, then its figures in the comment slot left for them. */
typedef struct hs_dump_figures {
    const char **comments;
    size_t slot;
    char *buf;
    size_t len;
    int verbosity; /* 1 for the exit dump's summary, 2 for every dump */
} hs_dump_figures_t;

static hs_err_t hs_dump_namer(void *arg, const hs_module_t *const *mods, const uintptr_t *addrs,
                              size_t n, hs_pprof_emit_fn emit, void *sink)
{
    hs_dump_figures_t *figures = arg;
    hs_err_t err = hs_dump_name(dump_symbolizer, mods, addrs, n, emit, sink);
    if (err != HS_OK)
        return err;
    hs_dump_symbolizer_comment(figures->buf, figures->len);
    figures->comments[figures->slot] = figures->buf;
    hs_debug(figures->verbosity, "pid %d: %s", (int)getpid(), figures->buf);
    return HS_OK;
}

/*
 * The snapshot's rows as the pprof writer's: each with its stack, whose generation mark (if
 * any) becomes the row's generation, and its labels, which live in `labels` until it is freed.
 * *out is malloc'd. A row naming a stack that does not exist is a broken snapshot:
 * HS_ERR_INVALID.
 */
static hs_err_t hs_dump_rows(const hs_snapshot_t *snap, hs_row_labels_t *labels,
                             hs_pprof_row_t **out)
{
    hs_pprof_row_t *rows = malloc((snap->nrows ? snap->nrows : 1) * sizeof *rows);
    if (!rows)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < snap->nrows; i++) {
        const hs_snapshot_row_t *r = &snap->rows[i];
        const hs_label_t *pairs;
        uint32_t npairs;
        hs_err_t err = r->stack_id < snap->nstacks ? HS_OK : HS_ERR_INVALID;
        if (err == HS_OK)
            err = hs_row_labels_resolve(labels, r->labels, r->extra, r->nextra, &pairs, &npairs);
        if (err != HS_OK) {
            free(rows);
            return err;
        }
        const hs_snapshot_stack_t *st = &snap->stacks[r->stack_id];
        uint32_t depth = st->frames ? st->depth : 0;
        uint32_t gen = HS_MODULES_GEN_NONE;
        if (depth && HS_MAPPINGS_IS_MARK(st->frames[depth - 1]))
            gen = HS_MAPPINGS_MARK_GEN(st->frames[--depth]);
        rows[i] = (hs_pprof_row_t){.frames = st->frames,
                                   .depth = depth,
                                   .gen = gen,
                                   .size = r->size,
                                   .allocs = r->allocs,
                                   .live = r->live,
                                   .labels = pairs,
                                   .nlabels = npairs};
    }
    *out = rows;
    return HS_OK;
}

/*
 * HEAPSAMPLER_RSS_FRAMES: rows with one pseudo-frame each for the parts of RSS that are not
 * sampled rows (accounting.h), appended to *rows (n of them, malloc'd), so that inuse_space
 * adds up to the RSS. A part below zero (the unattributed rest, within the errors) has no row.
 */
static hs_err_t hs_dump_rss_rows(const hs_accounting_t *a, hs_row_labels_t *labels,
                                 hs_pprof_row_t **rows, size_t *n)
{
    const hs_reconcile_t *p = &a->parts;
    const struct {
        const char *name;
        double bytes;
    } parts[] = {
        {"[file-backed and shared]", a->has_rss ? p->file : 0},
        {"[allocator overhead]", p->overhead},
        {"[heap not sampled]", p->unseen},
        {"[allocator free]", p->free},
        {"[thread stacks]", p->stacks},
        {"[profiler]", p->profiler},
        {"[unattributed]", a->has_rss ? p->unattributed : 0},
    };
    const hs_label_t *pairs;
    uint32_t npairs;
    hs_err_t err = hs_row_labels_resolve(labels, HS_LABELS_NONE, NULL, 0, &pairs, &npairs);
    if (err != HS_OK)
        return err;
    hs_pprof_row_t *v = realloc(*rows, (*n + HS_ARRAY_LEN(parts)) * sizeof *v);
    if (!v)
        return HS_ERR_NOMEM;
    *rows = v;
    for (size_t i = 0; i < HS_ARRAY_LEN(parts); i++) {
        if (!(parts[i].bytes >= 1))
            continue;
        v[(*n)++] = (hs_pprof_row_t){.size = (uint64_t)llround(parts[i].bytes),
                                     .gen = HS_MODULES_GEN_NONE,
                                     .labels = pairs,
                                     .nlabels = npairs,
                                     .pseudo = parts[i].name};
    }
    return HS_OK;
}

/* The scan's namer (reach_scan.h): the first frame of a stack that is not an allocator's own,
 * named by the dump's symbolizer. */
static const char *hs_dump_reach_namer(void *arg, const uintptr_t *frames, uint32_t depth)
{
    const hs_modules_t *mods = arg;
    static const char *const allocators[] = {
        "malloc",   "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
        "memalign", "valloc", "pvalloc", "strdup",       "strndup",        NULL};
    if (!mods || !dump_symbolizer)
        return NULL;
    const char *first = NULL;
    for (uint32_t i = 0; i < depth; i++) {
        if (HS_MAPPINGS_IS_MARK(frames[i]) || !frames[i])
            continue;
        const hs_module_t *m = hs_modules_find(mods, frames[i] - 1);
        const char *name = m ? hs_symbolize(dump_symbolizer, m, frames[i] - 1, NULL) : NULL;
        if (!name)
            return first;
        if (!first)
            first = name;
        int alloc = !strncmp(name, "_Zn", 3); /* operator new */
        for (size_t k = 0; !alloc && allocators[k]; k++)
            alloc = !strcmp(name, allocators[k]);
        if (!alloc)
            return name;
    }
    return first;
}

/*
 * Does a profile of this reason carry the reachability scan (HEAPSAMPLER_REACH)? Not the ones
 * written near the memory limit or on SIGTERM: they must be on disk before the process dies,
 * and the scan's tables take memory in proportion to the live samples.
 */
static bool hs_dump_reach_wanted(hs_dump_reason_t reason)
{
    if (reason == HS_DUMP_UPLOAD || reason == HS_DUMP_PEAK || reason == HS_DUMP_MEMORY ||
        reason == HS_DUMP_TERM)
        return false;
    return hs_config.reach == HS_REACH_EVERY ||
           (hs_config.reach == HS_REACH_EXIT && reason == HS_DUMP_EXIT);
}

/* Scan, split the snapshot's rows by reach, and describe the scan in buf ("" if none). */
static void hs_dump_reach(hs_dump_reason_t reason, hs_snapshot_t *snap, const hs_modules_t *mods,
                          char *buf, size_t len)
{
    buf[0] = '\0';
    if (!hs_dump_reach_wanted(reason))
        return;
    hs_reach_config_t cfg = {.budget_ns = hs_config.reach_budget_ns,
                             .stack_floor = dump_stack_floor,
                             .namer = hs_dump_reach_namer,
                             .namer_arg = (void *)mods};
    hs_reach_stats_t st;
    hs_err_t err = hs_reach_scan(snap, &cfg, &st);
    if (err != HS_OK) {
        hs_warn_once(&warned_reach,
                     "cannot scan memory for references: %s (the profile has no reach labels)",
                     hs_err_str(err));
        return;
    }
    char ms[32], us[32];
    snprintf(ms, sizeof ms, "%.1f", (double)st.ns / 1e6);
    snprintf(us, sizeof us, "%.1f", (double)st.lock_max_ns / 1e3);
    (void)hs_profile_meta_append(buf, len, "reach", reason == HS_DUMP_EXIT ? "exit" : "every");
    (void)hs_profile_meta_append_u64(buf, len, "reach.blocks", st.blocks);
    (void)hs_profile_meta_append_u64(buf, len, "reach.unreferenced", st.unreferenced);
    (void)hs_profile_meta_append_u64(buf, len, "reach.referenced", st.referenced);
    (void)hs_profile_meta_append_u64(buf, len, "reach.unscanned", st.unscanned);
    (void)hs_profile_meta_append_u64(buf, len, "reach.freed", st.freed);
    (void)hs_profile_meta_append_u64(buf, len, "reach.passes", st.passes);
    (void)hs_profile_meta_append_u64(buf, len, "reach.rescued", st.confirmed);
    (void)hs_profile_meta_append_u64(buf, len, "reach.bytes", st.bytes);
    (void)hs_profile_meta_append_u64(buf, len, "reach.regions", st.regions);
    (void)hs_profile_meta_append(buf, len, "reach.time_ms", ms);
    (void)hs_profile_meta_append(buf, len, "reach.lock_max_us", us);
    (void)hs_profile_meta_append(buf, len, "reach.complete", st.complete ? "1" : "0");
    hs_debug(reason == HS_DUMP_EXIT ? 1 : 2, "pid %d: %s", (int)getpid(), buf);
}

/* "memory.limit=... memory.usage=..." (profile_meta.h), or "" when the figures are unknown. */
static void hs_dump_memory_comment(char *buf, size_t len, const hs_memwatch_figures_t *fig)
{
    buf[0] = '\0';
    if (!fig->known)
        return;
    (void)hs_profile_meta_append_u64(buf, len, "memory.limit", fig->limit);
    (void)hs_profile_meta_append(buf, len, "memory.limit_source",
                                 hs_memlimit_source_name(fig->limit_source));
    (void)hs_profile_meta_append_u64(buf, len, "memory.usage", fig->usage);
    (void)hs_profile_meta_append(buf, len, "memory.usage_source",
                                 hs_memusage_source_name(fig->usage_source));
    if (fig->threshold)
        (void)hs_profile_meta_append_u64(buf, len, "memory.threshold", fig->threshold);
    if (fig->reserve)
        (void)hs_profile_meta_append_u64(buf, len, "memory.reserve", fig->reserve);
}

/*
 * Snapshot, mappings and symbols, encoded as an uncompressed pprof message (*pb malloc'd), with
 * the memory figures in its comments. Mappings or a symbolizer that cannot be had only cost
 * names: the profile is still written. Near the memory limit a DWARF session may take at most
 * half of the room left (the rest is for the encoding): line numbers wait for a later dump.
 */
static hs_err_t hs_dump_encode(hs_dump_reason_t reason, hs_dump_transform_fn transform, void *arg,
                               const hs_row_labels_policy_t *policy,
                               const hs_memwatch_figures_t *fig, uint8_t **pb, size_t *pb_len,
                               size_t *nrows)
{
    hs_snapshot_t snap;
    hs_err_t err = hs_dump_snapshot(&snap);
    if (err == HS_ERR_STATE)
        return err; /* profiler off or stopped: not a failure to report */
    if (err != HS_OK) {
        hs_warn_once(&warned_snapshot,
                     "cannot take a heap snapshot: %s (the program continues; further "
                     "snapshot errors are not shown)",
                     hs_err_str(err));
        return err;
    }
    if (transform && (err = transform(&snap, arg)) != HS_OK) {
        hs_snapshot_free(&snap);
        return err; /* reported by the transform's owner */
    }

    hs_modules_t modules = {0};
    const hs_modules_t *mods = &modules;
    /* dl_iterate_phdr inside the loader gate: a fork waits until we are out (loader_gate.h). */
    while (!hs_loader_gate_enter())
        sched_yield();
    hs_err_t merr = hs_mappings_read(&modules);
    hs_loader_gate_exit();
    if (merr != HS_OK) {
        hs_warn_once(&warned_mappings,
                     "cannot read the loaded modules: %s (profiles carry addresses only)",
                     hs_err_str(merr));
        mods = NULL;
    }
    if (!dump_symbolizer && hs_config.symbolize != HS_SYMBOLIZE_NONE) {
        hs_symbolizer_config_t scfg = {.level = hs_config.symbolize};
        hs_err_t serr = hs_symbolizer_new_config(&scfg, &dump_symbolizer);
        if (serr != HS_OK) {
            hs_warn_once(&warned_symbolizer,
                         "cannot set up symbolization: %s (profiles carry no function names)",
                         hs_err_str(serr));
            dump_symbolizer = NULL;
        }
    }

    hs_symbolizer_set_dwarf_room(dump_symbolizer, fig->known ? (size_t)(fig->room / 2) : SIZE_MAX);

    /* Where the memory goes (accounting.h): read before naming grows the profiler's caches. */
    hs_accounting_t acct;
    hs_accounting_collect(&snap, reason == HS_DUMP_EXIT, &acct);
    char acomment[3][HS_DUMP_ACCOUNTING_MAX];
    hs_accounting_comments(&acct, acomment[0], acomment[1], acomment[2], sizeof acomment[0]);
    if (reason == HS_DUMP_EXIT) {
        char line[512];
        hs_accounting_summary(&acct, line, sizeof line);
        hs_debug(1, "pid %d: %s", (int)getpid(), line);
    }

    /* The metadata of the profile (profile_meta.h; README.md "Profile comments"). */
    char comment[8][HS_DUMP_COMMENT_MAX] = {{0}};
    hs_dump_reach(reason, &snap, mods, comment[7], sizeof comment[7]);
    hs_profile_meta_header(comment[0], sizeof comment[0], HS_VERSION, hs_dump_reason_name(reason),
                           fig->detail);
    (void)hs_profile_meta_append_u64(comment[1], sizeof comment[1], "rate", snap.rate);
    (void)hs_profile_meta_append_u64(comment[1], sizeof comment[1], "interval",
                                     hs_config.interval_ns);
    (void)hs_profile_meta_append_u64(comment[2], sizeof comment[2], "samples", snap.samples);
    (void)hs_profile_meta_append_u64(comment[2], sizeof comment[2], "dropped", snap.dropped);
    /* Tables, filter and caches (os.h), in bytes: the caches as of the previous dump. */
    (void)hs_profile_meta_append_u64(comment[3], sizeof comment[3], "profiler_memory",
                                     snap.profiler_bytes);
    hs_labels_stats_t ls;
    hs_labels_get_stats(&ls);
    (void)hs_profile_meta_append_u64(comment[4], sizeof comment[4], "label_sets", ls.sets);
    (void)hs_profile_meta_append_u64(comment[4], sizeof comment[4], "label_sets_max", ls.max_sets);
    (void)hs_profile_meta_append_u64(comment[4], sizeof comment[4], "label_sets_folded", ls.folds);
    /* Fixed ones, labels, memory, accounting (3), reach, skip, the process's (3), the figures, the
     * end. */
    const char *comments[17] = {comment[0], comment[1], comment[2], comment[3], comment[4]};
    size_t ncomments = 5;
    hs_dump_memory_comment(comment[5], sizeof comment[5], fig);
    if (comment[5][0])
        comments[ncomments++] = comment[5];
    if (comment[7][0])
        comments[ncomments++] = comment[7];
    /* HEAPSAMPLER_SKIP for the analysis; static (dump_lock is held): 3 bytes a character. */
    static char skip[3 * HS_CONFIG_STR_MAX + 8];
    skip[0] = '\0';
    if (hs_config.skip[0] &&
        hs_profile_meta_append(skip, sizeof skip, "skip", hs_config.skip) == HS_OK)
        comments[ncomments++] = skip;
    for (int i = 0; i < 3; i++)
        if (acomment[i][0])
            comments[ncomments++] = acomment[i];
    hs_sampler_stats_t st;
    hs_sampler_get_stats(&st);
    hs_dump_process_comments(reason, &st, comments, &ncomments);
    hs_dump_figures_t figures = {.comments = comments,
                                 .slot = ncomments,
                                 .buf = comment[6],
                                 .len = sizeof comment[6],
                                 .verbosity = reason == HS_DUMP_EXIT ? 1 : 2};
    hs_pprof_profile_t profile = {
        .nrows = snap.nrows,
        .rate = snap.rate,
        .time_ns = snap.time_ns,
        .start_ns = snap.start_ns,
        .modules = mods,
        .namer = dump_symbolizer ? hs_dump_namer : NULL,
        .namer_arg = &figures,
        .comments = comments,
    };
    hs_pprof_row_t *rows = NULL;
    hs_row_labels_t labels;
    hs_row_labels_init(&labels, policy);
    err = hs_dump_rows(&snap, &labels, &rows);
    if (err == HS_OK && hs_config.rss_frames)
        err = hs_dump_rss_rows(&acct, &labels, &rows, &profile.nrows);
    profile.rows = rows;
    if (err == HS_OK)
        err = hs_pprof_encode(&profile, pb, pb_len);
    if (labels.trimmed)
        hs_warn_once(&warned_trimmed,
                     "some rows have more labels than %s: the labels of the process "
                     "(HEAPSAMPLER_LABELS), then the last keys, are left out of them",
                     labels.policy.limit ? labels.policy.limit : "allowed");
    hs_row_labels_free(&labels);
    /* Naming may have read more files: the symbol caches and the module record are the
     * profiler's memory (os.h). */
    hs_os_account_caches(hs_symbolizer_memory(dump_symbolizer) + hs_mappings_memory());
    *nrows = snap.nrows;
    free(rows);
    hs_modules_free(&modules);
    hs_snapshot_free(&snap);
    if (err != HS_OK)
        hs_warn_once(&warned_encode,
                     "cannot encode a profile: %s (the program continues; further encoding "
                     "errors are not shown)",
                     hs_err_str(err));
    return err;
}

/*
 * The one warning about writes (errno describes the failure). Refused permission names the
 * user the process runs as and what the directory allows: a worker that switched to another
 * user (nginx's, postgres's) cannot create files where its parent could.
 */
static void hs_dump_warn_write(const char *name)
{
    /* Static: dump_lock is held, and the exiting thread's stack may be small. */
    static char detail[PATH_MAX + 512], dir[PATH_MAX];
    int err = errno;
    char why[128], why_dir[128];
    const char *msg = strerror_r(err, why, sizeof why);
    detail[0] = '\0';
    if (err == EACCES || err == EPERM) {
        char user[64];
        const char *slash = strrchr(name, '/');
        snprintf(dir, sizeof dir, "%.*s", slash && slash != name ? (int)(slash - name) : 1,
                 slash ? name : ".");
        uid_t uid = geteuid();
        hs_os_user_name(uid, user, sizeof user);
        struct stat st;
        int n = snprintf(detail, sizeof detail, ": this process runs as uid %u%s%s%s",
                         (unsigned)uid, *user ? " (" : "", user, *user ? ")" : "");
        if (stat(dir, &st) == 0)
            snprintf(detail + n, sizeof detail - (size_t)n,
                     ", which may not create files in %s (owner uid %u, mode %04o): make it "
                     "writable for that user (`heapsampler run` and `check` create theirs "
                     "sticky and world-writable, as /tmp is)",
                     dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        else
            snprintf(detail + n, sizeof detail - (size_t)n, ", which cannot reach %s (%s)", dir,
                     strerror_r(errno, why_dir, sizeof why_dir));
    }
    hs_warn_once(&warned_write,
                 "cannot write profile %s: %s%s (the program continues; further write errors "
                 "are not shown)",
                 name, msg, detail);
}

/*
 * Encode, compress and write one profile: to path, else the next free numbered file, and the
 * peak profile for HS_DUMP_PEAK (instead) or when the watch says a threshold is also a new high
 * (as well). Called with dump_lock held, between the memory watch's begin and end.
 */
static hs_err_t hs_dump_locked(hs_dump_reason_t reason, const char *path,
                               const hs_memwatch_figures_t *fig, char *written, size_t written_len)
{
    uint8_t *pb = NULL, *data = NULL;
    size_t pb_len = 0, data_len = 0, nrows = 0;
    int method = hs_config.compression;
    char numbered[HS_DUMP_PATH_MAX], peak[HS_DUMP_PATH_MAX];
    const char *name = path;
    bool to_peak = !path && (reason == HS_DUMP_PEAK || fig->peak);

    hs_err_t err = hs_dump_encode(reason, NULL, NULL, NULL, fig, &pb, &pb_len, &nrows);
    if (err != HS_OK)
        goto fail_encode;

    err = hs_compress(method, pb, pb_len, &data, &data_len);
    free(pb);
    if (err != HS_OK) {
        hs_warn_once(&warned_compress,
                     "cannot compress a profile: %s (the program continues; further "
                     "compression errors are not shown)",
                     hs_err_str(err));
        goto fail_compress;
    }

    if (!name) {
        if (to_peak && hs_output_peak_path(peak, sizeof peak, hs_config.output, getpid(),
                                           hs_compress_suffix(method)) != HS_OK) {
            err = HS_ERR_INVALID;
        } else if (reason == HS_DUMP_PEAK) {
            err = hs_output_write_atomic(peak, data, data_len);
        } else {
            err = hs_output_write_numbered(numbered, sizeof numbered, hs_config.output, getpid(),
                                           &dump_seq, hs_compress_suffix(method), data, data_len);
        }
        if (err == HS_ERR_INVALID) {
            hs_warn_once(&warned_path,
                         "cannot name profiles after HEAPSAMPLER_OUTPUT=\"%.200s\": %s",
                         hs_config.output, hs_config.output[0] ? "too long" : "empty");
            goto fail_path;
        }
        name = reason == HS_DUMP_PEAK ? peak : numbered;
    } else {
        err = hs_output_write_atomic(name, data, data_len);
    }
    if (err != HS_OK) {
        hs_dump_warn_write(name);
        goto fail_write;
    }
    if (!path && reason != HS_DUMP_PEAK) {
        dump_seq++;
        __atomic_add_fetch(&dump_files, 1, __ATOMIC_RELAXED);
    }
    if (to_peak && name != peak) {
        if (hs_output_write_atomic(peak, data, data_len) == HS_OK)
            hs_debug(2, "wrote %s too", peak);
        else
            hs_dump_warn_write(peak);
    }
    free(data);
    if (written && written_len)
        snprintf(written, written_len, "%s", name);
    hs_debug(2, "wrote %s (%zu bytes, %zu samples)", name, data_len, nrows);
    return HS_OK;

fail_write:
fail_path:
    free(data);
fail_compress:
fail_encode:
    return err;
}

hs_err_t hs_dump_run(hs_dump_reason_t reason, const char *path, char *written, size_t written_len)
{
    if (written && written_len)
        written[0] = '\0';
    pthread_mutex_lock(&dump_lock);
    __atomic_store_n(&dump_busy, 1, __ATOMIC_RELAXED);
    dump_stack_floor = (uintptr_t)__builtin_frame_address(0);
    hs_memwatch_figures_t fig;
    hs_memwatch_dump_begin(reason == HS_DUMP_MEMORY || reason == HS_DUMP_PEAK, &fig);
    hs_err_t err = hs_dump_locked(reason, path, &fig, written, written_len);
    hs_memwatch_dump_end();
    __atomic_store_n(&dump_busy, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&dump_lock);
    if (err == HS_OK)
        __atomic_add_fetch(&dump_ok, 1, __ATOMIC_RELAXED);
    else if (err != HS_ERR_STATE)
        __atomic_add_fetch(&dump_failed, 1, __ATOMIC_RELAXED);
    return err;
}

/* Does this process write a profile at exit? (See the file comment.) */
static bool hs_dump_exit_wanted(void)
{
    if (hs_program_is_first() || __atomic_load_n(&dump_files, __ATOMIC_RELAXED))
        return true;
    hs_sampler_stats_t st;
    hs_sampler_get_stats(&st);
    if (st.own_samples)
        return true;
    hs_debug(1, "pid %d (%s): no profile at exit: no sample of its own and no profile written",
             (int)getpid(), hs_program_name());
    return false;
}

hs_err_t hs_dump_export(void *arg, hs_writer_event_t event, const char *path)
{
    (void)arg;
    hs_dump_reason_t reason = HS_DUMP_INTERVAL;
    switch (event) {
    case HS_WRITER_INTERVAL:
        reason = HS_DUMP_INTERVAL;
        break;
    case HS_WRITER_SIGNAL:
        reason = HS_DUMP_SIGNAL;
        break;
    case HS_WRITER_API:
        reason = HS_DUMP_API;
        break;
    case HS_WRITER_GROWTH:
        reason = HS_DUMP_GROWTH;
        break;
    case HS_WRITER_MEMORY:
        reason = HS_DUMP_MEMORY;
        break;
    case HS_WRITER_PEAK:
        reason = HS_DUMP_PEAK;
        break;
    case HS_WRITER_TERM:
        reason = HS_DUMP_TERM;
        break;
    case HS_WRITER_EXIT:
        reason = HS_DUMP_EXIT;
        break;
    }
    if (event == HS_WRITER_EXIT && !hs_dump_exit_wanted())
        return HS_OK;
    /* Failures are reported (once per kind) by hs_dump_run. */
    return hs_dump_run(reason, path, NULL, 0);
}

hs_err_t hs_dump_encode_with(hs_dump_reason_t reason, hs_dump_transform_fn transform, void *arg,
                             const hs_row_labels_policy_t *policy, uint8_t **pb, size_t *pb_len)
{
    size_t nrows;
    *pb = NULL;
    *pb_len = 0;
    pthread_mutex_lock(&dump_lock);
    __atomic_store_n(&dump_busy, 1, __ATOMIC_RELAXED);
    dump_stack_floor = (uintptr_t)__builtin_frame_address(0);
    hs_memwatch_figures_t fig;
    hs_memwatch_dump_begin(false, &fig);
    hs_err_t err = hs_dump_encode(reason, transform, arg, policy, &fig, pb, pb_len, &nrows);
    hs_memwatch_dump_end();
    __atomic_store_n(&dump_busy, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&dump_lock);
    return err;
}

void hs_dump_prefork(void)
{
    /* Nothing to take: see dump.h. */
}

void hs_dump_postfork_parent(void) {}

void hs_dump_postfork_child(void)
{
    pthread_mutex_init(&dump_lock, NULL);
    dump_seq = 0;
    dump_files = 0;
    /* A dump interrupted by the fork may have left the caches half-updated. */
    if (dump_busy)
        dump_symbolizer = NULL;
    dump_busy = 0;
}

uint64_t hs_dump_count(void)
{
    return __atomic_load_n(&dump_ok, __ATOMIC_RELAXED);
}

uint64_t hs_dump_failures(void)
{
    return __atomic_load_n(&dump_failed, __ATOMIC_RELAXED);
}
