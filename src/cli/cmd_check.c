/*
 * cmd_check.c - `heapsampler check [OPTIONS] [--] COMMAND [ARGS...]`: the CI gate. Runs COMMAND
 * under the profiler with a short dump interval into a temporary directory, analyses the
 * profiles like `leaks`, and fails with a short reason naming the sites when
 *  - a site (or the whole process) is a leak suspect growing faster than --max-growth by more
 *    than --sigma standard errors (with the default 0: any leak suspect);
 *  - the estimated in-use memory of the process exceeds --max-inuse in any profile;
 *  - the memory still allocated when the process exited (the estimate of the profile written at
 *    exit) exceeds --max-leaked;
 *  - the memory no pointer reached at exit (the exit profile's reachability scan, estimated
 *    like the rest) exceeds --max-unreferenced;
 *  - with --baseline, a site (or the whole process) grows faster than in the baseline by more
 *    than the noise and --tolerance (baseline.h); --max-growth is then off unless given.
 *
 * Exit status, in this order of precedence: 2 for a bad option; COMMAND's own status when it
 * failed (its exit code, 128+N if it died of signal N, 127 not found, 126 not executable; the
 * criteria are still reported); 125 when check itself could not do its job (no library, no
 * profile written, --max-leaked or --max-unreferenced without an exit profile, or without a
 * finished reachability scan, --max-growth without 3 profiles);
 * 1 when a criterion failed; 0 when COMMAND succeeded and every criterion held.
 *
 * Processes: every process the command starts profiles itself (the library follows the tree;
 * --programs and --follow-exec narrow it as HEAPSAMPLER_PROGRAMS and _FOLLOW_EXEC do), and
 * every one that wrote profiles is listed and judged on its own, named as its profiles name it
 * (its pid and command line): a server started by a script fails the gate as one started
 * directly would. A process with too few profiles for a trend is idle, and passes, when it
 * sampled nothing after the first half of its life (leak_analysis.h); otherwise it is said not
 * to be checked, and that fails an explicit --max-growth only when no process could be judged
 * at all (a helper that lived for an instant is no reason to give up). Likewise --max-leaked
 * needs an exit profile from at least one process.
 * When COMMAND dies of a signal, postmortem.c says what is known of it (the OOM killer, its
 * last profile and top site) before the analysis.
 *
 * Everything check says goes to stderr, so that COMMAND's standard output stays its own. The
 * temporary directory is removed afterwards unless --keep DIR names a directory to keep; as
 * root it is sticky and world-writable (spawn.c), so that workers that switch users write too.
 * Single-threaded; running the child is spawn.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "baseline_report.h"
#include "config.h"
#include "leak_report.h"
#include "output.h"
#include "postmortem.h"
#include "reach_report.h"
#include "pprof_file.h"
#include "profile_meta.h"

#define CMD              "check"
#define DEFAULT_INTERVAL "100ms"

typedef struct check_args {
    hs_cli_opts_t o;
    double max_growth; /* bytes per second; <0 = off */
    bool growth_given;
    double max_inuse, max_leaked; /* <0 = off */
    double max_unreferenced;      /* <0 = off */
    const char *interval, *rate, *keep, *library;
    const char *programs, *follow_exec; /* HEAPSAMPLER_PROGRAMS, _FOLLOW_EXEC; NULL: inherited */
    bool quiet;
    char **command;
} check_args_t;

/* ---- flags ------------------------------------------------------------------------------- */

enum {
    OPT_MAX_GROWTH = HS_CLI_OPT_OWN,
    OPT_MAX_INUSE,
    OPT_MAX_LEAKED,
    OPT_MAX_UNREFERENCED,
    OPT_INTERVAL,
    OPT_RATE,
    OPT_KEEP,
    OPT_LIBRARY,
    OPT_QUIET,
    OPT_PROGRAMS,
    OPT_FOLLOW_EXEC,
};

/* A value of the profiler's own option name, checked as the library will read it. */
static hs_err_t check_profiler_value(const char *name, const char *value, char *why, size_t why_len)
{
    hs_config_t *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return HS_ERR_NOMEM;
    hs_config_defaults(cfg);
    hs_err_t err = hs_config_set(cfg, hs_config_find(name), value, why, why_len);
    free(cfg);
    return err;
}

