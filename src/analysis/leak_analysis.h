/*
 * leak_analysis.h - leak or cache, for a set of profile files: the analysis that `heapsampler
 * leaks` and `check` share, apart from their flags and their output.
 *
 * Files are found (a file as given, a directory's profiles), grouped by the process that wrote
 * them (the pid in their names, output.h; files whose names carry none form one more group),
 * and each group is loaded as one series (series.h) and fitted (trend.h): rows of a profile are
 * only comparable within one process. A group with fewer than 3 profiles is kept, marked
 * skipped, with the reason. Processes are then summarised by program (the "program" of their
 * profiles' metadata, else their main executable): how many, how many have a leak suspect, and
 * the sites that are leak suspects in any of them.
 *
 * Usage: a zeroed hs_leak_analysis_t, hs_leak_analysis_collect (as often as needed), then
 * hs_leak_analysis_run once, hs_leak_analysis_free. Errors come with one line in why, naming
 * the file or directory at fault. Single-threaded; allocates (CLI and tests only).
 */
#ifndef HS_LEAK_ANALYSIS_H
#define HS_LEAK_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "series.h"
#include "sites.h"

/* A profile file and the process it belongs to. */
typedef struct hs_leak_file {
    char *path;
    long pid;     /* from <prefix>.<pid>.<seq>.pb*; -1 when the name carries none */
    uint64_t seq; /* ditto; 0 */
} hs_leak_file_t;

/* One process's series, analysed. */
typedef struct hs_leak_process {
    long pid;             /* -1: the files whose names carry no pid */
    char program[128];    /* of its latest profile (sites.h: hs_sites_t.program); "" unknown */
    size_t first, nfiles; /* its files: files[first .. first + nfiles), in sequence order */
    bool skipped;         /* no trend: too few profiles, see why */
    char why[256];
    hs_series_t series; /* fitted unless skipped */
} hs_leak_process_t;

/* A site that is a leak suspect in some processes of one program. */
typedef struct hs_leak_site_summary {
    const char *name;         /* the site's, in the series of process pid */
    size_t processes;         /* processes where it is a leak suspect */
    double growth, growth_se; /* the largest growth among them (per second), its error */
    long pid;                 /* the process with that growth */
} hs_leak_site_summary_t;

/* The processes of one program (same program name), summarised. */
typedef struct hs_leak_program {
    char name[128];                /* "" for processes whose program is unknown */
    size_t processes, fitted;      /* all of them, and those with a trend */
    size_t suspect;                /* processes with a leak suspect (a site or the whole) */
    size_t whole;                  /* processes whose whole is a leak suspect */
    hs_leak_site_summary_t *sites; /* leak suspects across them, largest growth first */
    size_t nsites, sites_cap;
} hs_leak_program_t;

typedef struct hs_leak_analysis {
    hs_leak_file_t *files; /* sorted by pid, then sequence, then path */
    size_t nfiles, files_cap;
    hs_leak_process_t *procs; /* one per pid, in the order of files */
    size_t nprocs, procs_cap;
    size_t fitted;               /* processes not skipped */
    hs_leak_program_t *programs; /* by program, in order of first appearance (after run) */
    size_t nprograms, programs_cap;
    char skip_warning[1024]; /* the first profile whose recorded skip glibc refuses, or "" */
} hs_leak_analysis_t;

/*
 * Add the profiles that args name: a file as given, a directory's *.pb, *.pb.gz and *.pb.zst
 * (never a temporary file or a hidden one). A directory without profiles, or an argument that
 * does not exist, is an error (HS_ERR_IO or HS_ERR_INVALID, why "ARG: reason").
 */
hs_err_t hs_leak_analysis_collect(hs_leak_analysis_t *a, char *const *args, size_t nargs, char *why,
                                  size_t why_len) HS_MUST_CHECK;

/*
 * Group, load and fit (spec: the sites, its type an in-use sample type, NULL or "" =
 * inuse_space; sigma: the standard errors that make a change significant). An unreadable,
 * corrupt or undated profile fails the whole analysis (why "PATH: reason"): a series with a
 * hole would mislead.
 */
hs_err_t hs_leak_analysis_run(hs_leak_analysis_t *a, const hs_sites_spec_t *spec, double sigma,
                              char *why, size_t why_len) HS_MUST_CHECK;

void hs_leak_analysis_free(hs_leak_analysis_t *a);

#endif
