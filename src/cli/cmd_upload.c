/*
 * cmd_upload.c - `heapsampler upload --pyroscope URL --app NAME [--tag K=V]... FILE...`: backfill
 * Grafana Pyroscope with saved profiles.
 *
 * Profile files carry alloc_* cumulative since their process started; Pyroscope wants the
 * increments of each upload. Files are grouped by process (the name without ".<seq>.pb..."
 * of <prefix>.<pid>.<seq>.pb[.gz|.zst]; a file not named so is a group of its own) and ordered
 * by time_nanos within a group; each is sent as the increase over the previous file of its
 * group (the first as is: it holds everything since its process started), inuse_* as they
 * are, over the window [previous time_nanos, time_nanos] (the first: its own duration), folded
 * under the server's limits, gzipped, with the library's retry rules (network errors, 408, 429
 * and 5xx retried, at most 5 attempts; nothing else).
 *
 * Settings not given as flags come from the environment like the library's (HEAPSAMPLER_
 * PYROSCOPE_URL, APP_NAME, TAGS, PYROSCOPE_USER, PYROSCOPE_TENANT, PYROSCOPE_HEADERS,
 * UPLOAD_TIMEOUT); the password only from HEAPSAMPLER_PYROSCOPE_PASSWORD, so that it never
 * shows in a process list. Exit status: 0 all uploaded, 1 some file unreadable or not
 * uploaded, 2 usage error, 125 libcurl missing.
 *
 * Single-threaded; files are read twice (once for their times, once to send) so that only two
 * profiles are in memory at a time.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "compress.h"
#include "config.h"
#include "os.h"
#include "pprof_reader.h"
#include "profile_delta.h"
#include "profile_fold.h"
#include "pyroscope_check.h"
#include "pyroscope_redact.h"
#include "pyroscope_request.h"

#define CMD          "upload"
#define MAX_ATTEMPTS 5
#define MAX_WAIT_NS  (60ull * 1000000000ull)

extern char **environ;

typedef struct upload_file {
    const char *path;
    size_t group_len; /* length of the path's group key (the name up to ".<seq>") */
    bool own_group;
    uint64_t seq;
    int64_t time_ns, duration_ns;
    bool ok; /* readable */
} upload_file_t;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: heapsampler upload --pyroscope URL --app NAME [--tag K=V]... [OPTIONS] "
            "FILE...\n\n"
            "Send saved profiles to Grafana Pyroscope. alloc_* of each file becomes the increase "
            "over the\n"
            "previous file of the same process (<prefix>.<pid>.<seq>.pb*, ordered by time), as "
            "the library's\n"
            "own uploads do; files of any compression are read.\n\n"
            "Options:\n"
            "  --pyroscope URL    server (else HEAPSAMPLER_PYROSCOPE_URL)\n"
            "  --app NAME         application name (else HEAPSAMPLER_APP_NAME)\n"
            "  --tag K=V          a label of every upload (repeatable; after "
            "HEAPSAMPLER_TAGS)\n"
            "  --user NAME        Basic auth user (else HEAPSAMPLER_PYROSCOPE_USER); the "
            "password is\n"
            "                     read from HEAPSAMPLER_PYROSCOPE_PASSWORD only\n"
            "  --tenant ID        X-Scope-OrgID (else HEAPSAMPLER_PYROSCOPE_TENANT)\n"
            "  --timeout DURATION per request (else HEAPSAMPLER_UPLOAD_TIMEOUT, 5s)\n"
            "  -q, --quiet        print nothing for files uploaded\n\n"
            "Exit status: 0 all uploaded, 1 some file unreadable or refused, 2 bad usage.\n");
}

/* "<stem>.<pid>.<seq>.pb[.gz|.zst]": the length of "<stem>.<pid>" and seq, or false. */
static bool split_name(const char *path, size_t *group_len, uint64_t *seq)
{
    static const char *const suffixes[] = {".pb.gz", ".pb.zst", ".pb", NULL};
    size_t n = strlen(path);
    for (size_t k = 0; suffixes[k]; k++) {
        size_t m = strlen(suffixes[k]);
        if (n <= m || strcmp(path + n - m, suffixes[k]) != 0)
            continue;
        size_t end = n - m, i = end;
        while (i > 0 && path[i - 1] >= '0' && path[i - 1] <= '9')
            i--;
        if (i == end || i < 2 || path[i - 1] != '.')
            return false;
        size_t j = i - 1;
        size_t pid_end = j;
        while (j > 0 && path[j - 1] >= '0' && path[j - 1] <= '9')
            j--;
        if (j == pid_end || j == 0 || path[j - 1] != '.')
            return false;
        uint64_t v = 0;
        for (size_t d = i; d < end; d++)
            v = v * 10 + (uint64_t)(path[d] - '0');
        *seq = v;
        *group_len = pid_end;
        return true;
    }
    return false;
}