static hs_err_t take(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                     size_t why_len)
{
    check_args_t *a = ctx;
    const char *reason = NULL;
    hs_err_t err = HS_OK;
    uint64_t u = 0;
    switch (opt->id) {
    case OPT_MAX_GROWTH:
        a->growth_given = true;
        if (strcmp(value, "off") == 0 || strcmp(value, "none") == 0)
            a->max_growth = -1;
        else
            err = hs_cli_parse_rate(value, &a->max_growth, &reason);
        break;
    case OPT_MAX_INUSE:
        err = hs_cli_parse_size(value, &a->max_inuse, &reason);
        break;
    case OPT_MAX_LEAKED:
        err = hs_cli_parse_size(value, &a->max_leaked, &reason);
        break;
    case OPT_MAX_UNREFERENCED:
        err = hs_cli_parse_size(value, &a->max_unreferenced, &reason);
        break;
    case OPT_INTERVAL:
        err = hs_config_parse_duration(value, &u, &reason);
        if (err == HS_OK && u == 0)
            reason = "check needs periodic profiles (more than 0)";
        a->interval = value;
        break;
    case OPT_RATE:
        err = hs_config_parse_size(value, &u, &reason);
        if (err == HS_OK && u == 0)
            reason = "must be at least 1";
        a->rate = value;
        break;
    case OPT_KEEP:
        if (!*value)
            reason = "empty";
        a->keep = value;
        break;
    case OPT_LIBRARY:
        a->library = value;
        break;
    case OPT_QUIET:
        a->quiet = true;
        break;
    case OPT_PROGRAMS:
    case OPT_FOLLOW_EXEC:
        err = check_profiler_value(opt->id == OPT_PROGRAMS ? "PROGRAMS" : "FOLLOW_EXEC", value, why,
                                   why_len);
        if (err != HS_OK)
            return err;
        *(opt->id == OPT_PROGRAMS ? &a->programs : &a->follow_exec) = value;
        break;
    default:
        return hs_cli_take_analysis(&a->o, opt, value, why, why_len);
    }
    if (err == HS_OK && !reason)
        return HS_OK;
    hs_reason(why, why_len, "%s", reason);
    return HS_ERR_INVALID;
}

