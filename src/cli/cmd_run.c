/*
 * cmd_run.c - `heapsampler run [OPTIONS] [--] COMMAND [ARGS...]`: run a command with the profiler
 * preloaded, pass its exit status through, and say which profiles it wrote.
 *
 * Options come from the one option table (config.h) through the parser (cli.c):
 * HEAPSAMPLER_STACK_DEPTH is the flag --stack-depth VALUE (or --stack-depth=VALUE), a boolean
 * also works bare (--follow-exec). Each value is checked as the library will read it, and a
 * bad one is a usage error (exit 2), unlike the preloaded library, which warns and runs on with
 * the default: someone typing a command line wants to hear about the typo before the program
 * runs for an hour.
 *
 * The child gets the variables in its environment and the absolute path of the library that
 * belongs to this CLI (build tree or install) prepended to LD_PRELOAD, existing entries kept and
 * ours never listed twice. Running the command (signal forwarding, exec failures, the exit
 * status) is spawn.c's, and what is said after it died of a signal postmortem.c's, both shared
 * with `check`; so is the mode of an output directory run makes (HEAPSAMPLER_OUTPUT ending in
 * '/' that does not exist yet).
 *
 * What it wrote: every process of the command may write profiles (the library follows the
 * process tree). The directory's profiles are listed before the command starts; afterwards,
 * those that are new (another name, or another inode: a rewrite) are the run's, one line per
 * process, named by its latest profile's metadata, with its peak profile when it wrote one.
 *
 * Single-threaded.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "config.h"
#include "output.h"
#include "postmortem.h"
#include "pprof_file.h"
#include "profile_meta.h"
#include "pyroscope_check.h"
#include "pyroscope_request.h"

#define LIB_NAME "libheapsampler.so"
#define CMD      "run"

typedef struct run_args {
    const char **values; /* per table option: the value given on the command line, or NULL */
    const char *library; /* --library, or NULL */
    bool quiet;
    char **command; /* NULL-terminated */
    char *tags;     /* every --tag K=V, joined with ','; malloc'd */
} run_args_t;

/* ---- flags ------------------------------------------------------------------------------- */

enum { OPT_LIBRARY = 1, OPT_TAG, OPT_QUIET };

/* The profiler options arrive checked (cli.c); run's own are checked here. */
static hs_err_t take(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                     size_t why_len)
{
    run_args_t *a = ctx;
    if (opt->config) {
        a->values[opt->id - HS_CLI_PROFILER_ID] = value;
        return HS_OK;
    }
    switch (opt->id) {
    case OPT_LIBRARY:
        if (!*value) {
            hs_reason(why, why_len, "empty value");
            return HS_ERR_INVALID;
        }
        a->library = value;
        break;
    case OPT_TAG:
        return hs_pyroscope_check_append_tag(&a->tags, value, why, why_len);
    case OPT_QUIET:
        a->quiet = true;
        break;
    }
    return HS_OK;
}

/* ---- Pyroscope ---------------------------------------------------------------------------- */

extern char **environ;

/*
 * The upload settings the child will have (its environment, then the flags), checked as the
 * library will check them: a bad application name, tag, URL or header is a usage error here
 * rather than a warning in the child. *tags gets the HEAPSAMPLER_TAGS to set when --tag was
 * given (--tags, or else the environment's, followed by every --tag), else NULL.
 */
