/*
 * test_config.c - the option table: defaults, every parser's accepted and rejected inputs, the
 * exact warning line for a bad environment value, name lookup, and format/parse round trips.
 */
#include <criterion/criterion.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compress.h"
#include "config.h"
#include "log.h"

static hs_err_t set(hs_config_t *c, const char *name, const char *value, char *why)
{
    const hs_option_t *o = hs_config_find(name);
    cr_assert_not_null(o, "option %s", name);
    return hs_config_set(c, o, value, why, 128);
}

static void expect_bad(const char *name, const char *value, const char *reason_part)
{
    hs_config_t c, before;
    char why[128] = "";
    hs_config_defaults(&c);
    before = c;
    cr_assert_eq(set(&c, name, value, why), HS_ERR_INVALID, "%s=\"%s\" accepted", name, value);
    cr_assert(strstr(why, reason_part), "%s=\"%s\": reason \"%s\" lacks \"%s\"", name, value, why,
              reason_part);
    cr_assert(memcmp(&c, &before, sizeof c) == 0, "%s=\"%s\" changed the config", name, value);
}

/* A value longer than any string option holds. */
static void expect_too_long(const char *name)
{
    char longv[HS_CONFIG_STR_MAX + 10];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    expect_bad(name, longv, "too long");
}

Test(config, defaults)
{
    hs_config_t c;
    hs_config_defaults(&c);
    cr_assert(c.enabled);
    cr_assert_eq(c.rate, 524288);
    cr_assert_str_eq(c.output, "heapsampler");
    cr_assert_eq(c.interval_ns, 60ull * 1000000000ull);
    cr_assert_eq(c.stack_depth, 64);
    cr_assert_eq(c.seed, 0);
    cr_assert_eq(c.dump_signal, 0);
    cr_assert_eq(c.verbose, 0);
    cr_assert(c.follow_exec);
    cr_assert_str_eq(c.programs, "");
    cr_assert_eq(c.compression, HS_COMPRESSION_GZIP);
    /* Memory limit: detected; profiles at 70, 85 and 95% of it; a peak profile every 5%. */
    cr_assert_eq(c.memory_limit, 0);
    for (unsigned p = 1; p <= 100; p++)
        cr_assert_eq(hs_config_has_percent(&c.memory_thresholds, p), p == 70 || p == 85 || p == 95,
                     "%u", p);
    cr_assert_eq(c.peak_step, 5);
    cr_assert(!c.dump_on_term);
}

Test(config, percentages)
{
    hs_config_t c;
    char why[128], buf[512];
    const hs_option_t *o = hs_config_find("MEMORY_THRESHOLDS");
    hs_config_defaults(&c);
    cr_assert_eq(set(&c, "MEMORY_THRESHOLDS", "90", why), HS_OK);
    cr_assert(hs_config_has_percent(&c.memory_thresholds, 90));
    cr_assert_not(hs_config_has_percent(&c.memory_thresholds, 70));
    /* Any order, repeats allowed: a set, shown sorted. */
    cr_assert_eq(set(&c, "MEMORY_THRESHOLDS", "100,1,64,65,64", why), HS_OK);
    hs_config_format(&c, o, buf, sizeof buf);
    cr_assert_str_eq(buf, "1,64,65,100");
    for (const char *off = "off"; off; off = strcmp(off, "off") == 0 ? "NONE" : NULL) {
        cr_assert_eq(set(&c, "MEMORY_THRESHOLDS", off, why), HS_OK);
        cr_assert_eq(c.memory_thresholds.bits[0] | c.memory_thresholds.bits[1], 0);
        hs_config_format(&c, o, buf, sizeof buf);
        cr_assert_str_eq(buf, "off");
    }
    expect_bad("MEMORY_THRESHOLDS", "0", "between 1 and 100");
    expect_bad("MEMORY_THRESHOLDS", "101", "between 1 and 100");
    expect_bad("MEMORY_THRESHOLDS", "70,185", "between 1 and 100");
    expect_bad("MEMORY_THRESHOLDS", "99999999999999999999999", "between 1 and 100");
    expect_bad("MEMORY_THRESHOLDS", "70,", "not a list of percentages");
    expect_bad("MEMORY_THRESHOLDS", ",70", "not a list of percentages");
    expect_bad("MEMORY_THRESHOLDS", "70, 85", "not a list of percentages");
    expect_bad("MEMORY_THRESHOLDS", "70%", "not a list of percentages");
    expect_bad("MEMORY_THRESHOLDS", "70;85", "not a list of percentages");
    expect_bad("MEMORY_THRESHOLDS", "-5", "not a list of percentages");
    expect_bad("MEMORY_THRESHOLDS", "", "empty value");
    expect_bad("PEAK_STEP", "101", "between 0 and 100");
    cr_assert_eq(set(&c, "MEMORY_LIMIT", "128M", why), HS_OK);
    cr_assert_eq(c.memory_limit, 128ull << 20);
    cr_assert_eq(set(&c, "DUMP_ON_TERM", "yes", why), HS_OK);
    cr_assert(c.dump_on_term);
}

