/*
 * cmd_leaks.c - `heapsampler leaks [OPTIONS] FILES...|DIR`: leak or cache? Orders the profiles of
 * a process by time, fits each site's in-use series (leak_analysis.h) and prints the verdicts
 * ranked (leak_report.h): leak suspects by growth, then plateaus, transients and stable sites.
 *
 * Processes: files named <prefix>.<pid>.<seq>.pb* are grouped by pid, and each process is
 * analysed on its own (sample rows are only comparable within one process); files whose names
 * carry no pid form one more group. A group with fewer than 3 profiles is reported as skipped.
 * Exit status: 0 (also when leak suspects are found: `check` is the gate), 2 for a bad option
 * or an unreadable, corrupt or undated profile, or when no process has 3 profiles.
 * Single-threaded.
 */
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "baseline_report.h"
#include "leak_report.h"

#define CMD "leaks"

/* The shared options, and a trend needs an in-use type. */
static hs_err_t take(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                     size_t why_len)
{
    hs_err_t err = hs_cli_take_analysis(ctx, opt, value, why, why_len);
    if (err == HS_OK && opt->id == HS_CLI_OPT_TYPE && strncmp(value, "inuse_", 6) != 0) {
        hs_reason(why, why_len, "a trend needs an in-use type (inuse_space or inuse_objects)");
        err = HS_ERR_INVALID;
    }
    return err;
}

/* ---- entry ------------------------------------------------------------------------------- */

/* --baseline: the candidate (the operands) against its baseline. */
static int leaks_compare(char **args, int nargs, const hs_cli_opts_t *o)
{
    hs_leak_analysis_t cand = {0}, base = {0};
    hs_baseline_t b;
    char why[256];
    int rc = hs_cli_load_comparison(CMD, args, nargs, o, &cand, &base);
    if (rc == 0 &&
        hs_baseline_compare(&cand, &base, o->sigma, o->tolerance, &b, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "%s", why);
        rc = HS_CLI_EXIT_USAGE;
    } else if (rc == 0) {
        hs_baseline_report_print(stdout, CMD, &b, &cand, &base, o);
        if (o->html)
            rc = hs_baseline_report_html(CMD, &b, &cand, &base, o);
        hs_baseline_free(&b);
    }
    hs_leak_analysis_free(&cand);
    hs_leak_analysis_free(&base);
    return rc;
}

static int leaks_main(int argc, char **argv)
{
    hs_cli_opts_t o;
    int noperands, rc;
    hs_cli_opts_init(&o);
    if (!hs_cli_parse(&hs_cli_leaks_command, argc, argv, take, &o, &noperands, &rc)) {
        hs_cli_opts_free(&o);
        return rc;
    }
    if (noperands == 0) {
        hs_cli_error(CMD, "no profiles given (usage: heapsampler leaks [OPTIONS] FILES...|DIR; "
                          "see --help)");
        hs_cli_opts_free(&o);
        return HS_CLI_EXIT_USAGE;
    }
    if (o.candidate && !o.baseline) {
        hs_cli_error(CMD, "--candidate needs --baseline label:KEY=VALUE");
        return HS_CLI_EXIT_USAGE;
    }
    if (o.baseline)
        return leaks_compare(argv + 1, noperands, &o);
    hs_leak_analysis_t a = {0};
    rc = hs_cli_load_leaks(CMD, argv + 1, noperands, &o, &a);
    if (rc == 0 && a.fitted + a.idle == 0) {
        hs_cli_error(CMD, "%s",
                     a.nprocs == 1 ? a.procs[0].why
                                   : "no process has 3 profiles to fit a trend to");
        rc = HS_CLI_EXIT_USAGE;
    }
    if (rc == 0) {
        hs_leak_report_print(stdout, &a, &o);
        if (o.html)
            rc = hs_leak_report_html(CMD, &a, &o);
    }
    hs_leak_analysis_free(&a);
    hs_cli_opts_free(&o);
    return rc;
}

static const hs_cli_option_t options[] = {
    HS_CLI_OPTION_TYPE, HS_CLI_OPTION_BY,       HS_CLI_OPTION_FOCUS,     HS_CLI_OPTION_SKIP,
    HS_CLI_OPTION_TOP,  HS_CLI_OPTION_SIGMA,    HS_CLI_OPTION_ALL,       HS_CLI_OPTION_JSON,
    HS_CLI_OPTION_HTML, HS_CLI_OPTION_BASELINE, HS_CLI_OPTION_CANDIDATE, HS_CLI_OPTION_TOLERANCE,
};

const hs_cli_command_t hs_cli_leaks_command = {
    .name = CMD,
    .synopsis = "[OPTIONS] FILES...|DIR",
    .summary = "Leak or cache? The trend of every site over a series.",
    .description =
        "Leak or cache? Reads a series of heap profiles of one process (files, or a directory "
        "of them), orders them by their time stamps and, per call site, fits the trend of "
        "in-use memory: growth in bytes per hour (least squares) with its error, the fraction "
        "of rising steps, R^2, and whether the growth has levelled off (the growth rate in the "
        "last third of the time against the rate before it). Each site gets a verdict: leak "
        "suspect (grows and has not levelled off), plateau (grew, then stopped: a cache or a "
        "pool), transient (rose and fell back), stable (no significant growth). A change counts "
        "only when it exceeds K standard errors of the sampling noise (--sigma, default 3); "
        "sites that never rise clearly above the noise get no verdict and are not shown "
        "(--all shows them). Profiles of several processes (<prefix>.<pid>.<seq>.pb.gz) are "
        "analysed one process at a time, each named by its pid and command line (the title a "
        "server gives itself). A process with fewer than 3 profiles that sampled nothing after "
        "the first half of its life is idle: stable. With --baseline, the profiles are the "
        "candidate and are compared with a baseline (another directory of profiles, or the "
        "samples of one value of a label such as version): per site, how much faster the "
        "candidate grows, with its error. Exit status: 0, or 2 for a bad option, an "
        "unreadable, corrupt or undated profile, or when no process has 3 profiles or is "
        "idle.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler leaks /tmp/prof/\n"
                "  heapsampler leaks heapsampler.4242.*.pb.gz --json --by stack\n"
                "  heapsampler leaks /tmp/prof/ --all --html leaks.html\n"
                "  heapsampler leaks /tmp/prof/ --by label:endpoint\n"
                "  heapsampler leaks canary/ --baseline stable/\n"
                "  heapsampler leaks /tmp/prof/ --baseline label:version=1.4.1\n",
    .main = leaks_main,
};
