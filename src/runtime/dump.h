/*
 * dump.h - one dump: snapshot -> mappings + symbols -> pprof -> compression -> file.
 *
 * Runs in the writer thread (or, at exit, the exiting thread after the writer stopped), with
 * the reentrancy guard held. Keeps state across dumps: the file sequence number and the
 * symbolizer's caches. Output problems (unwritable directory, full disk) are reported once per
 * kind and never stop the host program.
 */
#ifndef HS_DUMP_H
#define HS_DUMP_H

#include <stddef.h>
#include <sys/types.h>

#include "common.h"
#include "pprof_writer.h"
#include "row_labels.h"
#include "snapshot.h"
#include "writer_thread.h"

typedef enum hs_dump_reason {
    HS_DUMP_INTERVAL,
    HS_DUMP_SIGNAL,
    HS_DUMP_API,
    HS_DUMP_EXIT,
    HS_DUMP_UPLOAD, /* a Pyroscope upload (not a file) */
    HS_DUMP_GROWTH, /* HEAPSAMPLER_INUSE_GROWTH: in-use memory reached a new step */
    HS_DUMP_MEMORY, /* the memory in use crossed a threshold of the limit (memwatch.h) */
    HS_DUMP_PEAK,   /* the memory in use reached a new high: the peak profile only */
    HS_DUMP_TERM,   /* SIGTERM arrived (HEAPSAMPLER_DUMP_ON_TERM) */
} hs_dump_reason_t;

/* Set up at init: profiles' durations count from start_ns (wall clock; 0: each has none). */
void hs_dump_configure(uint64_t start_ns);

/*
 * A snapshot of the tables with the sampler's rate and counters and the start of profiling:
 * the one every exporter (and heapsampler_get_stats) starts from. Under the reentrancy guard.
 */
hs_err_t hs_dump_snapshot(hs_snapshot_t *snap) HS_MUST_CHECK;

/*
 * The profile files as a writer thread exporter (writer_thread.h; arg unused): a numbered
 * profile for every event, the API's path when it names one; for HS_WRITER_PEAK the peak
 * profile <prefix>.<pid>.peak<suffix> instead, and for HS_WRITER_MEMORY the peak profile too
 * when the watch says the threshold is also a new high (the same bytes under both names).
 */
hs_err_t hs_dump_export(void *arg, hs_writer_event_t event, const char *path);

/*
 * Write the next profile <prefix>.<pid>.<seq><suffix> (HS_DUMP_PEAK: the peak profile). If path
 * is non-NULL, write there instead (heapsampler_dump_to) without consuming a sequence number.
 * written (may be NULL) receives the file name.
 */
hs_err_t hs_dump_run(hs_dump_reason_t reason, const char *path, char *written,
                     size_t written_len) HS_MUST_CHECK;

/*
 * Encode the heap as an uncompressed pprof message without writing a file (Pyroscope uploads):
 * a snapshot, then transform(snap, arg) when not NULL (it may rewrite rows, their label sets and
 * times), then mappings, symbols and encoding as for a file, with the rows' labels restricted by
 * policy (NULL: every label; row_labels.h), serialised with the file dumps. *pb is malloc'd.
 * Does not count as a dump.
 */
typedef hs_err_t (*hs_dump_transform_fn)(hs_snapshot_t *snap, void *arg);
hs_err_t hs_dump_encode_with(hs_dump_reason_t reason, hs_dump_transform_fn transform, void *arg,
                             const hs_row_labels_policy_t *policy, uint8_t **pb,
                             size_t *pb_len) HS_MUST_CHECK;

/*
 * The pprof writer's namer (pprof_writer.h) on a symbolizer (an hs_symbolizer_t; NULL names
 * nothing): hs_symbolize_batch's frames, as they are. For dumps and for tests.
 */
hs_err_t hs_dump_name(void *symbolizer, const hs_module_t *const *mods, const uintptr_t *addrs,
                      size_t n, hs_pprof_emit_fn emit, void *sink) HS_MUST_CHECK;

/*
 * Fork (fork.c). dump_lock is not taken before the fork: a dump holds it for as long as
 * symbolizing takes (seconds), and a fork must not wait for that. The child re-initialises it,
 * restarts the sequence at 0 (the pid changed) and keeps the caches, unless the fork
 * interrupted a dump.
 */
void hs_dump_prefork(void);
void hs_dump_postfork_parent(void);
void hs_dump_postfork_child(void);

/* Profiles written successfully / failed, since start. */
uint64_t hs_dump_count(void);
uint64_t hs_dump_failures(void);

#endif
