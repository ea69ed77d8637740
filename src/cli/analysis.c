/*
 * analysis.c - shared pieces of the analysis commands (see analysis.h): flags, loading
 * profiles and leak analyses with one clear error line per bad file, formats.
 *
 * The shared flags are rows that each command puts in its option table (analysis.h) and one
 * take function that checks and keeps their values; parsing itself is cli.c's. Number formats
 * are fixed (C locale, 3 significant digits) because the table formats are tested against
 * golden files.
 *
 * Single-threaded; allocates.
 */
#include "analysis.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

/* ---- flags ------------------------------------------------------------------------------- */

void hs_cli_opts_init(hs_cli_opts_t *o)
{
    memset(o, 0, sizeof *o);
    hs_sites_query_init(&o->q);
    o->top = HS_CLI_DEFAULT_TOP;
    o->sigma = HS_CLI_DEFAULT_SIGMA;
    o->tolerance = HS_BASELINE_DEFAULT_TOLERANCE;
}

/* "label:KEY=VALUE" as a condition on samples (its strings point into spec). */
static hs_err_t hs_cli_label_condition(const char *spec, hs_sites_query_t *q, bool negate,
                                       char *why, size_t why_len)
{
    if (strncmp(spec, "label:", 6) != 0) {
        hs_reason(why, why_len, "not label:KEY=VALUE");
        return HS_ERR_INVALID;
    }
    return hs_sites_add_focus(q, spec + 6, negate, why, why_len);
}

void hs_cli_opts_free(hs_cli_opts_t *o)
{
    hs_sites_skip_free(&o->skip);
}

hs_err_t hs_cli_take_analysis(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                              size_t why_len)
{
    hs_cli_opts_t *o = ctx;
    const char *reason = NULL;
    char *end;
    switch (opt->id) {
    case HS_CLI_OPT_TYPE:
        o->q.type = value;
        reason = *value ? NULL : "empty";
        break;
    case HS_CLI_OPT_BY:
        return hs_sites_parse_by(&o->q, value, why, why_len);
    case HS_CLI_OPT_FOCUS:
        return hs_sites_add_focus(&o->q, value, false, why, why_len);
    case HS_CLI_OPT_BASELINE:
    case HS_CLI_OPT_CANDIDATE: {
        /* Checked now; applied by hs_cli_load_comparison. */
        hs_sites_query_t scratch;
        hs_sites_query_init(&scratch);
        o->baseline = opt->id == HS_CLI_OPT_BASELINE ? value : o->baseline;
        o->candidate = opt->id == HS_CLI_OPT_CANDIDATE ? value : o->candidate;
        if (!*value)
            reason = "empty";
        else if ((opt->id == HS_CLI_OPT_CANDIDATE || strncmp(value, "label:", 6) == 0) &&
                 hs_cli_label_condition(value, &scratch, false, why, why_len) != HS_OK)
            return HS_ERR_INVALID;
        break;
    }
    case HS_CLI_OPT_TOLERANCE: {
        errno = 0;
        o->tolerance = strtod(value, &end) / 100;
        if (*end == '%')
            end++;
        if (!*value || *end || errno || !(o->tolerance >= 0) || o->tolerance > 10)
            reason = "not a percentage between 0 and 1000 (e.g. 25%)";
        break;
    }
    case HS_CLI_OPT_TOP:
        errno = 0;
        unsigned long long top = strtoull(value, &end, 10);
        if (!*value || *end || errno || value[0] == '-')
            reason = "not a non-negative integer";
        o->top = (size_t)top;
        break;
    case HS_CLI_OPT_SIGMA:
        errno = 0;
        o->sigma = strtod(value, &end);
        if (!*value || *end || errno || !(o->sigma > 0) || o->sigma > 100)
            reason = "not a number between 0 and 100 (e.g. 3)";
        break;
    case HS_CLI_OPT_THRESHOLD:
        if (hs_cli_parse_size(value, &o->threshold, &reason) == HS_OK)
            reason = NULL;
        break;
    case HS_CLI_OPT_ALL:
        o->all = true;
        break;
    case HS_CLI_OPT_JSON:
        o->json = true;
        break;
    case HS_CLI_OPT_HTML:
        o->html = value;
        reason = *value ? NULL : "empty";
        break;
    case HS_CLI_OPT_SKIP:
        if (!*value) {
            reason = "empty";
            break;
        }
        /* A copy of o (check's) keeps pointing at this one's expressions, which outlive it. */
        o->q.skip = &o->skip;
        return hs_sites_skip_add(&o->skip, value, why, why_len);
    }
    if (!reason)
        return HS_OK;
    hs_reason(why, why_len, "%s", reason);
    return HS_ERR_INVALID;
}

