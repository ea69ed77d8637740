/*
 * leak_analysis.c - profile files to fitted per-process series (see leak_analysis.h).
 *
 * Grouping: files are sorted by (pid, seq, path) once all are collected, so that a process's
 * files are consecutive and in the order the library wrote them (peak profiles are collected
 * apart, and only their metadata is read); points are put in time order
 * by hs_series_fit all the same (a name is a hint, time_nanos is the fact). Files without a pid
 * in their names sort first (pid -1) and form one group.
 *
 * Program images: each profile's metadata (profile_meta.h) may say when its process started
 * (`started`: the exec'd image's init, or the fork). Within a pid, a file that gives another
 * start than the group's first file begins a new process (an exec in place continues the pid's
 * numbering; a reused pid starts over): its rows could not be compared with the others'. Files
 * that do not say (other writers, older versions) stay with their pid.
 *
 * Idle processes: a process that wrote fewer than 3 profiles usually lived too briefly for a
 * trend (less than 3 of its `interval`s: it says so). One that lived long enough but sampled
 * nothing after the first half of its life (a server's master that allocates at start-up and
 * then only waits: the writer thread of a single-threaded program starts only with a sample, so
 * it leaves its exit profile alone) is judged from its metadata: `last_sample` (absent: none of
 * its own) against `started` and its latest profile's time. Its sampled heap did not grow after
 * that sample: it is stable, and says since when.
 *
 * Invariants: procs[i] covers files[procs[i].first .. + nfiles), the groups are disjoint and in
 * file order; a process is fitted, idle, or skipped with a reason, and the reason lives in the
 * process itself (procs grows by reallocation: nothing may point into it).
 *
 * Single-threaded; allocates (CLI and tests only).
 */
#include "leak_analysis.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "output.h"
#include "pprof_file.h"
#include "profile_meta.h"

/* ---- files ------------------------------------------------------------------------------- */

/* A profile's name (output.h), and not a hidden file. */
static bool hs_leak_analysis_profile_name(const char *name)
{
    hs_output_name_t parsed;
    return name[0] != '.' && hs_output_parse_name(name, &parsed) == HS_OK;
}

static hs_err_t hs_leak_analysis_add_file(hs_leak_analysis_t *a, const char *path)
{
    hs_output_name_t parsed;
    bool named = hs_output_parse_name(path, &parsed) == HS_OK;
    bool peak = named && parsed.peak;
    hs_leak_file_t **list = peak ? &a->peaks : &a->files;
    size_t *n = peak ? &a->npeaks : &a->nfiles;
    if (hs_array_reserve((void **)list, peak ? &a->peaks_cap : &a->files_cap, *n + 1, sizeof **list,
                         64) != HS_OK)
        return HS_ERR_NOMEM;
    hs_leak_file_t *f = &(*list)[*n];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path)
        return HS_ERR_NOMEM;
    f->pid = named && (parsed.numbered || peak) ? (long)parsed.pid : -1;
    f->seq = parsed.seq;
    (*n)++;
    return HS_OK;
}

