/*
 * cli.h - the `heapsampler` command line tool: the subcommand table and what subcommands share.
 *
 * main.c dispatches `heapsampler <command> ARGS...` through a table of hs_cli_command_t; each
 * subcommand lives in its own file (cmd_run.c, ...) and exports one entry point with the signature
 * of hs_cli_main_fn. A new subcommand is one declaration here and one row in main.c's table.
 *
 * Exit statuses every subcommand follows: 0 success, 2 usage error (bad flag, bad value,
 * missing argument), HS_CLI_EXIT_FAILURE when the tool itself cannot do its job (library not
 * found, fork failed). `run` passes the command's own status through instead.
 */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "common.h"
#include "log.h"

#define HS_CLI_EXIT_USAGE   2
#define HS_CLI_EXIT_FAILURE 125 /* as env(1) and timeout(1): the wrapper itself failed */

/* argv[0] is the subcommand's name ("run"); argv[argc] is NULL. Returns the exit status. */
typedef int (*hs_cli_main_fn)(int argc, char **argv);

typedef struct hs_cli_command {
    const char *name;    /* "run" */
    const char *args;    /* synopsis after the name, for the usage text */
    const char *summary; /* one line for `heapsampler --help` */
    hs_cli_main_fn main;
} hs_cli_command_t;

/* The table, in the order `heapsampler --help` lists it. */
const hs_cli_command_t *hs_cli_commands(size_t *count);

/* "heapsampler <command>: <message>" on stderr. */
void hs_cli_error(const char *command, const char *fmt, ...) HS_PRINTF(2, 3);

/* Print the top-level usage to f. */
void hs_cli_usage(FILE *f);

/* Print text wrapped at 100 columns, each line indented by indent spaces. */
void hs_cli_print_wrapped(FILE *f, const char *text, int indent);

/* ---- running a command under the profiler (spawn.c; `run` and `check`) ---- */

/*
 * The library that belongs to this CLI: next to it (build tree), else in the install's
 * library directory; explicit_path (--library) overrides both. out gets an absolute, resolved
 * path. Problems are reported as "heapsampler <cmd>: ..." when report is true.
 */
hs_err_t hs_cli_find_library(const char *cmd, const char *explicit_path, bool report, char *out,
                             size_t len) HS_MUST_CHECK;

/*
 * LD_PRELOAD for the child: lib first, then every entry of old except lib (the loader splits
 * on spaces and colons; entries are rejoined with ':'). malloc'd; NULL when out of memory.
 */
char *hs_cli_preload_value(const char *lib, const char *old);

/*
 * Run command (execvp) with INT TERM HUP QUIT USR1 USR2 forwarded to it and wait. Returns its
 * status as a shell would: its exit code, 128+N if it died of signal N (said on stderr unless
 * quiet), 127 not found, 126 not executable, HS_CLI_EXIT_FAILURE if fork/wait failed. *pid
 * gets the pid of the command that ran, 0 when none did (exec or fork failed).
 */
int hs_cli_spawn(const char *cmd, char **command, bool quiet, pid_t *pid);

/* Subcommands. */
int hs_cli_run(int argc, char **argv);
int hs_cli_report(int argc, char **argv);
int hs_cli_diff(int argc, char **argv);
int hs_cli_leaks(int argc, char **argv);
int hs_cli_check(int argc, char **argv);
int hs_cli_symbolize(int argc, char **argv);
int hs_cli_convert(int argc, char **argv);
int hs_cli_upload(int argc, char **argv);

#endif
