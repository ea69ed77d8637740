/*
 * cmd_run.c - `heapsampler run [OPTIONS] [--] COMMAND [ARGS...]`: run a command with the profiler
 * preloaded, pass its exit status through, and say which profiles it wrote.
 *
 * Options come from the one option table (config.h): HEAPSAMPLER_STACK_DEPTH is the flag
 * --stack-depth VALUE (or --stack-depth=VALUE), a boolean also works bare (--follow-exec).
 * Each value is validated here with hs_config_set and a bad one is a usage error (exit 2),
 * unlike the preloaded library, which warns and runs on with the default: someone typing a
 * command line wants to hear about the typo before the program runs for an hour.
 *
 * The child gets the variables in its environment and the absolute path of the library that
 * belongs to this CLI (build tree or install) prepended to LD_PRELOAD, existing entries kept and
 * ours never listed twice. Running the command (signal forwarding, exec failures, the exit
 * status) is spawn.c's, shared with `check`.
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
#include "pyroscope_check.h"
#include "pyroscope_request.h"

#define LIB_NAME "libheapsampler.so"
#define CMD      "run"

typedef struct run_args {
    const char **values; /* per table option: the value given on the command line, or NULL */
    const char *library; /* --library, or NULL */
    bool quiet;
    bool help;
    char **command; /* NULL-terminated */
    char *tags;     /* every --tag K=V, joined with ','; malloc'd */
} run_args_t;

/* ---- flags ------------------------------------------------------------------------------- */

/* "STACK_DEPTH" -> "stack-depth". */
static void flag_name(const hs_option_t *opt, char *buf, size_t len)
{
    size_t i = 0;
    for (; opt->name[i] && i + 1 < len; i++)
        buf[i] = opt->name[i] == '_' ? '-' : (char)(opt->name[i] | 0x20);
    buf[i] = '\0';
}

static char short_alias(const hs_option_t *opt)
{
    if (strcmp(opt->name, "RATE") == 0)
        return 'r';
    if (strcmp(opt->name, "OUTPUT") == 0)
        return 'o';
    if (strcmp(opt->name, "INTERVAL") == 0)
        return 'i';
    return 0;
}

static const char *metavar(const hs_option_t *opt)
{
    switch (opt->type) {
    case HS_OPT_BOOL:
        return "[BOOL]";
    case HS_OPT_U64:
        return "N";
    case HS_OPT_SIZE:
        return "BYTES";
    case HS_OPT_DURATION:
        return "DURATION";
    case HS_OPT_STRING:
        return strcmp(opt->name, "OUTPUT") == 0          ? "PREFIX"
               : strcmp(opt->name, "PYROSCOPE_URL") == 0 ? "URL"
               : strcmp(opt->name, "APP_NAME") == 0      ? "NAME"
               : strcmp(opt->name, "TAGS") == 0          ? "K=V,..."
                                                         : "STRING";
    case HS_OPT_ENUM:
        return "NAME";
    case HS_OPT_SIGNAL:
        return "SIGNAL";
    case HS_OPT_SECRET:
        return "SECRET";
    }
    return "VALUE";
}