static int file_cmp(const void *a, const void *b)
{
    const upload_file_t *x = a, *y = b;
    /* Groups together (by name), then time, then sequence. */
    if (x->own_group != y->own_group)
        return x->own_group ? 1 : -1;
    if (!x->own_group) {
        size_t n = x->group_len < y->group_len ? x->group_len : y->group_len;
        int c = strncmp(x->path, y->path, n);
        if (c || x->group_len != y->group_len)
            return c ? c : (x->group_len < y->group_len ? -1 : 1);
    }
    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return strcmp(x->path, y->path);
}

static bool same_group(const upload_file_t *a, const upload_file_t *b)
{
    return !a->own_group && !b->own_group && a->group_len == b->group_len &&
           strncmp(a->path, b->path, a->group_len) == 0;
}

/* Send one body, retrying what may be retried. Returns true when the server took it. */
static bool send_with_retries(hs_pyroscope_client_t *c, const hs_pyroscope_target_t *t,
                              const uint8_t *body, size_t len, uint64_t from_s, uint64_t until_s,
                              const char *path)
{
    hs_pyroscope_result_t res;
    char what[HS_PYROSCOPE_MESSAGE_MAX + 160];
    for (uint32_t attempt = 1;; attempt++) {
        if (hs_pyroscope_request_post(c, body, len, from_s, until_s, t->timeout_ns, &res) !=
            HS_OK) {
            hs_cli_error(CMD, "%s: out of memory", path);
            return false;
        }
        hs_pyroscope_outcome_t out = hs_pyroscope_request_classify(&res);
        if (out == HS_PYROSCOPE_SENT)
            return true;
        hs_pyroscope_redact_describe(t, &res, what, sizeof what);
        if (out == HS_PYROSCOPE_FAIL || attempt == MAX_ATTEMPTS) {
            hs_cli_error(CMD, "%s: %s%s", path, what,
                         out == HS_PYROSCOPE_FAIL ? " (not retried)" : " (gave up)");
            return false;
        }
        uint64_t wait = hs_pyroscope_request_backoff(1000000000ull, attempt, res.retry_after_s,
                                                     hs_os_random_u64());
        if (wait > MAX_WAIT_NS)
            wait = MAX_WAIT_NS;
        hs_cli_error(CMD, "%s: %s (retrying in %.1f s)", path, what, (double)wait / 1e9);
        struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}

/* Sample values of p, to undo hs_profile_delta_pprof. */
static int64_t *save_values(const hs_pprof_t *p)
{
    size_t nt = p->pb->n_sample_type, n = p->pb->n_sample;
    int64_t *v = malloc((n * nt > 0 ? n * nt : 1) * sizeof *v);
    if (v)
        for (size_t i = 0; i < n; i++)
            memcpy(v + i * nt, p->pb->sample[i]->value, nt * sizeof *v);
    return v;
}

static void restore_values(hs_pprof_t *p, const int64_t *v)
{
    size_t nt = p->pb->n_sample_type;
    for (size_t i = 0; i < p->pb->n_sample; i++)
        memcpy(p->pb->sample[i]->value, v + i * nt, nt * sizeof *v);
}

/* Delta, fold, gzip and send cur (prev: the previous file of its group, or NULL). */
static bool upload_one(hs_pyroscope_client_t *c, const hs_pyroscope_target_t *t,
                       const upload_file_t *f, const hs_pprof_t *prev, int64_t prev_time,
                       hs_pprof_t *cur, bool quiet)
{
    int64_t *saved = save_values(cur);
    uint8_t *raw = NULL, *gz = NULL;
    size_t raw_len = 0, gz_len = 0, folded = 0;
    bool ok = false;
    hs_err_t err = saved ? HS_OK : HS_ERR_NOMEM;
    if (err == HS_OK && prev)
        err = hs_profile_delta_pprof(prev, cur);
    if (err == HS_OK)
        err = hs_profile_fold_pack(cur, HS_PYROSCOPE_MAX_SAMPLES, HS_PYROSCOPE_MAX_BYTES, &raw,
                                   &raw_len, &folded);
    if (err == HS_OK)
        err = hs_compress(HS_COMPRESSION_GZIP, raw, raw_len, &gz, &gz_len);
    if (err != HS_OK) {
        hs_cli_error(CMD, "%s: cannot prepare the upload: %s", f->path, hs_err_str(err));
    } else {
        int64_t from = prev ? prev_time : f->time_ns - f->duration_ns;
        uint64_t until_s = f->time_ns > 0 ? (uint64_t)f->time_ns / 1000000000ull : 0;
        uint64_t from_s = from > 0 ? (uint64_t)from / 1000000000ull : until_s;
        if (from_s > until_s)
            from_s = until_s;
        ok = send_with_retries(c, t, gz, gz_len, from_s, until_s, f->path);
        if (ok && !quiet)
            printf("%s: uploaded (%s, %zu bytes%s)\n", f->path,
                   prev ? "increase over the previous file" : "first of its process", gz_len,
                   folded ? ", smallest stacks folded into [other]" : "");
    }
    if (saved)
        restore_values(cur, saved);
    free(saved);
    free(raw);
    free(gz);
    return ok;
}

/* Flag values; NULL = not given. */
typedef struct upload_args {
    const char *url, *app, *user, *tenant, *timeout;
    char *tags;
    bool quiet;
    const char **files;
    size_t nfiles;
} upload_args_t;

/* Returns an exit status, or -1 to go on. */
static int parse_args(int argc, char **argv, upload_args_t *a)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
        {"pyroscope", offsetof(upload_args_t, url)},   {"app", offsetof(upload_args_t, app)},
        {"user", offsetof(upload_args_t, user)},       {"tenant", offsetof(upload_args_t, tenant)},
        {"timeout", offsetof(upload_args_t, timeout)},
    };
    a->files = calloc((size_t)argc + 1, sizeof *a->files);
    if (!a->files)
        return HS_CLI_EXIT_FAILURE;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options || arg[0] != '-' || strcmp(arg, "-") == 0) {
            a->files[a->nfiles++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options = false;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
            a->quiet = true;
            continue;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        if (nlen == 8 && strncmp(name, "password", 8) == 0) {
            hs_cli_error(CMD, "no --password: set HEAPSAMPLER_PYROSCOPE_PASSWORD (a command "
                              "line is visible to every user of the machine)");
            return HS_CLI_EXIT_USAGE;
        }
        bool known = nlen == 3 && strncmp(name, "tag", 3) == 0;
        size_t k = 0;
        for (; !known && k < HS_ARRAY_LEN(valued); k++)
            if (strlen(valued[k].name) == nlen && strncmp(name, valued[k].name, nlen) == 0)
                break;
        if (!known && k == HS_ARRAY_LEN(valued)) {
            hs_cli_error(CMD, "unknown option %s (see `heapsampler upload --help`)", arg);
            return HS_CLI_EXIT_USAGE;
        }
        if (!value) {
            if (i + 1 >= argc) {
                hs_cli_error(CMD, "option %s needs a value", arg);
                return HS_CLI_EXIT_USAGE;
            }
            value = argv[++i];
        }
        if (known) {
            char why[300];
            if (hs_pyroscope_check_append_tag(&a->tags, value, why, sizeof why) != HS_OK) {
                hs_cli_error(CMD, "invalid --tag: %s", why);
                return HS_CLI_EXIT_USAGE;
            }
        } else {
            *(const char **)((char *)a + valued[k].offset) = value;
        }
    }
    return -1;
}

