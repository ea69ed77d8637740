/*
 * main.c - entry point of the `heapsampler` command line tool: global flags (--help,
 * --version) and dispatch of `heapsampler <command> ARGS...` through the list of commands.
 *
 * Adding a command means a file that defines its hs_cli_command_t (cli.h), its declaration in
 * cli.h and a row in `commands` below; nothing else here changes. The usage also lists the
 * profiler options (cli.c, from the option table), so that `heapsampler --help` names every
 * HEAPSAMPLER_* variable and its flag. Usage errors (no command, unknown command) print the
 * usage on stderr and exit with HS_CLI_EXIT_USAGE; explicit --help prints it on stdout and
 * exits 0. `heapsampler help COMMAND` is `heapsampler COMMAND --help`.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const hs_cli_command_t *const commands[] = {
    &hs_cli_run_command,     &hs_cli_report_command, &hs_cli_diff_command,
    &hs_cli_leaks_command,   &hs_cli_check_command,  &hs_cli_symbolize_command,
    &hs_cli_convert_command, &hs_cli_upload_command,
};

void hs_cli_usage(FILE *f)
{
    fprintf(f, "heapsampler %s - sampling heap profiler for native Linux programs\n\n", HS_VERSION);
    fprintf(f, "Usage:\n");
    for (size_t i = 0; i < HS_ARRAY_LEN(commands); i++)
        fprintf(f, "  heapsampler %s %s\n", commands[i]->name, commands[i]->synopsis);
    fprintf(f, "  heapsampler --help | --version\n\nCommands:\n");
    for (size_t i = 0; i < HS_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);

    /* The option table, in short: every HEAPSAMPLER_* variable is a flag of `run`. */
    size_t nopts;
    const hs_cli_option_t *opts = hs_cli_profiler_options(&nopts);
    fprintf(f, "\nProfiler options of `run`, one per environment variable:\n");
    for (size_t i = 0; i < nopts; i++)
        fprintf(f, "  --%-16s HEAPSAMPLER_%s\n", opts[i].name, opts[i].config->name);
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
        for (size_t i = 0; i < HS_ARRAY_LEN(commands); i++) {
            if (strcmp(argv[2], commands[i]->name) == 0) {
                hs_cli_help(commands[i], stdout);
                return 0;
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
    for (size_t i = 0; i < HS_ARRAY_LEN(commands); i++)
        if (strcmp(cmd, commands[i]->name) == 0)
            return commands[i]->main(argc - 1, argv + 1);

unknown:
    fprintf(stderr, "heapsampler: unknown %s \"%s\"\n\n", cmd[0] == '-' ? "option" : "command",
            cmd);
    hs_cli_usage(stderr);
    return HS_CLI_EXIT_USAGE;
}
