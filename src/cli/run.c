/*
 * run.c - `heapsampler run [OPTIONS] [--] COMMAND [ARGS...]`: run a command with the profiler
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
 * ours never listed twice. Process rules:
 *  - The forwarded signals (INT TERM HUP QUIT USR1 USR2) are blocked from before fork until
 *    the child's pid is known, so none arrives while there is no one to forward it to. The
 *    child restores the original dispositions and mask before exec.
 *  - A signal the terminal sent to the whole foreground process group (si_code SI_KERNEL)
 *    already reached the child if it is still in our group; forwarding it would deliver it
 *    twice (a second Ctrl-C often means "force quit"), so it is forwarded only otherwise.
 *  - exec failures travel back over a close-on-exec pipe as an errno, so the parent reports
 *    "command not found" (127) or "not executable" (126) like a shell does.
 *
 * Single-threaded; the signal handler only reads one pid and calls kill(2).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "config.h"
#include "pyroscope_http.h"

#define LIB_NAME "libheapsampler.so"
#define CMD      "run"

static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

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
            if (hs_pyroscope_http_append_tag(&a->tags, value, why, sizeof why) != HS_OK) {
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
        err = hs_pyroscope_http_target_init(&t, cfg, "program", why, sizeof why);
        if (err == HS_OK)
            hs_pyroscope_http_target_free(&t);
        else
            hs_cli_error(CMD, "cannot upload to Pyroscope: %s", why);
    } else if (a->tags || cfg->app_name[0]) {
        /* Tags or a name without a server: still a mistake worth hearing about early. */
        if (hs_pyroscope_http_check_tags(cfg->tags, why, sizeof why) != HS_OK ||
            (cfg->app_name[0] && hs_pyroscope_http_check_app(cfg->app_name, why, sizeof why))) {
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

/* ---- the library ------------------------------------------------------------------------- */

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The library that belongs to this CLI: next to it (build tree), else in the install's
 * library directory; --library overrides both. out gets an absolute, resolved path. Problems
 * are reported on stderr when report is true.
 */
static hs_err_t find_library(const char *explicit_path, bool report, char *out,
                             size_t len) HS_MUST_CHECK;
static hs_err_t find_library(const char *explicit_path, bool report, char *out, size_t len)
{
    char resolved[PATH_MAX];
    if (explicit_path) {
        if (!realpath(explicit_path, resolved)) {
            if (report)
                hs_cli_error(CMD, "--library %s: %s", explicit_path, strerror(errno));
            return HS_ERR_NOTFOUND;
        }
        if (!is_regular_file(resolved)) {
            if (report)
                hs_cli_error(CMD, "--library %s: not a regular file", explicit_path);
            return HS_ERR_INVALID;
        }
        snprintf(out, len, "%s", resolved);
        return HS_OK;
    }

    char self[PATH_MAX];
    if (!realpath("/proc/self/exe", self)) {
        if (report)
            hs_cli_error(CMD,
                         "cannot find this program's own path (/proc/self/exe: %s); "
                         "pass --library PATH",
                         strerror(errno));
        return HS_ERR_IO;
    }
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';

    char cand[2][PATH_MAX + 64];
    snprintf(cand[0], sizeof cand[0], "%s/" LIB_NAME, self);
    const char *libdir = HS_INSTALL_LIBDIR_REL;
    if (libdir[0] == '/')
        snprintf(cand[1], sizeof cand[1], "%s/" LIB_NAME, libdir);
    else
        snprintf(cand[1], sizeof cand[1], "%s/../%s/" LIB_NAME, self, libdir);

    for (int c = 0; c < 2; c++) {
        if (is_regular_file(cand[c]) && realpath(cand[c], resolved)) {
            snprintf(out, len, "%s", resolved);
            return HS_OK;
        }
    }
    if (report)
        hs_cli_error(CMD, "cannot find " LIB_NAME " (looked for %s and %s); pass --library PATH",
                     cand[0], cand[1]);
    return HS_ERR_NOTFOUND;
}

/*
 * LD_PRELOAD for the child: our library first, then every existing entry except ours. The
 * loader splits the list on spaces and colons; entries are rejoined with ':'.
 */
static char *preload_value(const char *lib, const char *old)
{
    size_t cap = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *out = malloc(cap);
    char *copy = old ? strdup(old) : NULL;
    if (!out || (old && !copy)) {
        free(out);
        free(copy);
        return NULL;
    }
    strcpy(out, lib);
    if (copy) {
        char *save = NULL;
        for (char *tok = strtok_r(copy, " :", &save); tok; tok = strtok_r(NULL, " :", &save)) {
            char resolved[PATH_MAX];
            if (strcmp(tok, lib) == 0 ||
                (strchr(tok, '/') && realpath(tok, resolved) && strcmp(resolved, lib) == 0))
                continue;
            strcat(out, ":");
            strcat(out, tok);
        }
    }
    free(copy);
    return out;
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

/* ---- the child --------------------------------------------------------------------------- */

static volatile pid_t child_pid;

static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    int saved = errno;
    pid_t pid = child_pid;
    if (pid > 0) {
        bool group_wide = si && si->si_code == SI_KERNEL && getpgid(pid) == getpgrp();
        if (!group_wide)
            kill(pid, sig);
    }
    errno = saved;
}

/* Returns the exit status for the CLI. */
static int spawn_and_wait(char **command, const char *output, bool quiet)
{
    size_t nsig = HS_ARRAY_LEN(forwarded_signals);
    struct sigaction old_act[HS_ARRAY_LEN(forwarded_signals)];
    sigset_t fwd, old_mask;
    sigemptyset(&fwd);
    for (size_t i = 0; i < nsig; i++)
        sigaddset(&fwd, forwarded_signals[i]);
    sigprocmask(SIG_BLOCK, &fwd, &old_mask);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < nsig; i++)
        sigaction(forwarded_signals[i], &sa, &old_act[i]);

    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        hs_cli_error(CMD, "pipe: %s", strerror(errno));
        return HS_CLI_EXIT_FAILURE;
    }
    fflush(NULL);

    pid_t pid = fork();
    if (pid < 0) {
        hs_cli_error(CMD, "fork: %s", strerror(errno));
        return HS_CLI_EXIT_FAILURE;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        for (size_t i = 0; i < nsig; i++)
            sigaction(forwarded_signals[i], &old_act[i], NULL);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        close(status_pipe[0]);
        execvp(command[0], command);
        int err = errno;
        ssize_t w = write(status_pipe[1], &err, sizeof err);
        (void)w;
        _exit(err == ENOENT ? 127 : 126);
    }

    child_pid = pid;
    sigprocmask(SIG_SETMASK, &old_mask, NULL); /* pending signals are forwarded now */
    close(status_pipe[1]);

    int exec_errno = 0;
    ssize_t r;
    do {
        r = read(status_pipe[0], &exec_errno, sizeof exec_errno);
    } while (r < 0 && errno == EINTR);
    close(status_pipe[0]);
    bool exec_failed = r == (ssize_t)sizeof exec_errno;

    int status = 0;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    child_pid = 0;
    if (w < 0) {
        hs_cli_error(CMD, "waitpid: %s", strerror(errno));
        return HS_CLI_EXIT_FAILURE;
    }

    if (exec_failed) {
        if (exec_errno == ENOENT) {
            if (strchr(command[0], '/'))
                hs_cli_error(CMD, "%s: command not found (no such file or directory)", command[0]);
            else
                hs_cli_error(CMD, "%s: command not found", command[0]);
            return 127;
        }
        hs_cli_error(CMD, "%s: not executable (%s)", command[0], strerror(exec_errno));
        return 126;
    }

    int code;
    if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        code = 128 + WTERMSIG(status);
        if (!quiet)
            fprintf(stderr, "heapsampler: %s (pid %ld) died of signal %d (%s)\n", command[0],
                    (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        code = HS_CLI_EXIT_FAILURE;
    }
    if (!quiet)
        report_profiles(output, pid);
    return code;
}