/* The effective settings: environment, then flags. Returns an exit status or -1. */
static int settings(const upload_args_t *a, hs_config_t *cfg)
{
    static const struct {
        const char *option;
        size_t offset;
    } map[] = {
        {"PYROSCOPE_URL", offsetof(upload_args_t, url)},
        {"APP_NAME", offsetof(upload_args_t, app)},
        {"PYROSCOPE_USER", offsetof(upload_args_t, user)},
        {"PYROSCOPE_TENANT", offsetof(upload_args_t, tenant)},
        {"UPLOAD_TIMEOUT", offsetof(upload_args_t, timeout)},
    };
    char why[300];
    (void)hs_config_load(cfg, environ, false);
    for (size_t k = 0; k < HS_ARRAY_LEN(map); k++) {
        const char *v = *(const char *const *)((const char *)a + map[k].offset);
        const hs_option_t *opt = hs_config_find(map[k].option);
        if (v && hs_config_set(cfg, opt, v, why, sizeof why) != HS_OK) {
            hs_cli_error(CMD, "invalid value \"%s\" for %s: %s", v, map[k].option, why);
            return HS_CLI_EXIT_USAGE;
        }
    }
    if (a->tags) {
        size_t base = strlen(cfg->tags);
        if (base + strlen(a->tags) + 2 > HS_CONFIG_STR_MAX) {
            hs_cli_error(CMD, "too many tags");
            return HS_CLI_EXIT_USAGE;
        }
        if (base)
            cfg->tags[base++] = ',';
        memcpy(cfg->tags + base, a->tags, strlen(a->tags) + 1);
    }
    if (!cfg->pyroscope_url[0]) {
        hs_cli_error(CMD, "no server: give --pyroscope URL (or HEAPSAMPLER_PYROSCOPE_URL)");
        return HS_CLI_EXIT_USAGE;
    }
    if (!cfg->app_name[0]) {
        hs_cli_error(CMD, "no application name: give --app NAME (or HEAPSAMPLER_APP_NAME)");
        return HS_CLI_EXIT_USAGE;
    }
    if (a->nfiles == 0) {
        hs_cli_error(CMD, "no profile files given (see --help)");
        return HS_CLI_EXIT_USAGE;
    }
    return -1;
}