hs_err_t hs_cli_parse_size(const char *s, double *out, const char **why)
{
    uint64_t v;
    hs_err_t err = hs_config_parse_size(s, &v, why);
    if (err == HS_OK)
        *out = (double)v;
    return err;
}

hs_err_t hs_cli_parse_rate(const char *s, double *per_second, const char **why)
{
    static const char *bad = "not a rate (examples: 10M/h, 64K/min, 1K/s; per hour by default)";
    char size[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof size) {
        *why = bad;
        return HS_ERR_INVALID;
    }
    memcpy(size, s, n);
    size[n] = '\0';
    double per = 3600;
    if (slash) {
        const char *u = slash + 1;
        if (strcmp(u, "h") == 0 || strcmp(u, "hour") == 0)
            per = 3600;
        else if (strcmp(u, "m") == 0 || strcmp(u, "min") == 0)
            per = 60;
        else if (strcmp(u, "s") == 0)
            per = 1;
        else if (strcmp(u, "d") == 0 || strcmp(u, "day") == 0)
            per = 86400;
        else {
            *why = bad;
            return HS_ERR_INVALID;
        }
    }
    double bytes;
    if (hs_cli_parse_size(size, &bytes, why) != HS_OK) {
        *why = bad;
        return HS_ERR_INVALID;
    }
    *per_second = bytes / per;
    return HS_OK;
}

/* ---- profiles ---------------------------------------------------------------------------- */

/* A recorded skip expression glibc refuses: said once per command (it is one program's). */
void hs_cli_skip_warning(const char *cmd, const char *path, const hs_sites_t *s)
{
    static bool said;
    if (s->skip_error[0] && !said) {
        said = true;
        fprintf(stderr,
                "heapsampler %s: %s: ignoring the allocation functions it records (skip=%s): "
                "%s\n",
                cmd, path, s->skip_recorded, s->skip_error);
    }
}

int hs_cli_load_sites(const char *cmd, const char *path, const hs_sites_query_t *q, hs_sites_t *out)
{
    char why[256];
    hs_err_t err = hs_sites_load(path, q, out, why, sizeof why);
    if (err != HS_OK) {
        hs_cli_error(cmd, "%s: %s", path, why);
        return err == HS_ERR_NOMEM ? HS_CLI_EXIT_FAILURE : HS_CLI_EXIT_USAGE;
    }
    hs_cli_skip_warning(cmd, path, out);
    return 0;
}

/* The leak analysis of args with query q; 0 or the exit status after a message. */
static int hs_cli_run_leaks(const char *cmd, char **args, int nargs, const hs_sites_query_t *q,
                            double sigma, hs_leak_analysis_t *a, const char *side)
{
    char why[PATH_MAX + 512];
    hs_err_t err = hs_leak_analysis_collect(a, args, (size_t)nargs, why, sizeof why);
    if (err == HS_OK)
        err = hs_leak_analysis_run(a, q, sigma, why, sizeof why);
    if (err == HS_OK) {
        if (a->skip_warning[0])
            fprintf(stderr, "heapsampler %s: %s\n", cmd, a->skip_warning);
        return 0;
    }
    hs_cli_error(cmd, "%s%s", side, why);
    return err == HS_ERR_NOMEM ? HS_CLI_EXIT_FAILURE : HS_CLI_EXIT_USAGE;
}

int hs_cli_load_leaks(const char *cmd, char **args, int nargs, const hs_cli_opts_t *o,
                      hs_leak_analysis_t *a)
{
    return hs_cli_run_leaks(cmd, args, nargs, &o->q, o->sigma, a, "");
}

int hs_cli_load_comparison(const char *cmd, char **args, int nargs, const hs_cli_opts_t *o,
                           hs_leak_analysis_t *cand, hs_leak_analysis_t *base)
{
    hs_sites_query_t cq = o->q, bq = o->q;
    char why[256];
    if (strncmp(o->baseline, "label:", 6) != 0) {
        if (o->candidate) {
            hs_cli_error(cmd, "--candidate goes with --baseline label:KEY=VALUE, not a directory");
            return HS_CLI_EXIT_USAGE;
        }
        char *dir[] = {(char *)o->baseline};
        int rc = hs_cli_run_leaks(cmd, args, nargs, &cq, o->sigma, cand, "");
        return rc ? rc : hs_cli_run_leaks(cmd, dir, 1, &bq, o->sigma, base, "baseline: ");
    }
    /* One series split by a label: the baseline's value, and the others (or --candidate's). */
    if (hs_cli_label_condition(o->baseline, &bq, false, why, sizeof why) != HS_OK ||
        hs_cli_label_condition(o->candidate ? o->candidate : o->baseline, &cq, !o->candidate, why,
                               sizeof why) != HS_OK) {
        hs_cli_error(cmd, "%s", why);
        return HS_CLI_EXIT_USAGE;
    }
    if (o->candidate && strcmp(cq.focus[cq.nfocus - 1].key, bq.focus[bq.nfocus - 1].key) != 0) {
        hs_cli_error(cmd, "--candidate and --baseline must name the same label");
        return HS_CLI_EXIT_USAGE;
    }
    int rc = hs_cli_run_leaks(cmd, args, nargs, &cq, o->sigma, cand, "");
    return rc ? rc : hs_cli_run_leaks(cmd, args, nargs, &bq, o->sigma, base, "");
}