/* Every profile of directory dir; none is an error. */
static hs_err_t hs_leak_analysis_add_dir(hs_leak_analysis_t *a, const char *dir, char *why,
                                         size_t why_len)
{
    DIR *d = opendir(dir);
    if (!d) {
        hs_reason(why, why_len, "%s: %s", dir, strerror(errno));
        return HS_ERR_IO;
    }
    size_t before = a->nfiles, len = strlen(dir);
    hs_err_t err = HS_OK;
    struct dirent *e;
    while (err == HS_OK && (e = readdir(d)) != NULL) {
        if (!hs_leak_analysis_profile_name(e->d_name))
            continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/",
                 e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            err = hs_leak_analysis_add_file(a, path);
    }
    closedir(d);
    if (err != HS_OK) {
        hs_reason(why, why_len, "out of memory");
        return err;
    }
    if (a->nfiles == before) {
        hs_reason(why, why_len, "%s: no profiles in this directory (*.pb, *.pb.gz, *.pb.zst)", dir);
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

hs_err_t hs_leak_analysis_collect(hs_leak_analysis_t *a, char *const *args, size_t nargs, char *why,
                                  size_t why_len)
{
    for (size_t i = 0; i < nargs; i++) {
        struct stat st;
        hs_err_t err;
        if (stat(args[i], &st) != 0) {
            hs_reason(why, why_len, "%s: %s", args[i], strerror(errno));
            return HS_ERR_IO;
        }
        if (S_ISDIR(st.st_mode)) {
            err = hs_leak_analysis_add_dir(a, args[i], why, why_len);
        } else {
            err = hs_leak_analysis_add_file(a, args[i]);
            if (err != HS_OK)
                hs_reason(why, why_len, "out of memory");
        }
        if (err != HS_OK)
            return err;
    }
    return HS_OK;
}

static int hs_leak_analysis_file_cmp(const void *a, const void *b)
{
    const hs_leak_file_t *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* ---- series ------------------------------------------------------------------------------ */

/* What the load of a process's files keeps of their metadata, for the idle verdict. */
typedef struct hs_leak_times {
    uint64_t started;     /* 0: not said */
    uint64_t last_sample; /* the latest; from a coarse clock, may precede started */
    bool sampled;         /* last_sample was said: the process has samples of its own */
    uint64_t interval;    /* ns between periodic profiles; 0: none, or not said */
} hs_leak_times_t;

/* A copy of s, or NULL for NULL or "" (*nomem set when the copy fails). */
static char *hs_leak_analysis_dup(const char *s, bool *nomem)
{
    char *c = s && *s ? strdup(s) : NULL;
    *nomem |= s && *s && !c;
    return c;
}

/* p's names from s (the latest profile read so far): its program and title as its metadata say,
 * and the program it is summarised under (sites.h: hs_sites_t.program). */
static hs_err_t hs_leak_analysis_names(hs_leak_process_t *p, const hs_sites_t *s)
{
    const hs_profile_meta_t *m = &s->meta;
    const char *title = hs_profile_meta_get(m, "title");
    if (!title)
        title = hs_profile_meta_get(m, "cmdline");
    free(p->program);
    free(p->title);
    free(p->image);
    bool nomem = false;
    p->program = hs_leak_analysis_dup(hs_profile_meta_get(m, "program"), &nomem);
    p->title = hs_leak_analysis_dup(title, &nomem);
    p->image = hs_leak_analysis_dup(s->program, &nomem);
    return nomem ? HS_ERR_NOMEM : HS_OK;
}

/*
 * Load p's files, from files[p->first] on, as its series: at most p->nfiles, fewer when a file
 * says it belongs to another program image (p->nfiles is cut there), and their origins. times
 * gets what the idle verdict needs; *kept: some sample matched q's focus.
 */
static hs_err_t hs_leak_analysis_load(hs_leak_analysis_t *a, hs_leak_process_t *p,
                                      const hs_sites_query_t *q, bool *kept, hs_leak_times_t *times,
                                      char *why, size_t why_len)
{
    memset(times, 0, sizeof *times);
    *kept = false;
    if (hs_series_init(&p->series, p->nfiles) != HS_OK) {
        hs_reason(why, why_len, "out of memory");
        return HS_ERR_NOMEM;
    }
    for (size_t i = p->first; i < p->first + p->nfiles; i++) {
        const char *path = a->files[i].path;
        char reason[256];
        hs_sites_t s;
        hs_err_t err = hs_sites_load(path, q, &s, reason, sizeof reason);
        if (err != HS_OK) {
            hs_reason(why, why_len, "%s: %s", path, reason);
            return err;
        }
        const hs_profile_meta_t *m = &s.meta;
        uint64_t started = 0, last = 0;
        (void)hs_profile_meta_get_u64(m, "started", &started);
        if (i > p->first && started && times->started && started != times->started) {
            p->nfiles = i - p->first; /* the next image of this pid starts here */
            hs_sites_free(&s);
            break;
        }
        if (i == p->first)
            times->started = started;
        (void)hs_profile_meta_get_u64(m, "interval", &times->interval);
        if (hs_profile_meta_get_u64(m, "last_sample", &last)) {
            times->sampled = true;
            if (last > times->last_sample)
                times->last_sample = last;
        }
        hs_sites_origin(&s, &a->files[i].origin);
        if (s.skip_error[0] && !a->skip_warning[0])
            snprintf(a->skip_warning, sizeof a->skip_warning,
                     "%s: ignoring the allocation functions it records (skip=%s): %s", path,
                     s.skip_recorded, s.skip_error);
        if (s.time_nanos <= 0) {
            snprintf(reason, sizeof reason, "the profile has no time stamp (time_nanos)");
            err = HS_ERR_INVALID;
        } else {
            err = hs_series_add(&p->series, &s, reason, sizeof reason);
        }
        *kept |= s.nrows > 0;
        if (err == HS_OK && hs_leak_analysis_names(p, &s) != HS_OK) {
            snprintf(reason, sizeof reason, "out of memory");
            err = HS_ERR_NOMEM;
        }
        hs_sites_free(&s);
        if (err != HS_OK) {
            hs_reason(why, why_len, "%s: %s", path, reason);
            return err;
        }
    }
    return HS_OK;
}

/* Is p, which has no trend, idle (see the file comment)? */
static void hs_leak_analysis_idle(hs_leak_process_t *p, const hs_leak_times_t *times)
{
    const hs_series_t *s = &p->series;
    int64_t end = 0;
    for (size_t i = 0; i < s->npoints; i++)
        if (s->time_nanos[i] > end)
            end = s->time_nanos[i];
    if (!times->started || end <= 0 || (uint64_t)end <= times->started)
        return;
    double life = (double)((uint64_t)end - times->started) / 1e9;
    double after = !times->sampled ? -1
                   : times->last_sample > times->started
                       ? (double)(times->last_sample - times->started) / 1e9
                       : 0;
    double interval = (double)times->interval / 1e9;
    if (interval <= 0)
        return; /* no periodic profiles: nothing says it lived long enough to be judged */
    if (life < 3 * interval) {
        size_t n = strlen(p->why);
        snprintf(p->why + n, sizeof p->why - n,
                 ": it lived %.3g %s, less than 3 profile intervals of %.3g %s",
                 life < 1 ? life * 1e3 : life, life < 1 ? "ms" : "s",
                 interval < 1 ? interval * 1e3 : interval, interval < 1 ? "ms" : "s");
        return;
    }
    if (after > life / 2)
        return;
    p->idle = true;
    p->idle_after = after;
    p->life = life;
}

/* The peak profile of p's pid (the last one named), with its origin; a process without a pid
 * in its files' names has none. */
static hs_err_t hs_leak_analysis_peak(hs_leak_analysis_t *a, hs_leak_process_t *p, char *why,
                                      size_t why_len)
{
    for (size_t k = 0; p->pid >= 0 && k < a->npeaks; k++)
        if (a->peaks[k].pid == p->pid)
            p->peak = (long)k;
    if (p->peak < 0)
        return HS_OK;
    hs_leak_file_t *f = &a->peaks[p->peak];
    char reason[256];
    hs_sites_t s;
    hs_sites_query_t q;
    hs_sites_query_init(&q);
    hs_err_t err = hs_sites_load(f->path, &q, &s, reason, sizeof reason);
    if (err != HS_OK) {
        hs_reason(why, why_len, "%s: %s", f->path, reason);
        return err;
    }
    hs_sites_origin(&s, &f->origin);
    hs_sites_free(&s);
    return HS_OK;
}

/* ---- by program ------------------------------------------------------------------------- */

static int hs_leak_analysis_site_cmp(const void *x, const void *y)
{
    const hs_leak_site_summary_t *a = x, *b = y;
    if (a->growth != b->growth)
        return a->growth > b->growth ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Add process p's leak suspects to its program's summary g. */
static hs_err_t hs_leak_analysis_add_sites(hs_leak_program_t *g, const hs_leak_process_t *p)
{
    const hs_series_t *s = &p->series;
    bool suspect = s->total_trend.cls == HS_TREND_LEAK;
    g->whole += suspect;
    for (size_t k = 0; k < s->nsites; k++) {
        const hs_series_site_t *st = &s->sites[k];
        if (st->trend.cls != HS_TREND_LEAK)
            continue;
        suspect = true;
        size_t i = 0;
        while (i < g->nsites && strcmp(g->sites[i].name, st->name) != 0)
            i++;
        if (i == g->nsites) {
            if (hs_array_reserve((void **)&g->sites, &g->sites_cap, g->nsites + 1, sizeof *g->sites,
                                 8) != HS_OK)
                return HS_ERR_NOMEM;
            g->sites[g->nsites++] = (hs_leak_site_summary_t){.name = st->name, .growth = -INFINITY};
        }
        hs_leak_site_summary_t *e = &g->sites[i];
        e->processes++;
        if (st->trend.slope > e->growth) {
            e->name = st->name;
            e->growth = st->trend.slope;
            e->growth_se = st->trend.slope_se;
            e->pid = p->pid;
        }
    }
    g->suspect += suspect;
    return HS_OK;
}

/* The processes by program, each program's leak suspects ranked by their largest growth. */
static hs_err_t hs_leak_analysis_by_program(hs_leak_analysis_t *a)
{
    for (size_t k = 0; k < a->nprocs; k++) {
        const hs_leak_process_t *p = &a->procs[k];
        size_t i = 0;
        const char *program = p->image ? p->image : "";
        while (i < a->nprograms && strcmp(a->programs[i].name, program) != 0)
            i++;
        if (i == a->nprograms) {
            if (hs_array_reserve((void **)&a->programs, &a->programs_cap, a->nprograms + 1,
                                 sizeof *a->programs, 4) != HS_OK)
                return HS_ERR_NOMEM;
            memset(&a->programs[i], 0, sizeof a->programs[i]);
            snprintf(a->programs[i].name, sizeof a->programs[i].name, "%s", program);
            a->nprograms++;
        }
        hs_leak_program_t *g = &a->programs[i];
        g->processes++;
        if (p->skipped || p->idle)
            continue;
        g->fitted++;
        if (hs_leak_analysis_add_sites(g, p) != HS_OK)
            return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < a->nprograms; i++)
        if (a->programs[i].nsites > 1)
            qsort(a->programs[i].sites, a->programs[i].nsites, sizeof *a->programs[i].sites,
                  hs_leak_analysis_site_cmp);
    return HS_OK;
}

hs_err_t hs_leak_analysis_run(hs_leak_analysis_t *a, const hs_sites_query_t *query, double sigma,
                              char *why, size_t why_len)
{
    hs_sites_query_t q = *query;
    const char *type = q.type;
    if (!type || !type[0])
        q.type = type = "inuse_space";
    if (strncmp(type, "inuse_", 6) != 0) {
        hs_reason(why, why_len,
                  "a trend needs an in-use type (inuse_space or inuse_objects), not \"%s\"", type);
        return HS_ERR_INVALID;
    }
    if (a->nfiles)
        qsort(a->files, a->nfiles, sizeof *a->files, hs_leak_analysis_file_cmp);
    for (size_t i = 0; i < a->nfiles;) {
        size_t j = i;
        while (j < a->nfiles && a->files[j].pid == a->files[i].pid)
            j++;
        if (hs_array_reserve((void **)&a->procs, &a->procs_cap, a->nprocs + 1, sizeof *a->procs,
                             4) != HS_OK) {
            hs_reason(why, why_len, "out of memory");
            return HS_ERR_NOMEM;
        }
        hs_leak_process_t *p = &a->procs[a->nprocs++];
        memset(p, 0, sizeof *p);
        p->pid = a->files[i].pid;
        p->first = i;
        p->nfiles = j - i;
        bool kept;
        hs_leak_times_t times;
        p->peak = -1;
        hs_err_t err = hs_leak_analysis_load(a, p, &q, &kept, &times, why, why_len);
        if (err == HS_OK)
            err = hs_leak_analysis_peak(a, p, why, why_len);
        if (err != HS_OK)
            return err;
        /* Too few profiles (or no time between them) is the process's verdict, not an error;
         * so is a process none of whose samples the focus keeps (another version's). */
        if (!kept && q.nfocus) {
            snprintf(p->why, sizeof p->why, "no sample matches the focus");
            err = HS_ERR_NOTFOUND;
        } else {
            err = hs_series_fit(&p->series, sigma, p->why, sizeof p->why);
        }
        if (err == HS_ERR_NOMEM) {
            hs_reason(why, why_len, "out of memory");
            return err;
        }
        p->unmatched = err == HS_ERR_NOTFOUND;
        if (err != HS_OK && !p->unmatched)
            hs_leak_analysis_idle(p, &times);
        p->skipped = err != HS_OK && !p->idle;
        a->fitted += err == HS_OK;
        a->idle += p->idle;
        i += p->nfiles; /* the pid's next image, or the next pid */
    }
    if (hs_leak_analysis_by_program(a) != HS_OK) {
        hs_reason(why, why_len, "out of memory");
        return HS_ERR_NOMEM;
    }
    return HS_OK;
}

void hs_leak_analysis_free(hs_leak_analysis_t *a)
{
    for (size_t i = 0; i < a->nfiles; i++)
        free(a->files[i].path);
    for (size_t i = 0; i < a->npeaks; i++)
        free(a->peaks[i].path);
    for (size_t i = 0; i < a->nprocs; i++) {
        hs_series_free(&a->procs[i].series);
        free(a->procs[i].program);
        free(a->procs[i].image);
        free(a->procs[i].title);
    }
    for (size_t i = 0; i < a->nprograms; i++)
        free(a->programs[i].sites);
    free(a->files);
    free(a->peaks);
    free(a->procs);
    free(a->programs);
    memset(a, 0, sizeof *a);
}