int hs_cli_upload(int argc, char **argv)
{
    upload_args_t a;
    memset(&a, 0, sizeof a);
    hs_config_t *cfg = malloc(sizeof *cfg);
    upload_file_t *files = NULL;
    hs_pyroscope_target_t target;
    hs_pyroscope_client_t *client = NULL;
    bool have_target = false;
    char why[600];
    int rc = cfg ? parse_args(argc, argv, &a) : HS_CLI_EXIT_FAILURE;
    if (rc < 0)
        rc = settings(&a, cfg);
    if (rc >= 0)
        goto out;
    if (hs_pyroscope_request_target_init(&target, cfg, NULL, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "%s", why);
        rc = HS_CLI_EXIT_USAGE;
        goto out;
    }
    have_target = true;

    /* First pass: which files are readable, their process and time. */
    rc = 0;
    files = calloc(a.nfiles, sizeof *files);
    if (!files) {
        rc = HS_CLI_EXIT_FAILURE;
        goto out;
    }
    for (size_t i = 0; i < a.nfiles; i++) {
        upload_file_t *f = &files[i];
        hs_pprof_t p;
        f->path = a.files[i];
        f->own_group = strcmp(f->path, "-") == 0 || !split_name(f->path, &f->group_len, &f->seq);
        if (strcmp(f->path, "-") == 0) {
            hs_cli_error(CMD, "profiles are read from files, not standard input");
            rc = 1;
            continue;
        }
        if (hs_pprof_read_file(f->path, &p, why, sizeof why) != HS_OK) {
            hs_cli_error(CMD, "%s: %s", f->path, why);
            rc = 1;
            continue;
        }
        f->ok = true;
        f->time_ns = p.pb->time_nanos;
        f->duration_ns = p.pb->duration_nanos;
        hs_pprof_free(&p);
    }
    qsort(files, a.nfiles, sizeof *files, file_cmp);
    if (hs_pyroscope_request_client_new(&target, &client, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "%s", why);
        rc = HS_CLI_EXIT_FAILURE;
        goto out;
    }

    /* Second pass, in order: each file against the previous one of its process. */
    hs_pprof_t prev, cur;
    bool have_prev = false;
    const upload_file_t *prev_file = NULL;
    for (size_t i = 0; i < a.nfiles; i++) {
        const upload_file_t *f = &files[i];
        if (!f->ok)
            continue;
        if (hs_pprof_read_file(f->path, &cur, why, sizeof why) != HS_OK) {
            hs_cli_error(CMD, "%s: %s", f->path, why);
            rc = 1;
            continue;
        }
        bool chained = have_prev && same_group(prev_file, f);
        if (!upload_one(client, &target, f, chained ? &prev : NULL,
                        chained ? prev_file->time_ns : 0, &cur, a.quiet))
            rc = 1;
        if (have_prev)
            hs_pprof_free(&prev);
        prev = cur;
        prev_file = f;
        have_prev = true;
    }
    if (have_prev)
        hs_pprof_free(&prev);
out:
    hs_pyroscope_request_client_free(client);
    if (have_target)
        hs_pyroscope_request_target_free(&target);
    free(files);
    free(a.files);
    free(a.tags);
    free(cfg);
    return rc;
}