Test(config, sizes)
{
    hs_config_t c;
    char why[128];
    hs_config_defaults(&c);
    cr_assert_eq(set(&c, "RATE", "1", why), HS_OK);
    cr_assert_eq(c.rate, 1);
    cr_assert_eq(set(&c, "RATE", "512K", why), HS_OK);
    cr_assert_eq(c.rate, 524288);
    cr_assert_eq(set(&c, "RATE", "1m", why), HS_OK);
    cr_assert_eq(c.rate, 1048576);
    cr_assert_eq(set(&c, "RATE", "2MiB", why), HS_OK);
    cr_assert_eq(c.rate, 2097152);
    cr_assert_eq(set(&c, "RATE", "4096B", why), HS_OK);
    cr_assert_eq(c.rate, 4096);
    expect_bad("RATE", "abc", "not a size");
    expect_bad("RATE", "-1", "not a size");
    expect_bad("RATE", " 5", "not a size");
    expect_bad("RATE", "5 ", "not a size");
    expect_bad("RATE", "1T", "not a size");
    expect_bad("RATE", "0x10", "not a size");
    expect_bad("RATE", "1.5M", "not a size");
    expect_bad("RATE", "0", "must be between 1 and");
    expect_bad("RATE", "99999999999999999999999", "too large");
    expect_bad("RATE", "17179869184G", "too large");
    expect_bad("RATE", "2T", "not a size");
    expect_bad("RATE", "", "empty");
}

Test(config, integers)
{
    hs_config_t c;
    char why[128];
    hs_config_defaults(&c);
    cr_assert_eq(set(&c, "STACK_DEPTH", "512", why), HS_OK);
    cr_assert_eq(c.stack_depth, 512);
    expect_bad("STACK_DEPTH", "0", "must be between 1 and 512");
    expect_bad("STACK_DEPTH", "513", "must be between 1 and 512");
    expect_bad("STACK_DEPTH", "1.5", "not a non-negative integer");
    expect_bad("STACK_DEPTH", "+3", "not a non-negative integer");
    expect_bad("VERBOSE", "9", "must be between 0 and 3");
    cr_assert_eq(set(&c, "SEED", "18446744073709551615", why), HS_OK);
    cr_assert_eq(c.seed, UINT64_MAX);
    expect_bad("SEED", "18446744073709551616", "too large");
}

Test(config, durations)
{
    hs_config_t c;
    char why[128];
    hs_config_defaults(&c);
    struct {
        const char *in;
        uint64_t ns;
    } ok[] = {{"0", 0},
              {"30", 30000000000ull},
              {"30s", 30000000000ull},
              {"200ms", 200000000ull},
              {"1.5", 1500000000ull},
              {".25s", 250000000ull},
              {"5m", 300000000000ull},
              {"1.5h", 5400000000000ull},
              {"0.001", 1000000ull}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(set(&c, "INTERVAL", ok[i].in, why), HS_OK, "%s: %s", ok[i].in, why);
        cr_assert_eq(c.interval_ns, ok[i].ns, "%s -> %llu", ok[i].in,
                     (unsigned long long)c.interval_ns);
    }
    expect_bad("INTERVAL", "5x", "not a duration");
    expect_bad("INTERVAL", "-1", "not a duration");
    expect_bad("INTERVAL", "1e3", "not a duration");
    expect_bad("INTERVAL", "inf", "not a duration");
    expect_bad("INTERVAL", "nan", "not a duration");
    expect_bad("INTERVAL", ".", "not a duration");
    expect_bad("INTERVAL", "1.", "not a duration");
    expect_bad("INTERVAL", "8d", "not a duration");
    expect_bad("INTERVAL", "169h", "must be between 0 and");
    expect_bad("INTERVAL", "99999999999999999999h", "too long");
}

