/*
 * config.c - the option table and its parsers.
 *
 * The table below is the single definition of every HEAPSAMPLER_* variable: the preloaded
 * library, the CLI's flags, `heapsampler run --help` and the README's table all come from it.
 *
 * Parsers are strict (no strtod/strtoull leniency: no leading spaces, signs, hex, "inf") and
 * report a short reason. They never allocate: hs_config_load runs in the library constructor,
 * possibly before the program's own allocator is fully up.
 */
#include "config.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "label_spec.h"
#include "log.h"

#define NS_PER_S 1000000000ull

hs_config_t hs_config;

static const char *const compression_names[] = {"gzip", "zstd", "none", NULL};
static const char *const symbolize_names[] = {"none", "functions", "lines", NULL};
static const char *const unwind_names[] = {"libunwind", "fp", NULL};
static const char *const reach_names[] = {"off", "exit", "every", NULL};

#define OFF(field) offsetof(hs_config_t, field)

static const hs_option_t options[] = {
    {"ENABLED", HS_OPT_BOOL, OFF(enabled), "1", 0, 1, NULL,
     "Profile this process (0 = pass every call straight to the allocator)."},
    {"RATE", HS_OPT_SIZE, OFF(rate), "524288", 1, 1ull << 40, NULL,
     "Mean bytes allocated between two samples (K/M/G suffixes). 1 samples every allocation "
     "(exact mode, for tests: slow)."},
    {"OUTPUT", HS_OPT_STRING, OFF(output), "heapsampler", 0, 0, NULL,
     "Prefix of profile files: <prefix>.<pid>.<seq>.pb.gz. Relative prefixes are resolved "
     "against the working directory at start-up; a directory (or a value ending in /) gets "
     "files named heapsampler.<pid>.<seq>.pb.gz inside it."},
    {"INTERVAL", HS_OPT_DURATION, OFF(interval_ns), "60s", 0, 7 * 86400 * NS_PER_S, NULL,
     "Write a profile this often (ms/s/m/h suffix; 0 = only at exit, on signal or API call)."},
    {"INUSE_GROWTH", HS_OPT_SIZE, OFF(inuse_growth), "0", 0, 1ull << 50, NULL,
     "Also write a profile whenever the estimated in-use bytes exceed the level of the last "
     "such profile by this much (K/M/G; 0 = off): a leak then leaves a profile every step of "
     "growth, while memory that goes up and down below its peak leaves none."},
    {"MEMORY_LIMIT", HS_OPT_SIZE, OFF(memory_limit), "0", 0, 1ull << 50, NULL,
     "The memory limit that HEAPSAMPLER_MEMORY_THRESHOLDS and the peak profile count against "
     "(K/M/G; 0 = detect it: the memory cgroup's, v2 memory.max or memory.high, v1 "
     "memory.limit_in_bytes, the smallest of the group and its ancestors, against the group's "
     "working set; else RLIMIT_AS, against the address space; else physical memory, against "
     "the resident set). A value given here counts against the process's resident set."},
    {"MEMORY_THRESHOLDS", HS_OPT_PERCENTS, OFF(memory_thresholds), "70,85,95", 0, 0, NULL,
     "Write a profile at once when the memory in use crosses each of these percentages of the "
     "memory limit upward (comma-separated whole numbers, 1 to 100; off = none). Once per "
     "crossing: a threshold is armed again when the memory in use falls 10 points below it."},
    {"PEAK_STEP", HS_OPT_U64, OFF(peak_step), "5", 0, 100, NULL,
     "Rewrite the peak profile <prefix>.<pid>.peak.pb.gz whenever the memory in use reaches a "
     "new high this many percent of the limit above the last one, from 20 points below the "
     "lowest threshold (50% by default) up (0 = no peak profile)."},
    {"REACH", HS_OPT_ENUM, OFF(reach), "exit", 0, 0, reach_names,
     "Scan the process's memory for pointers to the sampled live blocks, so that profiles tell "
     "lost memory (reach=unreferenced) from memory still held (reach=referenced, held_by=...): "
     "at exit (the exit profile), every (every profile written to a file but those near the "
     "memory limit or on SIGTERM; each scan reads all resident writable memory) or off."},
    {"REACH_BUDGET", HS_OPT_DURATION, OFF(reach_budget_ns), "10s", 1000000ull, 3600 * NS_PER_S,
     NULL,
     "Longest time one reachability scan may take; the blocks it has not classified by then are "
     "left without a reach label."},
    {"DUMP_ON_TERM", HS_OPT_BOOL, OFF(dump_on_term), "0", 0, 1, NULL,
     "Write a profile when SIGTERM arrives, then let it end the process as it would have; only "
     "when the program has no SIGTERM handler of its own at start-up."},
    {"RSS_FRAMES", HS_OPT_BOOL, OFF(rss_frames), "0", 0, 1, NULL,
     "Add to every profile and upload one row per part of the resident set that is not heap "
     "or mmap, each with one pseudo-frame ([allocator free], [file-backed], [profiler], "
     "[unattributed], ...) in inuse_space, so that a flame graph adds up to the RSS."},
    {"STACK_DEPTH", HS_OPT_U64, OFF(stack_depth), "64", 1, 512, NULL,
     "Frames recorded per sampled allocation."},
    {"SEED", HS_OPT_U64, OFF(seed), "0", 0, UINT64_MAX, NULL,
     "Seed of the sampling generator; the same seed makes a single-threaded run reproducible "
     "(0 = random)."},
    {"DUMP_SIGNAL", HS_OPT_SIGNAL, OFF(dump_signal), "none", 0, 0, NULL,
     "Write a profile when this signal arrives (e.g. USR2). The handler is installed at "
     "start-up; the program must not use the signal itself."},
    {"VERBOSE", HS_OPT_U64, OFF(verbose), "0", 0, 3, NULL,
     "1 prints the effective configuration and a summary at exit; 2 also each profile written."},
    {"FOLLOW_EXEC", HS_OPT_BOOL, OFF(follow_exec), "1", 0, 1, NULL,
     "Profile every process that inherits the library, whatever started it (children started "
     "with fork+exec, launchers, scripts). 0 = only the first process (the one that first "
     "loaded the library, with its forks and what it execs in its place)."},
    {"PROGRAMS", HS_OPT_NAMES, OFF(programs), "", 0, 0, NULL,
     "Profile only the processes whose program matches one of these comma-separated names or "
     "globs (e.g. postgres,redis-*): the file name it was executed as (a script's own name), "
     "the name in its argv[0], or its binary's file name. Others run unprofiled; their "
     "children decide for themselves. Empty = every process."},
    {"COMPRESSION", HS_OPT_ENUM, OFF(compression), "gzip", 0, 0, compression_names,
     "Compression of profile files: gzip (.pb.gz, what pprof reads), zstd (.pb.zst) or none."},
    {"MAX_LIVE", HS_OPT_U64, OFF(max_live), "4194304", 1024, 1ull << 28, NULL,
     "Most live sampled allocations tracked; beyond it samples are dropped and counted."},
    {"MAX_STACKS", HS_OPT_U64, OFF(max_stacks), "1048576", 16, 1ull << 24, NULL,
     "Most distinct call stacks kept; beyond it samples are dropped and counted."},
    {"MAX_SITES", HS_OPT_U64, OFF(max_sites), "2097152", 16, 1ull << 24, NULL,
     "Most distinct (call stack, size, labels) rows kept; beyond it samples are dropped and "
     "counted."},
    {"LABELS", HS_OPT_STRING, OFF(labels), "", 0, 0, NULL,
     "Labels of every sample of this process, comma-separated: key=value pairs (at most 8; "
     "values percent-encoded where they hold a comma: %2C) and thread, the name of the "
     "allocating thread as the label thread. Example: thread,version=1.4.2.",
     hs_label_spec_check},
    {"MAX_LABEL_SETS", HS_OPT_U64, OFF(max_label_sets), "1024", 16, 65536, NULL,
     "Most distinct label sets kept (the labels a thread sets with heapsampler_label_set); a "
     "new set beyond it is recorded with every value replaced by other, and counted."},
    {"SYMBOLIZE", HS_OPT_ENUM, OFF(symbolize), "functions", 0, 0, symbolize_names,
     "Names in profiles: none (addresses, mappings and build IDs, for offline symbolization), "
     "functions (demangled function names from the symbol tables) or lines (also file:line and "
     "inlined callers from DWARF debug information, found in the binaries or in /usr/lib/debug)."},
    {"UNWIND", HS_OPT_ENUM, OFF(unwind), "libunwind", 0, 0, unwind_names,
     "Stack unwinder: libunwind (DWARF unwind tables, works for any code) or fp (frame "
     "pointers: cheaper, but only correct for code built with -fno-omit-frame-pointer)."},
    {"PYROSCOPE_URL", HS_OPT_STRING, OFF(pyroscope_url), "", 0, 0, NULL,
     "Push profiles to this Grafana Pyroscope server (http:// or https://, e.g. "
     "http://pyroscope:4040); empty = no uploads. Files are written as well, as configured."},
    {"APP_NAME", HS_OPT_STRING, OFF(app_name), "", 0, 0, NULL,
     "Application name of the uploads (Pyroscope's service_name): letters, digits and _ . - / "
     "(empty = the program's name)."},
    {"TAGS", HS_OPT_STRING, OFF(tags), "", 0, 0, NULL,
     "Labels of every upload, k=v,k=v. Names: a letter or _, then letters, digits and _; "
     "values: no , { } = or spaces around them."},
    {"PYROSCOPE_USER", HS_OPT_STRING, OFF(pyroscope_user), "", 0, 0, NULL,
     "User name for HTTP Basic authentication of uploads."},
    {"PYROSCOPE_PASSWORD", HS_OPT_SECRET, OFF(pyroscope_password), "", 0, 0, NULL,
     "Password (or API token) for HTTP Basic authentication; never printed."},
    {"PYROSCOPE_TENANT", HS_OPT_STRING, OFF(pyroscope_tenant), "", 0, 0, NULL,
     "Tenant of a multi-tenant server, sent as the X-Scope-OrgID header."},
    {"PYROSCOPE_HEADERS", HS_OPT_SECRET, OFF(pyroscope_headers), "", 0, 0, NULL,
     "Extra HTTP headers of uploads, Name=value,Name=value (values percent-encoded, %2C for a "
     "comma); never printed."},
    {"UPLOAD_INTERVAL", HS_OPT_DURATION, OFF(upload_interval_ns), "15s", 100000000ull,
     3600 * NS_PER_S, NULL, "Upload a profile to Pyroscope this often."},
    {"UPLOAD_TIMEOUT", HS_OPT_DURATION, OFF(upload_timeout_ns), "5s", 100000000ull, 300 * NS_PER_S,
     NULL,
     "Longest time one upload may take; also the most the program's exit waits for the final "
     "upload."},
    {"UPLOAD_QUEUE", HS_OPT_U64, OFF(upload_queue), "8", 1, 1024, NULL,
     "Profiles kept waiting while the server is slow or down; beyond it the oldest is dropped "
     "and counted."},
    {"UPLOAD_LABEL_SETS", HS_OPT_U64, OFF(upload_label_sets), "16", 0, 1024, NULL,
     "Most distinct label sets in one upload: Pyroscope makes a series of each (four, with the "
     "sample types), and limits the series per tenant. The lightest others are uploaded with "
     "their values replaced by other; 0 uploads no labels."},
    {"SKIP", HS_OPT_REGEX, OFF(skip), "", 0, 0, NULL,
     "Functions of this program that are allocators (a POSIX extended regular expression on "
     "function names, e.g. my_alloc|pool_get): recorded in every profile, so that report, "
     "diff, leaks and check group its samples by their callers, as they do for malloc and the "
     "wrappers of well-known programs."},
};

