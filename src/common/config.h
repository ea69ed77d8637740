/*
 * config.h - the one option table. Each HEAPSAMPLER_* variable is declared once in config.c
 * with its type, default, range and help; the preloaded library reads the environment through
 * it and the CLI maps its flags onto it (`--stack-depth 32` is HEAPSAMPLER_STACK_DEPTH=32).
 *
 * A bad value never stops the host program: it prints one line
 *   heapsampler: ignoring HEAPSAMPLER_X="...": <why> (using <default>)
 * and the default is used. HEAPSAMPLER_VERBOSE=1 prints the effective configuration.
 */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define HS_CONFIG_STR_MAX 4096

/* A set of whole percentages, 1 to 100 (HS_OPT_PERCENTS): bit p - 1 is set for p. */
typedef struct hs_config_percents {
    uint64_t bits[2];
} hs_config_percents_t;

/* Is pct (1 to 100) in the set? */
static inline bool hs_config_has_percent(const hs_config_percents_t *set, unsigned pct)
{
    return pct >= 1 && pct <= 100 && (set->bits[(pct - 1) / 64] >> ((pct - 1) % 64) & 1);
}

typedef struct hs_config {
    bool enabled;
    uint64_t rate;                    /* mean bytes between samples; 1 = every allocation */
    char output[HS_CONFIG_STR_MAX];   /* file prefix: <output>.<pid>.<seq>.pb.gz */
    uint64_t interval_ns;             /* periodic dump interval; 0 = off */
    uint64_t inuse_growth;            /* dump when estimated in-use bytes pass the last such
                                         dump's level by this much; 0 = off */
    uint64_t stack_depth;             /* frames kept per stack */
    uint64_t seed;                    /* 0 = random */
    int dump_signal;                  /* 0 = none */
    uint64_t verbose;                 /* 0 quiet, 1 config + summary, 2 per dump */
    bool follow_exec;                 /* exec'd children profile themselves too */
    char programs[HS_CONFIG_STR_MAX]; /* HS_OPT_NAMES: only these programs ("" = all) */
    int compression;                  /* hs_compression_t (compress.h) */
    uint64_t max_live;                /* live sampled allocations tracked */
    uint64_t max_stacks;              /* distinct stacks interned */
    uint64_t max_sites;               /* distinct (stack, size, labels) rows */
    char labels[HS_CONFIG_STR_MAX];   /* labels of every sample: thread,k=v,... (label_spec.h) */
    uint64_t max_label_sets;          /* distinct label sets interned; beyond, values are "other" */
    int symbolize;                    /* hs_symbolize_level_t (symbolize.h) */
    int unwind;                       /* hs_unwind_mode_t (unwind.h) */
    char skip[HS_CONFIG_STR_MAX];     /* allocation functions of the program (a regex); recorded */
    /* Grafana Pyroscope uploads (pyroscope.h); an empty URL means none. */
    char pyroscope_url[HS_CONFIG_STR_MAX];
    char app_name[HS_CONFIG_STR_MAX]; /* "" = the program's name */
    char tags[HS_CONFIG_STR_MAX];     /* k=v,k=v */
    char pyroscope_user[HS_CONFIG_STR_MAX];
    char pyroscope_password[HS_CONFIG_STR_MAX]; /* HS_OPT_SECRET */
    char pyroscope_tenant[HS_CONFIG_STR_MAX];
    char pyroscope_headers[HS_CONFIG_STR_MAX]; /* HS_OPT_SECRET: Name=value,... */
    uint64_t upload_interval_ns;
    uint64_t upload_timeout_ns;
    uint64_t upload_queue;      /* profiles waiting for delivery, at most */
    uint64_t upload_label_sets; /* distinct label sets per upload (0: no sample labels) */
    /* Memory limit (memwatch.h): thresholds, the peak profile, SIGTERM. */
    uint64_t memory_limit;                  /* bytes; 0 = detect (memlimit.h) */
    hs_config_percents_t memory_thresholds; /* percent of the limit; empty = off */
    uint64_t peak_step;                     /* percent of the limit; 0 = no peak profile */
    bool dump_on_term; /* a profile when SIGTERM arrives (no handler of its own) */
    bool rss_frames;   /* rows of pseudo-frames for the parts of RSS (HEAPSAMPLER_RSS_FRAMES) */
    int reach;         /* hs_reach_mode_t (reach_scan.h) */
    uint64_t reach_budget_ns; /* the longest one scan may take */
} hs_config_t;