Test(config, booleans_enums_strings)
{
    hs_config_t c;
    char why[128];
    hs_config_defaults(&c);
    const char *yes[] = {"1", "true", "YES", "On"};
    const char *no[] = {"0", "false", "no", "OFF"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(set(&c, "FOLLOW_EXEC", yes[i], why), HS_OK);
        cr_assert(c.follow_exec);
        cr_assert_eq(set(&c, "FOLLOW_EXEC", no[i], why), HS_OK);
        cr_assert(!c.follow_exec);
    }
    expect_bad("ENABLED", "maybe", "not a boolean");
    expect_bad("ENABLED", "2", "not a boolean");
    cr_assert_eq(set(&c, "COMPRESSION", "zstd", why), HS_OK);
    cr_assert_eq(c.compression, HS_COMPRESSION_ZSTD);
    cr_assert_eq(set(&c, "COMPRESSION", "NONE", why), HS_OK);
    cr_assert_eq(c.compression, HS_COMPRESSION_NONE);
    expect_bad("COMPRESSION", "lz4", "not one of");
    expect_bad("OUTPUT", "", "empty");
    expect_too_long("OUTPUT");
    cr_assert_eq(set(&c, "OUTPUT", "/tmp/x/prof", why), HS_OK);
    cr_assert_str_eq(c.output, "/tmp/x/prof");
}

Test(config, program_names)
{
    hs_config_t c;
    char why[128];
    hs_config_defaults(&c);
    const char *ok[] = {
        "postgres",   "postgres,redis-server", "redis-*", "python3.1[0-9]", "*", "a,b,c,d", "%s%n",
        "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(set(&c, "PROGRAMS", ok[i], why), HS_OK, "%s: %s", ok[i], why);
        cr_assert_str_eq(c.programs, ok[i]);
    }
    cr_assert_eq(set(&c, "PROGRAMS", "", why), HS_OK, "empty = every program");
    cr_assert_str_eq(c.programs, "");
    expect_bad("PROGRAMS", ",", "empty name");
    expect_bad("PROGRAMS", "postgres,", "empty name");
    expect_bad("PROGRAMS", ",postgres", "empty name");
    expect_bad("PROGRAMS", "a,,b", "empty name");
    expect_bad("PROGRAMS", "postgres, redis-server", "blank");
    expect_bad("PROGRAMS", " ", "blank");
    expect_bad("PROGRAMS", "a\tb", "blank");
    expect_bad("PROGRAMS", "a\x1b", "control");
    expect_bad("PROGRAMS", "/usr/bin/postgres", "no '/'");
    expect_too_long("PROGRAMS");
}

Test(config, signals)
{
    hs_config_t c;
    char why[128];
    hs_config_defaults(&c);
    cr_assert_eq(set(&c, "DUMP_SIGNAL", "USR2", why), HS_OK);
    cr_assert_eq(c.dump_signal, SIGUSR2);
    cr_assert_eq(set(&c, "DUMP_SIGNAL", "sigusr1", why), HS_OK);
    cr_assert_eq(c.dump_signal, SIGUSR1);
    cr_assert_eq(set(&c, "DUMP_SIGNAL", "12", why), HS_OK);
    cr_assert_eq(c.dump_signal, 12);
    cr_assert_eq(set(&c, "DUMP_SIGNAL", "RTMIN+2", why), HS_OK);
    cr_assert_eq(c.dump_signal, SIGRTMIN + 2);
    cr_assert_eq(set(&c, "DUMP_SIGNAL", "none", why), HS_OK);
    cr_assert_eq(c.dump_signal, 0);
    cr_assert_eq(set(&c, "DUMP_SIGNAL", "", why), HS_OK);
    cr_assert_eq(c.dump_signal, 0);
    expect_bad("DUMP_SIGNAL", "KILL", "cannot be used");
    expect_bad("DUMP_SIGNAL", "SIGSEGV", "cannot be used");
    expect_bad("DUMP_SIGNAL", "9", "cannot be used");
    expect_bad("DUMP_SIGNAL", "RTMIN+99", "not a signal");
    expect_bad("DUMP_SIGNAL", "USR3", "not a signal");
    expect_bad("DUMP_SIGNAL", "999", "not a signal");
    expect_bad("DUMP_SIGNAL", "33", "reserved");
}

