/*
 * api.c - the public API (include/heapsampler.h). Everything here runs in the caller's thread
 * under the reentrancy guard; dumps are handed to the writer thread (symbolization never runs
 * in an application thread), the caller only waits.
 *
 * Labels: the calling thread's label set is an id in its state (guard.h), replaced by
 * heapsampler_label_set with the id of the derived set (labels.h) and read by the sample slow
 * path. Only the thread itself writes it. label_set refuses to run when the calling thread is
 * already inside the profiler (a signal handler that interrupted it), where a table lock may be
 * held by the interrupted code; clear, save and restore touch the thread's state and read the
 * table without a lock, which makes them async-signal-safe. They all work before the library's
 * constructor ran (the tables are made on first use) and do nothing once the profiler is off.
 */
#include "heapsampler.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "estimate.h"
#include "dump.h"
#include "guard.h"
#include "label_spec.h"
#include "labels.h"
#include "live_table.h"
#include "profiler.h"
#include "sampler.h"
#include "snapshot.h"
#include "stack_table.h"
#include "writer_thread.h"

HS_EXPORT const char *heapsampler_version(void)
{
    return HS_VERSION;
}

static int api_dump(const char *path)
{
    if (hs_profiler_state() != HS_PROFILER_RUNNING) {
        errno = ENOTSUP;
        return -1;
    }
    hs_thread_t *t = hs_thread_get();
    hs_guard_enter(t);
    hs_err_t err = hs_writer_dump_sync(path);
    hs_guard_exit(t);
    switch (err) {
    case HS_OK:
        return 0;
    case HS_ERR_STATE:
        errno = ENOTSUP;
        return -1;
    case HS_ERR_TIMEOUT:
        errno = ETIMEDOUT;
        return -1;
    case HS_ERR_NOMEM:
        errno = ENOMEM;
        return -1;
    default:
        errno = EIO;
        return -1;
    }
}

HS_EXPORT int heapsampler_dump(void)
{
    return api_dump(NULL);
}

HS_EXPORT int heapsampler_dump_to(const char *path)
{
    if (!path || !*path) {
        errno = EINVAL;
        return -1;
    }
    return api_dump(path);
}

HS_EXPORT int heapsampler_get_stats(heapsampler_stats_t *out, size_t size)
{
    if (!out || size < sizeof(uint64_t)) {
        errno = EINVAL;
        return -1;
    }
    heapsampler_stats_t st;
    memset(&st, 0, sizeof st);
    hs_thread_t *t = hs_thread_get();
    hs_guard_enter(t);
    hs_snapshot_t snap;
    hs_err_t err = hs_dump_snapshot(&snap);
    if (err == HS_OK) {
        double var = 0;
        for (size_t i = 0; i < snap.nrows; i++) {
            const hs_snapshot_row_t *r = &snap.rows[i];
            double o, b;
            hs_estimate_row(snap.rate, r->size, r->allocs, &o, &b);
            st.alloc_objects += o;
            st.alloc_bytes += b;
            hs_estimate_row(snap.rate, r->size, r->live, &o, &b);
            st.inuse_objects += o;
            st.inuse_bytes += b;
            var += hs_estimate_bytes_variance(snap.rate, r->size, r->live);
            st.live_samples += r->live;
        }
        st.inuse_bytes_stddev = var > 0 ? sqrt(var) : 0;
        st.rate = snap.rate;
        st.samples = snap.samples;
        st.dropped_samples = snap.dropped;
        st.profiler_bytes = snap.profiler_bytes;
        hs_snapshot_free(&snap);
    }
    st.stacks = hs_stack_count();
    st.sites = hs_site_count();
    st.profiles_written = hs_dump_count();
    hs_labels_stats_t ls;
    hs_labels_get_stats(&ls);
    st.label_sets = ls.sets;
    st.label_sets_folded = ls.folds;
    hs_guard_exit(t);
    if (err != HS_OK) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(out, &st, size < sizeof st ? size : sizeof st);
    return 0;
}

HS_EXPORT void heapsampler_record_alloc(void *ptr, size_t size)
{
    if (ptr)
        hs_sampler_on_alloc(ptr, size);
}

HS_EXPORT void heapsampler_record_free(void *ptr)
{
    if (ptr)
        hs_sampler_on_free(ptr);
}

/* ---- labels ------------------------------------------------------------------------------- */

/* Labels are kept unless the profiler decided not to run in this process. */
static bool api_labels_kept(void)
{
    return hs_profiler_state() != HS_PROFILER_OFF;
}

HS_EXPORT int heapsampler_label_set(const char *key, const char *value)
{
    hs_label_fault_t fault = hs_label_spec_key(key, NULL);
    if (fault == HS_LABEL_OK && value)
        fault = hs_label_spec_value(value, NULL);
    if (fault != HS_LABEL_OK) {
        errno = fault == HS_LABEL_TOO_LONG ? ENAMETOOLONG : EINVAL;
        return -1;
    }
    if (!api_labels_kept())
        return 0;
    hs_thread_t *t = hs_thread_get();
    if (t->guard) {
        errno = EAGAIN;
        return -1;
    }
    uint32_t set;
    hs_guard_enter(t);
    hs_err_t err = hs_labels_with(t->labels, key, value, HS_LABELS_THREAD_MAX, &set);
    hs_guard_exit(t);
    if (err != HS_OK) {
        errno = err == HS_ERR_FULL ? E2BIG : ENOMEM;
        return -1;
    }
    t->labels = set;
    return 0;
}

HS_EXPORT void heapsampler_label_clear(void)
{
    if (api_labels_kept())
        hs_thread_get()->labels = HS_LABELS_NONE;
}

HS_EXPORT heapsampler_labels_t heapsampler_label_save(void)
{
    return api_labels_kept() ? hs_thread_get()->labels : HS_LABELS_NONE;
}

HS_EXPORT int heapsampler_label_restore(heapsampler_labels_t labels)
{
    if (labels > UINT32_MAX || !hs_labels_valid((uint32_t)labels)) {
        errno = EINVAL;
        return -1;
    }
    if (api_labels_kept())
        hs_thread_get()->labels = (uint32_t)labels;
    return 0;
}