/* Variables that the profiler sets for itself; not user options. */
static const char *const internal_names[] = {"ROOT_PID", NULL};

const hs_option_t *hs_config_options(size_t *count)
{
    *count = HS_ARRAY_LEN(options);
    return options;
}

/* Compare an option name with user spelling: case-insensitive, '-' == '_'. */
static int name_matches(const char *opt, const char *s, size_t len)
{
    size_t i = 0;
    for (; i < len && opt[i]; i++) {
        char c = s[i] == '-' ? '_' : (char)toupper((unsigned char)s[i]);
        if (c != opt[i])
            return 0;
    }
    return i == len && opt[i] == '\0';
}

static const hs_option_t *find_len(const char *name, size_t len)
{
    static const char prefix[] = "HEAPSAMPLER_";
    if (len > sizeof prefix - 1 && strncasecmp(name, prefix, sizeof prefix - 1) == 0) {
        name += sizeof prefix - 1;
        len -= sizeof prefix - 1;
    }
    for (size_t i = 0; i < HS_ARRAY_LEN(options); i++)
        if (name_matches(options[i].name, name, len))
            return &options[i];
    return NULL;
}

const hs_option_t *hs_config_find(const char *name)
{
    return find_len(name, strlen(name));
}

/* ---- parsers ------------------------------------------------------------------------------ */