static hs_err_t check_pyroscope(const run_args_t *a, char **tags) HS_MUST_CHECK;
static hs_err_t check_pyroscope(const run_args_t *a, char **tags)
{
    size_t nopts;
    const hs_option_t *opts = hs_config_options(&nopts);
    hs_config_t *cfg = malloc(sizeof *cfg);
    char why[600];
    hs_err_t err = HS_ERR_INVALID;
    *tags = NULL;
    if (!cfg) {
        hs_cli_error(CMD, "out of memory");
        return HS_ERR_NOMEM;
    }
    (void)hs_config_load(cfg, environ, false); /* bad variables: the library reports them */
    for (size_t k = 0; k < nopts; k++)
        if (a->values[k] && hs_config_set(cfg, &opts[k], a->values[k], why, sizeof why) != HS_OK)
            goto out; /* cannot happen: checked while parsing */
    if (a->tags) {
        size_t n = strlen(cfg->tags) + strlen(a->tags) + 2;
        if (n > HS_CONFIG_STR_MAX || !(*tags = malloc(n))) {
            hs_cli_error(CMD, "too many tags");
            goto out;
        }
        size_t base = strlen(cfg->tags);
        memcpy(*tags, cfg->tags, base);
        if (base)
            (*tags)[base++] = ',';
        memcpy(*tags + base, a->tags, strlen(a->tags) + 1);
        memcpy(cfg->tags, *tags, strlen(*tags) + 1);
    }
    err = HS_OK;
    if (cfg->pyroscope_url[0]) {
        hs_pyroscope_target_t t;
        err = hs_pyroscope_request_target_init(&t, cfg, "program", why, sizeof why);
        if (err == HS_OK)
            hs_pyroscope_request_target_free(&t);
        else
            hs_cli_error(CMD, "cannot upload to Pyroscope: %s", why);
    } else if (a->tags || cfg->app_name[0]) {
        /* Tags or a name without a server: still a mistake worth hearing about early. */
        if (hs_pyroscope_check_tags(cfg->tags, why, sizeof why) != HS_OK ||
            (cfg->app_name[0] && hs_pyroscope_check_app(cfg->app_name, why, sizeof why))) {
            hs_cli_error(CMD, "%s", why);
            err = HS_ERR_INVALID;
        }
    }
out:
    if (err != HS_OK) {
        free(*tags);
        *tags = NULL;
    }
    free(cfg);
    return err;
}

/* ---- profiles written -------------------------------------------------------------------- */

/*
 * Where the child's profiles go, as config.c documents HEAPSAMPLER_OUTPUT: a relative prefix
 * is relative to the working directory (the child starts in ours), a directory or a value
 * ending in '/' means <dir>/heapsampler. dir gets the directory to scan, base the file name
 * prefix, and shown the directory as the user should read it ("./", "out/", "/abs/").
 */
static void output_location(const char *value, char *dir, char *base, size_t base_len, char *shown)
{
    char full[PATH_MAX * 2], disp[PATH_MAX * 2];
    if (!value || !*value)
        value = "heapsampler";
    if (value[0] == '/') {
        snprintf(full, sizeof full, "%s", value);
        snprintf(disp, sizeof disp, "%s", value);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            snprintf(cwd, sizeof cwd, ".");
        snprintf(full, sizeof full, "%s/%s", cwd, value);
        bool dotted = strncmp(value, "./", 2) == 0 || strncmp(value, "../", 3) == 0;
        snprintf(disp, sizeof disp, "%s%s", dotted ? "" : "./", value);
    }
    struct stat st;
    size_t n = strlen(full);
    if (full[n - 1] == '/' || (stat(full, &st) == 0 && S_ISDIR(st.st_mode))) {
        const char *sep = full[n - 1] == '/' ? "" : "/";
        size_t m = strlen(full);
        snprintf(full + m, sizeof full - m, "%sheapsampler", sep);
        m = strlen(disp);
        snprintf(disp + m, sizeof disp - m, "%sheapsampler", sep);
    }
    char *slash = strrchr(full, '/'); /* always present: full is absolute */
    snprintf(base, base_len, "%s", slash + 1);
    *slash = '\0';
    snprintf(dir, PATH_MAX, "%s", full[0] ? full : "/");
    slash = strrchr(disp, '/');
    snprintf(shown, PATH_MAX, "%.*s", (int)(slash - disp + 1), disp);
}

/* A numbered profile in the output directory (output.h). */
typedef struct profile_file {
    pid_t pid;
    uint64_t seq;
    ino_t ino; /* a file written anew has a new inode: rename replaced it */
    char *name;
} profile_file_t;

typedef struct profile_list {
    profile_file_t *v;
    size_t n, cap;
} profile_list_t;

