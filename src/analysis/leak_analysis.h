/*
 * leak_analysis.h - leak or cache, for a set of profile files: the analysis that `heapsampler
 * leaks` and `check` share, apart from their flags and their output.
 *
 * Files are found (a file as given, a directory's profiles), grouped by the process that wrote
 * them (the pid in their names, output.h; files whose names carry none form one more group),
 * and each group is loaded as one series (series.h) and fitted (trend.h): rows of a profile are
 * only comparable within one process. A pid's files whose metadata (profile_meta.h) give two
 * different starts are two program images (an exec in the same process continues its series;
 * a pid may also be reused): each is a process of its own. A group with fewer than 3 profiles
 * is kept, marked skipped, with the reason, unless its profiles show that it stopped sampling
 * allocations early in its life: then it is idle, and stable. A peak profile
 * (<prefix>.<pid>.peak.pb.gz, rewritten at each new high of the memory in use) is not a point
 * of the series: it is a copy of a moment of it, or one between two points, and would weigh
 * that moment twice; it is kept beside its process's series, for the reports to name.
 * Processes are then summarised by program (the "program" of their profiles' metadata, else
 * their main executable): how many, how many have a leak suspect, and the sites that are leak
 * suspects in any of them.
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
    long pid;                 /* from <prefix>.<pid>.<seq>.pb*; -1 when the name carries none */
    uint64_t seq;             /* ditto; 0 */
    hs_sites_origin_t origin; /* why it was written, the memory limit (once loaded) */
} hs_leak_file_t;

/* One process's series, analysed. */
typedef struct hs_leak_process {
    long pid;             /* -1: the files whose names carry no pid */
    size_t first, nfiles; /* its files: files[first .. first + nfiles), in sequence order */
    long peak;            /* its peak profile: peaks[peak]; -1: none */
    bool skipped;         /* no trend: too few profiles, see why */
    bool unmatched;       /* skipped because no sample matched the query's focus */
    char why[256];
    hs_series_t series; /* fitted unless skipped or idle; loaded in any case */
    /* What its latest profile's metadata say (malloc'd; NULL when it does not say). */
    char *program; /* "postgres" */
    char *title;   /* its command line as it showed it last ("postgres: user db [local] idle") */
    char *image;   /* the program it is summarised under: program, else its main executable */
    /*
     * Too few profiles for a trend, but no allocation sampled after idle_after seconds of its
     * life of life seconds (idle_after < 0: none of its own at all), in its first half: its
     * sampled heap did not grow after that. Not skipped; stable.
     */
    bool idle;
    double idle_after, life;
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
    hs_leak_file_t *peaks; /* peak profiles, in the order found (the last of a pid counts) */
    size_t npeaks, peaks_cap;
    hs_leak_process_t *procs; /* one per pid, in the order of files */
    size_t nprocs, procs_cap;
    size_t fitted;               /* processes with a trend */
    size_t idle;                 /* processes judged idle (neither fitted nor skipped) */
    hs_leak_program_t *programs; /* by program, in order of first appearance (after run) */
    size_t nprograms, programs_cap;
    char skip_warning[1024]; /* the first profile whose recorded skip glibc refuses, or "" */
} hs_leak_analysis_t;

/*
 * Add the profiles that args name: a file as given, a directory's *.pb, *.pb.gz and *.pb.zst
 * (never a temporary file or a hidden one); peak profiles go aside (see above). A directory
 * without profiles of a series, or an argument that does not exist, is an error (HS_ERR_IO or
 * HS_ERR_INVALID, why "ARG: reason").
 */
hs_err_t hs_leak_analysis_collect(hs_leak_analysis_t *a, char *const *args, size_t nargs, char *why,
                                  size_t why_len) HS_MUST_CHECK;

/*
 * Group, load and fit with the query's sites, focus and type (an in-use sample type, "" =
 * inuse_space; sigma: the standard errors that make a change significant). A process none of
 * whose samples the focus keeps is skipped (unmatched). An unreadable, corrupt or undated
 * profile fails the whole analysis (why "PATH: reason"): a series with a hole would mislead.
 */
hs_err_t hs_leak_analysis_run(hs_leak_analysis_t *a, const hs_sites_query_t *q, double sigma,
                              char *why, size_t why_len) HS_MUST_CHECK;

void hs_leak_analysis_free(hs_leak_analysis_t *a);

#endif