static int parse_digits(const char **sp, uint64_t *out, int *overflow)
{
    const char *s = *sp;
    uint64_t v = 0;
    int n = 0;
    *overflow = 0;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            *overflow = 1;
        else
            v = v * 10 + d;
        s++;
        n++;
    }
    *sp = s;
    *out = v;
    return n;
}

static hs_err_t parse_u64(const char *s, uint64_t *out, const char **why)
{
    int overflow;
    if (!(*s >= '0' && *s <= '9')) {
        *why = "not a non-negative integer";
        return HS_ERR_INVALID;
    }
    parse_digits(&s, out, &overflow);
    if (*s) {
        *why = "not a non-negative integer";
        return HS_ERR_INVALID;
    }
    if (overflow) {
        *why = "number too large";
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

static hs_err_t parse_size(const char *s, uint64_t *out, const char **why)
{
    int overflow;
    uint64_t v;
    if (!(*s >= '0' && *s <= '9')) {
        *why = "not a size (examples: 524288, 512K, 1M)";
        return HS_ERR_INVALID;
    }
    parse_digits(&s, &v, &overflow);
    uint64_t mult = 1;
    switch (toupper((unsigned char)*s)) {
    case '\0':
        break;
    case 'K':
        mult = 1ull << 10;
        s++;
        break;
    case 'M':
        mult = 1ull << 20;
        s++;
        break;
    case 'G':
        mult = 1ull << 30;
        s++;
        break;
    case 'B':
        break;
    default:
        *why = "not a size (examples: 524288, 512K, 1M)";
        return HS_ERR_INVALID;
    }
    /* Optional "B" or "iB" after the multiplier, or a bare "B". */
    if ((s[0] == 'i' || s[0] == 'I') && (s[1] == 'B' || s[1] == 'b') && mult > 1)
        s += 2;
    else if (s[0] == 'B' || s[0] == 'b')
        s++;
    if (*s) {
        *why = "not a size (examples: 524288, 512K, 1M)";
        return HS_ERR_INVALID;
    }
    if (overflow || v > UINT64_MAX / mult) {
        *why = "number too large";
        return HS_ERR_INVALID;
    }
    *out = v * mult;
    return HS_OK;
}

static hs_err_t parse_duration(const char *s, uint64_t *out_ns, const char **why)
{
    static const char *bad = "not a duration (examples: 30, 30s, 500ms, 5m, 1.5h)";
    int overflow, ofrac = 0;
    uint64_t whole = 0, frac = 0, frac_scale = 1;
    if (!((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9'))) {
        *why = bad;
        return HS_ERR_INVALID;
    }
    parse_digits(&s, &whole, &overflow);
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (frac_scale < 1000000000000ull) { /* keep 12 decimals, ignore the rest */
                frac = frac * 10 + (uint64_t)(*s - '0');
                frac_scale *= 10;
            }
            s++;
            ofrac = 1;
        }
        if (!ofrac) {
            *why = bad;
            return HS_ERR_INVALID;
        }
    }
    uint64_t unit;
    if (*s == '\0' || strcmp(s, "s") == 0)
        unit = NS_PER_S;
    else if (strcmp(s, "ms") == 0)
        unit = 1000000ull;
    else if (strcmp(s, "m") == 0 || strcmp(s, "min") == 0)
        unit = 60 * NS_PER_S;
    else if (strcmp(s, "h") == 0)
        unit = 3600 * NS_PER_S;
    else {
        *why = bad;
        return HS_ERR_INVALID;
    }
    if (overflow || whole > UINT64_MAX / unit) {
        *why = "duration too long";
        return HS_ERR_INVALID;
    }
    /* frac/frac_scale * unit without overflow: unit <= 3.6e12, frac_scale <= 1e12. */
    long double f = (long double)frac * (long double)unit / (long double)frac_scale;
    *out_ns = whole * unit + (uint64_t)f;
    return HS_OK;
}

static hs_err_t parse_bool(const char *s, bool *out, const char **why)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return HS_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return HS_OK;
        }
    }
    *why = "not a boolean (1/0, true/false, yes/no, on/off)";
    return HS_ERR_INVALID;
}

