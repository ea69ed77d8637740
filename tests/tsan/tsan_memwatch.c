/*
 * tsan_memwatch.c - the memory watch in the writer thread under concurrency (see tsan.h for why
 * this is not a Criterion test). The limit is set far below what the process uses (1 MiB,
 * against its resident set), so the writer's first look crosses the 95% threshold and the
 * watch keeps asking for peak profiles as the resident set grows; meanwhile eight threads
 * record and free samples in exact mode, which moves the sampler's in-use estimate past the
 * watch's marks (each crossing pokes the writer from a recording thread), another thread takes
 * snapshots, and the main thread asks for numbered profiles. Every file must read back, the
 * first numbered one must be the threshold's (its header and memory.* comments), the peak
 * profile must exist, and no temporary file may be left.
 */
#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dump.h"
#include "live_table.h"
#include "memwatch.h"
#include "pprof_file.h"
#include "profile_meta.h"
#include "sampler.h"
#include "stack_table.h"
#include "tsan.h"
#include "writer_thread.h"

#define THREADS 8
#define ITERS   2000
#define SIZE    4096

static char dir[64];
static char fake_heap[THREADS][ITERS];
static volatile int stop;

static __attribute__((noinline)) void memwatch_test_site(int t, int i)
{
    hs_sampler_on_alloc(&fake_heap[t][i], SIZE);
}

static void *recorder(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < ITERS; i++) {
            memwatch_test_site(t, i);
            if (round < 2)
                hs_sampler_on_free(&fake_heap[t][i]); /* up and down: marks crossed again */
        }
    return NULL;
}

static void *snapshotter(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)tsan_snapshots_until(&stop);
}

/* The metadata of path; 0 if it cannot be read. */
static int read_meta(const char *path, hs_profile_meta_t *meta)
{
    hs_pprof_t p;
    char why[256];
    CHECK(hs_pprof_read_file(path, &p, why, sizeof why) == HS_OK, "%s: %s", path, why);
    int ok = hs_profile_meta_read(&p, meta) == HS_OK;
    hs_pprof_free(&p);
    return ok;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/hs_tsan_memwatch.XXXXXX");
    CHECK(mkdtemp(dir));
    hs_config_defaults(&hs_config);
    snprintf(hs_config.output, sizeof hs_config.output, "%s/prof", dir);
    hs_config.interval_ns = 0;
    /* The exit profile's reachability scan runs here too, under the sanitizers, whose shadow
     * memory is terabytes of mostly holes: bounded to a second. */
    hs_config.reach_budget_ns = 1000000000ull;
    CHECK(hs_stack_table_init(1 << 16, 1 << 16) == HS_OK);
    CHECK(hs_live_init(1 << 20) == HS_OK);
    hs_sampler_configure(1, 5, 16);
    hs_sampler_set_callbacks(
        &(hs_sampler_callbacks_t){.nudge = hs_writer_nudge, .memory = hs_writer_poke_watch});
    hs_sampler_set_active(1);
    hs_memwatch_config_t cfg = {.limit = 1 << 20, .peak_step = 5};
    cfg.thresholds = hs_config.memory_thresholds;
    CHECK(hs_memwatch_init(&cfg) == 1, "far above a 1 MiB limit: look at once");
    CHECK(hs_memwatch_enabled());

    hs_writer_exporter_t exporter = {.run = hs_dump_export};
    hs_writer_watch_t watch = {.look = hs_memwatch_look};
    CHECK(hs_writer_start(&exporter, 1, 1, &watch) == HS_OK);
    pthread_t rec[THREADS], snap;
    CHECK(pthread_create(&snap, NULL, snapshotter, NULL) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&rec[t], NULL, recorder, (void *)(intptr_t)t) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(hs_writer_dump_sync(NULL) == HS_OK);
    for (int t = 0; t < THREADS; t++)
        pthread_join(rec[t], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(snap, NULL);
    hs_writer_stop_final();

    DIR *d = opendir(dir);
    CHECK(d);
    int files = 0, peak = 0, first_ok = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        CHECK(!strstr(e->d_name, ".tmp."), "temporary file left: %s", e->d_name);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hs_profile_meta_t meta;
        CHECK(read_meta(path, &meta), "%s", path);
        files++;
        uint64_t limit = 0;
        CHECK(hs_profile_meta_get_u64(&meta, "memory.limit", &limit) && limit == 1 << 20, "%s",
              path);
        if (strstr(e->d_name, ".peak.pb.gz"))
            peak = 1;
        if (strstr(e->d_name, ".0000.pb.gz")) {
            uint64_t pct = 0;
            first_ok = strcmp(meta.reason, "memory") == 0 &&
                       strcmp(meta.detail, "95% of 1.00 MiB") == 0 &&
                       hs_profile_meta_get_u64(&meta, "memory.threshold", &pct) && pct == 95;
        }
        hs_profile_meta_free(&meta);
    }
    closedir(d);
    CHECK(first_ok, "the first profile is the 95%% threshold's");
    CHECK(peak, "a peak profile");
    CHECK(files >= 8, "%d files", files); /* threshold, 5 API, exit, peak */

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    printf("tsan_memwatch: %d profiles\n", files);
    return 0;
}