/* ---- formats ----------------------------------------------------------------------------- */

const char *hs_cli_grouping(const hs_sites_query_t *q, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "%s", q->by_text);
    for (size_t i = 0; i < q->nfocus && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s%s=%s", i ? ", " : "; only ",
                               q->focus[i].key, q->focus[i].negate ? "!" : "", q->focus[i].value);
    return buf;
}

void hs_cli_json_grouping(FILE *f, const hs_sites_query_t *q)
{
    fprintf(f, ", \"by\": ");
    hs_cli_json_string(f, q->by_text);
    fprintf(f, ", \"focus\": [");
    for (size_t i = 0; i < q->nfocus; i++) {
        char cond[512];
        snprintf(cond, sizeof cond, "%s%s=%s", q->focus[i].key, q->focus[i].negate ? "!" : "",
                 q->focus[i].value);
        if (i)
            fprintf(f, ", ");
        hs_cli_json_string(f, cond);
    }
    fprintf(f, "]");
}

static char **short_sort_names;

static int short_name_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(short_sort_names[x], short_sort_names[y]);
    return c ? c : (x > y) - (x < y);
}

char **hs_cli_short_names(const char *const *names, size_t n, size_t width)
{
    /* Each name: up to width characters and a " #<number>" of at most 24. */
    size_t slot = width + 32;
    char **out = malloc(n * (sizeof *out + slot) + 1);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!out || !order) {
        free(out);
        free(order);
        return NULL;
    }
    char *text = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        out[i] = text + i * slot;
        hs_sites_short_name(names[i], width, out[i], width + 1);
        order[i] = i;
    }
    short_sort_names = out;
    qsort(order, n, sizeof *order, short_name_cmp);
    short_sort_names = NULL;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(out[order[i]], out[order[j]]) == 0)
            j++;
        for (size_t k = i; j - i > 1 && k < j; k++) {
            size_t len = strlen(out[order[k]]);
            snprintf(out[order[k]] + len, slot - len, " #%zu", k - i + 1);
        }
        i = j;
    }
    free(order);
    return out;
}

static bool is_bytes(const char *unit)
{
    return unit && strcmp(unit, "bytes") == 0;
}