/* A list of program names or globs: "postgres,redis-*". Each entry is matched against a file
 * name, so it holds no '/', and no blank or control character (a space after a comma would
 * silently never match); none is empty. */
static hs_err_t parse_names(const char *s, const char **why)
{
    size_t entry = 0;
    for (const unsigned char *c = (const unsigned char *)s;; c++) {
        if (*c == ',' || *c == '\0') {
            if (entry == 0) {
                *why = "an empty name in the list (example: postgres,redis-*)";
                return HS_ERR_INVALID;
            }
            if (*c == '\0')
                return HS_OK;
            entry = 0;
            continue;
        }
        if (*c == '/') {
            *why = "a name is matched against a file name: no '/' (example: postgres,redis-*)";
            return HS_ERR_INVALID;
        }
        if (*c <= ' ' || *c == 0x7f) {
            *why = "a blank or control character in the list (example: postgres,redis-*)";
            return HS_ERR_INVALID;
        }
        entry++;
    }
}

/*
 * What regcomp(REG_EXTENDED) refuses for its structure, checked without allocating (regcomp
 * allocates, and the library reads its configuration in its constructor): a trailing
 * backslash, an unmatched ( or [, a repetition with nothing to repeat (at the start, after
 * ( | ^ $ or an anchor such as \b), a malformed or reversed interval {m,n} (at most 32767), an
 * unknown [:class:], a reversed range or a range right after another. glibc takes a lone ) as
 * itself, and so does this. Stricter than glibc in two ways: back-references (\1) say nothing
 * about a function name, and a { that does not start an interval must be written \{. The CLI
 * compiles the expression when it reads a profile and says so if glibc still refuses it.
 */