static void profiles_free(profile_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int profile_by_name(const void *a, const void *b)
{
    return strcmp(((const profile_file_t *)a)->name, ((const profile_file_t *)b)->name);
}

static int profile_by_pid(const void *a, const void *b)
{
    const profile_file_t *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every profile <base>.<pid>.<seq>.pb* in dir, sorted by name. Out of memory ends the list. */
static void profiles_scan(const char *dir, const char *base, profile_list_t *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        hs_output_name_t parsed;
        if (hs_output_parse_name(e->d_name, &parsed) != HS_OK || !parsed.numbered ||
            parsed.prefix_len != strlen(base) || strncmp(e->d_name, base, parsed.prefix_len) != 0)
            continue;
        if (hs_array_reserve((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, 16) != HS_OK)
            break;
        profile_file_t *f = &l->v[l->n];
        *f = (profile_file_t){.pid = parsed.pid, .seq = parsed.seq, .ino = e->d_ino};
        if (!(f->name = strdup(e->d_name)))
            break;
        l->n++;
    }
    closedir(d);
    if (l->n)
        qsort(l->v, l->n, sizeof *l->v, profile_by_name);
}

/* Keep in after only the files that are not in before as they were (the run's own). */
static void profiles_new(profile_list_t *after, const profile_list_t *before)
{
    size_t kept = 0;
    for (size_t i = 0; i < after->n; i++) {
        profile_file_t *f = &after->v[i];
        const profile_file_t *old =
            before->n ? bsearch(f, before->v, before->n, sizeof *f, profile_by_name) : NULL;
        if (old && old->ino == f->ino) {
            free(f->name);
            continue;
        }
        after->v[kept++] = *f;
    }
    after->n = kept;
}

/* " redis-server" or " postgres (postgres: user db [local] idle)": what the file says. */
static void process_label(const char *dir, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX * 2];
    hs_pprof_t p;
    hs_profile_meta_t m;
    buf[0] = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (hs_pprof_read_file(path, &p, NULL, 0) != HS_OK)
        return;
    if (hs_profile_meta_read(&p, &m) == HS_OK) {
        const char *program = hs_profile_meta_get(&m, "program");
        const char *title = hs_profile_meta_get(&m, "title");
        if (program && *program) {
            int n = snprintf(buf, len, " %s", program);
            if (title && *title && n > 0 && (size_t)n < len)
                snprintf(buf + n, len - (size_t)n, strlen(title) > 60 ? " (%.57s...)" : " (%s)",
                         title);
        }
        hs_profile_meta_free(&m);
    }
    hs_pprof_free(&p);
}

/* " DIR/first DIR/second ... DIR/last": every file when few, else the first and the last; then
 * the process's peak profile when it has one (memwatch.h), and the end of the line. */
static void print_files(const profile_file_t *v, size_t n, const char *dir, const char *base,
                        const char *shown)
{
    for (size_t i = 0; i < n; i++) {
        if (n > 10 && i == 1) {
            fprintf(stderr, " ...");
            i = n - 2;
            continue;
        }
        fprintf(stderr, " %s%s", shown, v[i].name);
    }
    char peak[PATH_MAX * 2];
    struct stat st;
    int k = snprintf(peak, sizeof peak, "%s/%s.%ld.peak.pb.gz", dir, base, (long)v[0].pid);
    if (k > 0 && (size_t)k < sizeof peak && stat(peak, &st) == 0)
        fprintf(stderr, "; peak profile: %s%s.%ld.peak.pb.gz", shown, base, (long)v[0].pid);
    fputc('\n', stderr);
}

#define RUN_PROCESSES_SHOWN 20

/*
 * What the run wrote: the profiles that were not in the output directory before it (`before`),
 * one line per process that wrote any, named as its latest profile names it (its program, and
 * the title it gave itself, as servers do). pid is the process run started.
 */
static void report_profiles(const char *output, const profile_list_t *before, pid_t pid)
{
    char dir[PATH_MAX], base[PATH_MAX], shown[PATH_MAX];
    output_location(output, dir, base, sizeof base, shown);
    profile_list_t l;
    profiles_scan(dir, base, &l);
    profiles_new(&l, before);
    if (l.n == 0) {
        fprintf(stderr, "heapsampler: no profile written (expected %s%s.%ld.*.pb.gz)\n", shown,
                base, (long)pid);
        profiles_free(&l);
        return;
    }
    qsort(l.v, l.n, sizeof *l.v, profile_by_pid);
    size_t nproc = 0;
    for (size_t i = 0; i < l.n; i++)
        nproc += i == 0 || l.v[i].pid != l.v[i - 1].pid;
    if (nproc > 1)
        fprintf(stderr, "heapsampler: %zu processes wrote %zu profiles:\n", nproc, l.n);
    size_t shown_procs = 0, rest_files = 0;
    for (size_t i = 0, j; i < l.n; i = j) {
        for (j = i; j < l.n && l.v[j].pid == l.v[i].pid;)
            j++;
        if (shown_procs == RUN_PROCESSES_SHOWN) {
            rest_files += j - i;
            continue;
        }
        char label[128];
        process_label(dir, l.v[j - 1].name, label, sizeof label);
        fprintf(stderr, "heapsampler: %spid %ld%s: %zu profile%s written:", nproc > 1 ? "  " : "",
                (long)l.v[i].pid, label, j - i, j - i == 1 ? "" : "s");
        print_files(l.v + i, j - i, dir, base, shown);
        shown_procs++;
    }
    if (nproc > shown_procs)
        fprintf(stderr, "heapsampler:   ... %zu more processes wrote %zu profiles\n",
                nproc - shown_procs, rest_files);
    profiles_free(&l);
}

/* Create the output directory the variable names when it ends with '/' and does not exist
 * (hs_cli_make_output_dir says with which mode). */
static int make_output_dir(const char *output)
{
    size_t n = output ? strlen(output) : 0;
    struct stat st;
    if (n == 0 || output[n - 1] != '/' || stat(output, &st) == 0)
        return 0;
    return hs_cli_make_output_dir(CMD, output, false) == HS_OK ? 0 : -1;
}

/* ---- help -------------------------------------------------------------------------------- */

static void help_library(FILE *f)
{
    char lib[PATH_MAX];
    if (hs_cli_find_library(CMD, NULL, false, lib, sizeof lib) == HS_OK)
        fprintf(f, "The library preloaded unless --library says otherwise: %s\n", lib);
    else
        fprintf(f, "No " LIB_NAME " found beside this program: give --library PATH.\n");
}

/* ---- entry ------------------------------------------------------------------------------- */

static int run_main(int argc, char **argv)
{
    size_t nopts;
    const hs_option_t *opts = hs_config_options(&nopts);
    run_args_t a;
    memset(&a, 0, sizeof a);
    a.values = calloc(nopts, sizeof *a.values);
    if (!a.values) {
        hs_cli_error(CMD, "out of memory");
        return HS_CLI_EXIT_FAILURE;
    }
    int rc = HS_CLI_EXIT_FAILURE;
    char *preload = NULL, *tags_value = NULL;

    int noperands;
    if (!hs_cli_parse(&hs_cli_run_command, argc, argv, take, &a, &noperands, &rc))
        goto out;
    if (noperands == 0) {
        hs_cli_error(CMD, "no command given (usage: heapsampler run [OPTIONS] [--] COMMAND "
                          "[ARGS...]; see --help)");
        rc = HS_CLI_EXIT_USAGE;
        goto out;
    }
    a.command = argv + 1;
    rc = HS_CLI_EXIT_FAILURE;

    if (check_pyroscope(&a, &tags_value) != HS_OK) {
        rc = HS_CLI_EXIT_USAGE;
        goto out;
    }

    char lib[PATH_MAX];
    if (hs_cli_find_library(CMD, a.library, true, lib, sizeof lib) != HS_OK) {
        rc = a.library ? HS_CLI_EXIT_USAGE : HS_CLI_EXIT_FAILURE;
        goto out;
    }

    for (size_t k = 0; k < nopts; k++) {
        if (!a.values[k])
            continue;
        char var[128];
        snprintf(var, sizeof var, "HEAPSAMPLER_%s", opts[k].name);
        if (setenv(var, a.values[k], 1) != 0) {
            hs_cli_error(CMD, "setenv %s: %s", var, strerror(errno));
            goto out;
        }
    }
    /*
     * The child is the root of a new profiling session: a marker inherited from a profiled
     * ancestor must not make the library treat it as an exec'd descendant.
     */
    unsetenv("HEAPSAMPLER_ROOT_PID");

    if (tags_value && setenv("HEAPSAMPLER_TAGS", tags_value, 1) != 0) {
        hs_cli_error(CMD, "setenv HEAPSAMPLER_TAGS: %s", strerror(errno));
        goto out;
    }
    preload = hs_cli_preload_value(lib, getenv("LD_PRELOAD"));
    if (!preload || setenv("LD_PRELOAD", preload, 1) != 0) {
        hs_cli_error(CMD, "cannot set LD_PRELOAD: %s", strerror(errno ? errno : ENOMEM));
        goto out;
    }

    if (make_output_dir(getenv("HEAPSAMPLER_OUTPUT")) != 0)
        goto out;
    profile_list_t before = {0};
    if (!a.quiet) {
        char dir[PATH_MAX], base[PATH_MAX], shown[PATH_MAX];
        output_location(getenv("HEAPSAMPLER_OUTPUT"), dir, base, sizeof base, shown);
        profiles_scan(dir, base, &before);
    }
    pid_t pid = 0;
    int sig = 0;
    hs_cli_postmortem_t pm;
    hs_cli_postmortem_begin(&pm);
    rc = hs_cli_spawn(CMD, a.command, a.quiet, &pid, &sig);
    if (!a.quiet && pid > 0) {
        char dir[PATH_MAX], base[PATH_MAX], shown[PATH_MAX];
        output_location(getenv("HEAPSAMPLER_OUTPUT"), dir, base, sizeof base, shown);
        report_profiles(getenv("HEAPSAMPLER_OUTPUT"), &before, pid);
        hs_cli_postmortem_end(&pm, "heapsampler", a.command[0], pid, sig, dir, shown, base);
    }
    profiles_free(&before);
out:
    free(preload);
    free(tags_value);
    free(a.tags);
    free(a.values);
    return rc;
}

static const hs_cli_option_t options[] = {
    {.help = "Options of `run` itself:"},
    {.name = "library",
     .arg = HS_CLI_VALUE,
     .metavar = "PATH",
     .id = OPT_LIBRARY,
     .help = "the preload library to use (default: see below)"},
    {.name = "pyroscope", .arg = HS_CLI_VALUE, .metavar = "URL", .alias_of = "pyroscope-url"},
    {.name = "app", .arg = HS_CLI_VALUE, .metavar = "NAME", .alias_of = "app-name"},
    {.name = "tag",
     .arg = HS_CLI_VALUE,
     .metavar = "K=V",
     .id = OPT_TAG,
     .help = "add a label to the uploads (repeatable; appended to --tags)"},
    {.name = "quiet",
     .short_name = 'q',
     .arg = HS_CLI_SWITCH,
     .id = OPT_QUIET,
     .help = "do not list the profiles written"},
};

const hs_cli_command_t hs_cli_run_command = {
    .name = CMD,
    .synopsis = "[OPTIONS] [--] COMMAND [ARGS...]",
    .summary = "Run a command with the profiler preloaded; list the profiles it wrote.",
    .description =
        "Run COMMAND with " LIB_NAME " preloaded (prepended to LD_PRELOAD) and the options "
        "below set as HEAPSAMPLER_* variables in its environment; options not given keep the "
        "value the environment already has, else the default. COMMAND is the first operand, or "
        "what follows --: it and everything after it are its own command line. Exits with "
        "COMMAND's status: 128+N if it died of signal N, 127 if it was not found, 126 if it "
        "could not be executed, 2 for a bad option of this command, 125 if this command itself "
        "failed. INT, TERM, HUP, QUIT, USR1 and USR2 are forwarded to COMMAND. Every process "
        "COMMAND starts is profiled too, unless --programs or --follow-exec 0 narrows it. "
        "When COMMAND ends, stderr lists the profiles written during the run, one line per "
        "process (its pid and program): <prefix>.<pid>.<seq>.pb.gz, and its peak profile "
        "<prefix>.<pid>.peak.pb.gz. When COMMAND dies of a signal, more lines name its last "
        "profile, why it was written and the site that held the most memory in it, and for "
        "SIGKILL say whether the OOM killer did it (the OOM-kill counter of its memory cgroup "
        "moved while it ran). An output directory (--output ending in /) that does not exist "
        "is created: sticky and world-writable when run as root, so that processes that switch "
        "users can write there too; private otherwise.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler run -- ./server --port 8080\n"
                "  heapsampler run -i 10s -o /tmp/prof/ --stack-depth 32 python3 app.py\n"
                "  heapsampler run --pyroscope http://pyroscope:4040 --app api --tag env=prod "
                "-- ./server\n"
                "  go tool pprof -top /tmp/prof/heapsampler.<pid>.0003.pb.gz\n",
    .flags = HS_CLI_STOP_AT_COMMAND | HS_CLI_PROFILER_OPTIONS,
    .help_extra = help_library,
    .main = run_main,
};
