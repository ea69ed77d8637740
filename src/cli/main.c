/*
 * main.c - entry point of the `heapsampler` command line tool: global flags (--help,
 * --version) and dispatch of `heapsampler <command> ARGS...` through the subcommand table.
 *
 * Adding a subcommand means adding a row to `commands` below and its entry point to cli.h;
 * nothing else here changes. The usage also lists the option table (config.h), so that
 * `heapsampler --help` names every HEAPSAMPLER_* variable and its flag. Usage errors (no command,
 * unknown command) print the usage on stderr and exit with HS_CLI_EXIT_USAGE; explicit --help
 * prints it on stdout and exits 0.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static const hs_cli_command_t commands[] = {
    {"run", "[OPTIONS] [--] COMMAND [ARGS...]",
     "Run a command with the profiler preloaded; list the profiles it wrote.", hs_cli_run},
    {"report", "[OPTIONS] FILE", "Top call sites of a profile, each estimate with its error.",
     hs_cli_report},
    {"diff", "[OPTIONS] BASE NEW", "What grew between two profiles, beyond the sampling noise.",
     hs_cli_diff},
    {"leaks", "[OPTIONS] FILES...|DIR", "Leak or cache? The trend of every site over a series.",
     hs_cli_leaks},
    {"check", "[OPTIONS] [--] COMMAND [ARGS...]",
     "CI gate: run a command under the profiler, fail on leaks or memory bounds.", hs_cli_check},
    {"symbolize", "IN OUT [--debug-dir DIR]... [--functions] [FILE|DIR]...",
     "Name a profile's frames offline from local binaries and debug files.", hs_cli_symbolize},
    {"convert", "[--compression gzip|zstd|none] IN OUT",
     "Rewrite a profile as gzip, zstd or plain pprof.", hs_cli_convert},
    {"upload", "--pyroscope URL --app NAME [--tag K=V]... FILE...",
     "Send saved profiles to Grafana Pyroscope (alloc_* as increments).", hs_cli_upload},
};

const hs_cli_command_t *hs_cli_commands(size_t *count)
{
    *count = sizeof commands / sizeof commands[0];
    return commands;
}

void hs_cli_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "heapsampler %s: ", command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void hs_cli_usage(FILE *f)
{
    fprintf(f, "heapsampler %s - sampling heap profiler for native Linux programs\n\n", HS_VERSION);
    fprintf(f, "Usage:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  heapsampler %s %s\n", commands[i].name, commands[i].args);
    fprintf(f, "  heapsampler --help | --version\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);

    /* The option table, in short: every HEAPSAMPLER_* variable is a flag of `run`. */
    size_t nopts;
    const hs_option_t *opts = hs_config_options(&nopts);
    fprintf(f, "\nProfiler options of `run`, one per environment variable:\n");
    for (size_t i = 0; i < nopts; i++) {
        char flag[64];
        size_t k = 0;
        for (; opts[i].name[k] && k + 1 < sizeof flag; k++)
            flag[k] = opts[i].name[k] == '_' ? '-' : (char)tolower((unsigned char)opts[i].name[k]);
        flag[k] = '\0';
        fprintf(f, "  --%-16s HEAPSAMPLER_%s\n", flag, opts[i].name);
    }
    fprintf(f, "\n`heapsampler <command> --help` describes a command and its options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        hs_cli_usage(stderr);
        return HS_CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 && argc > 2) {
        /* `heapsampler help run` is `heapsampler run --help`. */
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *help_argv[] = {argv[2], "--help", NULL};
                return commands[i].main(2, help_argv);
            }
        }
        cmd = argv[2];
        goto unknown;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        hs_cli_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("heapsampler %s\n", HS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);

unknown:
    fprintf(stderr, "heapsampler: unknown %s \"%s\"\n\n", cmd[0] == '-' ? "option" : "command",
            cmd);
    hs_cli_usage(stderr);
    return HS_CLI_EXIT_USAGE;
}