typedef enum hs_opt_type {
    HS_OPT_BOOL,
    HS_OPT_U64,      /* plain integer */
    HS_OPT_SIZE,     /* bytes, with optional K/M/G suffix (powers of 1024) */
    HS_OPT_DURATION, /* seconds, optional ms/s/m/h suffix, fractions allowed */
    HS_OPT_STRING,
    HS_OPT_ENUM,
    HS_OPT_SIGNAL,   /* name (USR2, SIGUSR2) or number; "none"/"0"/"" = no signal */
    HS_OPT_SECRET,   /* a string never printed: messages and verbose output show <hidden> */
    HS_OPT_PERCENTS, /* comma-separated whole percentages, 1 to 100, or "off" */
    HS_OPT_NAMES,    /* comma-separated file names or globs (no '/', no blank, none empty) */
    HS_OPT_REGEX,    /* a POSIX extended regular expression, its syntax checked */
} hs_opt_type_t;

typedef struct hs_option {
    const char *name; /* without the HEAPSAMPLER_ prefix, e.g. "STACK_DEPTH" */
    hs_opt_type_t type;
    size_t offset;              /* of the field in hs_config_t */
    const char *def;            /* default, in the same syntax a user writes */
    uint64_t min, max;          /* range for numeric types (durations in ns) */
    const char *const *choices; /* HS_OPT_ENUM: NULL-terminated names, value = index */
    const char *help;
    /* HS_OPT_STRING with a grammar of its own: refuse a value (why: one line), or NULL. */
    hs_err_t (*check)(const char *value, char *why, size_t why_len);
} hs_option_t;

/* The table, in documentation order. */
const hs_option_t *hs_config_options(size_t *count);
/* Look up by name; accepts "STACK_DEPTH", "HEAPSAMPLER_STACK_DEPTH" or "stack-depth". */
const hs_option_t *hs_config_find(const char *name);

/* Fill cfg with every default. */
void hs_config_defaults(hs_config_t *cfg);

/*
 * Parse one value into cfg. On failure writes a short reason ("not a number", "must be between
 * 1 and 256") into why and leaves cfg unchanged.
 */
hs_err_t hs_config_set(hs_config_t *cfg, const hs_option_t *opt, const char *value, char *why,
                       size_t why_len) HS_MUST_CHECK;

/*
 * Load defaults, then every HEAPSAMPLER_* variable from envp (NULL-terminated "K=V" strings).
 * Bad values and unknown HEAPSAMPLER_* names are reported through hs_log when report is true.
 * Returns the number of problems found.
 */
int hs_config_load(hs_config_t *cfg, char *const *envp, bool report);

/*
 * Format a field's current value, in input syntax (for verbose output and `--help`). A secret
 * shows as "<hidden>" (or "" when empty), and the user:password@ part of a URL-like string as
 * "<hidden>@": nothing this prints can leak a credential.
 */
void hs_config_format(const hs_config_t *cfg, const hs_option_t *opt, char *buf, size_t len);

/* Print the effective configuration, one option per line, through hs_log. */
void hs_config_print(const hs_config_t *cfg);

/*
 * The table's size and duration syntaxes, for CLI flags outside the table (`check --max-inuse
 * 64M`). why gets a static reason on failure.
 */
hs_err_t hs_config_parse_size(const char *s, uint64_t *out, const char **why) HS_MUST_CHECK;
hs_err_t hs_config_parse_duration(const char *s, uint64_t *out_ns, const char **why) HS_MUST_CHECK;
/* The structure of a POSIX extended regular expression, as regcomp would judge it, without
 * allocating (HS_OPT_REGEX). */
hs_err_t hs_config_check_regex(const char *s, const char **why) HS_MUST_CHECK;

/* The configuration of this process (the preloaded library's). */
extern hs_config_t hs_config;

#endif