hs_err_t hs_config_check_regex(const char *s, const char **why)
{
    static const char *const classes[] = {"alnum", "alpha", "blank", "cntrl", "digit", "graph",
                                          "lower", "print", "punct", "space", "upper", "xdigit"};
    int depth = 0;
    bool operand = false; /* the last item can be repeated */
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\':
            if (!p[1]) {
                *why = "ends with a backslash";
                return HS_ERR_INVALID;
            }
            if (p[1] >= '1' && p[1] <= '9') {
                *why = "a back-reference (\\1 to \\9): not for function names";
                return HS_ERR_INVALID;
            }
            p++;
            operand = !strchr("bB<>`'", *p); /* glibc anchors (\b, \<) repeat nothing */
            break;
        case '(':
            depth++;
            operand = false;
            break;
        case ')':
            depth -= depth > 0;
            operand = true;
            break;
        case '|':
        case '^':
        case '$':
            operand = false;
            break;
        case '*':
        case '+':
        case '?':
            if (!operand) {
                *why = "a repetition (* + ?) with nothing before it to repeat";
                return HS_ERR_INVALID;
            }
            break;
        case '{': {
            if (!operand) {
                *why = "an interval {m,n} with nothing before it to repeat";
                return HS_ERR_INVALID;
            }
            uint64_t lo = 0, hi = 0;
            int of, nlo = parse_digits(&(const char *){p + 1}, &lo, &of), nhi = 0;
            const char *q = p + 1 + nlo;
            bool comma = *q == ',';
            if (comma) {
                nhi = parse_digits(&(const char *){q + 1}, &hi, &of);
                q += 1 + nhi;
            }
            if (*q != '}' || (!nlo && !comma) || (comma && nhi && hi < lo)) {
                *why = *q ? "a malformed interval (examples: {2}, {2,}, {1,3})" : "an unmatched {";
                return HS_ERR_INVALID;
            }
            if (lo > 32767 || hi > 32767) {
                *why = "an interval over 32767";
                return HS_ERR_INVALID;
            }
            p = q;
            break;
        }
        case '[': {
            const char *q = p + 1;
            q += *q == '^';
            int prev = -1; /* the last single character, for ranges; -2 right after a range */
            if (*q == ']')
                prev = (unsigned char)*q++;
            for (; *q && *q != ']'; q++) {
                if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
                    char kind = q[1];
                    const char *name = q + 2, *end = name;
                    while (*end && !(end[0] == kind && end[1] == ']'))
                        end++;
                    if (!*end) {
                        *why = "an unmatched [";
                        return HS_ERR_INVALID;
                    }
                    size_t len = (size_t)(end - name);
                    bool ok = kind != ':';
                    for (size_t c = 0; !ok && c < HS_ARRAY_LEN(classes); c++)
                        ok = strlen(classes[c]) == len && strncmp(classes[c], name, len) == 0;
                    if (!ok || (kind == '.' && len != 1)) {
                        *why = kind == ':' ? "an unknown character class [:name:]"
                                           : "an unknown collating element [.x.]";
                        return HS_ERR_INVALID;
                    }
                    prev = kind == '.' ? (unsigned char)*name : -1;
                    q = end + 1;
                } else if (*q == '-' && prev != -1 && q[1] && q[1] != ']') {
                    if (prev == -2 || (unsigned char)q[1] < prev) {
                        *why = prev == -2 ? "a range right after a range in [...]"
                                          : "a reversed range in [...]";
                        return HS_ERR_INVALID;
                    }
                    q++;
                    prev = -2;
                } else {
                    prev = (unsigned char)*q;
                }
            }
            if (!*q) {
                *why = "an unmatched [";
                return HS_ERR_INVALID;
            }
            p = q;
            operand = true;
            break;
        }
        default:
            operand = true;
        }
    }
    if (depth) {
        *why = "an unmatched (";
        return HS_ERR_INVALID;
    }
    return HS_OK;
}

static const struct {
    const char *name;
    int num;
} signal_names[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"USR1", SIGUSR1},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"CHLD", SIGCHLD},     {"CONT", SIGCONT}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},   {"KILL", SIGKILL},   {"STOP", SIGSTOP},
    {"SEGV", SIGSEGV},     {"BUS", SIGBUS},   {"FPE", SIGFPE},     {"ILL", SIGILL},
    {"ABRT", SIGABRT},     {"TRAP", SIGTRAP},
};