/* ---- the profile directory --------------------------------------------------------------- */

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[PATH_MAX + 256];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The directory of the profiles; one check makes is writable by every process of the command
 * (hs_cli_make_output_dir: a server's workers may switch users), one --keep names is as it is. */
static int make_dir(const check_args_t *a, char *dir, size_t len)
{
    if (a->keep) {
        struct stat st;
        if (stat(a->keep, &st) != 0) {
            if (errno != ENOENT) {
                hs_cli_error(CMD, "--keep %s: %s", a->keep, strerror(errno));
                return HS_CLI_EXIT_USAGE;
            }
            if (hs_cli_make_output_dir(CMD, a->keep, false) != HS_OK)
                return HS_CLI_EXIT_USAGE;
        }
        if (!realpath(a->keep, dir)) {
            hs_cli_error(CMD, "--keep %s: %s", a->keep, strerror(errno));
            return HS_CLI_EXIT_USAGE;
        }
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/heapsampler-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        hs_cli_error(CMD, "cannot create a temporary directory in %s: %s",
                     tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return HS_CLI_EXIT_FAILURE;
    }
    if (hs_cli_make_output_dir(CMD, dir, true) != HS_OK) {
        rmdir(dir);
        return HS_CLI_EXIT_FAILURE;
    }
    return 0;
}

/* ---- the criteria ------------------------------------------------------------------------ */

typedef struct verdict {
    int failures;
    int cannot; /* criteria that could not be evaluated: check failed (125) */
} verdict_t;

static void fail_line(verdict_t *v, const char *fmt, ...) HS_PRINTF(2, 3);
static void fail_line(verdict_t *v, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "heapsampler check: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    v->failures++;
}

static bool leak_fails(const check_args_t *a, const hs_trend_t *t)
{
    if (a->max_growth < 0 || t->cls != HS_TREND_LEAK)
        return false;
    if (a->max_growth == 0)
        return true;
    return t->slope - a->o.sigma * t->slope_se > a->max_growth;
}

/*
 * A process without a trend: an idle one passes (the report says why); one with too few profiles is
 * not judged, which fails an explicit --max-growth only when no process of the command could be
 * judged (a helper that lived for an instant beside a server is no reason to give up).
 */
static void check_untrended(const check_args_t *a, const hs_leak_analysis_t *la,
                            const hs_leak_process_t *p, const char *who, verdict_t *v)
{
    if (p->idle) {
        /* The report's line says why it passes. */
    } else if (a->growth_given && a->max_growth >= 0 && la->fitted + la->idle == 0) {
        hs_cli_error(CMD,
                     "%s: cannot check --max-growth: %s (run longer or use a shorter "
                     "--interval)",
                     who, p->why);
        v->cannot++;
    } else if (!a->quiet && a->max_growth >= 0) {
        fprintf(stderr,
                "heapsampler check: %s: no leak check: %s (run longer or use a shorter "
                "--interval)\n",
                who, p->why);
    }
}

static void check_growth(const check_args_t *a, const hs_leak_process_t *p, const char *who,
                         verdict_t *v)
{
    const hs_series_t *s = &p->series;
    char r[64], e[64], m[64];
    if (a->max_growth < 0 || p->skipped || p->idle)
        return;
    hs_cli_fmt_rate(m, sizeof m, a->max_growth, "bytes");
    double span = s->t[s->npoints - 1];
    char over[64], during[32];
    hs_cli_fmt_duration(during, sizeof during, span);
    int before = v->failures;
    for (size_t i = 0; i < s->nsites; i++) {
        const hs_trend_t *t = &s->sites[i].trend;
        if (!leak_fails(a, t))
            continue;
        char name[HS_CLI_SITE_WIDTH + 1];
        fail_line(v, "%s: leak suspect %s grows %s \u00b1 %s (%s in %s; --max-growth %s, %g sigma)",
                  who, hs_sites_short_name(s->sites[i].name, HS_CLI_SITE_WIDTH, name, sizeof name),
                  hs_cli_fmt_rate(r, sizeof r, t->slope, s->unit),
                  hs_cli_fmt_rate(e, sizeof e, t->slope_se, s->unit),
                  hs_cli_fmt_change(over, sizeof over, t->slope * span, s->unit), during, m,
                  a->o.sigma);
    }
    /* The total matters when no single site is a suspect: a leak spread over many sites. */
    const hs_trend_t *tt = &s->total_trend;
    if (v->failures == before && leak_fails(a, tt))
        fail_line(v,
                  "%s: the whole process is a leak suspect: grows %s \u00b1 %s (%s in %s; "
                  "--max-growth %s, %g sigma)",
                  who, hs_cli_fmt_rate(r, sizeof r, tt->slope, s->unit),
                  hs_cli_fmt_rate(e, sizeof e, tt->slope_se, s->unit),
                  hs_cli_fmt_change(over, sizeof over, tt->slope * span, s->unit), during, m,
                  a->o.sigma);
}

/* The largest sites of point i, as "a 20.0 MiB, b 8.0 MiB" (at most 3). */
static void top_sites(const hs_series_t *s, size_t i, char *buf, size_t len)
{
    size_t best[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (size_t k = 0; k < s->nsites; k++) {
        double y = s->sites[k].y[i];
        if (!(y > 0))
            continue;
        for (size_t j = 0; j < 3; j++) {
            if (best[j] == SIZE_MAX || y > s->sites[best[j]].y[i]) {
                memmove(best + j + 1, best + j, (2 - j) * sizeof *best);
                best[j] = k;
                break;
            }
        }
    }
    buf[0] = '\0';
    for (size_t j = 0; j < 3 && best[j] != SIZE_MAX; j++) {
        char v[32], name[64];
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "%s%s %s", j ? ", " : "",
                 hs_sites_short_name(s->sites[best[j]].name, sizeof name - 1, name, sizeof name),
                 hs_cli_fmt_value(v, sizeof v, s->sites[best[j]].y[i], s->unit));
    }
}

static void check_inuse(const check_args_t *a, const hs_leak_process_t *p, const char *who,
                        verdict_t *v)
{
    const hs_series_t *s = &p->series;
    if (a->max_inuse < 0 || s->npoints == 0)
        return;
    size_t peak = 0;
    for (size_t i = 1; i < s->npoints; i++)
        if (s->total[i] > s->total[peak])
            peak = i;
    if (!(s->total[peak] > a->max_inuse))
        return;
    char x[32], y[32], e[32], top[1024];
    top_sites(s, peak, top, sizeof top);
    fail_line(v, "%s: in use %s \u00b1 %s > --max-inuse %s (%s)", who,
              hs_cli_fmt_value(x, sizeof x, s->total[peak], s->unit),
              hs_cli_fmt_value(e, sizeof e, sqrt(s->total_var[peak]), s->unit),
              hs_cli_fmt_value(y, sizeof y, a->max_inuse, s->unit), top);
}

/* The latest file of p (files are in sequence order) and whether it was written at exit: the
 * analysis read its header, "heapsampler <version> (exit)", into its origin. */
static const hs_leak_file_t *last_file(const hs_leak_analysis_t *la, const hs_leak_process_t *p)
{
    return &la->files[p->first + p->nfiles - 1];
}

static bool written_at_exit(const hs_leak_analysis_t *la, const hs_leak_process_t *p)
{
    return strcmp(last_file(la, p)->origin.reason, "exit") == 0;
}

/*
 * Does p have an exit profile for the check of flag? A process that left none (it exec'd,
 * ended with _exit, or was killed) is not checked, which is said; check fails to do its job
 * (v->cannot) only when no process of the command left one.
 */
static bool exit_profile(const check_args_t *a, const hs_leak_analysis_t *la,
                         const hs_leak_process_t *p, const char *who, const char *flag,
                         verdict_t *v)
{
    if (written_at_exit(la, p))
        return true;
    bool any = false;
    for (size_t k = 0; k < la->nprocs && !any; k++)
        any = written_at_exit(la, &la->procs[k]);
    if (any) {
        if (!a->quiet)
            fprintf(stderr, "heapsampler check: %s: no %s check: no profile was written at exit\n",
                    who, flag);
        return false;
    }
    hs_cli_error(CMD,
                 "%s: cannot check %s: no profile was written at exit (the process did not "
                 "return from main or call exit)",
                 who, flag);
    v->cannot++;
    return false;
}

/* --max-leaked: the memory still allocated in the exit profile (exit_profile). */
static void check_leaked(const check_args_t *a, const hs_leak_analysis_t *la,
                         const hs_leak_process_t *p, const char *who, verdict_t *v)
{
    const hs_series_t *s = &p->series;
    if (a->max_leaked < 0 || !exit_profile(a, la, p, who, "--max-leaked", v))
        return;
    /* The exit profile is the latest point. */
    size_t last = 0;
    for (size_t i = 1; i < s->npoints; i++)
        if (s->time_nanos[i] >= s->time_nanos[last])
            last = i;
    if (!(s->total[last] > a->max_leaked))
        return;
    char x[32], y[32], e[32], top[1024];
    top_sites(s, last, top, sizeof top);
    fail_line(v, "%s: still allocated at exit %s \u00b1 %s > --max-leaked %s (%s)", who,
              hs_cli_fmt_value(x, sizeof x, s->total[last], s->unit),
              hs_cli_fmt_value(e, sizeof e, sqrt(s->total_var[last]), s->unit),
              hs_cli_fmt_value(y, sizeof y, a->max_leaked, s->unit), top);
}

/*
 * The memory no pointer reached any more when the process exited (the exit profile's
 * reachability scan) against --max-unreferenced. A profile without a finished scan cannot
 * pass: the gate would pass a leaking program.
 */
static void check_unreferenced(const check_args_t *a, const hs_leak_analysis_t *la,
                               const hs_leak_process_t *p, const char *who, verdict_t *v)
{
    if (a->max_unreferenced < 0 || !exit_profile(a, la, p, who, "--max-unreferenced", v))
        return;
    const char *path = last_file(la, p)->path;
    hs_sites_query_t q = a->o.q;
    q.type = "inuse_space";
    hs_reach_view_t rv;
    if (hs_reach_view_load(CMD, path, &q, false, &rv) != 0) {
        v->cannot++;
        return;
    }
    char x[32], y[32], e[32], top[1024] = "";
    if (!rv.scanned) {
        hs_cli_error(CMD,
                     "%s: cannot check --max-unreferenced: the exit profile has no "
                     "reachability scan (HEAPSAMPLER_REACH=off in the environment?)",
                     who);
        v->cannot++;
    } else if (!rv.complete) {
        hs_cli_error(CMD,
                     "%s: cannot check --max-unreferenced: the reachability scan stopped at its "
                     "time budget with %llu sampled blocks unclassified (raise "
                     "HEAPSAMPLER_REACH_BUDGET)",
                     who, (unsigned long long)rv.unscanned);
        v->cannot++;
    } else if (rv.unref.total > a->max_unreferenced && hs_sites_sort(&rv.unref) == HS_OK) {
        for (size_t j = 0; j < 3 && j < rv.unref.nsites && rv.unref.sites[j].value > 0; j++) {
            size_t n = strlen(top);
            snprintf(top + n, sizeof top - n, "%s%s %s", j ? ", " : "", rv.unref.sites[j].name,
                     hs_cli_fmt_value(x, sizeof x, rv.unref.sites[j].value, "bytes"));
        }
        fail_line(v, "%s: unreferenced at exit (lost) %s \u00b1 %s > --max-unreferenced %s (%s)",
                  who, hs_cli_fmt_value(x, sizeof x, rv.unref.total, "bytes"),
                  hs_cli_fmt_value(e, sizeof e, sqrt(rv.unref.total_variance), "bytes"),
                  hs_cli_fmt_value(y, sizeof y, a->max_unreferenced, "bytes"), top);
    }
    hs_reach_view_free(&rv);
}

static void baseline_fail(verdict_t *v, const hs_baseline_site_t *s, const char *what,
                          const char *unit, const hs_cli_opts_t *o)
{
    char d[64], e[64], c[64], b[64];
    hs_cli_fmt_rate(d, sizeof d, s->diff, unit);
    fail_line(v,
              "%s grows %s \u00b1 %s faster than in the baseline (%s against %s; --baseline %s, "
              "%g sigma)",
              what, d, hs_cli_fmt_rate(e, sizeof e, s->diff_se, unit),
              hs_cli_fmt_rate(c, sizeof c, s->cand.rate, unit),
              hs_cli_fmt_rate(b, sizeof b, s->base.rate, unit), o->baseline, o->sigma);
}

/*
 * --baseline: fail when a site (or, when no single site does, the whole process) of the run
 * grows faster than in the baseline. Returns the criteria's verdict in v.
 */
static void check_baseline(const check_args_t *a, const hs_cli_opts_t *o, char **args, verdict_t *v)
{
    hs_leak_analysis_t cand = {0}, base = {0};
    hs_baseline_t b;
    char why[256];
    if (hs_cli_load_comparison(CMD, args, 1, o, &cand, &base) != 0) {
        v->cannot++;
        goto out;
    }
    if (hs_baseline_compare(&cand, &base, o->sigma, o->tolerance, &b, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "cannot compare with --baseline %s: %s", o->baseline, why);
        v->cannot++;
        goto out;
    }
    if (!a->quiet) {
        fprintf(stderr, "\n");
        hs_baseline_report_print(stderr, CMD, &b, &cand, &base, o);
    }
    size_t faster = hs_baseline_faster(&b);
    for (size_t i = 0; i < faster; i++)
        baseline_fail(v, &b.sites[i], b.sites[i].name, b.unit, o);
    if (!faster && b.total.verdict == HS_BASELINE_FASTER)
        baseline_fail(v, &b.total, "the whole process", b.unit, o);
    if (o->html && hs_baseline_report_html(CMD, &b, &cand, &base, o) != 0)
        v->cannot++;
    hs_baseline_free(&b);
out:
    hs_leak_analysis_free(&cand);
    hs_leak_analysis_free(&base);
}

/* ---- entry ------------------------------------------------------------------------------- */

/* "heapsampler check: 2 processes wrote profiles: pid 4242 start.sh (1), pid 4243 redis-server
 * (52)": every process of the command is judged, and the user sees which they were. */
static void list_processes(const hs_leak_analysis_t *la)
{
    fprintf(stderr, "heapsampler check: %zu process%s wrote profiles:", la->nprocs,
            la->nprocs == 1 ? "" : "es");
    for (size_t k = 0; k < la->nprocs; k++) {
        const hs_leak_process_t *p = &la->procs[k];
        if (p->pid < 0)
            fprintf(stderr, "%s %zu without a pid in their names", k ? "," : "", p->nfiles);
        else
            fprintf(stderr, "%s pid %ld%s%s (%zu profile%s)", k ? "," : "", p->pid,
                    p->program ? " " : "", p->program ? p->program : "", p->nfiles,
                    p->nfiles == 1 ? "" : "s");
    }
    fputc('\n', stderr);
}

static int analyse(const check_args_t *a, const char *dir, int status)
{
    char *args[] = {(char *)dir};
    DIR *d = opendir(dir);
    bool any = false;
    if (d) {
        struct dirent *e;
        hs_output_name_t name;
        while ((e = readdir(d)) != NULL)
            any |= hs_output_parse_name(e->d_name, &name) == HS_OK;
        closedir(d);
    }
    if (!any) {
        hs_cli_error(CMD,
                     "no profile was written (did %s run under the profiler? a statically "
                     "linked program cannot be preloaded)",
                     a->command[0]);
        return status ? status : HS_CLI_EXIT_FAILURE;
    }
    hs_cli_opts_t o = a->o;
    o.q.type = "inuse_space";
    o.top = 10;
    hs_leak_analysis_t la = {0};
    if (hs_cli_load_leaks(CMD, args, 1, &o, &la) != 0) {
        hs_leak_analysis_free(&la);
        return status ? status : HS_CLI_EXIT_FAILURE;
    }
    if (!a->quiet) {
        list_processes(&la);
        hs_leak_report_print(stderr, &la, &o);
    }

    verdict_t verdict = {0};
    for (size_t k = 0; k < la.nprocs; k++) {
        const hs_leak_process_t *p = &la.procs[k];
        char who[HS_LEAK_REPORT_WHO_MAX];
        hs_leak_report_who(p, who, sizeof who);
        if (p->skipped || p->idle)
            check_untrended(a, &la, p, who, &verdict);
        check_growth(a, p, who, &verdict);
        check_inuse(a, p, who, &verdict);
        check_leaked(a, &la, p, who, &verdict);
        check_unreferenced(a, &la, p, who, &verdict);
    }
    if (a->o.html && !a->o.baseline && hs_leak_report_html(CMD, &la, &o) != 0)
        verdict.cannot++;
    hs_leak_analysis_free(&la);
    if (a->o.baseline)
        check_baseline(a, &o, args, &verdict);

    if (status != 0) {
        fprintf(stderr, "heapsampler check: %s failed (status %d): passing its status through\n",
                a->command[0], status);
        return status;
    }
    if (verdict.cannot)
        return HS_CLI_EXIT_FAILURE;
    if (verdict.failures)
        return HS_CLI_EXIT_FOUND;
    if (!a->quiet)
        fprintf(stderr, "heapsampler check: passed\n");
    return 0;
}

static int check_run(check_args_t *args, int noperands, char **argv)
{
    check_args_t a = *args;
    int rc;
    if (noperands == 0) {
        hs_cli_error(CMD, "no command given (usage: heapsampler check [OPTIONS] [--] COMMAND "
                          "[ARGS...]; see --help)");
        return HS_CLI_EXIT_USAGE;
    }
    a.command = argv + 1;
    if (a.o.candidate && !a.o.baseline) {
        hs_cli_error(CMD, "--candidate needs --baseline label:KEY=VALUE");
        return HS_CLI_EXIT_USAGE;
    }
    if (a.o.baseline && !a.growth_given)
        a.max_growth = -1; /* the baseline is the criterion, not an absolute growth */
    if (a.o.baseline && strncmp(a.o.baseline, "label:", 6) != 0) {
        /* A baseline that cannot be read is known before the command runs. */
        hs_leak_analysis_t base = {0};
        char why[PATH_MAX + 256];
        char *dirs[] = {(char *)a.o.baseline};
        hs_err_t err = hs_leak_analysis_collect(&base, dirs, 1, why, sizeof why);
        hs_leak_analysis_free(&base);
        if (err != HS_OK) {
            hs_cli_error(CMD, "--baseline: %s", why);
            return HS_CLI_EXIT_USAGE;
        }
    }
    char lib[PATH_MAX], dir[PATH_MAX];
    if (hs_cli_find_library(CMD, a.library, true, lib, sizeof lib) != HS_OK)
        return a.library ? HS_CLI_EXIT_USAGE : HS_CLI_EXIT_FAILURE;
    rc = make_dir(&a, dir, sizeof dir);
    if (rc)
        return rc;

    char output[PATH_MAX + 2];
    snprintf(output, sizeof output, "%s/", dir);
    char *preload = hs_cli_preload_value(lib, getenv("LD_PRELOAD"));
    if (!preload || setenv("LD_PRELOAD", preload, 1) != 0 ||
        setenv("HEAPSAMPLER_OUTPUT", output, 1) != 0 ||
        setenv("HEAPSAMPLER_INTERVAL", a.interval, 1) != 0 ||
        setenv("HEAPSAMPLER_ENABLED", "1", 1) != 0 ||
        (a.rate && setenv("HEAPSAMPLER_RATE", a.rate, 1) != 0) ||
        (a.programs && setenv("HEAPSAMPLER_PROGRAMS", a.programs, 1) != 0) ||
        (a.follow_exec && setenv("HEAPSAMPLER_FOLLOW_EXEC", a.follow_exec, 1) != 0)) {
        hs_cli_error(CMD, "cannot set the environment: %s", strerror(errno ? errno : ENOMEM));
        free(preload);
        if (!a.keep)
            remove_dir(dir);
        return HS_CLI_EXIT_FAILURE;
    }
    free(preload);
    unsetenv("HEAPSAMPLER_ROOT_PID"); /* the command is the root of a new session */

    pid_t pid = 0;
    int sig = 0;
    hs_cli_postmortem_t pm;
    hs_cli_postmortem_begin(&pm);
    int status = hs_cli_spawn(CMD, a.command, false, &pid, &sig);
    if (pid == 0) {
        rc = status; /* it never ran: 126, 127 or 125 */
    } else {
        char shown[PATH_MAX + 2];
        snprintf(shown, sizeof shown, "%s/", dir);
        hs_cli_postmortem_end(&pm, "heapsampler check", a.command[0], pid, sig, dir,
                              a.keep ? shown : NULL, "heapsampler");
        rc = analyse(&a, dir, status);
    }
    if (a.keep)
        fprintf(stderr, "heapsampler check: profiles kept in %s\n", dir);
    else
        remove_dir(dir);
    return rc;
}

static int check_main(int argc, char **argv)
{
    check_args_t a;
    int noperands, rc;
    memset(&a, 0, sizeof a);
    hs_cli_opts_init(&a.o);
    a.max_inuse = a.max_leaked = a.max_unreferenced = -1;
    a.interval = DEFAULT_INTERVAL;
    if (hs_cli_parse(&hs_cli_check_command, argc, argv, take, &a, &noperands, &rc))
        rc = check_run(&a, noperands, argv);
    hs_cli_opts_free(&a.o);
    return rc;
}

static const hs_cli_option_t options[] = {
    {.help = "Criteria:"},
    {.name = "max-growth",
     .arg = HS_CLI_VALUE,
     .metavar = "RATE",
     .id = OPT_MAX_GROWTH,
     .help = "fail when a site, or the whole process, is a leak suspect whose growth exceeds "
             "RATE by more than K standard errors (RATE like 10M/h, 64K/min, 1K/s; per hour "
             "without a unit). The default, 0, fails on every leak suspect (off with --baseline); "
             "off disables the check."},
    {.name = "max-inuse",
     .arg = HS_CLI_VALUE,
     .metavar = "SIZE",
     .id = OPT_MAX_INUSE,
     .help = "fail when the estimated in-use memory of the process exceeds SIZE in any profile "
             "(SIZE like 64M, 1G, 4096)"},
    {.name = "max-leaked",
     .arg = HS_CLI_VALUE,
     .metavar = "SIZE",
     .id = OPT_MAX_LEAKED,
     .help = "fail when the memory still allocated when the process exited (estimated from the "
             "samples never freed) exceeds SIZE"},
    {.name = "max-unreferenced",
     .arg = HS_CLI_VALUE,
     .metavar = "SIZE",
     .id = OPT_MAX_UNREFERENCED,
     .help = "fail when the memory that no pointer reached any more when the process exited "
             "(lost: the exit profile's reachability scan) exceeds SIZE; with --rate 1 every "
             "block is scanned, as LeakSanitizer would, without recompiling"},
    HS_CLI_OPTION_BASELINE,
    HS_CLI_OPTION_CANDIDATE,
    HS_CLI_OPTION_TOLERANCE,
    {.help = "Options:"},
    HS_CLI_OPTION_BY,
    HS_CLI_OPTION_FOCUS,
    HS_CLI_OPTION_SKIP,
    HS_CLI_OPTION_SIGMA,
    HS_CLI_OPTION_HTML,
    {.name = "interval",
     .arg = HS_CLI_VALUE,
     .metavar = "DURATION",
     .id = OPT_INTERVAL,
     .help = "write a profile this often (default " DEFAULT_INTERVAL ")"},
    {.name = "rate",
     .arg = HS_CLI_VALUE,
     .metavar = "BYTES",
     .id = OPT_RATE,
     .help = "mean bytes between samples (default: HEAPSAMPLER_RATE, else the library's 512K); "
             "lower rates see smaller leaks in short runs"},
    {.name = "programs",
     .arg = HS_CLI_VALUE,
     .metavar = "NAMES",
     .id = OPT_PROGRAMS,
     .help = "profile and judge only the processes of these programs (comma-separated names or "
             "globs, as HEAPSAMPLER_PROGRAMS; default: every process the command starts)"},
    {.name = "follow-exec",
     .arg = HS_CLI_BOOLEAN,
     .metavar = "BOOL",
     .id = OPT_FOLLOW_EXEC,
     .help = "0: profile only the process check starts (as HEAPSAMPLER_FOLLOW_EXEC; default 1: "
             "its children too, whatever starts them)"},
    {.name = "keep",
     .arg = HS_CLI_VALUE,
     .metavar = "DIR",
     .id = OPT_KEEP,
     .help = "write the profiles into DIR and keep them (a DIR that does not exist is made as "
             "check makes its temporary one)"},
    {.name = "library",
     .arg = HS_CLI_VALUE,
     .metavar = "PATH",
     .id = OPT_LIBRARY,
     .help = "the preload library to use (default: the one beside this program)"},
    {.name = "quiet",
     .short_name = 'q',
     .arg = HS_CLI_SWITCH,
     .id = OPT_QUIET,
     .help = "print only the failures"},
};

const hs_cli_command_t hs_cli_check_command = {
    .name = CMD,
    .synopsis = "[OPTIONS] [--] COMMAND [ARGS...]",
    .summary = "CI gate: run a command under the profiler, fail on leaks or memory bounds.",
    .description =
        "The CI gate. Runs COMMAND under the profiler with a short dump interval (a profile "
        "every 100 ms by default) into a temporary directory, analyses the profiles like "
        "`heapsampler leaks`, and fails with a short reason that names the process and the "
        "call sites when a criterion does not hold. Every process COMMAND starts is profiled "
        "and judged (a server started by a script too), unless --programs or --follow-exec 0 "
        "narrows it; a process idle since its start passes. With --baseline it fails when a "
        "site grows faster than in a baseline (profiles kept from an earlier run with --keep, "
        "or the samples of one value of a label): a memory-regression gate that needs no "
        "absolute limit. COMMAND is the first operand, or what follows --: it and "
        "everything after it are its own command line. Exit status, in this order: 2 for a bad "
        "option; COMMAND's own status when it failed (its exit code, 128+N if it died of signal "
        "N, 127 if not found, 126 if not executable), the criteria being reported all the "
        "same; 125 when check itself could not do its job (no profile written, --max-leaked "
        "without any process's profile written at exit, an explicit --max-growth when no "
        "process had 3 profiles or was idle); 1 when a criterion failed; 0 when COMMAND "
        "succeeded and every criterion held. When COMMAND dies of a signal, check also names "
        "its last profile and the site that held the most memory in it, and for SIGKILL says "
        "whether the OOM killer did it. All output of check goes to stderr.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler check -- ./unit_tests\n"
                "  heapsampler check --max-growth 10M/h --max-inuse 512M -- ./server --selftest\n"
                "  heapsampler check --max-growth off --max-leaked 0 ./tool input.txt\n"
                "  heapsampler check --keep base/ -- ./old_build/server --selftest\n"
                "  heapsampler check --baseline base/ -- ./new_build/server --selftest\n",
    .flags = HS_CLI_STOP_AT_COMMAND,
    .main = check_main,
};