Test(config, find_spellings)
{
    const hs_option_t *o = hs_config_find("STACK_DEPTH");
    cr_assert_not_null(o);
    cr_assert_eq(hs_config_find("HEAPSAMPLER_STACK_DEPTH"), o);
    cr_assert_eq(hs_config_find("stack-depth"), o);
    cr_assert_eq(hs_config_find("stack_depth"), o);
    cr_assert_null(hs_config_find("stack"));
    cr_assert_null(hs_config_find("STACK_DEPTHX"));
    cr_assert_null(hs_config_find(""));
}

Test(config, format_round_trip)
{
    size_t n;
    const hs_option_t *opts = hs_config_options(&n);
    hs_config_t c, d;
    hs_config_defaults(&c);
    char why[128], buf[HS_CONFIG_STR_MAX + 16];
    for (size_t i = 0; i < n; i++) {
        hs_config_format(&c, &opts[i], buf, sizeof buf);
        d = c;
        cr_assert_eq(hs_config_set(&d, &opts[i], buf, why, sizeof why), HS_OK, "%s=%s: %s",
                     opts[i].name, buf, why);
        cr_assert(memcmp(&c, &d, sizeof c) == 0, "%s does not round-trip via \"%s\"", opts[i].name,
                  buf);
        cr_assert(opts[i].help && strlen(opts[i].help) > 10, "%s has no help", opts[i].name);
    }
}

/* hs_config_load reports bad values in the documented one-line format and keeps the default. */
Test(config, load_reports_bad_values)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    hs_log_set_fd(fds[1]);
    char *env[] = {"PATH=/bin",
                   "HEAPSAMPLER_RATE=abc",
                   "HEAPSAMPLER_STACK_DEPTH=1000",
                   "HEAPSAMPLER_TYPO=1",
                   "HEAPSAMPLER_OUTPUT=/tmp/p",
                   "HEAPSAMPLER_ROOT_PID=12",
                   "HEAPSAMPLER_SEED=\x01\"q",
                   NULL};
    hs_config_t c;
    int problems = hs_config_load(&c, env, true);
    hs_log_set_fd(-1);
    close(fds[1]);
    char out[4096] = "";
    ssize_t len = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    cr_assert(len > 0);
    out[len] = '\0';
    cr_assert_eq(problems, 4);
    cr_assert_eq(c.rate, 524288);
    cr_assert_eq(c.stack_depth, 64);
    cr_assert_str_eq(c.output, "/tmp/p");
    cr_assert(strstr(out, "heapsampler: ignoring HEAPSAMPLER_RATE=\"abc\": not a size (examples: "
                          "524288, 512K, 1M) (using 524288)\n"),
              "%s", out);
    cr_assert(strstr(out, "heapsampler: ignoring HEAPSAMPLER_STACK_DEPTH=\"1000\": must be "
                          "between 1 and 512 (using 64)\n"),
              "%s", out);
    cr_assert(strstr(out, "heapsampler: ignoring unknown variable HEAPSAMPLER_TYPO"), "%s", out);
    cr_assert(strstr(out, "HEAPSAMPLER_SEED=\"\\x01\\\"q\""), "control characters escaped: %s",
              out);
    cr_assert_null(strstr(out, "ROOT_PID"), "internal variable reported: %s", out);
}

/* Read what hs_log printed while fn ran. */
static void capture(void (*fn)(void *), void *arg, char *out, size_t len)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    hs_log_set_fd(fds[1]);
    fn(arg);
    hs_log_set_fd(-1);
    close(fds[1]);
    ssize_t n = read(fds[0], out, len - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
}