static int signal_unusable(int sig)
{
    return sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
           sig == SIGILL || sig == SIGABRT || sig == SIGTRAP;
}

static hs_err_t parse_signal(const char *s, int *out, const char **why)
{
    static const char *bad = "not a signal (examples: USR2, SIGUSR2, 12, RTMIN+1, none)";
    if (*s == '\0' || strcasecmp(s, "none") == 0 || strcmp(s, "0") == 0) {
        *out = 0;
        return HS_OK;
    }
    int sig = -1;
    if (*s >= '0' && *s <= '9') {
        uint64_t v;
        if (parse_u64(s, &v, why) != HS_OK || v > (uint64_t)SIGRTMAX) {
            *why = bad;
            return HS_ERR_INVALID;
        }
        sig = (int)v;
    } else {
        const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (size_t i = 0; i < HS_ARRAY_LEN(signal_names); i++)
            if (strcasecmp(n, signal_names[i].name) == 0)
                sig = signal_names[i].num;
        if (sig < 0 && strncasecmp(n, "RTMIN", 5) == 0) {
            uint64_t off = 0;
            if (n[5] == '+' && parse_u64(n + 6, &off, why) != HS_OK)
                off = UINT64_MAX;
            else if (n[5] != '\0' && n[5] != '+')
                off = UINT64_MAX;
            if (off <= (uint64_t)(SIGRTMAX - SIGRTMIN))
                sig = SIGRTMIN + (int)off;
        }
        if (sig < 0) {
            *why = bad;
            return HS_ERR_INVALID;
        }
    }
    if (signal_unusable(sig)) {
        *why = "this signal cannot be used for dumps";
        return HS_ERR_INVALID;
    }
    /* Between the last classic signal and SIGRTMIN glibc reserves signals for itself. */
    if (sig > SIGSYS && sig < SIGRTMIN) {
        *why = "this signal is reserved by the C library";
        return HS_ERR_INVALID;
    }
    *out = sig;
    return HS_OK;
}

/* "70,85,95" (any order, repeats allowed) or "off"/"none". */
static hs_err_t parse_percents(const char *s, hs_config_percents_t *out, const char **why)
{
    static const char *bad = "not a list of percentages (examples: 70,85,95, 90, off)";
    hs_config_percents_t set = {{0, 0}};
    if (strcasecmp(s, "off") == 0 || strcasecmp(s, "none") == 0) {
        *out = set;
        return HS_OK;
    }
    for (;;) {
        uint64_t v;
        int overflow;
        if (!(*s >= '0' && *s <= '9') || parse_digits(&s, &v, &overflow) == 0) {
            *why = bad;
            return HS_ERR_INVALID;
        }
        if (overflow || v < 1 || v > 100) {
            *why = "each percentage must be between 1 and 100";
            return HS_ERR_INVALID;
        }
        set.bits[(v - 1) / 64] |= 1ull << ((v - 1) % 64);
        if (*s == '\0')
            break;
        if (*s++ != ',') {
            *why = bad;
            return HS_ERR_INVALID;
        }
    }
    *out = set;
    return HS_OK;
}

static void format_percents(const hs_config_percents_t *set, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned p = 1; p <= 100; p++)
        if (hs_config_has_percent(set, p) && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%u", o ? "," : "", p);
    if (o == 0)
        snprintf(buf, len, "off");
}

static void format_duration(uint64_t ns, char *buf, size_t len)
{
    if (ns == 0)
        snprintf(buf, len, "0");
    else if (ns % (3600 * NS_PER_S) == 0)
        snprintf(buf, len, "%lluh", (unsigned long long)(ns / (3600 * NS_PER_S)));
    else if (ns % (60 * NS_PER_S) == 0)
        snprintf(buf, len, "%llum", (unsigned long long)(ns / (60 * NS_PER_S)));
    else if (ns % NS_PER_S == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(ns / NS_PER_S));
    else if (ns % 1000000 == 0)
        snprintf(buf, len, "%llums", (unsigned long long)(ns / 1000000));
    else {
        /* Exact seconds with the decimals needed ("%g" would round, or print "1e-09s", which
         * is not input syntax). */
        char frac[16];
        int n = snprintf(frac, sizeof frac, "%09llu", (unsigned long long)(ns % NS_PER_S));
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = '\0';
        snprintf(buf, len, "%llu.%ss", (unsigned long long)(ns / NS_PER_S), frac);
    }
}

static void format_number(hs_opt_type_t type, uint64_t v, char *buf, size_t len)
{
    if (type == HS_OPT_DURATION)
        format_duration(v, buf, len);
    else
        snprintf(buf, len, "%llu", (unsigned long long)v);
}