static bool is_bool_word(const char *s)
{
    static const char *const words[] = {"1", "0", "true", "false", "yes", "no", "on", "off"};
    for (size_t i = 0; i < HS_ARRAY_LEN(words); i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

/* Validate value for opt and remember it; a usage error if it is bad. */
static hs_err_t take_value(run_args_t *a, hs_config_t *scratch, size_t idx, const hs_option_t *opt,
                           const char *value)
{
    char why[160], flag[64];
    if (hs_config_set(scratch, opt, value, why, sizeof why) != HS_OK) {
        flag_name(opt, flag, sizeof flag);
        hs_cli_error(CMD, "invalid --%s \"%s\": %s", flag,
                     opt->type == HS_OPT_SECRET ? "<hidden>" : value, why);
        return HS_ERR_INVALID;
    }
    a->values[idx] = value;
    return HS_OK;
}

static hs_err_t parse_args(int argc, char **argv, run_args_t *a) HS_MUST_CHECK;
static hs_err_t parse_args(int argc, char **argv, run_args_t *a)
{
    size_t nopts;
    const hs_option_t *opts = hs_config_options(&nopts);
    hs_config_t scratch;
    hs_config_defaults(&scratch);

    int i = 1;
    while (i < argc) {
        char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* the command */

        if (arg[1] != '-') {
            /* Short options: -q, -h, and -r/-o/-i VALUE (or -rVALUE). */
            char c = arg[1];
            if ((c == 'q' || c == 'h') && arg[2] == '\0') {
                a->quiet |= c == 'q';
                a->help |= c == 'h';
                i++;
                continue;
            }
            size_t k = 0;
            while (k < nopts && (short_alias(&opts[k]) != c || c == 0))
                k++;
            if (k == nopts) {
                hs_cli_error(CMD, "unknown option %s (see `heapsampler run --help`)", arg);
                return HS_ERR_INVALID;
            }
            const char *value = arg[2] ? arg + 2 : NULL;
            if (!value) {
                if (i + 1 >= argc) {
                    hs_cli_error(CMD, "option -%c needs a value", c);
                    return HS_ERR_INVALID;
                }
                value = argv[++i];
            }
            if (take_value(a, &scratch, k, &opts[k], value) != HS_OK)
                return HS_ERR_INVALID;
            i++;
            continue;
        }

        /* Long options: --name VALUE or --name=VALUE. */
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;

        if (name_len == 4 && strncmp(name, "help", 4) == 0 && !value) {
            a->help = true;
            i++;
            continue;
        }
        if (name_len == 5 && strncmp(name, "quiet", 5) == 0 && !value) {
            a->quiet = true;
            i++;
            continue;
        }
        if (name_len == 7 && strncmp(name, "library", 7) == 0) {
            if (!value) {
                if (i + 1 >= argc) {
                    hs_cli_error(CMD, "option --library needs a value");
                    return HS_ERR_INVALID;
                }
                value = argv[++i];
            }
            if (*value == '\0') {
                hs_cli_error(CMD, "invalid --library \"\": empty value");
                return HS_ERR_INVALID;
            }
            a->library = value;
            i++;
            continue;
        }
        if (name_len == 3 && strncmp(name, "tag", 3) == 0) {
            if (!value) {
                if (i + 1 >= argc) {
                    hs_cli_error(CMD, "option --tag needs a value (K=V)");
                    return HS_ERR_INVALID;
                }
                value = argv[++i];
            }
            char why[300];
            if (hs_pyroscope_check_append_tag(&a->tags, value, why, sizeof why) != HS_OK) {
                hs_cli_error(CMD, "invalid --tag: %s", why);
                return HS_ERR_INVALID;
            }
            i++;
            continue;
        }

        /* Short names of the Pyroscope options: --pyroscope URL, --app NAME. */
        const char *alias = name_len == 9 && strncmp(name, "pyroscope", 9) == 0 ? "pyroscope-url"
                            : name_len == 3 && strncmp(name, "app", 3) == 0     ? "app-name"
                                                                                : NULL;
        if (alias) {
            name = alias;
            name_len = strlen(alias);
        }
        size_t k = 0;
        char flag[64];
        for (; k < nopts; k++) {
            flag_name(&opts[k], flag, sizeof flag);
            if (strlen(flag) == name_len && strncmp(flag, name, name_len) == 0)
                break;
        }
        if (k == nopts) {
            hs_cli_error(CMD, "unknown option --%.*s (see `heapsampler run --help`)", (int)name_len,
                         name);
            return HS_ERR_INVALID;
        }
        if (!value) {
            if (opts[k].type == HS_OPT_BOOL) {
                /*
                 * A boolean takes the next word as its value only when it is a boolean word
                 * and something follows it: `--follow-exec true` alone runs `true`.
                 */
                if (i + 2 < argc && is_bool_word(argv[i + 1]))
                    value = argv[++i];
                else
                    value = "1";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                hs_cli_error(CMD, "option --%s needs a value", flag);
                return HS_ERR_INVALID;
            }
        }
        if (take_value(a, &scratch, k, &opts[k], value) != HS_OK)
            return HS_ERR_INVALID;
        i++;
    }
    a->command = i < argc ? argv + i : NULL;
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

typedef struct profile_file {
    uint64_t seq;
    char *name;
} profile_file_t;

static int profile_cmp(const void *a, const void *b)
{
    const profile_file_t *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "<base>.<pid>.<digits>.pb[.gz|.zst]" - and not a temporary "<...>.tmp.<random>". */
static bool profile_name_matches(const char *name, const char *stem, uint64_t *seq)
{
    size_t n = strlen(stem);
    if (strncmp(name, stem, n) != 0)
        return false;
    const char *s = name + n;
    if (!(*s >= '0' && *s <= '9'))
        return false;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        if (v < UINT64_MAX / 10)
            v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (strcmp(s, ".pb.gz") != 0 && strcmp(s, ".pb.zst") != 0 && strcmp(s, ".pb") != 0)
        return false;
    *seq = v;
    return true;
}

/* One line on stderr: the profiles <prefix>.<pid>.* that exist now. */
static void report_profiles(const char *output, pid_t pid)
{
    char dir[PATH_MAX], base[PATH_MAX], shown[PATH_MAX], stem[PATH_MAX + 32];
    output_location(output, dir, base, sizeof base, shown);
    snprintf(stem, sizeof stem, "%s.%ld.", base, (long)pid);

    profile_file_t *files = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            uint64_t seq;
            if (!profile_name_matches(e->d_name, stem, &seq))
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                profile_file_t *nf = realloc(files, ncap * sizeof *nf);
                if (!nf)
                    break;
                files = nf;
                cap = ncap;
            }
            files[n].seq = seq;
            files[n].name = strdup(e->d_name);
            if (files[n].name)
                n++;
        }
        closedir(d);
    }

    if (n == 0) {
        fprintf(stderr, "heapsampler: no profile written (expected %s%s*.pb.gz)\n", shown, stem);
    } else {
        qsort(files, n, sizeof *files, profile_cmp);
        fprintf(stderr, "heapsampler: %zu profile%s written:", n, n == 1 ? "" : "s");
        /* Every file when few; the first and the last when many, so the line stays a line. */
        for (size_t i = 0; i < n; i++) {
            if (n > 10 && i == 1) {
                fprintf(stderr, " ...");
                i = n - 2;
                continue;
            }
            fprintf(stderr, " %s%s", shown, files[i].name);
        }
        fputc('\n', stderr);
    }
    for (size_t i = 0; i < n; i++)
        free(files[i].name);
    free(files);
}

/* ---- help -------------------------------------------------------------------------------- */
static void print_help(FILE *f)
{
    size_t nopts;
    const hs_option_t *opts = hs_config_options(&nopts);
    fprintf(f, "Usage: heapsampler run [OPTIONS] [--] COMMAND [ARGS...]\n\n");
    hs_cli_print_wrapped(f,
                         "Run COMMAND with " LIB_NAME
                         " preloaded (prepended to LD_PRELOAD) and the "
                         "options below set as HEAPSAMPLER_* variables in its environment; options "
                         "not given keep the value the environment already has, else the default. "
                         "Exits with COMMAND's status: 128+N if it died of signal N, 127 if it was "
                         "not found, 126 if it could not be executed, 2 for a bad option of this "
                         "command, 125 if this command itself failed. INT, TERM, HUP, QUIT, USR1 "
                         "and USR2 are forwarded to COMMAND. When COMMAND ends, one line on stderr "
                         "lists the profiles it wrote: <prefix>.<pid>.<seq>.pb.gz.",
                         0);
    fprintf(f, "\nProfiler options (--name VALUE or --name=VALUE; a boolean alone means 1):\n");
    for (size_t k = 0; k < nopts; k++) {
        const hs_option_t *o = &opts[k];
        char flag[64], head[160], first[256];
        flag_name(o, flag, sizeof flag);
        char alias = short_alias(o);
        if (alias)
            snprintf(head, sizeof head, "  -%c, --%s %s", alias, flag, metavar(o));
        else
            snprintf(head, sizeof head, "      --%s %s", flag, metavar(o));
        snprintf(first, sizeof first, "HEAPSAMPLER_%s, default %s", o->name,
                 o->def[0] ? o->def : "\"\"");
        if (o->type == HS_OPT_ENUM) {
            size_t m = strlen(first);
            snprintf(first + m, sizeof first - m, ", one of");
            for (int c = 0; o->choices[c]; c++) {
                m = strlen(first);
                snprintf(first + m, sizeof first - m, "%s %s", c ? "," : "", o->choices[c]);
            }
        }
        fprintf(f, "%-34s %s\n", head, first);
        hs_cli_print_wrapped(f, o->help, 8);
    }

    char lib[PATH_MAX];
    fprintf(f, "\nOptions of `run` itself:\n");
    fprintf(f, "%-34s %s\n", "      --library PATH", "the preload library to use");
    bool found = hs_cli_find_library(CMD, NULL, false, lib, sizeof lib) == HS_OK;
    fprintf(f, "%-34s (default: %s)\n", "", found ? lib : "none found beside this program");
    fprintf(f, "%-34s %s\n", "      --pyroscope URL", "same as --pyroscope-url URL");
    fprintf(f, "%-34s %s\n", "      --app NAME", "same as --app-name NAME");
    fprintf(f, "%-34s %s\n", "      --tag K=V",
            "add a label to the uploads (repeatable; appended to --tags)");
    fprintf(f, "%-34s %s\n", "  -q, --quiet", "do not list the profiles written");
    fprintf(f, "%-34s %s\n", "  -h, --help", "show this help");
    fprintf(f, "\nExamples:\n"
               "  heapsampler run -- ./server --port 8080\n"
               "  heapsampler run -i 10s -o /tmp/prof/ --stack-depth 32 -- python3 app.py\n"
               "  heapsampler run --pyroscope http://pyroscope:4040 --app api --tag env=prod "
               "-- ./server\n"
               "  go tool pprof -top /tmp/prof/heapsampler.<pid>.0003.pb.gz\n");
}

/* ---- entry ------------------------------------------------------------------------------- */

int hs_cli_run(int argc, char **argv)
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

    if (parse_args(argc, argv, &a) != HS_OK) {
        rc = HS_CLI_EXIT_USAGE;
        goto out;
    }
    if (a.help) {
        print_help(stdout);
        rc = 0;
        goto out;
    }
    if (!a.command) {
        hs_cli_error(CMD, "no command given (usage: heapsampler run [OPTIONS] [--] COMMAND "
                          "[ARGS...]; see --help)");
        rc = HS_CLI_EXIT_USAGE;
        goto out;
    }

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

    pid_t pid = 0;
    rc = hs_cli_spawn(CMD, a.command, a.quiet, &pid);
    if (!a.quiet && pid > 0)
        report_profiles(getenv("HEAPSAMPLER_OUTPUT"), pid);
out:
    free(preload);
    free(tags_value);
    free(a.tags);
    free(a.values);
    return rc;
}