static void print_config(void *arg)
{
    hs_config_print(arg);
}

static void load_env(void *arg)
{
    static hs_config_t c;
    hs_config_load(&c, arg, true);
}

/* Passwords, header values and a URL's user:password@ never appear in what is printed. */
Test(config, secrets_are_never_shown)
{
    static hs_config_t c;
    char why[128], buf[HS_CONFIG_STR_MAX + 16];
    hs_config_defaults(&c);
    cr_assert_eq(set(&c, "PYROSCOPE_PASSWORD", "pw-1234", why), HS_OK);
    cr_assert_eq(set(&c, "PYROSCOPE_HEADERS", "X-Key=hdr-5678", why), HS_OK);
    cr_assert_eq(set(&c, "PYROSCOPE_URL", "http://me:pw-1234@h:1/x", why), HS_OK);
    hs_config_format(&c, hs_config_find("PYROSCOPE_PASSWORD"), buf, sizeof buf);
    cr_assert_str_eq(buf, "<hidden>");
    hs_config_format(&c, hs_config_find("PYROSCOPE_HEADERS"), buf, sizeof buf);
    cr_assert_str_eq(buf, "<hidden>");
    hs_config_format(&c, hs_config_find("PYROSCOPE_URL"), buf, sizeof buf);
    cr_assert_str_eq(buf, "http://<hidden>@h:1/x");
    cr_assert_eq(set(&c, "PYROSCOPE_URL", "https://h:1/a@b", why), HS_OK); /* @ in the path */
    hs_config_format(&c, hs_config_find("PYROSCOPE_URL"), buf, sizeof buf);
    cr_assert_str_eq(buf, "https://h:1/a@b");
    cr_assert_eq(set(&c, "PYROSCOPE_URL", "http://me:pw-1234@h:1/x", why), HS_OK);

    char out[16384];
    capture(print_config, &c, out, sizeof out);
    cr_assert(strstr(out, "HEAPSAMPLER_PYROSCOPE_PASSWORD=<hidden>\n"), "%s", out);
    cr_assert_null(strstr(out, "pw-1234"), "%s", out);
    cr_assert_null(strstr(out, "hdr-5678"), "%s", out);

    /* Values too long to take are reported without being quoted. */
    static char pw[5000], url[5000];
    char pw_var[5100], url_var[5100];
    memset(pw, 'p', sizeof pw - 1);
    snprintf(url, sizeof url, "http://me:pw-1234@h/%04900d", 0);
    snprintf(pw_var, sizeof pw_var, "HEAPSAMPLER_PYROSCOPE_PASSWORD=%s", pw);
    snprintf(url_var, sizeof url_var, "HEAPSAMPLER_PYROSCOPE_URL=%s", url);
    char *env[] = {pw_var, url_var, NULL};
    capture(load_env, env, out, sizeof out);
    cr_assert(strstr(out, "ignoring HEAPSAMPLER_PYROSCOPE_PASSWORD=\"<hidden>\": too long"), "%s",
              out);
    cr_assert(strstr(out, "ignoring HEAPSAMPLER_PYROSCOPE_URL=\"http://<hidden>@h/0000"), "%s",
              out);
    cr_assert_null(strstr(out, "pppp"), "%s", out);
    cr_assert_null(strstr(out, "pw-1234"), "%s", out);
}

/* A string whose default is empty can be emptied again; OUTPUT cannot. */
Test(config, empty_strings)
{
    static hs_config_t c;
    char why[128];
    hs_config_defaults(&c);
    cr_assert_str_eq(c.pyroscope_url, "");
    cr_assert_eq(c.upload_interval_ns, 15ull * 1000000000ull);
    cr_assert_eq(c.upload_queue, 8);
    cr_assert_eq(set(&c, "TAGS", "a=b", why), HS_OK);
    cr_assert_eq(set(&c, "TAGS", "", why), HS_OK);
    cr_assert_str_eq(c.tags, "");
    cr_assert_eq(set(&c, "OUTPUT", "", why), HS_ERR_INVALID);
    cr_assert_str_eq(why, "empty value");
    cr_assert_eq(set(&c, "UPLOAD_INTERVAL", "50ms", why), HS_ERR_INVALID);
}