hs_err_t hs_config_set(hs_config_t *cfg, const hs_option_t *opt, const char *value, char *why,
                       size_t why_len)
{
    const char *reason = NULL;
    hs_err_t err = HS_OK;
    void *field = (char *)cfg + opt->offset;
    uint64_t u = 0;

    /* A string whose default is empty ("not set") may be set back to empty. */
    int empty_ok =
        opt->type == HS_OPT_SIGNAL || ((opt->type == HS_OPT_STRING || opt->type == HS_OPT_SECRET ||
                                        opt->type == HS_OPT_NAMES || opt->type == HS_OPT_REGEX) &&
                                       !opt->def[0]);
    if (*value == '\0' && !empty_ok) {
        reason = "empty value";
        err = HS_ERR_INVALID;
        goto out;
    }
    switch (opt->type) {
    case HS_OPT_BOOL: {
        bool b;
        err = parse_bool(value, &b, &reason);
        if (err == HS_OK)
            *(bool *)field = b;
        goto out;
    }
    case HS_OPT_U64:
        err = parse_u64(value, &u, &reason);
        break;
    case HS_OPT_SIZE:
        err = parse_size(value, &u, &reason);
        break;
    case HS_OPT_DURATION:
        err = parse_duration(value, &u, &reason);
        break;
    case HS_OPT_NAMES:
    case HS_OPT_STRING:
    case HS_OPT_SECRET:
    case HS_OPT_REGEX:
        if (opt->type == HS_OPT_NAMES && *value && parse_names(value, &reason) != HS_OK) {
            err = HS_ERR_INVALID;
        } else if (strlen(value) >= HS_CONFIG_STR_MAX) {
            reason = "too long";
            err = HS_ERR_INVALID;
        } else if (opt->type == HS_OPT_REGEX &&
                   (err = hs_config_check_regex(value, &reason)) != HS_OK) {
            /* reason says why */
        } else if (opt->check && (err = opt->check(value, why, why_len)) != HS_OK) {
            return err; /* why is the checker's */
        } else {
            strcpy((char *)field, value);
        }
        goto out;
    case HS_OPT_ENUM:
        for (int i = 0; opt->choices[i]; i++) {
            if (strcasecmp(value, opt->choices[i]) == 0) {
                *(int *)field = i;
                goto out;
            }
        }
        reason = "not one of the accepted values";
        err = HS_ERR_INVALID;
        goto out;
    case HS_OPT_SIGNAL: {
        int sig;
        err = parse_signal(value, &sig, &reason);
        if (err == HS_OK)
            *(int *)field = sig;
        goto out;
    }
    case HS_OPT_PERCENTS: {
        hs_config_percents_t set;
        err = parse_percents(value, &set, &reason);
        if (err == HS_OK)
            memcpy(field, &set, sizeof set);
        goto out;
    }
    }
    if (err != HS_OK)
        goto out;
    if (u < opt->min || u > opt->max) {
        char a[32], b[32];
        format_number(opt->type, opt->min, a, sizeof a);
        format_number(opt->type, opt->max, b, sizeof b);
        snprintf(why, why_len, "must be between %s and %s", a, b);
        return HS_ERR_INVALID;
    }
    *(uint64_t *)field = u;
out:
    if (err != HS_OK && why_len)
        snprintf(why, why_len, "%s", reason ? reason : "invalid");
    return err;
}

void hs_config_defaults(hs_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char why[128];
    for (size_t i = 0; i < HS_ARRAY_LEN(options); i++) {
        hs_err_t err = hs_config_set(cfg, &options[i], options[i].def, why, sizeof why);
        HS_ASSERT(err == HS_OK);
        (void)err;
    }
}

static const char *signal_name(int sig, char *buf, size_t len)
{
    if (sig == 0)
        return "none";
    for (size_t i = 0; i < HS_ARRAY_LEN(signal_names); i++)
        if (signal_names[i].num == sig) {
            snprintf(buf, len, "SIG%s", signal_names[i].name);
            return buf;
        }
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
        return buf;
    }
    snprintf(buf, len, "%d", sig);
    return buf;
}

/* A string as is, except the user:password@ of a URL ("scheme://user:pw@host/..."). */
static void format_masked(char *buf, size_t len, const char *s)
{
    const char *scheme = strstr(s, "://");
    const char *auth = scheme ? scheme + 3 : NULL;
    const char *at = NULL;
    for (const char *c = auth; c && *c && *c != '/' && *c != '?' && *c != '#'; c++)
        if (*c == '@')
            at = c;
    if (at)
        snprintf(buf, len, "%.*s<hidden>%s", (int)(auth - s), s, at);
    else
        snprintf(buf, len, "%s", s);
}

