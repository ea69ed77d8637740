/*
 * leak_analysis.c - profile files to fitted per-process series (see leak_analysis.h).
 *
 * Grouping: files are sorted by (pid, seq, path) once all are collected, so that a process's
 * files are consecutive and in the order the library wrote them; points are put in time order
 * by hs_series_fit all the same (a name is a hint, time_nanos is the fact). Files without a pid
 * in their names sort first (pid -1) and form one group.
 *
 * Invariants: procs[i] covers files[procs[i].first .. + nfiles), the groups are disjoint and in
 * file order; a process is either fitted or skipped with a reason, and the reason lives in the
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

/* ---- files ------------------------------------------------------------------------------- */

/* A profile's name (output.h), and not a hidden file. */
static bool hs_leak_analysis_profile_name(const char *name)
{
    hs_output_name_t parsed;
    return name[0] != '.' && hs_output_parse_name(name, &parsed) == HS_OK;
}

static hs_err_t hs_leak_analysis_add_file(hs_leak_analysis_t *a, const char *path)
{
    if (hs_array_reserve((void **)&a->files, &a->files_cap, a->nfiles + 1, sizeof *a->files, 64) !=
        HS_OK)
        return HS_ERR_NOMEM;
    hs_leak_file_t *f = &a->files[a->nfiles];
    f->path = strdup(path);
    if (!f->path)
        return HS_ERR_NOMEM;
    hs_output_name_t parsed;
    bool numbered = hs_output_parse_name(path, &parsed) == HS_OK && parsed.numbered;
    f->pid = numbered ? (long)parsed.pid : -1;
    f->seq = parsed.seq;
    a->nfiles++;
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

/* Load files[first .. first + n) of a as p's series. */
static hs_err_t hs_leak_analysis_load(hs_leak_analysis_t *a, hs_leak_process_t *p,
                                      const hs_sites_spec_t *spec, char *why, size_t why_len)
{
    if (hs_series_init(&p->series, p->nfiles) != HS_OK) {
        hs_reason(why, why_len, "out of memory");
        return HS_ERR_NOMEM;
    }
    for (size_t i = p->first; i < p->first + p->nfiles; i++) {
        const char *path = a->files[i].path;
        char reason[256];
        hs_sites_t s;
        hs_err_t err = hs_sites_load(path, spec, &s, reason, sizeof reason);
        if (err != HS_OK) {
            hs_reason(why, why_len, "%s: %s", path, reason);
            return err;
        }
        if (s.program)
            snprintf(p->program, sizeof p->program, "%s", s.program);
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
        hs_sites_free(&s);
        if (err != HS_OK) {
            hs_reason(why, why_len, "%s: %s", path, reason);
            return err;
        }
    }
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
        while (i < a->nprograms && strcmp(a->programs[i].name, p->program) != 0)
            i++;
        if (i == a->nprograms) {
            if (hs_array_reserve((void **)&a->programs, &a->programs_cap, a->nprograms + 1,
                                 sizeof *a->programs, 4) != HS_OK)
                return HS_ERR_NOMEM;
            memset(&a->programs[i], 0, sizeof a->programs[i]);
            snprintf(a->programs[i].name, sizeof a->programs[i].name, "%s", p->program);
            a->nprograms++;
        }
        hs_leak_program_t *g = &a->programs[i];
        g->processes++;
        if (p->skipped)
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

hs_err_t hs_leak_analysis_run(hs_leak_analysis_t *a, const hs_sites_spec_t *spec, double sigma,
                              char *why, size_t why_len)
{
    hs_sites_spec_t sp = *spec;
    const char *type = sp.type && sp.type[0] ? sp.type : "inuse_space";
    sp.type = type;
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
        hs_err_t err = hs_leak_analysis_load(a, p, &sp, why, why_len);
        if (err != HS_OK)
            return err;
        /* Too few profiles (or no time between them) is the process's verdict, not an error. */
        err = hs_series_fit(&p->series, sigma, p->why, sizeof p->why);
        if (err == HS_ERR_NOMEM) {
            hs_reason(why, why_len, "out of memory");
            return err;
        }
        p->skipped = err != HS_OK;
        a->fitted += !p->skipped;
        i = j;
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
    for (size_t i = 0; i < a->nprocs; i++)
        hs_series_free(&a->procs[i].series);
    for (size_t i = 0; i < a->nprograms; i++)
        free(a->programs[i].sites);
    free(a->files);
    free(a->procs);
    free(a->programs);
    memset(a, 0, sizeof *a);
}