/* Regression (found by tests/fuzz/fuzz_config.c): a duration that is not a whole number of
 * milliseconds was formatted with "%.9g", which rounds ("123456.123456789" became
 * "123456.123s") or leaves input syntax ("1e-09s"): verbose output showed another value than
 * the one in effect. Formatting is now exact and parses back. */
Test(config, durations_format_exactly)
{
    const hs_option_t *o = hs_config_find("INTERVAL");
    struct {
        const char *in, *out;
    } cases[] = {{"0.000000001", "0.000000001s"},
                 {"123456.123456789", "123456.123456789s"},
                 {"1.0000005", "1.0000005s"},
                 {"2.5", "2500ms"},
                 {"7200", "2h"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hs_config_t c, d;
        char why[128], buf[64];
        hs_config_defaults(&c);
        cr_assert_eq(hs_config_set(&c, o, cases[i].in, why, sizeof why), HS_OK, "%s", why);
        hs_config_format(&c, o, buf, sizeof buf);
        cr_assert_str_eq(buf, cases[i].out);
        hs_config_defaults(&d);
        cr_assert_eq(hs_config_set(&d, o, buf, why, sizeof why), HS_OK, "%s: %s", buf, why);
        cr_assert_eq(d.interval_ns, c.interval_ns, "%s", buf);
    }
}

/*
 * HEAPSAMPLER_SKIP's syntax check must agree with glibc's regcomp, which the CLI uses: exactly
 * on the cases below, and on 20000 random strings over the characters that matter (fixed
 * seed) never accept what regcomp refuses, nor refuse what it takes but back-references
 * (\\1) and a { before a backslash, which are refused on purpose.
 */
Test(config, regex_check_agrees_with_regcomp)
{
    static const char *const cases[] = {
        "*a",          "a**",       "+a",
        "?",           "a|*b",      "(*a)",
        "a)",          "(a",        "()",
        "a{2}",        "a{2,1}",    "a{,3}",
        "{2}",         "a{x}",      "a{",
        "[a",          "[]a]",      "[[:foo:]]",
        "[[:alpha:]]", "a\\",       "(|a)",
        "a||b",        "|a",        "^*",
        "a{1,2}{3}",   "x{32768}",  "x{32767}",
        "[z-a]",       "[[.a.]]",   "[[.foo.]]",
        "a{1",         "\\(",       "{",
        "a{}",         "a{,}",      "$*",
        "(^*)",        "zmalloc.*", "^ngx_p(c|n)?alloc$",
        "[a-]",        "[^]x]",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        regex_t re;
        int rc = regcomp(&re, cases[i], REG_EXTENDED | REG_NOSUB);
        if (rc == 0)
            regfree(&re);
        const char *why = NULL;
        hs_err_t err = hs_config_check_regex(cases[i], &why);
        cr_expect_eq(err == HS_OK, rc == 0, "\"%s\": check %d (%s), regcomp %d", cases[i], err,
                     why ? why : "", rc);
    }
    static const char alphabet[] = "ab()[]{}|*+?^$\\,-19:.=";
    uint64_t x = 99;
    int refused_more = 0;
    for (int n = 0; n < 20000; n++) {
        char s[12];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = 1 + x % 10;
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            s[k] = alphabet[x % (sizeof alphabet - 1)];
        }
        s[len] = '\0';
        regex_t re;
        int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
        if (rc == 0)
            regfree(&re);
        const char *why;
        hs_err_t err = hs_config_check_regex(s, &why);
        cr_expect(!(err == HS_OK && rc != 0), "\"%s\" accepted, regcomp refuses it (%d)", s, rc);
        bool backref = false; /* refused on purpose */
        for (size_t k = 0; k + 1 < len; k++)
            backref |= (s[k] == '\\' && s[k + 1] >= '1' && s[k + 1] <= '9') ||
                       (s[k] == '{' && s[k + 1] == '\\');
        if (err != HS_OK && rc == 0 && !backref && refused_more++ < 10)
            cr_log_warn("\"%s\" refused (%s), regcomp takes it", s, why);
    }
    cr_expect_eq(refused_more, 0);
}
