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
 * under the server's limits, with the samples' labels restricted as the library's uploads are
 * (no label named like a tag, room for the tags in 30 label names, at most
 * HEAPSAMPLER_UPLOAD_LABEL_SETS sets, the others' values "other"), gzipped, with the library's
 * retry rules (network errors, 408, 429 and 5xx retried, at most 5 attempts; nothing else).
 *
 * A peak profile (<prefix>.<pid>.peak.pb.gz) repeats a moment of its process's series: when
 * files of that series are uploaded too it is left out, with a note (its allocations would
 * count twice in the window); alone, it is a group of its own like any other file.
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
#include "output.h"
#include "pprof_file.h"
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
    hs_output_name_t name; /* numbered: grouped by prefix and pid; else a group of its own */
    int64_t time_ns, duration_ns;
    bool ok; /* readable */
} upload_file_t;

/* Groups (prefix, then pid) before files of their own; in a group by time, then sequence. */
static int file_cmp(const void *a, const void *b)
{
    const upload_file_t *x = a, *y = b;
    const hs_output_name_t *nx = &x->name, *ny = &y->name;
    if (nx->numbered != ny->numbered)
        return nx->numbered ? -1 : 1;
    if (nx->numbered) {
        size_t n = nx->prefix_len < ny->prefix_len ? nx->prefix_len : ny->prefix_len;
        int c = strncmp(x->path, y->path, n);
        if (c || nx->prefix_len != ny->prefix_len)
            return c ? c : (nx->prefix_len < ny->prefix_len ? -1 : 1);
        if (nx->pid != ny->pid)
            return nx->pid < ny->pid ? -1 : 1;
    }
    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns ? -1 : 1;
    if (nx->seq != ny->seq)
        return nx->seq < ny->seq ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* Same prefix and pid (numbered or peak names). */
static bool same_process(const upload_file_t *a, const upload_file_t *b)
{
    return (a->name.numbered || a->name.peak) && (b->name.numbered || b->name.peak) &&
           a->name.pid == b->name.pid && a->name.prefix_len == b->name.prefix_len &&
           strncmp(a->path, b->path, a->name.prefix_len) == 0;
}

static bool same_group(const upload_file_t *a, const upload_file_t *b)
{
    return a->name.numbered && b->name.numbered && same_process(a, b);
}

/* A peak profile uploaded with files of its series: left out (see the file comment). */
static bool peak_of_a_series(const upload_file_t *files, int n, const upload_file_t *f)
{
    for (int i = 0; f->name.peak && i < n; i++)
        if (files[i].name.numbered && same_process(&files[i], f))
            return true;
    return false;
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

/*
 * Delta, fold, gzip and send cur (prev: the previous file of its group, or NULL), with its
 * samples' labels as the server takes them (labels).
 */
static bool upload_one(hs_pyroscope_client_t *c, const hs_pyroscope_target_t *t,
                       const hs_profile_fold_labels_t *labels, const upload_file_t *f,
                       const hs_pprof_t *prev, int64_t prev_time, hs_pprof_t *cur, bool quiet)
{
    int64_t *saved = save_values(cur);
    uint8_t *raw = NULL, *gz = NULL;
    size_t raw_len = 0, gz_len = 0, folded = 0;
    bool ok = false;
    hs_err_t err = saved ? HS_OK : HS_ERR_NOMEM;
    if (err == HS_OK && prev)
        err = hs_profile_delta_pprof(prev, cur);
    if (err == HS_OK)
        err = hs_profile_fold_pack_labels(cur, HS_PYROSCOPE_MAX_SAMPLES, HS_PYROSCOPE_MAX_BYTES,
                                          labels, &raw, &raw_len, &folded);
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

typedef struct upload_args {
    hs_config_t *cfg; /* the environment's settings, then the flags' */
    char *tags;       /* every --tag, joined with ','; malloc'd */
    bool quiet;
} upload_args_t;

enum {
    OPT_URL = 1,
    OPT_APP,
    OPT_USER,
    OPT_TENANT,
    OPT_TIMEOUT,
    OPT_LABEL_SETS,
    OPT_TAG,
    OPT_QUIET,
    OPT_PASSWORD
};

/* The variable of the option table that a flag overrides. */
static const char *const variable_of[] = {
    [OPT_URL] = "PYROSCOPE_URL",      [OPT_APP] = "APP_NAME",
    [OPT_USER] = "PYROSCOPE_USER",    [OPT_TENANT] = "PYROSCOPE_TENANT",
    [OPT_TIMEOUT] = "UPLOAD_TIMEOUT", [OPT_LABEL_SETS] = "UPLOAD_LABEL_SETS",
};

/* Settings go straight into the configuration, checked as the library checks them. */
static hs_err_t take(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                     size_t why_len)
{
    upload_args_t *a = ctx;
    switch (opt->id) {
    case OPT_TAG:
        return hs_pyroscope_check_append_tag(&a->tags, value, why, why_len);
    case OPT_QUIET:
        a->quiet = true;
        return HS_OK;
    }
    return hs_config_set(a->cfg, hs_config_find(variable_of[opt->id]), value, why, why_len);
}

/* The flags' tags after the environment's; what must be there. Returns an exit status or -1. */
static int settings(const upload_args_t *a, int nfiles)
{
    hs_config_t *cfg = a->cfg;
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
    if (nfiles == 0) {
        hs_cli_error(CMD, "no profile files given (see --help)");
        return HS_CLI_EXIT_USAGE;
    }
    return -1;
}

static int upload_main(int argc, char **argv)
{
    upload_args_t a;
    memset(&a, 0, sizeof a);
    upload_file_t *files = NULL;
    hs_pyroscope_target_t target;
    hs_pyroscope_client_t *client = NULL;
    bool have_target = false;
    char why[600];
    int rc = HS_CLI_EXIT_FAILURE, nfiles = 0;
    hs_config_t *cfg = a.cfg = malloc(sizeof *a.cfg);
    if (!cfg) {
        hs_cli_error(CMD, "out of memory");
        goto out;
    }
    (void)hs_config_load(cfg, environ, false); /* bad variables: the flags may replace them */
    if (!hs_cli_parse(&hs_cli_upload_command, argc, argv, take, &a, &nfiles, &rc))
        goto out;
    rc = settings(&a, nfiles);
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
    files = calloc((size_t)nfiles, sizeof *files);
    if (!files) {
        rc = HS_CLI_EXIT_FAILURE;
        goto out;
    }
    for (int i = 0; i < nfiles; i++) {
        upload_file_t *f = &files[i];
        hs_pprof_t p;
        f->path = argv[1 + i];
        if (hs_output_parse_name(f->path, &f->name) != HS_OK)
            memset(&f->name, 0, sizeof f->name); /* not numbered: a group of its own */
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
    qsort(files, (size_t)nfiles, sizeof *files, file_cmp);
    if (hs_pyroscope_request_client_new(&target, &client, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "%s", why);
        rc = HS_CLI_EXIT_FAILURE;
        goto out;
    }

    /* The samples' labels as the library's uploads carry them (pyroscope.h). */
    hs_pyroscope_label_room_t room;
    hs_pyroscope_check_label_room(cfg->tags, &room);
    hs_profile_fold_labels_t labels = {
        .drop = room.drop_ptrs,
        .ndrop = room.ndrop,
        .max_names = cfg->upload_label_sets ? room.names : 0,
        .max_sets = cfg->upload_label_sets,
    };

    /* Second pass, in order: each file against the previous one of its process. */
    hs_pprof_t prev, cur;
    bool have_prev = false;
    const upload_file_t *prev_file = NULL;
    for (int i = 0; i < nfiles; i++) {
        const upload_file_t *f = &files[i];
        if (!f->ok)
            continue;
        if (peak_of_a_series(files, nfiles, f)) {
            if (!a.quiet)
                fprintf(stderr,
                        "heapsampler upload: %s: not sent: a peak profile repeats a moment of "
                        "the series uploaded with it (upload it alone to send it)\n",
                        f->path);
            continue;
        }
        if (hs_pprof_read_file(f->path, &cur, why, sizeof why) != HS_OK) {
            hs_cli_error(CMD, "%s: %s", f->path, why);
            rc = 1;
            continue;
        }
        bool chained = have_prev && same_group(prev_file, f);
        if (!upload_one(client, &target, &labels, f, chained ? &prev : NULL,
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
    free(a.tags);
    free(cfg);
    return rc;
}

static const hs_cli_option_t options[] = {
    {.name = "pyroscope",
     .arg = HS_CLI_VALUE,
     .metavar = "URL",
     .id = OPT_URL,
     .help = "server (else HEAPSAMPLER_PYROSCOPE_URL)"},
    {.name = "app",
     .arg = HS_CLI_VALUE,
     .metavar = "NAME",
     .id = OPT_APP,
     .help = "application name (else HEAPSAMPLER_APP_NAME)"},
    {.name = "tag",
     .arg = HS_CLI_VALUE,
     .metavar = "K=V",
     .id = OPT_TAG,
     .help = "a label of every upload (repeatable; after HEAPSAMPLER_TAGS)"},
    {.name = "user",
     .arg = HS_CLI_VALUE,
     .metavar = "NAME",
     .id = OPT_USER,
     .help = "Basic auth user (else HEAPSAMPLER_PYROSCOPE_USER); the password is read from "
             "HEAPSAMPLER_PYROSCOPE_PASSWORD only"},
    {.name = "tenant",
     .arg = HS_CLI_VALUE,
     .metavar = "ID",
     .id = OPT_TENANT,
     .help = "X-Scope-OrgID (else HEAPSAMPLER_PYROSCOPE_TENANT)"},
    {.name = "timeout",
     .arg = HS_CLI_VALUE,
     .metavar = "DURATION",
     .id = OPT_TIMEOUT,
     .help = "per request (else HEAPSAMPLER_UPLOAD_TIMEOUT, 5s)"},
    {.name = "label-sets",
     .arg = HS_CLI_VALUE,
     .metavar = "N",
     .id = OPT_LABEL_SETS,
     .help = "distinct label sets per upload, the others' values sent as other; 0 sends no "
             "labels (else HEAPSAMPLER_UPLOAD_LABEL_SETS, 16)"},
    {.name = "password",
     .arg = HS_CLI_REFUSED,
     .id = OPT_PASSWORD,
     .help = "set HEAPSAMPLER_PYROSCOPE_PASSWORD (a command line is visible to every user of "
             "the machine)"},
    {.name = "quiet",
     .short_name = 'q',
     .arg = HS_CLI_SWITCH,
     .id = OPT_QUIET,
     .help = "print nothing for files uploaded"},
};

const hs_cli_command_t hs_cli_upload_command = {
    .name = CMD,
    .synopsis = "--pyroscope URL --app NAME [--tag K=V]... FILE...",
    .summary = "Send saved profiles to Grafana Pyroscope (alloc_* as increments).",
    .description =
        "Send saved profiles to Grafana Pyroscope. alloc_* of each file becomes the increase "
        "over the previous file of the same process (<prefix>.<pid>.<seq>.pb*, ordered by "
        "time), as the library's own uploads do; files of any compression are read. Exit "
        "status: 0 all uploaded, 1 some file unreadable or refused, 2 bad usage.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler upload prof/*.pb.gz --pyroscope http://pyroscope:4040 --app api\n"
                "  heapsampler upload heapsampler.4242.*.pb.gz --app api --tag env=ci  # URL from "
                "the environment\n",
    .main = upload_main,
};
