/*
 * api.c - the public API (include/heapsampler.h). Everything here runs in the caller's thread
 * under the reentrancy guard; dumps are handed to the writer thread (symbolization never runs
 * in an application thread), the caller only waits.
 */
#include "heapsampler.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "estimate.h"
#include "dump.h"
#include "guard.h"
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