/* ---- help -------------------------------------------------------------------------------- */

/* Print text wrapped at 100 columns, each line indented by indent spaces. */
static void print_wrapped(FILE *f, const char *text, int indent)
{
    const int width = 100;
    const char *s = text;
    while (*s) {
        int room = width - indent;
        int len = (int)strlen(s);
        int cut = len;
        if (len > room) {
            cut = room;
            while (cut > 0 && s[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = room;
        }
        fprintf(f, "%*s%.*s\n", indent, "", cut, s);
        s += cut;
        while (*s == ' ')
            s++;
    }
}

static void print_help(FILE *f)
{
    size_t nopts;
    const hs_option_t *opts = hs_config_options(&nopts);
    fprintf(f, "Usage: heapsampler run [OPTIONS] [--] COMMAND [ARGS...]\n\n");
    print_wrapped(f,
                  "Run COMMAND with " LIB_NAME " preloaded (prepended to LD_PRELOAD) and the "
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
        print_wrapped(f, o->help, 8);
    }

    char lib[PATH_MAX];
    fprintf(f, "\nOptions of `run` itself:\n");
    fprintf(f, "%-34s %s\n", "      --library PATH", "the preload library to use");
    bool found = find_library(NULL, false, lib, sizeof lib) == HS_OK;
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
    if (find_library(a.library, true, lib, sizeof lib) != HS_OK) {
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
    preload = preload_value(lib, getenv("LD_PRELOAD"));
    if (!preload || setenv("LD_PRELOAD", preload, 1) != 0) {
        hs_cli_error(CMD, "cannot set LD_PRELOAD: %s", strerror(errno ? errno : ENOMEM));
        goto out;
    }

    rc = spawn_and_wait(a.command, getenv("HEAPSAMPLER_OUTPUT"), a.quiet);
out:
    free(preload);
    free(tags_value);
    free(a.tags);
    free(a.values);
    return rc;
}
