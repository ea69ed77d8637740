/*
 * tsan_writer_thread.c - the writer thread and the lock-free snapshot under concurrency (see
 * tsan.h for why this is not a Criterion test). Eight threads record and free samples in exact
 * mode (with real stack captures) while the main thread asks for numbered and explicit
 * profiles, another thread pokes the writer as the dump signal's handler does, another takes
 * snapshots as heapsampler_get_stats does, and the writer also dumps on a 1 ms interval. Every
 * profile must read back with the strict pprof reader, no temporary file may be left, the exit
 * profile's counts must be exact, and a stopped writer must refuse requests.
 */
#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dump.h"
#include "live_table.h"
#include "pprof_file.h"
#include "pprof_reader.h"
#include "sampler.h"
#include "snapshot.h"
#include "stack_table.h"
#include "tsan.h"
#include "writer_thread.h"

#define THREADS 8
#define ITERS   3000
#define SIZE    48

static char dir[64];
static char fake_heap[THREADS][ITERS];
static volatile int stop;

static __attribute__((noinline)) void writer_test_site(int t, int i)
{
    hs_sampler_on_alloc(&fake_heap[t][i], SIZE);
}

static void *recorder(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < ITERS; i++) {
        writer_test_site(t, i);
        if (i % 3 == 0)
            hs_sampler_on_free(&fake_heap[t][i]); /* a third are freed again */
    }
    return NULL;
}

static void *poker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        hs_writer_poke_from_signal();
    return NULL;
}

static void *snapshotter(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)tsan_snapshots_until(&stop);
}

/* Sums of alloc_objects and inuse_objects over the rows of size SIZE. */
static void site_totals(const hs_pprof_t *p, int64_t *allocs, int64_t *inuse)
{
    int a = hs_pprof_sample_type(p, "alloc_objects");
    int u = hs_pprof_sample_type(p, "inuse_objects");
    CHECK(a >= 0 && u >= 0);
    *allocs = *inuse = 0;
    for (size_t i = 0; i < p->pb->n_sample; i++) {
        const hs_pb_sample_t *s = p->pb->sample[i];
        int64_t bytes;
        if (hs_pprof_label_num(p, s, "bytes", &bytes) && bytes == SIZE) {
            *allocs += s->value[a];
            *inuse += s->value[u];
        }
    }
}

/* Reads back every file of dir; returns how many, and the newest numbered one in last. */
static int check_files(char *last, size_t last_len)
{
    DIR *d = opendir(dir);
    CHECK(d);
    struct dirent *e;
    int files = 0;
    last[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        CHECK(!strstr(e->d_name, ".tmp."), "temporary file left: %s", e->d_name);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hs_pprof_t p;
        char why[256];
        CHECK(hs_pprof_read_file(path, &p, why, sizeof why) == HS_OK, "%s: %s", path, why);
        hs_pprof_free(&p);
        files++;
        /* prof.<pid>.<seq>: same pid, four-digit sequence: the names sort by sequence. */
        if (strncmp(e->d_name, "prof.", 5) == 0 && strcmp(path, last) > 0)
            snprintf(last, last_len, "%s", path);
    }
    closedir(d);
    return files;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/hs_tsan_writer.XXXXXX");
    CHECK(mkdtemp(dir));
    hs_config_defaults(&hs_config);
    snprintf(hs_config.output, sizeof hs_config.output, "%s/prof", dir);
    hs_config.interval_ns = 1000000;
    /* The exit profile's reachability scan runs here too, under the sanitizers, whose shadow
     * memory is terabytes of mostly holes: bounded to a second. */
    hs_config.reach_budget_ns = 1000000000ull;
    CHECK(hs_stack_table_init(1 << 16, 1 << 16) == HS_OK);
    CHECK(hs_live_init(1 << 20) == HS_OK);
    hs_sampler_configure(1, 5, 16);
    hs_sampler_set_active(1);

    hs_writer_exporter_t exporter = {.run = hs_dump_export, .period_ns = hs_config.interval_ns};
    CHECK(hs_writer_start(&exporter, 1, 1, NULL) == HS_OK);
    pthread_t rec[THREADS], pk, snap;
    CHECK(pthread_create(&pk, NULL, poker, NULL) == 0);
    CHECK(pthread_create(&snap, NULL, snapshotter, NULL) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&rec[t], NULL, recorder, (void *)(intptr_t)t) == 0);
    char explicit_path[128];
    snprintf(explicit_path, sizeof explicit_path, "%s/explicit.pb.gz", dir);
    for (int i = 0; i < 10; i++) {
        CHECK(hs_writer_dump_sync(NULL) == HS_OK);
        CHECK(hs_writer_dump_sync(explicit_path) == HS_OK);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(rec[t], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    void *snapshots;
    pthread_join(pk, NULL);
    pthread_join(snap, &snapshots);
    CHECK((uintptr_t)snapshots > 0);
    hs_writer_stop_final();
    CHECK(hs_writer_dump_sync(NULL) == HS_ERR_STATE, "stopped: no more requests");

    char last[600];
    int files = check_files(last, sizeof last);
    CHECK(files >= 12, "%d files", files); /* 10 numbered, the explicit one, the exit one */
    hs_pprof_t p;
    char why[256];
    CHECK(hs_pprof_read_file(last, &p, why, sizeof why) == HS_OK, "%s", why);
    int64_t allocs, inuse;
    site_totals(&p, &allocs, &inuse);
    CHECK(allocs == THREADS * ITERS, "%lld", (long long)allocs);
    CHECK(inuse == THREADS * (ITERS - (ITERS + 2) / 3), "%lld", (long long)inuse);
    hs_pprof_free(&p);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    printf("tsan_writer_thread: %d profiles, %lu snapshots\n", files,
           (unsigned long)(uintptr_t)snapshots);
    return 0;
}