void hs_config_format(const hs_config_t *cfg, const hs_option_t *opt, char *buf, size_t len)
{
    const void *field = (const char *)cfg + opt->offset;
    switch (opt->type) {
    case HS_OPT_BOOL:
        snprintf(buf, len, "%d", *(const bool *)field ? 1 : 0);
        break;
    case HS_OPT_U64:
    case HS_OPT_SIZE:
    case HS_OPT_DURATION:
        format_number(opt->type, *(const uint64_t *)field, buf, len);
        break;
    case HS_OPT_STRING:
        format_masked(buf, len, (const char *)field);
        break;
    case HS_OPT_NAMES:
        snprintf(buf, len, "%s", (const char *)field);
        break;
    case HS_OPT_SECRET:
        snprintf(buf, len, "%s", *(const char *)field ? "<hidden>" : "");
        break;
    case HS_OPT_REGEX:
        snprintf(buf, len, "%s", (const char *)field);
        break;
    case HS_OPT_ENUM:
        snprintf(buf, len, "%s", opt->choices[*(const int *)field]);
        break;
    case HS_OPT_SIGNAL: {
        char tmp[32];
        snprintf(buf, len, "%s", signal_name(*(const int *)field, tmp, sizeof tmp));
        break;
    }
    case HS_OPT_PERCENTS: {
        hs_config_percents_t set;
        memcpy(&set, field, sizeof set);
        format_percents(&set, buf, len);
        break;
    }
    }
}

/* Quote a user value for a message: at most 80 characters, non-printables as \xNN. */
static void quote_value(const char *v, char *buf, size_t len)
{
    size_t o = 0;
    size_t i = 0;
    for (; v[i] && o + 5 < len && i < 80; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (v[i] && o + 4 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

static int is_internal(const char *name, size_t len)
{
    for (size_t i = 0; internal_names[i]; i++)
        if (strlen(internal_names[i]) == len && strncmp(internal_names[i], name, len) == 0)
            return 1;
    return 0;
}

int hs_config_load(hs_config_t *cfg, char *const *envp, bool report)
{
    static const char prefix[] = "HEAPSAMPLER_";
    int problems = 0;
    hs_config_defaults(cfg);
    if (!envp)
        return 0;
    for (char *const *e = envp; *e; e++) {
        const char *kv = *e;
        if (strncmp(kv, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        const char *name = kv + sizeof prefix - 1;
        size_t name_len = (size_t)(eq - name);
        const hs_option_t *opt = NULL;
        for (size_t i = 0; i < HS_ARRAY_LEN(options); i++)
            if (strlen(options[i].name) == name_len &&
                strncmp(options[i].name, name, name_len) == 0)
                opt = &options[i];
        if (!opt) {
            if (is_internal(name, name_len))
                continue;
            problems++;
            if (report)
                hs_log("ignoring unknown variable %.*s (see `heapsampler run --help`)",
                       (int)(eq - kv), kv);
            continue;
        }
        char why[128];
        if (hs_config_set(cfg, opt, eq + 1, why, sizeof why) != HS_OK) {
            problems++;
            if (report) {
                char q[400];
                char masked[256];
                format_masked(masked, sizeof masked, eq + 1);
                if (opt->type == HS_OPT_SECRET)
                    snprintf(q, sizeof q, "<hidden>");
                else
                    quote_value(masked, q, sizeof q);
                /* An empty default is shown as `heapsampler run --help` shows it: "". */
                hs_log("ignoring HEAPSAMPLER_%s=\"%s\": %s (using %s)", opt->name, q, why,
                       opt->def[0] ? opt->def : "\"\"");
            }
        }
    }
    return problems;
}

void hs_config_print(const hs_config_t *cfg)
{
    hs_config_t def;
    hs_config_defaults(&def);
    for (size_t i = 0; i < HS_ARRAY_LEN(options); i++) {
        char v[HS_CONFIG_STR_MAX + 16], d[HS_CONFIG_STR_MAX + 16];
        hs_config_format(cfg, &options[i], v, sizeof v);
        hs_config_format(&def, &options[i], d, sizeof d);
        hs_log("config HEAPSAMPLER_%s=%s%s", options[i].name, v,
               strcmp(v, d) == 0 ? " (default)" : "");
    }
}

/* ---- parsers for other option syntaxes (CLI flags that are not table options) -------------- */

hs_err_t hs_config_parse_size(const char *s, uint64_t *out, const char **why)
{
    return parse_size(s, out, why);
}

hs_err_t hs_config_parse_duration(const char *s, uint64_t *out_ns, const char **why)
{
    return parse_duration(s, out_ns, why);
}