/* |v| with 3 significant digits and a prefix; sign handled by the callers. */
static void fmt_abs(char *buf, size_t len, double v, const char *unit)
{
    if (isnan(v)) {
        snprintf(buf, len, "?");
        return;
    }
    if (v == 0)
        v = 0; /* no "-0" */
    if (is_bytes(unit)) {
        static const char *const pfx[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        size_t k = 0;
        double x = v;
        while (x >= 999.5 && k + 1 < HS_ARRAY_LEN(pfx)) {
            x /= 1024;
            k++;
        }
        if (k == 0)
            snprintf(buf, len, "%.0f B", x);
        else
            snprintf(buf, len, "%.*f %s", x >= 99.95 ? 0 : x >= 9.995 ? 1 : 2, x, pfx[k]);
        return;
    }
    static const char *const pfx[] = {"", "k", "M", "G", "T", "P", "E"};
    size_t k = 0;
    double x = v;
    while (x >= 9999.5 && k + 1 < HS_ARRAY_LEN(pfx)) {
        x /= 1000;
        k++;
    }
    if (k == 0)
        snprintf(buf, len, "%.0f", x);
    else
        snprintf(buf, len, "%.*f%s", x >= 99.95 ? 0 : x >= 9.995 ? 1 : 2, x, pfx[k]);
}

const char *hs_cli_fmt_value(char *buf, size_t len, double v, const char *unit)
{
    if (v < 0) {
        buf[0] = '-';
        fmt_abs(buf + 1, len - 1, -v, unit);
    } else {
        fmt_abs(buf, len, v, unit);
    }
    return buf;
}

const char *hs_cli_fmt_change(char *buf, size_t len, double v, const char *unit)
{
    if (isnan(v))
        return hs_cli_fmt_value(buf, len, v, unit);
    buf[0] = v < 0 ? '-' : '+';
    fmt_abs(buf + 1, len - 1, fabs(v), unit);
    if (strcmp(buf + 1, "0 B") == 0 || strcmp(buf + 1, "0") == 0)
        memmove(buf, buf + 1, strlen(buf)); /* no sign on zero */
    return buf;
}

const char *hs_cli_fmt_rate(char *buf, size_t len, double per_second, const char *unit)
{
    char v[48];
    hs_cli_fmt_change(v, sizeof v, per_second * 3600, unit);
    if (v[0] == '+')
        memmove(v, v + 1, strlen(v));
    snprintf(buf, len, "%s/h", v);
    return buf;
}

const char *hs_cli_fmt_time(char *buf, size_t len, int64_t nanos)
{
    if (nanos <= 0) {
        snprintf(buf, len, "no time");
        return buf;
    }
    time_t secs = (time_t)(nanos / 1000000000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, len, "%lld ns", (long long)nanos);
    return buf;
}

double hs_cli_time_unit(double span, const char **name)
{
    static const struct {
        double limit, seconds;
        const char *name;
    } units[] = {{120, 1, "s"}, {7200, 60, "min"}, {172800, 3600, "h"}, {INFINITY, 86400, "d"}};
    size_t k = 0;
    while (span >= units[k].limit)
        k++;
    *name = units[k].name;
    return units[k].seconds;
}

const char *hs_cli_fmt_duration(char *buf, size_t len, double s)
{
    const char *unit;
    double per = hs_cli_time_unit(s, &unit);
    if (s < 1)
        snprintf(buf, len, "%.0f ms", s * 1000);
    else
        snprintf(buf, len, "%.1f %s", s / per, unit);
    return buf;
}

const char *hs_cli_fmt_reason(char *buf, size_t len, const hs_sites_origin_t *o)
{
    if (!o->reason[0])
        snprintf(buf, len, "%s", "");
    else if (o->detail[0])
        snprintf(buf, len, "%s (%s)", o->reason, o->detail);
    else
        snprintf(buf, len, "%s", o->reason);
    return buf;
}

/* The words for a source name of the metadata (README.md, "Profile comments"). */
static const char *source_words(const char *name)
{
    static const char *const words[][2] = {
        {"cgroup1", "cgroup v1"},
        {"cgroup2.max", "cgroup v2 memory.max"},
        {"cgroup2.high", "cgroup v2 memory.high"},
        {"rlimit_as", "RLIMIT_AS"},
        {"physical", "physical memory"},
        {"config", "HEAPSAMPLER_MEMORY_LIMIT"},
        {"working_set", "working set"},
        {"rss", "resident set"},
        {"address_space", "address space"},
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(words); i++)
        if (strcmp(name, words[i][0]) == 0)
            return words[i][1];
    return name[0] ? name : "in use";
}

const char *hs_cli_fmt_memory(char *buf, size_t len, const hs_sites_origin_t *o)
{
    char l[32], u[32];
    if (!o->limit) {
        snprintf(buf, len, "%s", "");
        return buf;
    }
    snprintf(buf, len, "memory limit %s (%s), %s %s (%.0f%%)",
             hs_cli_fmt_value(l, sizeof l, (double)o->limit, "bytes"),
             source_words(o->limit_source), source_words(o->usage_source),
             hs_cli_fmt_value(u, sizeof u, (double)o->usage, "bytes"),
             100.0 * (double)o->usage / (double)o->limit);
    return buf;
}

void hs_cli_json_origin(FILE *f, const hs_sites_origin_t *o)
{
    const struct {
        const char *name, *value;
    } strings[] = {{"reason", o->reason},
                   {"detail", o->detail},
                   {"memory_limit_source", o->limit_source},
                   {"memory_usage_source", o->usage_source}};
    for (size_t i = 0; i < HS_ARRAY_LEN(strings); i++) {
        fprintf(f, ", \"%s\": ", strings[i].name);
        if (strings[i].value[0])
            hs_cli_json_string(f, strings[i].value);
        else
            fputs("null", f);
    }
    fprintf(f, ", \"memory_limit\": ");
    hs_cli_json_number(f, o->limit ? (double)o->limit : NAN);
    fprintf(f, ", \"memory_usage\": ");
    hs_cli_json_number(f, o->limit ? (double)o->usage : NAN);
}

void hs_cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void hs_cli_json_number(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", f);
    else if (v == floor(v) && fabs(v) < 9e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.12g", v);
}
